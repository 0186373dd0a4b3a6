"""`lastmile report` and `digest` fit the terminal: at 80 columns as at 140, no line wider, nothing
cut to `…`, every team and rule named and every row's figures there; `--json` is the same at any
width, and a pipe without COLUMNS gets the wide tables."""

from __future__ import annotations

import io
import json
import re

import pytest
from click.testing import CliRunner
from measure_support import World, row
from rich.console import Console
from widths import columns, fitted

from lastmile.cli.figures import print_report
from lastmile.cli.report import digest_cmd, report
from lastmile.cli.screen import WIDTH
from lastmile.measure.language import percent

AS_OF = "2026-11-24T12:00:00Z"
TITLES = ("Per rule", "Per team", "Per week (of opening)", "Defaults", "Friction")
SECTIONS = (("Per rule", "rules", "rule"), ("Per team", "teams", "team"),
            ("Per week (of opening)", "weeks", "week"))  # fmt: skip


def _report(w: World, width: int | None, *args: str) -> str:
    result = CliRunner().invoke(report, ["--as-of", AS_OF, *args], env={**w.env, **columns(width)})
    assert result.exit_code == 0, result.output
    return result.output


def _section(lines: list[str], title: str) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line.strip() == title)
    rest = lines[start + 1 :]
    end = next((i for i, line in enumerate(rest) if line.strip() in TITLES), len(rest))
    return rest[:end]


def _has_row(lines: list[str], name: str, rule: str, figures: dict) -> bool:
    """Somewhere the row's name is followed by its occasions (after the rule in the wide layout,
    after an `occ` label where the figures are pairs), and soon after by its compliance."""
    compliance = "-" if figures["compliance"] is None else percent(figures["compliance"])
    words, target = " ".join(lines).split(), name.split()
    for i in range(len(words)):
        if words[i : i + len(target)] != target:
            continue
        after = words[i + len(target) :]
        after = after[1:] if after[:1] == [rule] and name != rule else after
        after = after[1:] if after[:1] == ["occ"] else after
        if after[:1] == [str(figures["occasions"])] and compliance in after[:16]:
            return True
    return False


@pytest.mark.parametrize("width", [80, 140])
def test_the_report_fits_the_width_and_keeps_every_name_and_figure(
    scenario: World, width: int
) -> None:
    data = json.loads(_report(scenario, width, "--json"))
    lines = fitted(_report(scenario, width), width)
    text = "\n".join(lines)
    for title, part, key in SECTIONS:
        section = _section(lines, title)
        assert data[part], part
        for r in data[part]:
            assert _has_row(section, r[key], r["rule"], r), (title, r[key], "\n".join(section))
    for d in data["defaults"]:
        assert d["rule"] in text and d["field"] in text and percent(d["override_rate"]) in text
    assert "Advisers North" in text and "other" in text
    # At 80 columns the compact tables, with their legend; at 140 the wide ones.
    assert ("occ occasions" in text) == (width == 80)
    assert ("after prompt" in text) == (width == 140)


def test_the_json_is_the_same_at_any_width(scenario: World) -> None:
    answers = {_report(scenario, width, "--json") for width in (None, 40, 80, 140)}
    assert len(answers) == 1
    assert json.loads(answers.pop())["as_of"] == AS_OF


def test_a_pipe_without_columns_gets_the_wide_tables(scenario: World) -> None:
    piped = _report(scenario, None)
    assert fitted(piped, WIDTH) and "after prompt" in piped and "occ occasions" not in piped
    assert piped == _report(scenario, WIDTH)


LONG_RULE = "new-opportunity-essentials-for-enterprise"
LONG_TEAM = "Customer Success EMEA Enterprise Accounts"
ODD_TEAM = "Sales [EU] :rocket:"  # markup and an emoji code, shown as they are

FIGURES = {
    "as_of": AS_OF,
    "rules": [
        row(LONG_RULE, 12345, 6000, 3000, 2345, 1000, 0, 0.7913, 15000, 200000,
            {"Very_Long_Custom_Field_Name__c": 1200, "Description": 0}),
        row("call-notes", 7, 1, 2, 2, 1, 1, None, None, None, {}),
    ],
    "teams": [
        {"team": LONG_TEAM, **row(LONG_RULE, 12000, 5900, 2900, 2200, 1000, 0, 0.8, 15000,
                                  200000, {"Very_Long_Custom_Field_Name__c": 1100})},
        {"team": ODD_TEAM, **row("call-notes", 7, 1, 2, 2, 1, 1, None, None, None, {})},
        {"team": ODD_TEAM, **row(LONG_RULE, 345, 100, 100, 145, 0, 0, 0.58, 60, 90, {})},
    ],
    "weeks": [{"week": "2026-W47", **row("call-notes", 7, 1, 2, 2, 1, 1, None, None, None, {})}],
    "defaults": [{"rule": LONG_RULE, "field": "Very_Long_Custom_Field_Name__c",
                  "applied": 12345, "overridden": 6789, "override_rate": 0.55}],
}  # fmt: skip


@pytest.mark.parametrize("width", [60, 80, 100, 140])
def test_long_names_and_big_figures_are_stacked_never_cut(width: int) -> None:
    out = io.StringIO()
    print_report(Console(file=out, width=width), FIGURES, [], by_team=False)
    lines = fitted(out.getvalue(), width)
    for title, part, key in SECTIONS:
        section = _section(lines, title)
        for r in FIGURES[part]:
            assert _has_row(section, r[key], r["rule"], r), (title, r[key], "\n".join(section))
    text = out.getvalue()
    assert ODD_TEAM in text and "Very_Long_Custom_Field_Name__c" in text and "55%" in text


@pytest.mark.parametrize("width", [80, 40])
def test_the_digest_wraps_to_the_width_and_keeps_every_word(scenario: World, width: int) -> None:
    args = ["--team", "Advisers North", "--day", "2026-11-17"]
    wide = CliRunner().invoke(digest_cmd, args, env={**scenario.env, **columns(1000)})
    narrow = CliRunner().invoke(digest_cmd, args, env={**scenario.env, **columns(width)})
    assert wide.exit_code == narrow.exit_code == 0, narrow.output
    assert max(map(len, wide.output.splitlines())) > 80  # a question longer than a line
    lines = fitted(narrow.output, width)
    assert narrow.output.split() == wide.output.split()
    # A question's next lines stand under its first word, after the number.
    questions = lines[next(i for i, line in enumerate(lines) if line.startswith("1. ")) :]
    assert all(re.match(r"\d\. |   \S", line) for line in questions), questions
    assert len(questions) > 3


@pytest.mark.parametrize("width", [80, 160])
def test_observe_rules_and_placeholders_are_shown(width: int) -> None:
    figures = {
        "as_of": AS_OF,
        "rules": [{**row("call-notes", 4, 1, 1, 2, 0, 0, 0.5, 60, 60,
                         {"Description": 1, "Outcome__c": 0}),
                   "mode": "observe", "fields_placeholder": {"Description": 0, "Outcome__c": 2}}],
        "teams": [],
        "weeks": [],
        "defaults": [],
    }  # fmt: skip
    out = io.StringIO()
    print_report(Console(file=out, width=width, force_terminal=False), figures, [], by_team=False)
    text = " ".join(out.getvalue().split())
    assert "call-notes (observe)" in text
    assert "Description 1" in text and "Outcome__c 2 with a placeholder" in text
