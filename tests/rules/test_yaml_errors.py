"""Bad indentation and other YAML syntax errors, said where the rule file went wrong."""

from __future__ import annotations

import textwrap

import pytest

from lastmile.rules.errors import RuleFileError
from lastmile.rules.loader import load_text


def problem_of(text: str) -> str:
    with pytest.raises(RuleFileError) as info:
        load_text(textwrap.dedent(text), "pack.yaml")
    (problem,) = info.value.problems
    return str(problem)


def test_a_key_indented_one_space_too_far_reads_as_the_value_above() -> None:
    # libyaml: "mapping values are not allowed here", at the colon of line 5.
    assert problem_of("""\
        pack: p
        rules:
          - id: x
            object: Task
             description: a call
            then: {require: [Description]}
        """) == (
        "pack.yaml:5:6: bad indentation: 'description' is indented 5 spaces, more than "
        "'object' on line 4 (4 spaces), so YAML reads it as more of the value of 'object'; "
        "keys of one mapping start in the same column: indent it 4 spaces"
    )


def test_a_top_level_key_indented_by_one_space() -> None:
    assert problem_of("pack: p\n rules: []\n") == (
        "pack.yaml:2:2: bad indentation: 'rules' is indented 1 space, more than 'pack' on "
        "line 1 (0 spaces), so YAML reads it as more of the value of 'pack'; keys of one "
        "mapping start in the same column: do not indent it"
    )


def test_a_key_after_a_nested_block_indented_one_space_too_far() -> None:
    # libyaml: "expected <block end>, but found '<block mapping start>'".
    assert problem_of("""\
        pack: p
        rules:
          - id: x
            object: Task
            if:
              all:
                - Type: Call
             then: {require: [Description]}
        """) == (
        "pack.yaml:8:6: bad indentation: 'then' is indented 5 spaces, but 'if' on line 5 is "
        "at 4 spaces; keys of one mapping start in the same column"
    )


def test_a_key_dedented_under_a_list_item() -> None:
    assert problem_of("""\
        pack: p
        rules:
          - id: x
            object: Task
           then: {require: [Description]}
        """) == (
        "pack.yaml:5:4: bad indentation: 'then' is indented 3 spaces, but 'object' on line 4 "
        "is at 4 spaces; keys of one mapping start in the same column"
    )


def test_a_list_item_dedented_to_its_keys_column() -> None:
    # libyaml: "expected <block end>, but found '-'".
    assert problem_of("""\
        pack: p
        rules:
          - id: x
            object: Task
            then:
              require:
                - Description
              - Subject
        """) == (
        "pack.yaml:8:7: bad indentation: this list item is indented 6 spaces, but the items "
        "of the list above it (line 7) are at 8 spaces; items of one list start in the same "
        "column"
    )


def test_a_list_item_dedented_by_one_space() -> None:
    assert problem_of("""\
        pack: p
        rules:
          - id: x
            object: Task
            then: {require: [Description]}
         - id: y
           object: Task
        """) == (
        "pack.yaml:6:2: bad indentation: this list item is indented 1 space, but the items of "
        "the list above it (line 3) are at 2 spaces; items of one list start in the same column"
    )


@pytest.mark.parametrize("lead", ["\t", "    \t"])
def test_a_tab_in_the_indentation(lead: str) -> None:
    text = f"pack: p\nrules:\n  - id: x\n{lead}object: Task\n"
    assert problem_of(text) == (
        f"pack.yaml:4:{len(lead)}: bad indentation: a tab; YAML indents with spaces only, so "
        "replace the tab with spaces (like 'id' on line 3)"
    )


def test_a_colon_in_an_unquoted_value_asks_for_quotes() -> None:
    assert problem_of("""\
        pack: p
        rules:
          - id: x
            object: Task
            then:
              task: {due_in: 2d}
              prompt: Record now: {missing}
        """) == (
        "pack.yaml:7:25: invalid YAML: the value of 'prompt' holds ': ', which YAML reads as "
        'another key; quote the value: `prompt: "Record now: {missing}"`'
    )


def test_an_unclosed_quote_points_at_where_it_opens() -> None:
    assert (
        problem_of("""\
        pack: p
        rules:
          - id: x
            description: "a call
            object: Task
        """)
        == "pack.yaml:4:18: invalid YAML: the text quoted here has no closing quote"
    )


def test_a_tab_that_yaml_accepts_is_no_problem() -> None:
    # A tab between a key and its value is allowed: only indentation must be spaces.
    ruleset = load_text("pack: p\nrules:\n  - id: x\n    object:\tTask\n    then: {require: [A]}\n")
    assert ruleset.objects == ["Task"]
