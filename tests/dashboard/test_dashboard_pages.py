"""Rendering edge cases with figures of the contract's shape handed in: empty states, missing
figures, hostile names, and the arguments each page passes to the measurement."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from dashboard_support import ADMIN_TOKEN, ROOT, row, sample_report
from flask import Flask

from lastmile.rules import load_rules
from lastmile.settings import Settings
from lastmile.webhooks.dashboard import Figures, dashboard_blueprint

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def ruleset():
    return load_rules([ROOT / "examples" / "rules"])


class Recorder:
    """Figures that answer with a given report and remember how they were asked."""

    def __init__(self, report: dict[str, Any], items: list[dict[str, Any]] | None = None) -> None:
        self.report, self.items, self.calls = report, items or [], []

    def indicators(self, store, ruleset, settings, as_of, **filters) -> dict[str, Any]:
        self.calls.append(("indicators", as_of, filters))
        return self.report

    def friction(self, report, ruleset, facts=None) -> list[dict[str, Any]]:
        return self.items

    def versions(self, store, rule, as_of, require=()) -> dict[str, Any]:
        return {"rule": rule, "versions": [], "changes": []}

    def digest(self, store, ruleset, settings, team, day) -> dict[str, Any]:
        self.calls.append(("digest", team, day))
        questions = [f"Question {n} for {team}?" for n in (1, 2, 3)]
        return {"team": team, "day": day.isoformat(), "questions": questions, "figures": {}}


def make_client(tmp_path: Path, ruleset, recorder: Recorder, **more: Any):
    runtime = SimpleNamespace(
        settings=Settings(_env_file=None, admin_token=ADMIN_TOKEN),
        store=None,
        rules=lambda: ruleset,
        **more,
    )
    figures = Figures(recorder.indicators, recorder.friction, recorder.digest, recorder.versions)
    app = Flask("dashboard-test", root_path=str(tmp_path))
    app.register_blueprint(dashboard_blueprint(runtime, figures))
    return app.test_client()


def empty_report() -> dict[str, Any]:
    return {"as_of": "2026-11-20T00:00:00Z", "rules": [], "teams": [], "weeks": [], "defaults": []}


def test_no_data_yet_reads_well(tmp_path: Path, ruleset) -> None:
    client = make_client(tmp_path, ruleset, Recorder(empty_report()))
    overview = client.get("/dashboard", headers=BEARER).text
    assert "No occasions yet" in overview and "<svg" not in overview
    assert "No friction to report yet" in client.get("/dashboard/friction", headers=BEARER).text
    rule = client.get("/dashboard/rules/call-essentials", headers=BEARER)
    assert rule.status_code == 200
    assert "No occasions of this rule yet" in rule.text
    assert "Nobody has complied after a prompt yet" in rule.text
    # the rule's own require fields still show, at zero
    for name in ("Description", "Outcome__c", "Next_Step__c"):
        assert f'data-label="{name}" data-value="0.0"' in rule.text
    digest = client.get("/dashboard/digest", headers=BEARER).text
    assert '<option value="other"' in digest and "Pick a team" in digest


def test_figures_are_shown_as_given(tmp_path: Path, ruleset) -> None:
    client = make_client(tmp_path, ruleset, Recorder(sample_report()))
    text = client.get("/dashboard", headers=BEARER).text
    assert '<td data-key="occasions">12</td>' in text
    assert '<td data-key="compliance">80.0%</td>' in text
    assert '<td data-key="median">1 h</td>' in text
    assert '<td data-key="override_rate">15.0%</td>' in text
    assert text.count('class="point"') == 2  # W46 has no compliance figure: no point
    rule = client.get("/dashboard/rules/call-essentials", headers=BEARER).text
    assert 'data-key="p90" data-seconds="86400">1 d</td>' in rule
    assert "within a day, while the conversation is" in rule  # the rule's description


def test_names_from_figures_are_escaped(tmp_path: Path, ruleset) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    report = sample_report()
    report["rules"] = [row(hostile, occasions=1, missed=1, compliance=0.0)]
    report["teams"] = [{**report["rules"][0], "team": hostile}]
    report["weeks"] = [{**report["rules"][0], "week": "2026-W47"}]
    item = {"kind": "field", "rule": hostile, "field": hostile, "figure": hostile, "hint": hostile}
    client = make_client(tmp_path, ruleset, Recorder(report, [item]))
    for page in ("/dashboard", "/dashboard/friction"):
        text = client.get(page, headers=BEARER).text
        assert hostile not in text
        assert "&lt;img src=x onerror=alert(1)&gt;" in text


def test_as_of_and_filters_reach_the_measurement(tmp_path: Path, ruleset) -> None:
    recorder = Recorder(sample_report())
    client = make_client(tmp_path, ruleset, recorder)
    client.get("/dashboard/rules/call-essentials?as_of=2026-11-20T01:00:00%2B01:00", headers=BEARER)
    assert recorder.calls[-1] == (
        "indicators",
        datetime(2026, 11, 20, tzinfo=UTC),
        {"rule": "call-essentials"},
    )
    client.get("/dashboard?as_of=2026-11-21", headers=BEARER)
    assert recorder.calls[-1] == ("indicators", datetime(2026, 11, 21, tzinfo=UTC), {})
    # the digest's day defaults to the as_of day (its figures are those of the day before)
    text = client.get("/dashboard/digest?as_of=2026-11-21&team=other", headers=BEARER).text
    assert recorder.calls[-1] == ("digest", "other", date(2026, 11, 21))
    assert text.count("<li>Question") == 3


def test_a_rule_only_in_the_figures_still_has_its_page(tmp_path: Path, ruleset) -> None:
    report = sample_report("retired-rule")
    client = make_client(tmp_path, ruleset, Recorder(report))
    answer = client.get("/dashboard/rules/retired-rule", headers=BEARER)
    assert answer.status_code == 200
    assert "no longer in the rules" in answer.text


def test_a_rule_in_observe_mode_is_marked(tmp_path: Path, ruleset) -> None:
    report = sample_report()
    report["rules"] = [{**report["rules"][0], "mode": "observe"}]
    text = make_client(tmp_path, ruleset, Recorder(report)).get("/dashboard", headers=BEARER).text
    assert '<span class="badge" data-key="mode"' in text and ">observe</span>" in text
    plain = make_client(tmp_path, ruleset, Recorder(sample_report()))
    assert 'data-key="mode"' not in plain.get("/dashboard", headers=BEARER).text


def test_occasions_whose_prompt_was_held_back_are_marked(tmp_path: Path, ruleset) -> None:
    report = sample_report()
    report["rules"] = [{**report["rules"][0], "suppressed": 4}]
    text = make_client(tmp_path, ruleset, Recorder(report)).get("/dashboard", headers=BEARER).text
    assert '<span class="badge" data-key="suppressed"' in text and ">4 held back</span>" in text
    plain = make_client(tmp_path, ruleset, Recorder(sample_report()))
    assert 'data-key="suppressed"' not in plain.get("/dashboard", headers=BEARER).text


def test_the_overview_shows_the_crms_api_usage_and_what_was_put_off(tmp_path: Path, ruleset):
    from lastmile.connector.base import ApiUsage
    from lastmile.worker.budget import ApiBudget

    usage = ApiUsage(used=85_000, limit=100_000, calls=1_234)
    budget = ApiBudget(lambda: usage)
    budget.deferred = 7
    crm = SimpleNamespace(usage=lambda: usage)
    worker = SimpleNamespace(budget=budget)
    client = make_client(tmp_path, ruleset, Recorder(sample_report()), connector=crm, worker=worker)
    text = " ".join(client.get("/dashboard", headers=BEARER).text.split())
    assert 'id="api-usage"' in text
    assert "85,000 of 100,000 calls (85.0%)" in text and "7 put off" in text
    quiet = make_client(tmp_path, ruleset, Recorder(sample_report()))
    assert 'id="api-usage"' not in quiet.get("/dashboard", headers=BEARER).text
