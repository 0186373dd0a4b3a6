"""`lastmile demo` with its eight weeks of simulated history: figures for several weeks and both
teams, the baseline weeks observed with nothing written, call-essentials in two live versions
with the shorter one complied with more, placeholders counted, a default often overridden, no
deadline of the history left for the scheduler, a rerun that imports nothing twice, the
example experiment's arms in the weeks it ran with a readout that has every arm and effect, the
populated dashboard in Chromium, and `--no-history` for a bare demo."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lastmile import demo_history
from lastmile.cli.demo import Demo
from lastmile.deadlines import run_deadlines
from lastmile.rules.experiments import assign_arm
from lastmile.simulate import truth as truth_of
from lastmile.store.tables import deadline_actions, defaults_applied, inbox, observations
from lastmile.store.tables import occasions as occ

LASTMILE = str(Path(sys.executable).with_name("lastmile"))
SIM = "%SIM%"  # the simulated records' ids
TEAMS = {"Advisers North", "Advisers South"}
MET = ("met_first_time", "met_after_prompt")


@dataclass
class Runs:
    first: demo_history.Seeded
    first_counts: dict[str, int]
    demo: Demo  # the rerun, still running


def sim_counts(demo: Demo) -> dict[str, int]:
    """The simulated history's rows in the demo's store."""
    tables = (inbox, occ, defaults_applied, observations)
    count = sa.select(sa.func.count())
    return {t.name: rows(demo, count.where(t.c.record_id.like(SIM)))[0][0] for t in tables}


def rows(demo: Demo, query: sa.Select) -> list[Any]:
    assert demo.runtime is not None
    with demo.runtime.store.reading() as conn:
        return list(conn.execute(query))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """The demo started twice on the same data: the second run is the one the tests look at."""
    data = tmp_path_factory.mktemp("demo-history")
    with Demo(data, port=0, sandbox_port=0, history=True) as first:
        assert first.seeded is not None
        seeded, counts = first.seeded, sim_counts(first)
    with Demo(data, port=0, sandbox_port=0, history=True) as again:
        yield Runs(seeded, counts, again)


@pytest.fixture(scope="module")
def demo(runs: Runs) -> Demo:
    return runs.demo


def weeks_from(demo: Demo, n: int) -> datetime:
    assert demo.simulated is not None
    return demo.simulated.params.start + timedelta(weeks=n)


def test_the_history_is_imported_once_and_a_rerun_adds_nothing_twice(runs: Runs) -> None:
    first, again = runs.first, runs.demo.seeded
    assert again is not None
    assert first.imported == first.events > 2000 and first.teams == 2
    assert runs.first_counts["inbox"] == first.events
    # The rerun continues the same history: only events of the seconds between the runs are new.
    assert again.start == first.start
    assert again.events - first.events == again.imported < 5
    counts = sim_counts(runs.demo)
    assert counts["inbox"] == first.events + again.imported
    if again.imported == 0:  # as nearly always: no simulated event fell between the two runs
        assert counts == runs.first_counts


def test_the_history_runs_from_eight_weeks_back_up_to_now(demo: Demo) -> None:
    assert demo.simulated is not None
    start, now = demo.simulated.params.start, datetime.now(UTC)
    assert start.weekday() == 0 and start.hour == 0
    assert timedelta(weeks=8) <= now - start < timedelta(weeks=9)
    latest_event = sa.select(sa.func.max(inbox.c.occurred_at))
    ((latest,),) = rows(demo, latest_event.where(inbox.c.record_id.like(SIM)))
    assert now - timedelta(days=4) < latest < now


def test_report_json_has_several_weeks_and_both_teams(demo: Demo) -> None:
    # A process of its own: the running demo's threads log to this one's standard output.
    done = subprocess.run(
        [LASTMILE, "report", "--json", "--config", str(demo.env_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    weeks = {w["week"] for w in figures["weeks"] if w["rule"] == "call-essentials"}
    assert len(weeks) >= 8
    assert {t["team"] for t in figures["teams"]} == TEAMS
    by_team = {
        t["team"]: t["occasions"] for t in figures["teams"] if t["rule"] == "call-essentials"
    }
    assert by_team["Advisers North"] > 0 and by_team["Advisers South"] > 0
    (lead_source,) = [d for d in figures["defaults"] if d["field"] == "LeadSource"]
    assert lead_source["applied"] > 50 and lead_source["override_rate"] > 0.3


def test_call_essentials_shows_three_versions_and_the_shorter_one_is_met_more(demo: Demo) -> None:
    assert demo.simulated is not None and demo.runtime is not None
    phases = demo_history.phases(demo.simulated, demo.runtime.rules())
    expected = [p.ruleset.get("call-essentials").version for p in phases]
    # The baseline's version differs from the live one before the change only by its mode.
    assert len(set(expected)) == 3
    assert expected[-1] == demo.runtime.rules().get("call-essentials").version
    query = (
        sa.select(
            occ.c.rule_version,
            sa.func.min(occ.c.opened_at),
            sa.func.max(occ.c.opened_at),
            sa.func.sum(sa.case((occ.c.outcome.in_(MET), 1), else_=0)),
            sa.func.sum(sa.case((occ.c.outcome == "missed", 1), else_=0)),
        )
        .where(occ.c.rule == "call-essentials", occ.c.record_id.like(SIM))
        # The experiment's control arm is not prompted (the tests below look at it).
        .where(sa.or_(occ.c.arm.is_(None), occ.c.arm != "control"))
        .group_by(occ.c.rule_version)
    )
    found = rows(demo, query)
    assert {r[0] for r in found} == set(expected)
    by_version = {r[0]: r for r in found}
    for phase, version in zip(phases, expected, strict=True):
        _, first, last, _, _ = by_version[version]
        assert phase.start <= first <= last < phase.end, phase.name
    compliance = {v: met / (met + missed) for v, (_, _, _, met, missed) in by_version.items()}
    observed, before, after = (compliance[v] for v in expected)
    assert observed < before < after  # prompted helps; fewer fields helps more
    assert after - before > 0.03


def experiments_json(demo: Demo) -> dict[str, Any]:
    done = subprocess.run(
        [LASTMILE, "experiments", "--json", "--config", str(demo.env_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_experiment_ran_in_four_weeks_of_the_history_with_arms_by_the_formula(
    demo: Demo,
) -> None:
    assert demo.runtime is not None
    spec = demo.runtime.rules().get("call-essentials").rule.experiment
    assert spec is not None and list(spec.arms) == ["control", "short", "long"]
    # The demo runs a copy of the example packs, the experiment moved into the history: it
    # ended on this week's Monday, so the demo's own saves get the rule's own prompt.
    assert demo.rules_in_use == demo.data_dir / "rules"
    assert (spec.start, spec.end) == (weeks_from(demo, 4), weeks_from(demo, 8))
    assert not spec.running(datetime.now(UTC))
    query = sa.select(occ.c.record_id, occ.c.arm, occ.c.experiment, occ.c.opened_at)
    found = rows(demo, query.where(occ.c.rule == "call-essentials", occ.c.record_id.like(SIM)))
    armed = [(arm, eid, at) for _, arm, eid, at in found if arm is not None]
    assert armed and {eid for _, eid, _ in armed} == {spec.id}
    assert all(spec.start <= at < spec.end for _, _, at in armed)
    assert not any(spec.start <= at < spec.end for _, arm, _, at in found if arm is None)
    # Each occasion's arm is the formula's for the owner of its record.
    events = sa.select(inbox.c.record_id, inbox.c.event).where(inbox.c.record_id.like(SIM))
    owners = {
        record: json.loads(event)["fields"]["OwnerId"] for record, event in rows(demo, events)
    }
    arms: Counter[str] = Counter()
    for record, arm, _, _ in found:
        if arm is not None:
            assert arm == assign_arm(spec.id, owners[record], spec.arms)
            arms[arm] += 1
    assert set(arms) == {"control", "short", "long"}


def test_the_experiments_readout_has_every_arm_and_effect(demo: Demo) -> None:
    assert demo.runtime is not None and demo.simulated is not None
    (exp,) = experiments_json(demo)["experiments"]
    assert exp["rule"] == "call-essentials" and exp["unit"] == "owner"
    assert not exp["running"] and exp["end"] is not None
    # 18 advisers in three arms: figures for each, but too few people for a verdict.
    assert [a["arm"] for a in exp["arms"]] == ["control", "short", "long"]
    assert [a["units"] for a in exp["arms"]] == [6, 6, 6]
    assert all(a["occasions"] >= 50 and a["compliance_ci95"] for a in exp["arms"])
    assert exp["enough_data"] is False and exp["needed"]["units_per_arm"] > 6
    effects = {e["arm"]: e for e in exp["effects"]}
    assert set(effects) == {"short", "long"}
    assert all(e["vs"] == "control" and len(e["ci95"]) == 2 for e in effects.values())
    # The simulator's true effects are modest and positive; the readout finds them, roughly.
    truth = truth_of(demo.simulated.params).effects
    assert 0.05 < truth["short"] < truth["long"] < 0.2
    for arm, effect in effects.items():
        low, high = effect["ci95"]
        assert low < truth[arm] < high
        assert effect["difference"] > 0


def test_the_baseline_weeks_are_observed_and_nothing_is_written_for_them(demo: Demo) -> None:
    live_from = weeks_from(demo, 2)
    assert demo.runtime is not None and demo.simulated is not None
    modes = {}
    observed = demo_history.phases(demo.simulated, demo.runtime.rules())[0].ruleset
    for item in observed.rules:
        modes[item.version] = item.mode
    opened = rows(demo, sa.select(occ.c.rule_version, occ.c.opened_at))
    early = [v for v, at in opened if at < live_from]
    assert early and all(modes.get(v) == "observe" for v in early)
    assert not any(modes.get(v) == "observe" for v, at in opened if at >= live_from)
    # Defaults are written from the live weeks on, never before.
    applied = [at for (at,) in rows(demo, sa.select(defaults_applied.c.occurred_at))]
    assert applied and min(applied) >= live_from


def test_placeholders_in_next_step_are_counted_and_never_met(demo: Demo) -> None:
    found = rows(
        demo,
        sa.select(occ.c.outcome).where(
            occ.c.rule == "closed-won-handover", occ.c.fields_placeholder.like("%|NextStep|%")
        ),
    )
    assert len(found) >= 3
    assert not any(outcome in MET for (outcome,) in found)


def test_the_history_leaves_no_deadline_for_the_demos_scheduler(demo: Demo) -> None:
    """Every deadline of the history, up to its last, was acted on with nothing sent: the
    records exist in no CRM, and a write to one would fail."""

    class NoCrm:
        def apply(self, writes: Any) -> Any:
            raise AssertionError("the scheduler wrote to the CRM for the simulated history")

    assert demo.runtime is not None and demo.simulated is not None
    runtime = demo.runtime
    later = demo.simulated.end + timedelta(days=4)
    for now in (datetime.now(UTC), max(later, datetime.now(UTC))):
        counts = run_deadlines(runtime.store, runtime.rules(), NoCrm(), runtime.settings, now)
        assert counts["acted"] == 0 and counts["failed"] == 0, counts
    done = sa.select(sa.func.count()).where(deadline_actions.c.status == "done")
    assert rows(demo, done)[0][0] > 0


def test_the_demo_shows_a_populated_dashboard(demo: Demo, chromium: Any, need_service) -> None:
    if isinstance(chromium, str):
        need_service("Chromium", chromium)
    url = demo.receiver_url
    context = chromium.new_context(viewport={"width": 1180, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{url}/dashboard")
        page.fill("input[name=token]", demo.admin_token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/dashboard")
        weeks = page.eval_on_selector_all(
            'svg.chart g.series[data-rule="call-essentials"] circle.point',
            "cs => cs.map(c => c.dataset.week)",
        )
        assert len(set(weeks)) >= 8
        teams = page.eval_on_selector_all(
            "#teams tbody tr", "trs => [...new Set(trs.map(tr => tr.dataset.team))]"
        )
        assert set(teams) == TEAMS
        page.click('#rules a:text-is("call-essentials")')
        page.wait_for_url(f"{url}/dashboard/rules/call-essentials*")
        assert page.locator("#versions tbody tr").count() == 3
        assert page.locator("svg.chart g.mark").count() >= 1  # a version going live, marked
        page.click("nav >> text=Experiments")
        page.wait_for_url(f"{url}/dashboard/experiments*")
        section = page.locator("section.experiment")
        assert section.count() == 1
        arms = section.locator("table.arms td[data-key=compliance]")
        assert arms.count() == 3 and all("%" in text for text in arms.all_inner_texts())
        effects = section.locator("table.effects td[data-key=ci95]")
        assert effects.count() == 2 and all("points" in t for t in effects.all_inner_texts())
    finally:
        context.close()


def test_no_history_starts_a_bare_demo_and_the_default_seeds_one(tmp_path: Path) -> None:
    def run(data: Path, *more: str) -> str:
        done = subprocess.run(
            [LASTMILE, "demo", "--port", "0", "--sandbox-port", "0", "--data", str(data),
             "--exit-after", "0.5", *more],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    bare = run(tmp_path / "bare", "--no-history")
    assert "  history " not in bare and "Lastmile wrote back:" in bare
    seeded = run(tmp_path / "seeded")
    (line,) = [x for x in seeded.splitlines() if x.startswith("  history ")]
    assert "simulated since" in line and "2 teams, 18 advisers" in line
    assert "imported in" in line
    assert "Lastmile wrote back:" in seeded and "stopping" in seeded
    assert "/dashboard/experiments" in seeded and "lastmile experiments --config" in seeded
    again = run(tmp_path / "seeded")
    assert "already in the store" in again
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'bare' / 'lastmile.db'}")
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).where(inbox.c.record_id.like(SIM))
        assert conn.execute(query).scalar_one() == 0
    engine.dispose()
