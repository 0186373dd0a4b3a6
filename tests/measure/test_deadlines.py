"""Deadlines: an escalation task and a cleared prompt once per missed occasion, however often
the scheduler runs; the indicators do not depend on it. Also `lastmile ledger purge`."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from click.testing import CliRunner
from measure_support import AS_OF_B, NORTH, TINY, R, World

from lastmile.cli.report import deadlines, ledger, report
from lastmile.connector.base import CrmProblem
from lastmile.deadlines import DeadlineScheduler, run_deadlines
from lastmile.measure import indicators
from lastmile.measure.occasions import missed_between
from lastmile.store.tables import observations

PROMPT = "Lastmile_Prompt__c"


def _run(w: World, now: datetime) -> dict[str, int]:
    return run_deadlines(w.runtime.store, w.runtime.rules(), w.crm, w.settings, now)


def _counts(**given: int) -> dict[str, int]:
    names = ("missed", "acted", "escalated", "prompts_cleared", "already_done", "too_old")
    return {**dict.fromkeys((*names, "failed", "errors", "prompts_released"), 0), **given}


def test_missed_deadlines_escalate_once_and_clear_the_stale_prompt(fresh: World) -> None:
    store = fresh.runtime.store
    before = indicators(store, fresh.runtime.rules(), fresh.settings, AS_OF_B)
    assert fresh.crm.fields("Task", R[3])[PROMPT] == "Record now: Call notes and Outcome."
    # As of 24 Nov 12:00, R3 (deadline 18 Nov 09:00) and R7 (19 Nov 09:00) are missed. R3
    # still shows its prompt; R7's was cleared when its outcome came in, after the deadline.
    assert _run(fresh, AS_OF_B) == _counts(missed=2, acted=2, escalated=2, prompts_cleared=1)
    tasks = {t["subject"]: t for t in fresh.crm.tasks.values()}
    assert set(tasks) == {
        "Call notes still missing: Call 0003",
        "Call notes still missing: Call 0007",
    }
    r3 = tasks["Call notes still missing: Call 0003"]
    assert r3["owner"] == TINY[0] and r3["priority"] == "High"
    assert r3["due"].isoformat() == "2026-11-18"  # due_in 0 days after the deadline
    assert r3["key"] == f"call-notes:{R[3]}:r3a:escalate"
    assert tasks["Call notes still missing: Call 0007"]["owner"] == NORTH[3]
    assert fresh.crm.fields("Task", R[3])[PROMPT] is None
    assert store.snapshot("Task", R[3]).prompts == {}
    applies = len(fresh.crm.applies)

    # Again, and later: nothing more is done.
    assert _run(fresh, AS_OF_B) == _counts(missed=2, already_done=2)
    assert len(fresh.crm.applies) == applies and len(fresh.crm.tasks) == 2
    # The figures are a function of the ledger and as_of only.
    assert indicators(store, fresh.runtime.rules(), fresh.settings, AS_OF_B) == before


def test_old_deadlines_are_not_acted_on(fresh: World) -> None:
    # 1 Dec: R3 and R7 passed more than a week ago; R6 (25 Nov 08:00) is acted on.
    late = datetime(2026, 12, 1, tzinfo=UTC)
    assert _run(fresh, late) == _counts(missed=1, acted=1, escalated=1, prompts_cleared=1)
    (task,) = fresh.crm.tasks.values()
    assert task["key"] == f"call-notes:{R[6]}:r6a:escalate"
    # A week on, with a lookback that reaches R3 and R7 again: counted, still not acted on.
    later = datetime(2026, 12, 8, tzinfo=UTC)
    assert run_deadlines(
        fresh.runtime.store, fresh.runtime.rules(), fresh.crm, fresh.settings, later,
        lookback=timedelta(days=18),
    ) == _counts(missed=3, already_done=1, too_old=2)  # fmt: skip


def test_a_run_reads_the_missed_occasion_rows_not_the_ledger(fresh: World) -> None:
    store = fresh.runtime.store
    rules, since = ["call-notes"], datetime(2026, 11, 18, 12, tzinfo=UTC)
    found = missed_between(store, fresh.runtime.rules(), rules, since, AS_OF_B)
    # R3's deadline (18 Nov 09:00) lies before `since`: only R7's (19 Nov 09:00) is read.
    assert [(o.record_id, o.occasion.outcome, latest) for o, latest in found] == [
        (R[7], "missed", True)
    ]
    with store.writing() as conn:  # the run needs no ledger observation
        conn.execute(observations.delete())
    assert _run(fresh, AS_OF_B) == _counts(missed=2, acted=2, escalated=2, prompts_cleared=1)


def test_an_unreachable_crm_leaves_the_occasion_for_the_next_run(fresh: World) -> None:
    fresh.crm.transient = 1  # the next call answers 503: R3's (the earlier deadline)
    assert _run(fresh, AS_OF_B) == _counts(missed=2, acted=1, escalated=1, errors=1)
    assert fresh.crm.fields("Task", R[3])[PROMPT] is not None
    assert _run(fresh, AS_OF_B) == _counts(
        missed=2, acted=1, escalated=1, prompts_cleared=1, already_done=1
    )
    assert len(fresh.crm.tasks) == 2


def test_a_refused_escalation_is_recorded_and_not_retried(fresh: World) -> None:
    fresh.crm.refuse = CrmProblem("INVALID_FIELD", "No such column 'Lastmile_Key__c'", (), 400)
    assert _run(fresh, AS_OF_B) == _counts(missed=2, failed=2)
    actions = fresh.runtime.store.deadline_actions()
    assert [a["status"] for a in actions] == ["failed", "failed"]
    assert "INVALID_FIELD" in actions[0]["problem"] and not actions[0]["prompt_cleared"]
    assert _run(fresh, AS_OF_B) == _counts(missed=2, already_done=2)


def test_the_deadlines_command(fresh: World) -> None:
    runner = CliRunner()
    args = ["--now", "2026-11-24T12:00:00Z"]
    first = runner.invoke(deadlines, args, env=fresh.env, obj={"connector": fresh.crm})
    assert first.exit_code == 0, first.output
    last = first.output.splitlines()[-1]  # the log lines go to the same stream
    assert last.startswith("missed 2, acted 2, escalated 2, prompts cleared 1,")
    second = runner.invoke(deadlines, args, env=fresh.env, obj={"connector": fresh.crm})
    assert "acted 0" in second.output and "already done 2" in second.output
    none = runner.invoke(deadlines, args, env=fresh.env)
    assert none.exit_code == 1 and "no CRM connection" in none.output


def test_the_scheduler_runs_until_stopped_and_survives_a_failing_run() -> None:
    seen: list[datetime] = []
    twice = threading.Event()

    def run(now: datetime) -> Any:
        seen.append(now)
        if len(seen) >= 3:
            twice.set()
        if len(seen) == 1:
            raise RuntimeError("the database was away")
        return {}

    scheduler = DeadlineScheduler(run, every_s=0.01).start()
    assert twice.wait(5)
    scheduler.stop()
    count = len(seen)
    assert scheduler._thread is None and all(t.tzinfo is not None for t in seen)
    assert len(seen) == count  # stopped: no more runs


def test_purge_deletes_what_is_older_than_the_retention(fresh: World) -> None:
    store, rules = fresh.runtime.store, fresh.runtime.rules()
    week48 = indicators(
        store, rules, fresh.settings, AS_OF_B, since=datetime(2026, 11, 23, tzinfo=UTC)
    )
    # A cutoff in 21 Nov, whatever today is: between the scenario's two weeks.
    days = (datetime.now(UTC) - datetime(2026, 11, 21, tzinfo=UTC)).days
    result = CliRunner().invoke(ledger, ["purge", "--older-than", str(days)], env=fresh.env)
    assert result.exit_code == 0, result.output
    # Week 47: 9 Task events, one call-notes observation each; 2 defaults (O1, O2); 14 done
    # events, of which 7 stay as their record's latest (r1c r2a r3a r4b r7b o1b o2c); the 7
    # gone wrote back 3 times (r4a's prompt, o1a's and o2a's defaults).
    assert result.output.strip().endswith(
        "observations 9, defaults 2, tasks 0, deadline actions 0, writebacks 3, inbox 7"
    )
    assert {o.occurred_at.day for o in store.observations()} == {23, 24}
    # What is left gives the figures of week 48 alone (O3's default included).
    assert indicators(store, rules, fresh.settings, AS_OF_B) == week48
    assert CliRunner().invoke(ledger, ["purge", "--older-than", "0"], env=fresh.env).exit_code == 2


def test_report_json_is_the_api_answer(fresh: World) -> None:
    api = fresh.get("/api/indicators", as_of="2026-11-24T12:00:00Z").json()
    cli = CliRunner().invoke(report, ["--as-of", "2026-11-24T12:00:00Z", "--json"], env=fresh.env)
    assert json.loads(cli.output) == api
    bad = CliRunner().invoke(report, ["--as-of", "yesterday"], env=fresh.env)
    assert bad.exit_code == 2 and "not a time" in bad.output


def test_a_rule_in_observe_mode_escalates_nothing(fresh: World) -> None:
    from measure_support import RULES

    from lastmile.rules import load_text

    observing = load_text(RULES.replace("locale: en\n", "locale: en\nmode: observe\n"))
    counts = run_deadlines(fresh.runtime.store, observing, fresh.crm, fresh.settings, AS_OF_B)
    # The occasions are missed all the same (they are measured), but no task is written; the
    # prompt R3 shows is cleared (it was written while the rule was live).
    assert counts == _counts(missed=2, acted=2, prompts_cleared=1)
    assert fresh.crm.tasks == {}
