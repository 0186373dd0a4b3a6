"""The durable_rules network must agree with the plain Python reading of every condition.

`holds()` in rules/conditions.py is the reference semantics. The property test compiles several
random condition trees into one `Network` and compares the whole match set with `holds()` for
random records. The example tests below it pin the disagreements found by the property test and
by probing durable_rules' fixed-size tables (each was a bug in rules/engine.py, now fixed), so
that they stay fixed even if hypothesis does not happen to draw them again.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lastmile.rules import engine
from lastmile.rules.conditions import Condition, holds, parse_condition, simplify
from lastmile.rules.engine import Entry, Network

FIELDS = ("A", "B", "C", "Name_1")
OBJECT = "Thing"
KINDS = ("created", "updated", "deleted")

# Values chosen to collide with each other across types: 5 / 5.0 / "5", true / 1, "" / "  ",
# text with the characters JSON escapes, regular-expression metacharacters, non-ASCII text,
# numbers that a double cannot tell apart and numbers written with an exponent.
INTERESTING_TEXTS = [
    "",
    " ",
    "  ",
    "\t",
    "\n",
    "a",
    "A",
    "ab",
    "ab ",
    "ab!",
    "abc",
    "b",
    "5",
    "5.0",
    "true",
    "null",
    "Call",
    "Completed",
    'a"b',
    "a'b",
    "a\\b",
    "\\",
    '"',
    "a\nb",
    "a.b",
    "a*",
    "(x)",
    "[ab]",
    "^a",
    "b$",
    "x|y",
    "{1}",
    "é",
    "É",
    "ß",
    "日本",
    "😀",
    "a\x00b",
    "\x7f",
    "Ω",
]
INTERESTING_NUMBERS = [
    0,
    1,
    -1,
    5,
    5.0,
    5.5,
    -0.0,
    0.1,
    0.30000000000000004,
    1e-05,
    2.5e-07,
    1e16,
    1.5e300,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63),
    10**18,
    123456789012,
    10**400,
    -(10**400),
]
REGEXES = [
    "^a",
    "b$",
    r"\d",
    r"\d+$",
    "[ab]",
    "a|b",
    "(?i)call",
    r"\s",
    "^$",
    ".",
    "é",
    r"\.",
    "a*",
    "^[A-Z]",
    r"\bab\b",
    "日",
    r"\\",
    '"',
    "x{2}",
    "(a)(b)",
    r"^\S+$",
]

texts = st.one_of(
    st.sampled_from(INTERESTING_TEXTS),
    st.text(alphabet=st.sampled_from(list(" ab\"\\'.*+?()[]^$|{}\n\té😀5")), max_size=5),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=4),
)
numbers = st.one_of(
    st.sampled_from(INTERESTING_NUMBERS),
    st.integers(min_value=-1000, max_value=1000),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(min_value=-(2**70), max_value=2**70),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
# A record may also hold infinities and NaN when built by hand (RecordEvent refuses them).
record_values = st.one_of(scalars, st.sampled_from([math.inf, -math.inf, math.nan]))
records = st.dictionaries(st.sampled_from(FIELDS), record_values, max_size=len(FIELDS))
changed_sets = st.frozensets(st.sampled_from(FIELDS))
field_names = st.sampled_from(FIELDS)


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    ordered = st.one_of(numbers, texts, st.sampled_from([math.inf, -math.inf]))
    return st.one_of(
        st.builds(lambda f, v: {f: v}, field_names, scalars),
        st.builds(
            lambda f, op, v: {f: {op: v}},
            field_names,
            st.sampled_from(["equals", "not_equals"]),
            scalars,
        ),
        st.builds(
            lambda f, op, v: {f: {op: v}},
            field_names,
            st.sampled_from(["in", "not_in"]),
            st.lists(scalars, min_size=1, max_size=4),
        ),
        st.builds(
            lambda f, op, v: {f: {op: v}},
            field_names,
            st.sampled_from(["gt", "gte", "lt", "lte"]),
            ordered,
        ),
        st.builds(
            lambda f, op, v: {f: {op: v}},
            field_names,
            st.sampled_from(["contains", "starts_with"]),
            texts,
        ),
        st.builds(lambda f, v: {f: {"matches": v}}, field_names, st.sampled_from(REGEXES)),
        st.builds(lambda f, v: {f: {"empty": v}}, field_names, st.booleans()),
        st.builds(
            lambda fs: {"changed": fs[0] if len(fs) == 1 else fs},
            st.lists(field_names, min_size=1, max_size=3),
        ),
    )


def raw_conditions(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    if depth == 0:
        return _leaf()
    inner = raw_conditions(depth - 1)
    return st.one_of(
        _leaf(),
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    )


conditions = raw_conditions(3).map(parse_condition)
entry_kinds = st.lists(st.sampled_from(KINDS), min_size=1, max_size=3, unique=True).map(tuple)


@st.composite
def entries(draw: st.DrawFn) -> list[Entry]:
    made = []
    for i in range(draw(st.integers(min_value=1, max_value=6))):
        cond = draw(conditions)
        # The rule set compiles simplified trees (constants folded, `changed` set aside for the
        # situation); the network must accept those too.
        how = draw(st.sampled_from(["as-is", "simplify", "changed-true", "changed-false"]))
        if how == "simplify":
            cond = simplify(cond)
        elif how == "changed-true":
            cond = simplify(cond, changed_is=True)
        elif how == "changed-false":
            cond = simplify(cond, changed_is=False)
        made.append(Entry(f"e{i}", OBJECT, draw(entry_kinds), cond))
    return made


def expected(
    items: list[Entry], kind: str, fields: dict[str, Any], changed: frozenset[str]
) -> set[str]:
    return {e.name for e in items if kind in e.kinds and holds(e.condition, fields, changed)}


def read_in_python(network: Network) -> int:
    """How many of the network's rulesets the C engine refused (then read in Python).

    White-box: the property is about durable_rules' answers, so a test that passed only because
    the network fell back to Python would prove nothing.
    """
    return sum(chunk.handle is None for chunks in network._chunks.values() for chunk in chunks)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=entries(),
    states=st.lists(
        st.tuples(st.sampled_from(KINDS), records, changed_sets), min_size=1, max_size=4
    ),
)
def test_network_agrees_with_holds(items: list[Entry], states: list) -> None:
    # Entries for another object share the network; they must never fire for OBJECT.
    other = [Entry(f"other-{e.name}", "Other", e.kinds, e.condition) for e in items]
    network = Network([*items, *other])
    for kind, fields, changed in states:
        # Several records through one network: facts must be retracted, nothing may linger.
        assert network.match(OBJECT, kind, fields, changed) == expected(
            items, kind, fields, changed
        ), (
            [str(e.condition) for e in items],
            kind,
            fields,
            sorted(changed),
        )
    assert read_in_python(network) == 0


@settings(max_examples=300, deadline=None)
@given(cond=conditions, fields=records, changed=changed_sets)
def test_simplify_keeps_the_meaning(cond: Condition, fields: dict, changed: frozenset[str]) -> None:
    everything = frozenset(FIELDS)
    assert holds(simplify(cond), fields, changed) == holds(cond, fields, changed)
    assert holds(simplify(cond, changed_is=True), fields, changed) == holds(
        cond, fields, everything
    )
    assert holds(simplify(cond, changed_is=False), fields, changed) == holds(
        cond, fields, frozenset()
    )


# --- Disagreements the property test found, pinned as examples ---------------------------------


def _agree(
    raw: dict[str, Any], fields: dict[str, Any], changed: frozenset[str] = frozenset()
) -> bool:
    cond = parse_condition(raw)
    # Alone, and after another entry (the first test under durable_rules' root is special).
    alone = Network([Entry("x", OBJECT, ("updated",), cond)])
    second = Network(
        [
            Entry("y", OBJECT, ("updated",), parse_condition({"Z": 1})),
            Entry("x", OBJECT, ("updated",), cond),
        ]
    )
    got = "x" in alone.match(OBJECT, "updated", fields, changed)
    assert got == ("x" in second.match(OBJECT, "updated", fields, changed))
    assert got == holds(cond, fields, changed), (raw, fields)
    assert read_in_python(alone) == read_in_python(second) == 0
    return got


@pytest.mark.parametrize(
    ("raw", "fields", "result"),
    [
        # durable_rules reads a number without a '.' as an integer and stops at the 'e': Python
        # writes 1e-05 and 1e+16 without one, and the ruleset or the fact did not parse.
        ({"A": {"gt": 1e-05}}, {"A": 1}, True),
        ({"A": {"gt": 1}}, {"A": 1e-05}, False),
        ({"A": 1e16}, {"A": 10**16}, True),
        ({"A": {"lt": 1.5e300}}, {"A": 2.5e-07}, True),
        # durable_rules compares two integers as 64-bit integers (and saturates beyond them);
        # the rules compare numbers as doubles, like 5 == 5.0.
        ({"A": 2**53 + 1}, {"A": 2**53}, True),
        ({"A": {"gt": 2**63}}, {"A": 2**64}, True),
        ({"A": {"lt": 2**64}}, {"A": 2**63}, True),
        ({"A": 2**63}, {"A": 2**64}, False),
        # Integers beyond a double's range count as infinite, in Python and in the network.
        ({"A": 10**400}, {"A": 10**401}, True),
        ({"A": {"gt": 10**300}}, {"A": 10**400}, True),
        ({"A": {"empty": False}}, {"A": -(10**400)}, True),
        # Infinities (a YAML `.inf`) are numbers too.
        ({"A": {"lt": math.inf}}, {"A": 10**18}, True),
        ({"A": {"gt": -math.inf}}, {"A": -1.5}, True),
        ({"not": {"A": {"gt": 0}}}, {"A": math.nan}, True),
        ({"A": {"not_equals": 0}}, {"A": math.nan}, True),
        # durable_rules orders texts with strncmp over the JSON-escaped bytes, reading one past
        # the end of the shorter text (the closing quote), so a prefix compared wrongly with a
        # longer text whose next character sorts below '"' (space, '!', control characters), and
        # escaped characters (", \\, newline) sorted as the backslash of their escape.
        ({"A": {"lt": "ab!"}}, {"A": "ab"}, True),
        ({"A": {"lt": "ab "}}, {"A": "ab"}, True),
        ({"A": {"gt": "ab!"}}, {"A": "ab"}, False),
        ({"A": {"lt": "a#"}}, {"A": 'a"'}, True),
        ({"A": {"gt": "a "}}, {"A": "a\n"}, False),
        ({"A": {"gte": "a\\"}}, {"A": "a]"}, True),
        # durable_rules passes text lengths as 16-bit numbers: a text of 65,536 bytes or more
        # compared as if it were cut to its length modulo 65,536.
        ({"A": "ab"}, {"A": "ab" + "x" * 65536}, False),
        ({"A": {"not_equals": "ab"}}, {"A": "ab" + "x" * 65536}, True),
        ({"A": "x" * 65536}, {"A": "x" * 65537}, False),
        ({"A": {"gt": "ab"}}, {"A": "ab" + "x" * 65536}, True),
        ({"A": "é" * 40000}, {"A": "é" * 40000}, True),
        # Short plain ASCII goes in as it is, anything else as a digest: both must agree.
        ({"A": "x" * 200}, {"A": "x" * 200}, True),
        ({"A": "x" * 201}, {"A": "x" * 201}, True),
        ({"A": "x" * 200}, {"A": "x" * 201}, False),
        ({"A": {"in": ["h:x", "s:x"]}}, {"A": "x"}, False),
        ({"A": "s:x"}, {"A": "s:x"}, True),
        # durable_rules fires a `$nex` (does not exist) test that comes first under its root for
        # every fact, so `not A > 0` (A missing, or A <= 0) held for A = 1.
        ({"not": {"A": {"gt": 0}}}, {"A": 1}, False),
        ({"not": {"A": {"lte": 0}}}, {"A": -3}, False),
        ({"all": [{"not": {"A": {"gt": 0}}}, {"B": 1}]}, {"A": 1, "B": 1}, False),
        ({"any": [{"not": {"A": {"lt": 0}}}, {"B": 1}]}, {"A": -1}, False),
        ({"not": {"A": {"gt": 0}}}, {"A": "x"}, True),
        ({"not": {"A": {"gt": 0}}}, {}, True),
    ],
)
def test_found_disagreements(raw: dict, fields: dict, result: bool) -> None:
    assert _agree(raw, fields) is result


@pytest.mark.parametrize(
    ("raw", "fields", "result"),
    [
        ({"A": 5}, {"A": 5.0}, True),
        ({"A": 5}, {"A": "5"}, False),
        ({"A": "5"}, {"A": 5}, False),
        ({"A": True}, {"A": 1}, False),
        ({"A": 1}, {"A": True}, False),
        ({"A": False}, {"A": 0}, False),
        ({"A": None}, {}, True),
        ({"A": None}, {"A": ""}, False),
        ({"A": {"not_equals": None}}, {"A": ""}, True),
        ({"A": {"empty": True}}, {"A": " \t"}, True),
        ({"A": {"empty": False}}, {"A": 0}, True),
        ({"A": 'a"b'}, {"A": 'a"b'}, True),
        ({"A": "a\\b"}, {"A": "a\\b"}, True),
        ({"A": "a\\"}, {"A": 'a"'}, False),
        ({"A": "日本"}, {"A": "日本"}, True),
        ({"A": {"matches": r"^\d+$"}}, {"A": "123"}, True),
        ({"A": {"matches": r"^\d+$"}}, {"A": 123}, False),
        ({"A": {"gt": 1}}, {"A": "2"}, False),
        ({"not": {"A": {"gt": 1}}}, {"A": "2"}, True),
        ({"A": {"gt": "1"}}, {"A": 2}, False),
        ({"A": {"in": ["5", True]}}, {"A": 5}, False),
        ({"A": {"not_in": [None, ""]}}, {}, False),
    ],
)
def test_typed_comparisons_agree(raw: dict, fields: dict, result: bool) -> None:
    assert _agree(raw, fields) is result


@example(changed=frozenset({"A"}))
@given(changed=changed_sets)
@settings(deadline=None, max_examples=20)
def test_changed_only_counts_listed_fields(changed: frozenset[str]) -> None:
    assert _agree({"changed": ["A", "B"]}, {}, changed) is bool(changed & {"A", "B"})


def test_kinds_and_objects_filter_entries() -> None:
    cond = parse_condition({"A": 1})
    network = Network(
        [
            Entry("on-create", OBJECT, ("created",), cond),
            Entry("on-update", OBJECT, ("created", "updated"), cond),
            Entry("elsewhere", "Other", ("created", "updated"), cond),
        ]
    )
    assert network.match(OBJECT, "created", {"A": 1}, frozenset()) == {"on-create", "on-update"}
    assert network.match(OBJECT, "updated", {"A": 1}, frozenset()) == {"on-update"}
    assert network.match(OBJECT, "deleted", {"A": 1}, frozenset()) == set()
    assert network.match("Other", "updated", {"A": 1}, frozenset()) == {"elsewhere"}
    assert network.match("Unknown", "updated", {"A": 1}, frozenset()) == set()
    assert network.objects() == frozenset({OBJECT, "Other"})


def test_constant_conditions() -> None:
    always = simplify(parse_condition({"changed": "A"}), changed_is=True)
    never = simplify(parse_condition({"changed": "A"}), changed_is=False)
    network = Network(
        [Entry("always", OBJECT, ("updated",), always), Entry("never", OBJECT, ("updated",), never)]
    )
    assert network.match(OBJECT, "updated", {}, frozenset()) == {"always"}
    assert (
        Network([Entry("never", OBJECT, ("updated",), never)]).match(
            OBJECT, "updated", {}, frozenset()
        )
        == set()
    )
    assert Network([]).match(OBJECT, "updated", {}, frozenset()) == set()


# --- durable_rules' fixed-size tables -----------------------------------------------------------
# Each case broke the single-ruleset network: the ruleset was refused (error 107, 108, 113),
# facts were refused (302, 303), memory was corrupted (a segfault after 256 identical rules) or
# create_ruleset never returned (512 distinct values tested on one field).

BIG = [
    ("identical conditions", lambda i: {"A": 1}, 300),
    ("rules whose condition is only `changed`", lambda i: {"changed": "A"}, 300),
    ("distinct values of one field", lambda i: {"A": i}, 1200),
    ("many matching at once", lambda i: {"A": {"not_equals": i}}, 300),
    ("one field per rule", lambda i: {f"F{i}": 1}, 130),
    ("negated orderings", lambda i: {"not": {"A": {"gt": i}}}, 300),
    ("a shared branch of `any`", lambda i: {"any": [{"A": 1}, {"B": i}]}, 300),
    ("a shared first test", lambda i: {"all": [{"A": 1}, {"B": i}]}, 300),
    ("patterns", lambda i: {"S": {"contains": str(i)}}, 200),
]


@pytest.mark.parametrize(
    ("shape", "count"), [(make, n) for _, make, n in BIG], ids=[name for name, _, _ in BIG]
)
def test_large_networks(shape: Any, count: int) -> None:
    items = [
        Entry(f"r{i}", OBJECT, ("created", "updated"), parse_condition(shape(i)))
        for i in range(count)
    ]
    network = Network(items)
    records = [
        {"A": 1, "B": 3, "S": "12", **{f"F{i}": 1 for i in range(count)}},
        {"A": 50, "B": 1, "S": "x"},
        {"A": 0.5},
        {},
    ]
    for fields in records:
        for changed in (frozenset(), frozenset({"A"})):
            assert network.match(OBJECT, "updated", fields, changed) == expected(
                items, "updated", fields, changed
            )
    assert read_in_python(network) == 0


@pytest.mark.parametrize(
    "raw",
    [
        # more `$and`/`$or` than durable_rules takes in one rule (error 113): read in Python
        {"A": {"not_in": list(range(40))}},
        {"A": {"in": [f"v{i}" for i in range(40)]}},
        {"all": [{"not": {f"F{i}": {"gt": i}}} for i in range(20)]},
        {"any": [{"all": [{"A": i}, {"B": i}]} for i in range(20)]},
        {"changed": [f"F{i}" for i in range(40)]},
    ],
)
def test_conditions_too_big_for_one_durable_rule(raw: dict) -> None:
    for fields, changed in [
        ({"A": 5, "B": 5}, frozenset()),
        ({"A": "v7", "F3": 9}, frozenset({"F9"})),
        ({"A": 40}, frozenset()),
        ({}, frozenset()),
    ]:
        _agree(raw, fields, changed)


def test_same_condition_under_several_names() -> None:
    cond = parse_condition({"A": 1})
    network = Network(
        [
            Entry("rule", OBJECT, ("created", "updated"), cond),
            Entry("rule~situation", OBJECT, ("updated", "created"), cond),
            Entry("created-only", OBJECT, ("created",), cond),
        ]
    )
    assert network.match(OBJECT, "updated", {"A": 1}, frozenset()) == {"rule", "rule~situation"}
    assert network.match(OBJECT, "created", {"A": 1}, frozenset()) == {
        "rule",
        "rule~situation",
        "created-only",
    }
    assert network.match(OBJECT, "created", {"A": 2}, frozenset()) == set()


def test_many_matches_for_one_fact_and_reuse() -> None:
    # Every matching entry fires (facts, not events), and the single session is reused: far more
    # facts than durable_rules' 1,024 sessions go through one network.
    network = Network(
        [
            Entry(f"r{i}", OBJECT, ("updated",), parse_condition({"A": {"gte": i}}))
            for i in range(50)
        ]
    )
    for n in range(1100):
        value = n % 60
        got = network.match(OBJECT, "updated", {"A": value}, frozenset())
        assert got == {f"r{i}" for i in range(50) if i <= value}


def test_a_ruleset_the_c_engine_refuses_is_read_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    # Let one rule exceed durable_rules' limit of `$and`/`$or`: create_ruleset refuses it (113).
    monkeypatch.setattr(engine, "_MAX_JUNCTIONS", 100)
    monkeypatch.setattr(engine._Chunk, "MAX_ONE_RULE", engine._Cost(10**6, 10**6, 10**6))
    monkeypatch.setattr(engine._Chunk, "MAX_COST", engine._Cost(10**6, 10**6, 10**6))
    raw = {"all": [{"not": {f"F{i}": {"gt": i}}} for i in range(20)]}
    items = [
        Entry("big", OBJECT, ("updated",), parse_condition(raw)),
        Entry("small", OBJECT, ("updated",), parse_condition({"A": 1})),
    ]
    network = Network(items)
    assert read_in_python(network) == 1
    for fields in ({"A": 1}, {"A": 1, "F3": 9}, {"F0": -1}):
        assert network.match(OBJECT, "updated", fields, frozenset()) == expected(
            items, "updated", fields, frozenset()
        )


def test_a_fact_the_c_engine_refuses_is_read_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    # Let 70 rules that all match share one ruleset: durable_rules refuses the fact (303).
    monkeypatch.setattr(engine._Chunk, "MAX_COST", engine._Cost(10**6, 10**6, 10**6))
    items = [
        Entry(f"r{i}", OBJECT, ("updated",), parse_condition({"A": {"not_equals": i}}))
        for i in range(70)
    ]
    network = Network(items)
    assert read_in_python(network) == 0
    assert network.match(OBJECT, "updated", {"A": 5}, frozenset()) == {
        f"r{i}" for i in range(70) if i != 5
    }
    assert read_in_python(network) == 1  # from now on
    assert network.match(OBJECT, "updated", {"A": 6}, frozenset()) == {
        f"r{i}" for i in range(70) if i != 6
    }


def test_a_network_freed_while_another_is_built_does_not_deadlock() -> None:
    """A finalizer run by the garbage collector in the middle of building a network (under the
    engine's lock, on the same thread) deletes the freed network's rulesets and returns."""
    import gc
    import threading

    from lastmile.rules import load_text

    pack = "pack: p\nrules:\n  - id: r\n    object: Task\n    if: {all: [{A: 1}]}\n"
    pack += "    then: {require: [B]}\n"
    done = threading.Event()

    def build() -> None:
        for _ in range(20):
            cycle: list[object] = [load_text(pack)]
            cycle.append(cycle)  # freed only by the garbage collector, not by `del`
            del cycle
            with engine._LOCK:  # as Network.__init__ holds it while it builds
                gc.collect()  # runs the freed network's finalizer here
        done.set()

    worker = threading.Thread(target=build, daemon=True)
    worker.start()
    assert done.wait(30), "deadlocked"


def expected_before(items: list[Entry], previous: dict[str, Any] | None) -> set[str]:
    """What `match_with_previous` reads of the snapshot: `before` entries, as an update."""
    if previous is None:
        return set()
    return {
        e.name
        for e in items
        if e.before and "updated" in e.kinds and holds(e.condition, previous, frozenset())
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=entries(),
    flags=st.lists(st.booleans(), min_size=6, max_size=6),
    states=st.lists(
        st.tuples(
            st.sampled_from(KINDS),
            records,
            changed_sets,
            st.sampled_from(["last", "last", "other", "none"]),
            records,
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_one_pass_with_the_snapshot_agrees_with_holds(
    items: list[Entry], flags: list[bool], states: list
) -> None:
    # Some entries are also read against the snapshot; some share a name with another entry.
    items = [replace(e, before=flag) for e, flag in zip(items, flags, strict=False)]
    if len(items) > 2 and flags[5]:
        items[-1] = replace(items[-1], name=items[0].name)
    network = Network(items)
    last: dict[str, Any] | None = None
    for kind, fields, changed, which, other in states:
        # The snapshot is mostly the state read just before: the network may know it already.
        previous = {"last": last, "other": other, "none": None}[which]
        now, before = network.match_with_previous(OBJECT, kind, fields, changed, previous)
        assert now == expected(items, kind, fields, changed)
        assert before == expected_before(items, previous), (
            [(e.name, e.before, e.kinds, str(e.condition)) for e in items],
            kind,
            fields,
            previous,
        )
        last = fields
    assert read_in_python(network) == 0


def test_what_changed_is_never_taken_from_a_kept_state() -> None:
    # A `before` entry reading `changed` holds now (A changed) but not for the snapshot, which is
    # read with nothing changed, although its values are the state just read.
    items = [
        Entry("moment", OBJECT, ("updated",), parse_condition({"changed": "A"}), True),
        Entry("state", OBJECT, ("updated",), parse_condition({"A": 1}), True),
    ]
    network = Network(items)
    assert network.match_with_previous(OBJECT, "updated", {"A": 1}, frozenset({"A"}), None) == (
        {"moment", "state"},
        set(),
    )
    now, before = network.match_with_previous(OBJECT, "updated", {"A": 2}, frozenset(), {"A": 1})
    assert (now, before) == (set(), {"state"})
