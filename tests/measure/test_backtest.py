"""Backtests: draft rules replayed over stored events, with the live figures as the check."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from measure_support import AS_OF_A, AS_OF_B, RULES, World

from lastmile import backtest
from lastmile.cli import main
from lastmile.measure import indicators
from lastmile.rules import load_text
from lastmile.store.tables import inbox, observations, occasions

MONDAY_W47 = datetime(2026, 11, 16, tzinfo=UTC)
WINDOWS = [(None, AS_OF_A), (None, AS_OF_B), (MONDAY_W47, AS_OF_B), (AS_OF_A, AS_OF_B)]

DRAFT = (
    RULES.replace("require: [Description, Outcome__c]", "require: [Outcome__c]")
    + """\
  - id: call-follow-up
    object: Task
    mode: observe
    if:
      all: [{Type: Call}, {Status: Completed}, {changed: Status}]
    then:
      task: {subject: "Follow-up: {Subject}", due_in: 2d}
"""
)


def _counts(world: World) -> tuple[int, ...]:
    with world.runtime.store.reading() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (inbox, observations, occasions)
        )


@pytest.mark.parametrize(("since", "until"), WINDOWS)
def test_a_backtest_of_the_live_rules_gives_the_live_figures(scenario: World, since, until) -> None:
    store, ruleset, settings = scenario.runtime.store, scenario.runtime.rules(), scenario.settings
    live = indicators(store, ruleset, settings, until, since=since, until=until)
    assert any(row["occasions"] for row in live["rules"])
    result = backtest.run(store, ruleset, settings, until, since)
    assert result.report == live
    assert result.events > 0 and result.records > 0


def test_a_draft_writes_nothing_and_says_what_it_would_have_done(scenario: World) -> None:
    store, settings = scenario.runtime.store, scenario.settings
    before, calls = _counts(scenario), scenario.crm.calls
    draft = load_text(DRAFT)
    result = backtest.run(store, draft, settings, AS_OF_B, explain=2)
    assert _counts(scenario) == before and scenario.crm.calls == calls
    live = indicators(store, scenario.runtime.rules(), settings, AS_OF_B)
    [notes] = [r for r in result.report["rules"] if r["rule"] == "call-notes"]
    [was] = [r for r in live["rules"] if r["rule"] == "call-notes"]
    # Asking for one field instead of two: the same occasions, met first time as often or more.
    assert notes["occasions"] == was["occasions"]
    assert notes["met_first_time"] >= was["met_first_time"]
    assert notes["fields_missing"].keys() == {"Outcome__c"}
    answer = result.to_json(None, AS_OF_B)
    extra = {row["rule"]: row for row in answer["backtest"]["rules"]}
    # The observe rule is taken as live: it would have created a task per completed call.
    completed = sum(r["occasions"] for r in live["rules"] if r["rule"] == "call-notes")
    assert extra["call-follow-up"]["tasks"] >= completed > 0
    assert extra["call-notes"]["prompts"] >= notes["occasions"] - notes["met_first_time"]
    assert extra["call-notes"]["met_later"] == notes["met_after_prompt"]
    assert len(result.samples) == 2
    assert all(decision.trace for _, decision in result.samples)


def test_the_command_prints_the_reports_keys(scenario: World, tmp_path: Path) -> None:
    rules = tmp_path / "draft"
    rules.mkdir()
    (rules / "scenario.yaml").write_text(RULES, encoding="utf-8")
    window = ["--from", "2026-11-16", "--to", AS_OF_B.isoformat()]
    runner = CliRunner()
    tested = runner.invoke(main, ["backtest", str(rules), *window, "--json"], env=scenario.env)
    assert tested.exit_code == 0, tested.output
    reported = runner.invoke(
        main, ["report", "--json", "--as-of", AS_OF_B.isoformat(), *window], env=scenario.env
    )
    assert reported.exit_code == 0, reported.output
    answer = json.loads(tested.output)
    assert answer.pop("backtest")["from"] == "2026-11-16T00:00:00Z"
    assert answer == json.loads(reported.output)
    text = runner.invoke(
        main, ["backtest", str(rules), *window, "--explain", "1"], env=scenario.env
    )
    assert text.exit_code == 0, text.output
    assert "Nothing was written" in text.output and "call-notes" in text.output
    backwards = ["--from", "2026-12-01", "--to", "2026-11-01"]
    bad = runner.invoke(main, ["backtest", str(rules), *backwards], env=scenario.env)
    assert bad.exit_code == 2 and "--from must be before --to" in bad.output
