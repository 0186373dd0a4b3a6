"""Conditions: every form RULES.md lists, the errors for bad ones, and the plain Python reading."""

from __future__ import annotations

import re

import pytest

from lastmile.rules.conditions import (
    OPERATORS,
    TRUE,
    All,
    Any_,
    Changed,
    Compare,
    ConditionError,
    Not,
    holds,
    parse_condition,
    simplify,
    trace,
)

NONE: frozenset[str] = frozenset()


def check(raw: object, fields: dict, changed: frozenset[str] = NONE) -> bool:
    return holds(parse_condition(raw), fields, changed)


def error(raw: object) -> ConditionError:
    with pytest.raises(ConditionError) as info:
        parse_condition(raw)
    return info.value


# --- Parsing: every form ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ({"Type": "Call"}, Compare("Type", "equals", "Call")),
        ({"Probability": 10}, Compare("Probability", "equals", 10)),
        ({"Amount": 2.5}, Compare("Amount", "equals", 2.5)),
        ({"IsClosed": True}, Compare("IsClosed", "equals", True)),
        ({"NextStep": None}, Compare("NextStep", "equals", None)),
        ({"Type": {"equals": "Call"}}, Compare("Type", "equals", "Call")),
        ({"Type": {"not_equals": "Call"}}, Compare("Type", "not_equals", "Call")),
        ({"Stage": {"in": ["A", "B"]}}, Compare("Stage", "in", ("A", "B"))),
        ({"Stage": {"not_in": ["A", 1, None]}}, Compare("Stage", "not_in", ("A", 1, None))),
        ({"Amount": {"gt": 100}}, Compare("Amount", "gt", 100)),
        ({"Amount": {"gte": 100.5}}, Compare("Amount", "gte", 100.5)),
        ({"Amount": {"lt": 0}}, Compare("Amount", "lt", 0)),
        ({"CloseDate": {"lte": "2026-12-31"}}, Compare("CloseDate", "lte", "2026-12-31")),
        ({"Subject": {"contains": "call"}}, Compare("Subject", "contains", "call")),
        ({"Subject": {"starts_with": "Re:"}}, Compare("Subject", "starts_with", "Re:")),
        ({"Subject": {"matches": r"^\d+$"}}, Compare("Subject", "matches", r"^\d+$")),
        ({"Outcome__c": {"empty": True}}, Compare("Outcome__c", "empty", True)),
        ({"Outcome__c": {"empty": False}}, Compare("Outcome__c", "empty", False)),
        ({"changed": "Status"}, Changed(("Status",))),
        ({"changed": ["Status", "Type"]}, Changed(("Status", "Type"))),
        (
            {"all": [{"A": 1}, {"B": 2}]},
            All((Compare("A", "equals", 1), Compare("B", "equals", 2))),
        ),
        ({"any": [{"A": 1}]}, Any_((Compare("A", "equals", 1),))),
        ({"not": {"A": 1}}, Not(Compare("A", "equals", 1))),
    ],
)
def test_every_form_parses(raw: dict, parsed: object) -> None:
    assert parse_condition(raw) == parsed


def test_every_operator_of_rules_md_is_known() -> None:
    assert set(OPERATORS) == {
        "equals",
        "not_equals",
        "in",
        "not_in",
        "gt",
        "gte",
        "lt",
        "lte",
        "contains",
        "starts_with",
        "matches",
        "empty",
    }


def test_matches_compiles_the_pattern_once() -> None:
    cond = parse_condition({"Subject": {"matches": "(?i)^call"}})
    assert isinstance(cond, Compare)
    assert cond.pattern is not None and cond.pattern.flags & re.IGNORECASE


def test_nested_combinators_parse_to_a_tree() -> None:
    raw = {
        "all": [
            {"Type": "Call"},
            {"any": [{"Status": "Completed"}, {"not": {"changed": ["Status", "OwnerId"]}}]},
        ]
    }
    assert parse_condition(raw) == All(
        (
            Compare("Type", "equals", "Call"),
            Any_((Compare("Status", "equals", "Completed"), Not(Changed(("Status", "OwnerId"))))),
        )
    )


def test_conditions_print_readably() -> None:
    assert str(parse_condition({"Type": "Call"})) == "Type = 'Call'"
    assert str(parse_condition({"Amount": {"gte": 5}})) == "Amount gte 5"
    assert str(parse_condition({"changed": ["A", "B"]})) == "changed A, B"


def test_unknown_operator_suggests_the_close_one() -> None:
    exc = error({"Amount": {"gtee": 5}})
    assert exc.message == "unknown operator 'gtee'; did you mean 'gte'?"
    assert exc.path == ("Amount", "gtee")
    assert exc.at_key


def test_unknown_operator_without_a_close_one() -> None:
    exc = error({"Amount": {"frobnicate": 5}})
    assert exc.message == "unknown operator 'frobnicate'"
    assert exc.path == ("Amount", "frobnicate")


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("startswith", "starts_with"), ("notin", "not_in"), ("match", "matches"), ("equal", "equals")],
)
def test_more_operator_suggestions(typo: str, meant: str) -> None:
    assert error({"A": {typo: "x"}}).message.endswith(f"did you mean '{meant}'?")


def test_misspelt_combinator_is_named_as_such() -> None:
    exc = error({"nto": {"Status": "Open"}})
    assert exc.message == "'nto' looks like a misspelt keyword; did you mean 'not'?"
    assert exc.path == ("nto",)
    exc = error({"alll": [{"A": 1}]})
    assert "compared with a list; did you mean 'all'?" in exc.message
    assert exc.path == ("alll",)


def test_a_list_value_points_to_in() -> None:
    exc = error({"Stage": ["A", "B"]})
    assert exc.message == "Stage: compared with a list; use {in: [...]} for one of several values"
    assert exc.path == ("Stage",)


def test_one_key_per_condition() -> None:
    exc = error({"Type": "Call", "Status": "Completed"})
    assert exc.message.startswith("a condition has exactly one key, got 2 (Type, Status)")
    assert "'all:'" in exc.message
    assert exc.path == ()
    assert error({}).message.startswith("a condition has exactly one key, got 0")


def test_one_operator_per_condition() -> None:
    exc = error({"Amount": {"gt": 1, "lt": 5}})
    assert exc.message.startswith("Amount: one operator per condition, got 2")
    assert exc.path == ("Amount",)


@pytest.mark.parametrize("raw", ["Type: Call", ["Type"], 5, None])
def test_a_condition_is_a_mapping(raw: object) -> None:
    assert error(raw).message.startswith("a condition is a mapping like 'Status: Completed'")


@pytest.mark.parametrize(
    ("raw", "message", "path"),
    [
        ({"A": {"in": "x"}}, "A in: expected a non-empty list of values", ("A", "in")),
        ({"A": {"in": []}}, "A in: expected a non-empty list of values", ("A", "in")),
        (
            {"A": {"not_in": [1, [2]]}},
            "A not_in: expected a text, number, boolean or null, got a list",
            ("A", "not_in", 1),
        ),
        (
            {"A": {"in": [{"x": 1}]}},
            "A in: expected a text, number, boolean or null, got a mapping",
            ("A", "in", 0),
        ),
        ({"A": {"empty": "yes"}}, "A empty: expected true or false", ("A", "empty")),
        ({"A": {"empty": 1}}, "A empty: expected true or false", ("A", "empty")),
        ({"A": {"contains": 5}}, "A contains: expected a text, got int", ("A", "contains")),
        (
            {"A": {"starts_with": None}},
            "A starts_with: expected a text, got NoneType",
            ("A", "starts_with"),
        ),
        ({"A": {"matches": ["x"]}}, "A matches: expected a text, got a list", ("A", "matches")),
        ({"A": {"gt": True}}, "A gt: expected a number or a text to compare with", ("A", "gt")),
        ({"A": {"lte": None}}, "A lte: expected a number or a text to compare with", ("A", "lte")),
        (
            {"A": {"gte": [1]}},
            "A gte: expected a text, number, boolean or null, got a list",
            ("A", "gte"),
        ),
        (
            {"A": {"equals": {"x": 1}}},
            "A equals: expected a text, number, boolean or null, got a mapping",
            ("A", "equals"),
        ),
        ({"A": float("nan")}, "A: NaN is not a value a field can hold", ("A",)),
        ({"changed": []}, "changed: expected a field name or a list of field names", ("changed",)),
        ({"changed": 5}, "changed: expected a field name or a list of field names", ("changed",)),
        (
            {"changed": "not a field"},
            "changed: 'not a field' is not a field API name",
            ("changed",),
        ),
        ({"changed": ["A", "2B"]}, "changed: '2B' is not a field API name", ("changed", 1)),
        ({"all": []}, "all: expected a non-empty list of conditions", ("all",)),
        ({"any": {"A": 1}}, "any: expected a non-empty list of conditions", ("any",)),
        (
            {"Bad-Name": 1},
            "'Bad-Name' is not a field API name (letters, digits and _)",
            ("Bad-Name",),
        ),
        ({"_x": 1}, "'_x' is not a field API name (letters, digits and _)", ("_x",)),
        ({1: 2}, "1 is not a field name", ()),
    ],
)
def test_wrong_operands(raw: dict, message: str, path: tuple) -> None:
    exc = error(raw)
    assert exc.message == message
    assert str(exc) == message
    assert exc.path == path


def test_invalid_regex_says_why() -> None:
    exc = error({"Subject": {"matches": "(unclosed"}})
    assert exc.message.startswith("Subject matches: not a valid regular expression: ")
    assert "missing )" in exc.message
    assert exc.path == ("Subject", "matches")


def test_error_path_leads_through_nested_combinators() -> None:
    exc = error({"all": [{"A": 1}, {"any": [{"B": 2}, {"not": {"C": {"gtee": 1}}}]}]})
    assert exc.path == ("all", 1, "any", 1, "not", "C", "gtee")
    assert exc.message == "unknown operator 'gtee'; did you mean 'gte'?"


def test_within_prefixes_the_path() -> None:
    exc = ConditionError("boom", ("A", "gt")).within("rules", 0)
    assert exc.path == ("rules", 0, "A", "gt")
    assert exc.message == "boom"


# --- The plain Python reading -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fields", "result"),
    [
        # typed equality: 5 and 5.0 are one number, "5" is text, true is not 1
        ({"A": 5}, {"A": 5.0}, True),
        ({"A": 5.0}, {"A": 5}, True),
        ({"A": 5}, {"A": "5"}, False),
        ({"A": "5"}, {"A": 5}, False),
        ({"A": True}, {"A": 1}, False),
        ({"A": 1}, {"A": True}, False),
        ({"A": 0}, {"A": False}, False),
        ({"A": False}, {"A": False}, True),
        ({"A": "Call"}, {"A": "call"}, False),
        # numbers compare as doubles: integers a double cannot tell apart are equal, and integers
        # beyond a double's range count as infinite (rather than raising OverflowError)
        ({"A": 2**53 + 1}, {"A": 2**53}, True),
        ({"A": 10**400}, {"A": 10**401}, True),
        ({"A": 10**400}, {"A": float("inf")}, True),
        ({"A": {"gt": 10**300}}, {"A": 10**400}, True),
        ({"A": {"lt": -(10**300)}}, {"A": -(10**400)}, True),
        ({"A": "Call"}, {"A": "Call "}, False),
        # absent is null
        ({"A": None}, {}, True),
        ({"A": None}, {"A": None}, True),
        ({"A": None}, {"A": ""}, False),
        ({"A": {"not_equals": None}}, {}, False),
        ({"A": {"not_equals": None}}, {"A": 0}, True),
        ({"A": {"not_equals": "x"}}, {}, True),
        ({"A": {"equals": "x"}}, {}, False),
        # in / not_in with the same typed equality
        ({"A": {"in": ["a", 5]}}, {"A": 5.0}, True),
        ({"A": {"in": ["5", True]}}, {"A": 5}, False),
        ({"A": {"in": [None]}}, {}, True),
        ({"A": {"not_in": ["a", "b"]}}, {"A": "c"}, True),
        ({"A": {"not_in": ["a", "b"]}}, {"A": "b"}, False),
        ({"A": {"not_in": ["a"]}}, {}, True),
        ({"A": {"not_in": [None]}}, {}, False),
    ],
)
def test_equality(raw: dict, fields: dict, result: bool) -> None:
    assert check(raw, fields) is result


@pytest.mark.parametrize(
    ("value", "is_empty"),
    [
        (None, True),
        ("", True),
        ("  ", True),
        (" \t\n", True),
        ("\u00a0", True),
        ("x", False),
        (" x ", False),
        (0, False),
        (0.0, False),
        (False, False),
        ("0", False),
    ],
)
def test_empty(value: object, is_empty: bool) -> None:
    assert check({"A": {"empty": True}}, {"A": value}) is is_empty
    assert check({"A": {"empty": False}}, {"A": value}) is (not is_empty)


def test_absent_is_empty() -> None:
    assert check({"A": {"empty": True}}, {})
    assert not check({"A": {"empty": False}}, {})


@pytest.mark.parametrize(
    ("raw", "fields", "result"),
    [
        ({"A": {"gt": 5}}, {"A": 6}, True),
        ({"A": {"gt": 5}}, {"A": 5.0}, False),
        ({"A": {"gte": 5}}, {"A": 5.0}, True),
        ({"A": {"lt": 5.5}}, {"A": 5}, True),
        ({"A": {"lte": -1}}, {"A": -1}, True),
        ({"A": {"gt": "b"}}, {"A": "c"}, True),
        ({"A": {"gt": "b"}}, {"A": "B"}, False),  # texts order by code point
        ({"A": {"lt": "2026-12-01"}}, {"A": "2026-11-30"}, True),  # ISO dates order as texts
        ({"A": {"lt": "ab!"}}, {"A": "ab"}, True),
        # no ordering between a number and a text, a boolean or nothing
        ({"A": {"gt": 5}}, {"A": "6"}, False),
        ({"A": {"lt": 5}}, {"A": "4"}, False),
        ({"A": {"gt": "5"}}, {"A": 6}, False),
        ({"A": {"gt": 0}}, {"A": True}, False),
        ({"A": {"lt": 1}}, {"A": False}, False),
        ({"A": {"lt": 5}}, {}, False),
        ({"A": {"gte": ""}}, {"A": None}, False),
        # and so neither holds its negation
        ({"not": {"A": {"gt": 5}}}, {"A": "6"}, True),
        ({"not": {"A": {"lte": 5}}}, {}, True),
    ],
)
def test_ordering(raw: dict, fields: dict, result: bool) -> None:
    assert check(raw, fields) is result


@pytest.mark.parametrize(
    ("raw", "fields", "result"),
    [
        ({"A": {"contains": "all"}}, {"A": "Call"}, True),
        ({"A": {"contains": "ALL"}}, {"A": "Call"}, False),
        ({"A": {"contains": ""}}, {"A": ""}, True),
        ({"A": {"contains": "5"}}, {"A": 25}, False),  # only texts contain
        ({"A": {"contains": "x"}}, {}, False),
        ({"A": {"starts_with": "Re:"}}, {"A": "Re: offer"}, True),
        ({"A": {"starts_with": "Re:"}}, {"A": " Re: offer"}, False),
        ({"A": {"starts_with": "1"}}, {"A": 12}, False),
        # matches is re.search: anywhere in the text unless anchored
        ({"A": {"matches": "b"}}, {"A": "abc"}, True),
        ({"A": {"matches": "^b"}}, {"A": "abc"}, False),
        ({"A": {"matches": r"^\d{3}-\d{4}$"}}, {"A": "555-1234"}, True),
        ({"A": {"matches": r"^\d{3}-\d{4}$"}}, {"A": "555-12345"}, False),
        ({"A": {"matches": "(?i)^call"}}, {"A": "CALL back"}, True),
        ({"A": {"matches": r"\."}}, {"A": "a.b"}, True),
        ({"A": {"matches": r"\."}}, {"A": "ab"}, False),
        ({"A": {"matches": "é"}}, {"A": "café"}, True),
        ({"A": {"matches": ".*"}}, {"A": 5}, False),  # only texts match
        ({"A": {"matches": ".*"}}, {}, False),
        ({"A": {"matches": "^$"}}, {"A": ""}, True),
    ],
)
def test_text_operators(raw: dict, fields: dict, result: bool) -> None:
    assert check(raw, fields) is result


def test_changed() -> None:
    assert check({"changed": "Status"}, {}, frozenset({"Status"}))
    assert not check({"changed": "Status"}, {}, frozenset({"Type"}))
    assert check({"changed": ["Status", "Type"]}, {}, frozenset({"Type"}))
    assert not check({"changed": ["Status", "Type"]}, {}, NONE)
    assert check({"not": {"changed": "Status"}}, {}, NONE)


def test_nested_combinators() -> None:
    raw = {
        "all": [
            {"Type": "Call"},
            {"any": [{"Status": "Completed"}, {"Priority": {"in": ["High", "Urgent"]}}]},
            {"not": {"all": [{"Subject": {"empty": True}}, {"changed": "Subject"}]}},
        ]
    }
    base = {"Type": "Call", "Status": "Open", "Priority": "High", "Subject": "x"}
    assert check(raw, base)
    assert not check(raw, {**base, "Type": "Email"})
    assert not check(raw, {**base, "Priority": "Low"})
    assert check(raw, {**base, "Priority": "Low", "Status": "Completed"})
    assert check(raw, {**base, "Subject": ""})  # empty but not changed: the `not` still holds
    assert not check(raw, {**base, "Subject": ""}, frozenset({"Subject"}))


def test_empty_combinators_are_constants() -> None:
    assert holds(All(()), {}, NONE) is True
    assert holds(Any_(()), {}, NONE) is False
    assert All(()) == TRUE


# --- simplify -----------------------------------------------------------------------------------


def test_simplify_changed_is_true_drops_changed() -> None:
    cond = parse_condition(
        {"all": [{"Type": "Call"}, {"Status": "Completed"}, {"changed": "Status"}]}
    )
    assert simplify(cond, changed_is=True) == All(
        (Compare("Type", "equals", "Call"), Compare("Status", "equals", "Completed"))
    )


def test_simplify_single_item_unwraps() -> None:
    cond = parse_condition({"all": [{"Type": "Call"}, {"changed": "Status"}]})
    assert simplify(cond, changed_is=True) == Compare("Type", "equals", "Call")


def test_simplify_any_with_changed_becomes_true() -> None:
    cond = parse_condition({"any": [{"Type": "Call"}, {"changed": "Status"}]})
    assert simplify(cond, changed_is=True) == TRUE
    assert simplify(cond, changed_is=False) == Compare("Type", "equals", "Call")


def test_simplify_not_changed() -> None:
    cond = parse_condition({"all": [{"Type": "Call"}, {"not": {"changed": "Status"}}]})
    assert simplify(cond, changed_is=True) == Any_(())  # never holds
    assert simplify(cond, changed_is=False) == Compare("Type", "equals", "Call")


def test_simplify_without_changed_is_keeps_changed_and_flattens() -> None:
    cond = parse_condition({"all": [{"all": [{"A": 1}, {"B": 2}]}, {"changed": "C"}]})
    assert simplify(cond) == All(
        (Compare("A", "equals", 1), Compare("B", "equals", 2), Changed(("C",)))
    )
    nested_any = parse_condition({"any": [{"any": [{"A": 1}]}, {"B": 2}]})
    assert simplify(nested_any) == Any_((Compare("A", "equals", 1), Compare("B", "equals", 2)))


def test_simplify_double_negation_of_constant() -> None:
    cond = parse_condition({"not": {"not": {"changed": "A"}}})
    assert simplify(cond, changed_is=True) == TRUE
    assert simplify(cond, changed_is=False) == Any_(())


# --- trace --------------------------------------------------------------------------------------


def test_trace_reports_each_condition_and_its_value() -> None:
    cond = parse_condition(
        {
            "all": [
                {"Type": "Call"},
                {"Outcome__c": {"empty": False}},
                {"changed": ["Status", "Type"]},
            ]
        }
    )
    t = trace(cond, {"Type": "Call", "Outcome__c": None}, frozenset({"Status"}))
    assert t.condition == "all of" and t.held is False
    assert [(c.condition, c.held, c.value) for c in t.children] == [
        ("Type = 'Call'", True, "Call"),
        ("Outcome__c empty False", False, None),
        ("changed Status, Type", True, ["Status"]),
    ]


def test_trace_agrees_with_holds_for_not_and_any() -> None:
    cond = parse_condition({"not": {"any": [{"A": {"gt": 3}}, {"B": "x"}]}})
    for fields in ({"A": 4}, {"A": 1}, {"B": "x"}, {}):
        t = trace(cond, fields, NONE)
        assert t.held is holds(cond, fields, NONE)
        assert t.condition == "not"
        assert t.children[0].condition == "any of"
