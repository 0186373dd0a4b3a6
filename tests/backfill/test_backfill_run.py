"""`lastmile backfill` end to end: the sandbox over real HTTPS, the bulk import's observe mode
into a SQLite store, a fault mid-way and the cursor that resumes, and a rerun that stores
nothing twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from lastmile.backfill import Cursor, load_cursor, run, save_cursor
from lastmile.cli import main
from lastmile.connector.base import TransientError
from lastmile.worker.batch import observe

OPPORTUNITY = {"Name": "Acme mortgage", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
SINCE = datetime(2026, 10, 1, tzinfo=UTC)


def _stored(store) -> int:
    return sum(store.counts().values())


def test_an_interrupted_backfill_continues_where_it_stopped_and_a_rerun_is_a_no_op(
    sandbox, connector, ruleset, store, settings, tmp_path
):
    made = [
        sandbox.save_as(sandbox.sales_user_id, "Opportunity", OPPORTUNITY | {"Name": f"Deal {i}"})
        for i in range(250)
    ]
    path = tmp_path / "cursor.json"

    def save(cursor: Cursor) -> None:
        save_cursor(path, cursor)

    def stored(events: list) -> int:
        return observe(store, ruleset, settings, events).imported

    def fault_after_first_batch(batch, records) -> None:
        sandbox.faults.set(fail_share=1.0)  # every call from now on: 503 SERVER_UNAVAILABLE

    cursor = load_cursor(path, "crm+store", ["Opportunity"], SINCE)
    with pytest.raises(TransientError):
        run(
            connector,
            ruleset,
            cursor,
            stored,
            save,
            batch_size=200,
            progress=fault_after_first_batch,
        )
    saved = Cursor.model_validate_json(path.read_text())
    in_order = sorted(made, key=str.lower)
    assert saved.after == {"Opportunity": in_order[199]} and saved.done == []
    assert _stored(store) == 200

    sandbox.faults.clear()
    resumed = load_cursor(path, "crm+store", ["Opportunity"], SINCE + timedelta(days=1))
    assert resumed.since == SINCE  # the window of the run it continues
    calls = sandbox.api_calls
    outcome = run(connector, ruleset, resumed, stored, save, batch_size=200)
    assert outcome.records == {"Opportunity": 50} and outcome.imported == 50
    assert sandbox.api_calls - calls == 2  # the 50 records left, and their history
    assert _stored(store) == 250
    stored_ids = {row.record_id for row in store.list_events(limit=1000)}
    assert stored_ids == set(made)
    assert Cursor.model_validate_json(path.read_text()).complete

    # a finished cursor starts a new pass; everything in it is stored already
    again = load_cursor(path, "crm+store", ["Opportunity"], SINCE)
    assert again.after == {}
    outcome = run(connector, ruleset, again, stored, save, batch_size=200)
    assert (outcome.records, outcome.events, outcome.imported) == ({"Opportunity": 250}, 250, 0)
    assert _stored(store) == 250


def test_a_cursor_for_another_crm_or_store_is_not_resumed(tmp_path):
    path = tmp_path / "cursor.json"
    save_cursor(path, Cursor(target="a", since=SINCE, objects=["Task"], after={"Task": "x"}))
    assert load_cursor(path, "a", ["Task"], SINCE + timedelta(days=5)).after == {"Task": "x"}
    assert load_cursor(path, "b", ["Task"], SINCE).after == {}
    assert load_cursor(path, "a", ["Task", "Lead"], SINCE).after == {}
    path.write_text("{not json")
    assert load_cursor(path, "a", ["Task"], SINCE).after == {}


def test_the_command_measures_the_past_and_writes_nothing_to_the_crm(
    sandbox, settings, store, clock, tmp_path
):
    sales, lastmile = sandbox.sales_user_id, sandbox.integration_user_id
    opp = sandbox.save_as(sales, "Opportunity", OPPORTUNITY)
    clock.now += timedelta(hours=1)
    sandbox.save_as(sales, "Opportunity", {"StageName": "Closed Won"}, opp)  # no NextStep
    clock.now += timedelta(hours=1)
    sandbox.save_as(lastmile, "Opportunity", {"OwnerId": lastmile}, opp)
    call = {"Subject": "Call", "Type": "Call", "Status": "Completed", "Outcome__c": "Interested"}
    sandbox.save_as(sales, "Task", call)
    before = sandbox.org.get("Opportunity", opp)
    env = _env(tmp_path, sandbox, settings)
    args = ["backfill", "--config", str(env), "--since", "2026-10-01"]
    args += ["--cursor", str(tmp_path / "cursor.json")]

    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "read 1 Opportunity, 1 Task changed since 2026-10-01 00:00 UTC: 4 events, 4 new" in (
        result.output
    )
    assert "note: no field history for Task" in result.output
    assert "no field history for Opportunity" not in result.output
    rows = sorted(store.list_events(limit=100), key=lambda r: r.occurred_at)
    assert [(r.object, r.kind, r.outcome) for r in rows] == [
        ("Opportunity", "created", "observed"),
        ("Opportunity", "updated", "observed"),
        ("Task", "created", "observed"),
        ("Opportunity", "updated", "own_change"),  # Lastmile's own: recorded, never acted on
    ]
    assert all(r.event_id.startswith(f"backfill:{r.record_id}:") for r in rows)
    assert sandbox.org.get("Opportunity", opp) == before  # no prompt, nothing written
    assert sandbox.follow_ups(opp) == []

    report = CliRunner().invoke(main, ["report", "--json", "--config", str(env)])
    figures = {r["rule"]: r for r in json.loads(report.output)["rules"]}
    won = figures["won-needs-next-step"]
    assert (won["occasions"], won["open"], won["fields_missing"]) == (1, 1, {"NextStep": 1})
    assert figures["call-outcome"]["met_first_time"] == 1

    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "4 events, 0 new (4 stored before)" in again.output
    assert _stored(store) == 4


def _env(tmp_path, sandbox, settings, **extra: str):
    env = tmp_path / "lastmile.env"
    lines = {
        **sandbox.settings(),
        "LASTMILE_DATABASE_URL": settings.database_url,
        "LASTMILE_RULES": str(settings.rules),
        **extra,
    }
    env.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    return env


def test_the_command_says_what_is_wrong(sandbox, settings, store, tmp_path):
    env = _env(tmp_path, sandbox, settings)
    cursor = ["--cursor", str(tmp_path / "cursor.json")]
    bad = CliRunner().invoke(main, ["backfill", "--config", str(env), "--since", "soon", *cursor])
    assert bad.exit_code == 2 and "'soon' is neither a span nor a time" in bad.output
    window = ["--since", "2026-11-01", "--until", "2026-10-01"]
    backwards = CliRunner().invoke(main, ["backfill", "--config", str(env), *window, *cursor])
    assert backwards.exit_code == 2 and "the window ends before it starts" in backwards.output

    sandbox.faults.set(fail_share=1.0)
    down = CliRunner().invoke(main, ["backfill", "--config", str(env), *cursor])
    assert down.exit_code == 1
    assert "stopped: Salesforce query failed 4 times" in down.output
    assert "run the same command again to continue" in down.output
    assert _stored(store) == 0

    hubspot = _env(tmp_path, sandbox, settings, LASTMILE_HUBSPOT_ACCESS_TOKEN="pat-x")
    refused = CliRunner().invoke(main, ["backfill", "--config", str(hubspot), *cursor])
    assert refused.exit_code == 1 and "backfill reads Salesforce" in refused.output
