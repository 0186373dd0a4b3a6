"""`lastmile events list|show|replay` and `lastmile db upgrade` through click's runner."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from fakes import event
from widths import columns, fitted

from lastmile.cli.events import db, events
from lastmile.store import Store


@pytest.fixture
def env(tmp_path):
    return {"LASTMILE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}


@pytest.fixture
def filled(env, clock):
    """Three events: one done, one dead, one pending."""
    store = Store(env["LASTMILE_DATABASE_URL"])
    store.upgrade()
    (done, _), (dead, _), (pending, _) = store.add(
        [event("e-done", Name="Jansen"), event("e-dead"), event("e-pending")]
    )
    for inbox_id in (done, dead):
        store.claim(inbox_id, "w", clock(), timedelta(minutes=1))
    store.release(done, "w", status="done", outcome="nothing")
    store.release(dead, "w", status="dead", attempts=8, error="INVALID_FIELD: No such column")
    store.close()
    return {"done": done, "dead": dead, "pending": pending}


def invoke(group, args, env):
    return CliRunner().invoke(group, args, env=env, catch_exceptions=False)


def test_db_upgrade_creates_the_tables_and_can_run_again(env):
    first = invoke(db, ["upgrade"], env)
    assert first.exit_code == 0 and "revision 0007" in first.output
    assert invoke(db, ["upgrade"], env).exit_code == 0
    assert invoke(events, ["list"], env).output.strip() == "No events in the inbox."


def test_list_shows_the_newest_first_and_filters_by_status(env, filled):
    result = invoke(events, ["list"], env)
    assert result.exit_code == 0
    assert "1 pending" in result.output and "1 dead" in result.output
    dead = json.loads(invoke(events, ["list", "--status", "dead", "--json"], env).output)
    assert [(e["id"], e["status"], e["last_error"]) for e in dead] == [
        (filled["dead"], "dead", "INVALID_FIELD: No such column")
    ]
    limited = json.loads(invoke(events, ["list", "--limit", "1", "--json"], env).output)
    assert [e["id"] for e in limited] == [filled["pending"]]
    bad = CliRunner().invoke(events, ["list", "--status", "zombie"], env=env)
    assert bad.exit_code == 2 and "zombie" in bad.output


def test_show_prints_an_event_without_its_field_values(env, filled):
    result = invoke(events, ["show", str(filled["done"])], env)
    assert result.exit_code == 0
    assert "e-done" in result.output and "Name" in result.output
    assert "Jansen" not in result.output
    data = json.loads(invoke(events, ["show", str(filled["dead"]), "--json"], env).output)
    assert data["status"] == "dead" and data["attempts"] == 8 and data["writes"] == []


def test_show_an_unknown_id_exits_1(env, filled):
    result = CliRunner().invoke(events, ["show", "999"], env=env)
    assert result.exit_code == 1 and "no event with id 999" in result.output


def test_replay_puts_dead_and_done_events_back_and_refuses_the_rest(env, filled):
    ok = invoke(events, ["replay", str(filled["dead"]), str(filled["done"])], env)
    assert ok.exit_code == 0
    assert "pending again (was dead)" in ok.output and "pending again (was done)" in ok.output
    refused = CliRunner().invoke(events, ["replay", str(filled["pending"]), "999"], env=env)
    assert refused.exit_code == 1
    assert "only dead or done events" in refused.output and "no event with id 999" in refused.output
    store = Store(env["LASTMILE_DATABASE_URL"])
    assert store.counts() == {"pending": 3, "running": 0, "done": 0, "dead": 0}
    store.close()


def test_a_database_without_tables_gets_a_clear_message(env):
    result = CliRunner().invoke(events, ["list"], env=env)
    assert result.exit_code == 1
    assert "lastmile db upgrade" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("width", [80, 140])
def test_list_and_show_fit_the_width_and_keep_id_status_and_record(env, filled, clock, width):
    store = Store(env["LASTMILE_DATABASE_URL"])
    ((custom, _),) = store.add(
        [event("e-custom", object="Customer_Success_Plan__c", record_id="a0B7Q00000Sc0005AAA")]
    )
    store.claim(custom, "w", clock(), timedelta(minutes=1))
    error = "INVALID_FIELD: No such column 'Foo__c' [/services/data/v60.0/sobjects]"
    store.release(custom, "w", status="dead", attempts=1_000_000, error=error)
    store.close()
    at_width = {**env, **columns(width)}
    rows = json.loads(invoke(events, ["list", "--json"], at_width).output)
    lines = fitted(invoke(events, ["list"], at_width).output, width)
    for r in rows:  # a row's line starts with its id and status, and names its record
        (line,) = [line for line in lines if line.split()[:2] == [str(r["id"]), r["status"]]]
        assert r["record_id"] in line
    listed = "\n".join(lines)
    assert "Customer_Success_Plan__c" in listed and "1000000" in listed
    assert "[/services/data/v60.0/sobjects]" in listed  # shown as it is, not taken for markup
    shown = fitted(invoke(events, ["show", str(custom)], at_width).output, width)
    assert error in " ".join(" ".join(shown).split())  # wrapped at spaces, if at all
