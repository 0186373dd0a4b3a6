"""Loading rule files: the RULES.md example, and errors as `path:line:col: rule 'id': message`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lastmile.rules.conditions import All, Changed, Compare
from lastmile.rules.errors import Problem, RuleFileError
from lastmile.rules.loader import load_catalog, load_rules, load_text

RULES_MD_EXAMPLE = """\
pack: client-calls                 # required: a slug
locale: nl                         # prompt language used when a prompt has several (default en)
labels:                            # optional: human field names used in prompts
  Outcome__c: {nl: Uitkomst, en: Outcome}
rules:
  - id: call-essentials            # required, slug, unique in the directory
    description: After every client call, record the three key facts at once.
    object: Task                   # required: the CRM object's API name
    com_b: opportunity             # optional: capability | opportunity | motivation (for reports)
    enabled: true                  # optional, default true
    if:
      on: [created, updated]       # optional, default [created, updated]
      all:
        - Type: Call               # shorthand for equals
        - Status: Completed
        - changed: Status          # Status changed in this event
    then:
      require: [Description, Outcome__c, Next_Step__c]
      prompt:
        nl: "Leg meteen vast: {missing}."
        en: "Record now: {missing}."
      within: 1d                   # optional: after this the occasion counts as missed

  - id: new-opportunity-defaults
    object: Opportunity
    if: {on: created}
    then:
      default: {LeadSource: Phone, Probability: 10}

  - id: follow-up-after-call
    object: Task
    if:
      all: [{Type: Call}, {Status: Completed}, {changed: Status}]
    then:
      task:
        subject: "Follow-up: {Subject}"
        due_in: 2 business days    # or 2d, 4h
        owner: "{OwnerId}"
        related_to: "{WhatId}"

tests:                             # optional: unit tests for the rules of this pack
  - name: a completed call without an outcome asks for it
    event: {object: Task, kind: updated, changed: [Status],
            fields: {Type: Call, Status: Completed, Description: "talked", Outcome__c: null, Next_Step__c: null}}
    expect:
      matched: [call-essentials, follow-up-after-call]
      missing: {call-essentials: [Outcome__c, Next_Step__c]}
"""  # noqa: E501 (verbatim from RULES.md)


def problems_of(text: str, path: str = "pack.yaml") -> list[str]:
    with pytest.raises(RuleFileError) as info:
        load_text(textwrap.dedent(text), path)
    assert str(info.value) == "\n".join(str(p) for p in info.value.problems)
    return [str(p) for p in info.value.problems]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def catalog_problems(*paths: Path) -> list[Problem]:
    with pytest.raises(RuleFileError) as info:
        load_catalog(paths)
    return info.value.problems


# --- A valid pack -------------------------------------------------------------------------------


def test_the_rules_md_example_loads() -> None:
    ruleset = load_text(RULES_MD_EXAMPLE, "client-calls.yaml")
    assert [r.id for r in ruleset.rules] == [
        "call-essentials",
        "new-opportunity-defaults",
        "follow-up-after-call",
    ]
    assert ruleset.objects == ["Opportunity", "Task"]
    essentials = ruleset.get("call-essentials")
    assert essentials is not None
    assert essentials.condition == All(
        (
            Compare("Type", "equals", "Call"),
            Compare("Status", "equals", "Completed"),
            Changed(("Status",)),
        )
    )
    # The situation: the same `if` with `changed` taken as true.
    assert essentials.situation == All(
        (Compare("Type", "equals", "Call"), Compare("Status", "equals", "Completed"))
    )
    then = essentials.rule.then
    assert then.require == ["Description", "Outcome__c", "Next_Step__c"]
    assert (then.within.amount, then.within.unit) == (1, "d")
    assert essentials.rule.com_b == "opportunity"
    assert essentials.source.path == "client-calls.yaml"
    assert (essentials.source.line, essentials.source.column) == (6, 5)
    pack = essentials.pack
    assert pack.pack == "client-calls" and pack.locale == "nl"
    assert pack.label("Outcome__c") == "Uitkomst"
    assert pack.label("Outcome__c", "en") == "Outcome"
    assert pack.label("Next_Step__c") == "Next_Step__c"
    assert len(pack.tests) == 1
    defaults = ruleset.get("new-opportunity-defaults")
    assert defaults is not None
    assert defaults.rule.then.default == {"LeadSource": "Phone", "Probability": 10}
    assert defaults.rule.if_.on == ["created"]
    task = ruleset.get("follow-up-after-call")
    assert task is not None and task.rule.then.task is not None
    assert task.rule.then.task.due_in.unit == "bd"
    assert task.rule.if_.on == ["created", "updated"]
    assert ruleset.for_object("Task") == [essentials, task]
    assert ruleset.for_object("Lead") == []


def test_a_directory_loads_packs_and_test_files(tmp_path: Path) -> None:
    write(tmp_path / "client-calls.yaml", RULES_MD_EXAMPLE)
    write(
        tmp_path / "more" / "leads.yml",
        """\
        pack: leads
        rules:
          - id: lead-source
            object: Lead
            then: {require: [LeadSource]}
        """,
    )
    write(
        tmp_path / "calls.test.yaml",
        """\
        tests:
          - name: a call without outcome
            event: {object: Task, fields: {Type: Call}}
            expect: {matched: []}
        """,
    )
    write(tmp_path / "notes.txt", "not a rule file")
    catalog = load_catalog([tmp_path])
    assert [r.id for r in catalog.ruleset.rules] == [
        "call-essentials",
        "new-opportunity-defaults",
        "follow-up-after-call",
        "lead-source",
    ]
    assert [Path(p.path).name for p in catalog.packs] == ["client-calls.yaml", "leads.yml"]
    assert catalog.packs[0].test_lines == [42]
    (test_file,) = catalog.test_files
    assert Path(test_file.path).name == "calls.test.yaml"
    assert [t.name for t in test_file.tests] == ["a call without outcome"]
    assert test_file.test_lines == [2]
    assert [r.id for r in load_rules([tmp_path / "more" / "leads.yml"]).rules] == ["lead-source"]


def test_the_version_follows_the_content() -> None:
    a = load_text(RULES_MD_EXAMPLE, "a.yaml").version
    assert a == load_text(RULES_MD_EXAMPLE, "a.yaml").version
    assert a != load_text(RULES_MD_EXAMPLE.replace("within: 1d", "within: 2d"), "a.yaml").version


# --- Errors, each at its place ------------------------------------------------------------------


def test_misspelt_operator() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: big-deal
            object: Opportunity
            if:
              all:
                - Amount: {gtee: 100000}
            then:
              prompt: "Big deal"
        """) == ["pack.yaml:7:20: rule 'big-deal': unknown operator 'gtee'; did you mean 'gte'?"]


def test_misspelt_combinator_inside_a_condition() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: not-open
            object: Task
            if:
              all:
                - nto: {Status: Open}
            then: {require: [A]}
        """) == [
        "pack.yaml:7:11: rule 'not-open': 'nto' looks like a misspelt keyword; did you mean 'not'?"
    ]


def test_bad_operand_points_at_the_value() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: re
            object: Task
            if:
              all: [{Subject: {matches: "(open"}}]
            then: {require: [A]}
        """) == [
        "pack.yaml:6:33: rule 're': Subject matches: not a valid regular expression: "
        "missing ), unterminated subpattern at position 0"
    ]


def test_misspelt_key_in_then() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: call-essentials
            object: Task
            then:
              requires: [Outcome__c]
        """) == [
        "pack.yaml:6:7: rule 'call-essentials': unknown key 'requires'; did you mean 'require'?"
    ]


def test_misspelt_key_in_if() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: x
            object: Task
            if: {al: [{A: 1}]}
            then: {require: [A]}
        """) == ["pack.yaml:5:10: rule 'x': unknown key 'al'; did you mean 'all'?"]


def test_unknown_top_level_key() -> None:
    assert problems_of("""\
        pack: p
        rulez: []
        """) == ["pack.yaml:2:1: unknown key 'rulez'; did you mean 'rules'?"]


def test_missing_object() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: no-object
            then:
              require: [A]
        """) == ["pack.yaml:3:5: rule 'no-object': missing required key 'object'"]


def test_missing_pack() -> None:
    assert problems_of("rules: []\n") == ["pack.yaml:1:1: missing required key 'pack'"]


def test_bad_duration_in_within() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: slow
            object: Task
            then:
              require: [A]
              within: 2 fortnights
        """) == [
        "pack.yaml:7:15: rule 'slow': '2 fortnights' is not a duration; "
        "write e.g. 30m, 4h, 2d, 1w or 2 business days"
    ]


def test_bad_duration_in_a_task() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: follow-up
            object: Task
            then:
              task: {subject: Call back, due_in: soon}
        """) == [
        "pack.yaml:6:42: rule 'follow-up': 'soon' is not a duration; "
        "write e.g. 30m, 4h, 2d, 1w or 2 business days"
    ]


def test_within_without_require() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: late
            object: Task
            then:
              prompt: "hi"
              within: 1d
        """) == [
        "pack.yaml:7:15: rule 'late': 'within' is the deadline of a 'require'; "
        "add the fields to require (got '1d')"
    ]


def test_then_with_nothing_to_do() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: idle
            object: Task
            then: {}
        """) == [
        "pack.yaml:5:11: rule 'idle': 'then' needs at least one of require, default, task or prompt"
    ]


def test_bad_placeholder() -> None:
    (problem,) = problems_of("""\
        pack: p
        rules:
          - id: t
            object: Task
            then:
              task: {subject: "Call {Account.Name}", due_in: 2d}
        """)
    assert problem.startswith("pack.yaml:6:23: rule 't': bad placeholder {Account.Name} in ")


def test_a_value_of_no_allowed_type_says_which_types_are() -> None:
    (problem,) = problems_of("""\
        pack: p
        rules:
          - id: d
            object: Task
            then: {default: {A: [1]}}
        """)
    assert problem == (
        "pack.yaml:5:25: rule 'd': Input should be a valid boolean, a valid integer, "
        "a valid number or a valid string"
    )


def test_invalid_yaml() -> None:
    (problem,) = problems_of("""\
        pack: p
        rules:
          - id: x
            object: [Task
        """)
    # Where the list was opened, not where the parser noticed it was never closed.
    assert problem == (
        "pack.yaml:4:13: invalid YAML: the list opened here is not closed with ']' "
        "(its items are separated by ','; the file ends first)"
    )


def test_yaml_duplicate_key() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: x
            object: Task
            object: Lead
            then: {require: [A]}
        """) == [
        "pack.yaml:5:5: invalid YAML: while constructing a mapping found duplicate key "
        '"object" with value "Lead" (original value: "Task")'
    ]


def test_duplicate_rule_id_in_one_pack() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: same
            object: Task
            then: {require: [A]}
          - id: same
            object: Lead
            then: {require: [B]}
        """) == ["pack.yaml:6:9: rule 'same': duplicate rule id"]


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("", "an empty file"),
        ("# only a comment\n", "an empty file"),
        ("- id: x\n", "a list"),
        ("just text\n", "a str"),
        ("42\n", "a int"),
    ],
)
def test_a_file_that_is_not_a_mapping(text: str, what: str) -> None:
    assert problems_of(text) == [f"pack.yaml:1:1: expected a mapping with 'pack:', got {what}"]


def test_several_problems_in_one_file_are_all_reported() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: one
            object: Task
            if: {all: [{Status: {equal: Done}}]}
            then: {require: [A]}
          - id: two
            object: Task
            then: {require: [B], within: 3 moons}
          - id: three
            then: {require: [C]}
          - id: four
            object: Task
            then: {require: [C], prmpt: hi}
        """) == [
        "pack.yaml:5:26: rule 'one': unknown operator 'equal'; did you mean 'equals'?",
        "pack.yaml:9:34: rule 'two': '3 moons' is not a duration; "
        "write e.g. 30m, 4h, 2d, 1w or 2 business days",
        "pack.yaml:10:5: rule 'three': missing required key 'object'",
        "pack.yaml:14:26: rule 'four': unknown key 'prmpt'; did you mean 'prompt'?",
    ]


def test_problems_name_the_rule_only_inside_a_rule() -> None:
    problems = problems_of("""\
        pack: Bad Pack
        rules:
          - id: fine-id
            object: Task
            com_b: motivaton
            then: {require: [A]}
        """)
    assert problems[0].startswith("pack.yaml:1:7: 'Bad Pack' is not a slug: use lower-case letters")
    assert "rule '" not in problems[0]
    assert problems[1] == (
        "pack.yaml:5:12: rule 'fine-id': Input should be 'capability', "
        "'opportunity' or 'motivation' (got 'motivaton')"
    )


# --- Directories --------------------------------------------------------------------------------


def test_duplicate_rule_ids_across_two_files_name_both_places(tmp_path: Path) -> None:
    a = write(
        tmp_path / "a.yaml",
        """\
        pack: a
        rules:
          - id: shared
            object: Task
            then: {require: [A]}
        """,
    )
    b = write(
        tmp_path / "sub" / "b.yaml",
        """\
        pack: b
        rules:
          - id: other
            object: Task
            then: {require: [B]}
          - id: shared
            object: Lead
            then: {require: [C]}
        """,
    )
    problems = catalog_problems(tmp_path)
    assert [str(p) for p in problems] == [
        f"{b}:6:9: rule 'shared': duplicate rule id; first defined at {a}:3:5"
    ]
    # Named explicitly, in the other order, the first file read is the first definition.
    problems = catalog_problems(b, a)
    assert [str(p) for p in problems] == [
        f"{a}:3:9: rule 'shared': duplicate rule id; first defined at {b}:6:5"
    ]


def test_problems_of_every_file_are_reported_together(tmp_path: Path) -> None:
    write(tmp_path / "good.yaml", "pack: good\nrules: []\n")
    bad1 = write(tmp_path / "bad1.yaml", "pack: b1\nrulez: []\n")
    bad2 = write(tmp_path / "bad2.yaml", "")
    assert [str(p) for p in catalog_problems(tmp_path)] == [
        f"{bad1}:2:1: unknown key 'rulez'; did you mean 'rules'?",
        f"{bad2}:1:1: expected a mapping with 'pack:', got an empty file",
    ]


def test_a_test_file_holds_only_tests(tmp_path: Path) -> None:
    write(tmp_path / "rules.yaml", "pack: p\nrules: []\n")
    bad = write(
        tmp_path / "calls.test.yaml",
        """\
        tests:
          - name: a test
            evnt: {object: Task}
        """,
    )
    assert [str(p) for p in catalog_problems(tmp_path)] == [
        f"{bad}:3:5: unknown key 'evnt'; did you mean 'event'?"
    ]


def test_a_test_file_with_pack_keys_is_refused(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "calls.test.yaml",
        """\
        pack: p
        tests:
          - name: a test
            event: {object: Task}
        """,
    )
    assert [str(p) for p in catalog_problems(tmp_path)] == [f"{bad}:1:1: unknown key 'pack'"]


def test_an_empty_test_file(tmp_path: Path) -> None:
    bad = write(tmp_path / "x.test.yml", "")
    assert [str(p) for p in catalog_problems(tmp_path)] == [
        f"{bad}:1:1: expected a mapping with 'tests:', got an empty file"
    ]


def test_a_test_needs_one_event_or_a_sequence(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "x.test.yaml",
        """\
        tests:
          - name: neither
            expect: {matched: []}
        """,
    )
    assert [str(p) for p in catalog_problems(tmp_path)] == [
        f"{bad}:2:5: a test has either 'event' (one event) or 'events' (a sequence)"
    ]


def test_no_rule_files(tmp_path: Path) -> None:
    write(tmp_path / "readme.md", "# nothing here")
    assert [str(p) for p in catalog_problems(tmp_path)] == [
        f"{tmp_path}: no rule files (*.yaml) found"
    ]


def test_a_path_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert [str(p) for p in catalog_problems(missing)] == [f"{missing}: no such file or directory"]


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("pack: caf\xe9\n".encode("latin-1"))
    (problem,) = catalog_problems(bad)
    assert str(problem).startswith(f"{bad}:1:1: not UTF-8 text")


def test_yaml_dates_and_timestamps_are_read_as_text() -> None:
    ruleset = load_text("""\
pack: p
rules:
  - id: r
    object: Opportunity
    if:
      all:
        - CloseDate: {lt: 2026-12-31}
        - LastActivity__c: 2026-11-24T10:00:00Z
        - Code__c: "007"
        - Active__c: yes
    then: {require: [A]}
""")
    rule = ruleset.get("r")
    assert rule is not None
    assert rule.condition == All(
        (
            Compare("CloseDate", "lt", "2026-12-31"),
            Compare("LastActivity__c", "equals", "2026-11-24T10:00:00Z"),
            Compare("Code__c", "equals", "007"),
            Compare("Active__c", "equals", "yes"),  # YAML 1.2: yes is text, not true
        )
    )


def test_escalate_needs_within_and_has_defaults():
    from lastmile.rules import RuleFileError, load_text

    base = """
pack: p
rules:
  - id: r
    object: Task
    if: {all: [{Status: Completed}]}
    then:
      require: [Description]
"""
    ruleset = load_text(
        base + "      within: 1d\n      escalate: {subject: 'Notes missing: {Subject}'}\n"
    )
    escalate = ruleset.rules[0].rule.then.escalate
    assert (escalate.owner, escalate.priority, str(escalate.due_in)) == (
        "{OwnerId}",
        "High",
        "0 days",
    )
    assert {"Subject", "OwnerId"} <= ruleset.fields("Task")
    with pytest.raises(RuleFileError, match="'escalate' acts when the 'within' deadline passes"):
        load_text(base + "      escalate: {subject: x}\n")


def test_hidden_files_and_folders_are_not_rules(tmp_path):
    from lastmile.rules import load_catalog

    pack = "pack: p\nrules:\n  - id: r\n    object: Task\n    if: {all: [{Status: Done}]}\n"
    pack += "    then: {require: [Description]}\n"
    (tmp_path / "p.yaml").write_text(pack)
    # A Kubernetes ConfigMap mount: the real files live in a hidden timestamped folder.
    hidden = tmp_path / "..2026_11_25_13_00_00.123"
    hidden.mkdir()
    (hidden / "p.yaml").write_text(pack)
    (tmp_path / ".p.yaml.swp.yaml").write_text("not: [valid")
    catalog = load_catalog([tmp_path])
    assert [r.id for r in catalog.ruleset.rules] == ["r"]


ROOT = Path(__file__).resolve().parents[2]
PARSE_SAMPLES = [
    RULES_MD_EXAMPLE,
    "a: yes\nb: 0o17\nc: 1_000\nd: 2026-01-01\ne: ~\nf: 1.5\ng: 017\nh: 2026-01-01T10:00:00Z\n",
    "2: two\ntrue: flag\nnull: nothing\n",
    "- [a, b]\n- {c: d}\n- !!str 12\n- '12'\n",
    "",
]


@pytest.mark.parametrize(
    "text",
    PARSE_SAMPLES + [p.read_text() for p in sorted((ROOT / "examples").rglob("*.y*ml"))],
)
def test_the_event_reader_gives_what_ruamels_loader_gives(text: str) -> None:
    """The rule-file reader builds from parser events; ruamel's own safe loader is the oracle
    for the data (positions are checked by every `path:line:col` test above)."""
    from ruamel.yaml import YAML

    from lastmile.rules.document import _plain, parse_document

    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return _plain(value)

    expected = plain(YAML(typ="safe", pure=True).load(text))
    assert parse_document("p.yaml", text).data == expected


def test_positions_of_keys_and_values() -> None:
    from lastmile.rules.document import parse_document

    doc = parse_document("p.yaml", "pack: p\nrules:\n  - id: x\n    then: {require: [A, B]}\n")
    assert doc.keys[("rules", 0, "then")] == (4, 5)
    assert doc.values[("rules", 0, "then")] == (4, 11)
    assert doc.values[("rules", 0, "then", "require", 1)] == (4, 25)
    assert doc.values[("rules",)] == (3, 3)


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ALIAS_BOMB, "p.yaml:1:4: anchors (&name) and aliases (*name) are not allowed"),
        ("base: {A: 1}\nmore: {<<: {B: 2}}\n", "p.yaml:2:8: merge keys (<<) are not allowed"),
        ("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "p.yaml:1:"),
        ("a: 1\n---\nb: 2\n", "p.yaml:2:1: a rule file holds one YAML document"),
        ("? [a, b]\n: c\n", "p.yaml:1:3: a key must be plain text"),
    ],
)
def test_hostile_yaml_is_refused_where_it_is_written(text: str, expected: str) -> None:
    with pytest.raises(RuleFileError) as exc:
        load_text(text, "p.yaml")
    assert str(exc.value.problems[0]).startswith(expected)


def test_deep_nesting_is_refused_at_the_bound() -> None:
    from lastmile.rules.document import MAX_DEPTH

    text = "a: " + "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(RuleFileError) as exc:
        load_text(text, "p.yaml")
    assert exc.value.problems[0].message == f"nested deeper than {MAX_DEPTH} levels"


def test_a_date_that_is_no_date_is_a_problem_not_a_crash() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: close
            object: Opportunity
            if: {all: [{CloseDate: 2026-02-30}]}
            then: {prompt: x}
        """) == [
        "pack.yaml:5:28: '2026-02-30' is not a valid date or time (day is out of range for "
        "month); quote it if it is text"
    ]


def test_a_misspelt_key_is_reported_not_the_missing_key_it_causes() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: x
            objekt: Task
            then: {require: [A]}
        """) == ["pack.yaml:4:5: rule 'x': unknown key 'objekt'; did you mean 'object'?"]


def test_a_value_of_the_wrong_shape_is_said_in_yaml_terms_with_an_example() -> None:
    assert problems_of("""\
        pack: p
        rules:
          - id: x
            object: Opportunity
            if: {on: created}
            then:
              default: [LeadSource, Web]
        """) == [
        "pack.yaml:7:16: rule 'x': 'default' takes a mapping (key: value on each line, or "
        "{key: value}), e.g. `default: {LeadSource: Web, Probability: 10}`"
    ]


def test_a_duplicate_id_is_reported_with_the_files_other_problems(tmp_path: Path) -> None:
    pack = tmp_path / "pack.yaml"
    write(
        pack,
        """\
        pack: p
        rules:
          - id: x
            object: Task
            then: {require: [A]}
          - id: x
            object: Task
            then: {require: [B], bogus: 1}
        """,
    )
    with pytest.raises(RuleFileError) as exc:
        load_catalog([pack])
    assert sorted(str(p).removeprefix(f"{tmp_path}/") for p in exc.value.problems) == [
        f"pack.yaml:6:9: rule 'x': duplicate rule id; first defined at {pack}:3:5",
        "pack.yaml:8:26: rule 'x': unknown key 'bogus'",
    ]
