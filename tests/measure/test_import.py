"""`lastmile events import --observe`: the same ledger, occasion rows, default rows and report as
the same events posted one by one through the receiver and its worker (with the in-memory CRM),
on the scripted scenario and on random histories (late, reordered, duplicated, some events
lacking fields the rules read), on SQLite and PostgreSQL; bad lines refuse the whole file."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fakes import INTEGRATION, Clock, FakeCrm
from measure_support import AS_OF_A, AS_OF_B, DELIVERIES, NORTH, RULES, E, call, opp, world
from postgres import postgres_database, postgres_problem

from lastmile.cli.events import db, events
from lastmile.cli.report import report
from lastmile.measure.indicators import indicators
from lastmile.rules import RecordEvent, load_rules
from lastmile.settings import Settings
from lastmile.store import Store
from lastmile.store.tables import defaults_applied, inbox, observations, occasions, snapshots
from lastmile.worker import Worker
from lastmile.worker.batch import observe

ARRIVALS = [name for delivery in DELIVERIES for name in delivery]  # duplicates included
AS_OFS = [AS_OF_A, AS_OF_B, datetime(2026, 12, 31, tzinfo=UTC)]


def ledger(store: Store) -> dict[str, list[tuple]]:
    """The ledger's rows and the snapshots, inbox ids given as event ids (row ids differ
    between two stores)."""
    with store.reading() as conn:
        event_of = dict(conn.execute(sa.select(inbox.c.id, inbox.c.event_id)).all())

        def rows(table: sa.Table, drop: tuple[str, ...]) -> list[tuple]:
            found = []
            for r in conn.execute(sa.select(table)):
                m = dict(r._mapping)
                for name in ("inbox_id", "opened_inbox_id"):
                    if name in m:
                        m[name] = event_of[m[name]]
                found.append(tuple(sorted((k, json.dumps(v, default=str)) for k, v in m.items()
                                          if k not in drop)))  # fmt: skip
            return sorted(found)

        return {
            "observations": rows(observations, ("id",)),
            "occasions": rows(occasions, ("id",)),
            "defaults": rows(defaults_applied, ("id",)),
            "snapshots": rows(snapshots, ("updated_at",)),
        }


@pytest.fixture(scope="module")
def posted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The scenario's events posted one at a time, each processed before the next arrives:
    the reports, the ledger's rows and the CRM's updates that leaves."""
    with world(tmp_path_factory.mktemp("posted")) as running:
        for name in ARRIVALS:
            assert running.post([E[name]]).status_code < 300
            assert running.runtime.dispatcher.drain(15)
        found = {
            "reports": [_report(running.env, as_of) for as_of in AS_OFS],
            "rows": ledger(running.runtime.store),
            "updates": list(running.crm.updates),
            "env": running.env,
        }
    assert found["rows"]["occasions"] and found["rows"]["defaults"] and found["updates"]
    return found


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    """The scenario's events in the order they arrived (repeats included), one a line."""
    file = tmp_path / "events.jsonl"
    file.write_text("".join(json.dumps(E[name]) + "\n" for name in ARRIVALS))
    return file


def test_the_scenario_imported_observing_gives_what_one_by_one_delivery_gives(
    posted: dict[str, Any], jsonl: Path, tmp_path: Path
) -> None:
    env = {**posted["env"], "LASTMILE_DATABASE_URL": f"sqlite:///{tmp_path / 'imported.db'}"}
    runner = CliRunner()
    assert runner.invoke(db, ["upgrade"], env=env).exit_code == 0
    done = runner.invoke(events, ["import", str(jsonl), "--observe"], env=env)
    assert done.exit_code == 0, done.output
    assert f"imported {len(E)} of {len(ARRIVALS)} events" in done.output
    assert [_report(env, as_of) for as_of in AS_OFS] == posted["reports"]
    imported = Store(env["LASTMILE_DATABASE_URL"])
    try:
        assert ledger(imported) == posted["rows"]
        assert imported.counts()["done"] == len(E) and not imported.tasks()
        assert {r.outcome for r in imported.list_events(limit=100)} == {
            "observed",
            "late",
            "own_change",
        }
    finally:
        imported.close()

    again = runner.invoke(events, ["import", "-", "--observe"], env=env, input=jsonl.read_bytes())
    assert again.exit_code == 0, again.output
    assert f"imported 0 of {len(ARRIVALS)} events" in again.output  # all duplicates: no-ops
    assert _report(env, AS_OF_B) == posted["reports"][1]


def test_the_scenario_imported_with_write_backs_writes_what_delivery_writes(
    posted: dict[str, Any], jsonl: Path, tmp_path: Path
) -> None:
    env = {**posted["env"], "LASTMILE_DATABASE_URL": f"sqlite:///{tmp_path / 'imported.db'}"}
    crm = FakeCrm(Clock(datetime(2026, 1, 1, tzinfo=UTC)))
    for ev in E.values():
        crm.seed(ev["object"], ev["record_id"], datetime(2026, 1, 1, tzinfo=UTC))
    runner = CliRunner()
    assert runner.invoke(db, ["upgrade"], env=env).exit_code == 0
    done = runner.invoke(events, ["import", str(jsonl)], env=env, obj={"connector": crm})
    assert done.exit_code == 0, done.output
    assert crm.updates == posted["updates"]
    assert [_report(env, as_of) for as_of in AS_OFS] == posted["reports"]
    imported = Store(env["LASTMILE_DATABASE_URL"])
    try:
        assert ledger(imported) == posted["rows"]
    finally:
        imported.close()


def _report(env: dict[str, str], as_of: datetime) -> dict[str, Any]:
    stamp = as_of.isoformat().replace("+00:00", "Z")
    done = CliRunner().invoke(report, ["--json", "--as-of", stamp], env=env)
    assert done.exit_code == 0, done.output
    return json.loads(done.output)


def test_bad_lines_are_each_named_and_nothing_is_imported(tmp_path: Path) -> None:
    good = json.dumps(E["r1a"])
    lines = [
        good,
        "",  # blank: skipped
        '{"id": "x", "object": "Task"',  # cut short
        json.dumps({**E["r2a"], "kind": "renamed"}),
        json.dumps({**E["r3a"], "record_id": "not an id"}),
        "[1, 2]",
        json.dumps(E["r4a"]),
    ]
    file = tmp_path / "events.jsonl"
    file.write_text("\n".join(lines) + "\n")
    env = {"LASTMILE_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}"}
    runner = CliRunner()
    assert runner.invoke(db, ["upgrade"], env=env).exit_code == 0
    done = runner.invoke(events, ["import", str(file), "--observe"], env=env)
    assert done.exit_code == 1
    assert f"{file}:3: not JSON: Expecting ',' delimiter at column 29" in done.output
    assert f"{file}:4: kind: " in done.output
    assert f"{file}:5: record_id: Value error, not a Salesforce id" in done.output
    assert f"{file}:6: not an event: each line holds one JSON object" in done.output
    assert "4 bad lines" in done.output and "nothing imported" in done.output
    store = Store(env["LASTMILE_DATABASE_URL"])
    try:
        assert sum(store.counts().values()) == 0
    finally:
        store.close()


# -- random histories, straight through the worker and the importer ------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def urls(request: pytest.FixtureRequest, tmp_path: Path, need_service) -> Iterator[list[str]]:
    """Two empty stores' URLs."""
    if request.param == "sqlite":
        yield [f"sqlite:///{tmp_path / f'{n}.db'}" for n in ("one", "two")]
        return
    problem = postgres_problem()
    if problem:
        need_service("PostgreSQL", problem)
    with postgres_database() as one, postgres_database() as two:
        yield [one, two]


@pytest.mark.parametrize("seed", [1, 2])
def test_random_histories_imported_equal_one_by_one(urls: list[str], tmp_path, seed: int) -> None:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "scenario.yaml").write_text(RULES, encoding="utf-8")
    ruleset = load_rules([tmp_path / "rules"])
    settings = Settings(integration_user_id=INTEGRATION, _env_file=None)
    arrivals = _history(random.Random(seed))
    one, two = (Store(url) for url in urls)
    try:
        for store in (one, two):
            store.upgrade()
        crm = FakeCrm(Clock(datetime(2026, 1, 1, tzinfo=UTC)))
        for ev in arrivals:
            crm.seed(ev.object, ev.record_id, datetime(2026, 1, 1, tzinfo=UTC))
        # The import shows nobody anything, so no prompt budget: nor here, to compare.
        worker = Worker(one, lambda: ruleset, crm, settings, prompt_budget=False)
        newest: dict[str, datetime] = {}
        for ev in arrivals:
            if ev.occurred_at >= newest.get(ev.record_id, ev.occurred_at):
                # The CRM holds what the newest save so far put there (the worker reads it
                # for a field an event lacks); a late event's values are long overwritten.
                crm.edit(ev.object, ev.record_id, ev.occurred_at, **ev.fields)
                newest[ev.record_id] = ev.occurred_at
            [(inbox_id, new)] = one.add([ev])
            if new:
                assert worker.process_event(inbox_id) != "dead"
        result = observe(two, ruleset, settings, arrivals)
        assert result.one_by_one > 0 and result.imported > result.one_by_one  # both paths ran
        assert result.duplicates > 0
        assert ledger(two) == ledger(one)
        for as_of in (datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC)):
            expected = _figures(one, ruleset, as_of)
            assert _figures(two, ruleset, as_of) == expected
    finally:
        one.close()
        two.close()


def _figures(store: Store, ruleset: Any, as_of: datetime) -> dict[str, Any]:
    return indicators(store, ruleset, Settings(_env_file=None), as_of)


def _history(rnd: random.Random) -> list[RecordEvent]:
    """Calls and opportunities over a week: each record's events mostly in order, some late,
    some repeated, some without the Description the rules read (the worker reads it then)."""
    start = datetime(2026, 11, 16, 8, tzinfo=UTC)
    records: list[list[dict]] = []
    for n in range(40):
        when = start + timedelta(minutes=rnd.randrange(5 * 24 * 60))
        owner = rnd.choice(NORTH)
        rid = f"00T7Q0000Rn{n:04d}AAA" if n % 3 else f"0067Q0000Rn{n:04d}AAA"
        record: list[dict] = []
        for step in range(rnd.randint(1, 6)):
            kind = "created" if step == 0 else "updated"
            eid = f"h{n}-{step}"
            stamp = when.isoformat().replace("+00:00", "Z")
            if n % 3:
                fields = {
                    "Status": rnd.choice(["Completed", "Completed", "In Progress"]),
                    "Description": rnd.choice([None, "Notes"]),
                    "Outcome__c": rnd.choice([None, None, "Won"]),
                }
                ev = call(eid, rid, stamp, owner, kind, **fields)
                if rnd.random() < 0.2:
                    del ev["fields"]["Description"]
            else:
                actor = rnd.choice([owner, owner, INTEGRATION])
                ev = opp(eid, rid, stamp, owner, actor, kind,
                         LeadSource=rnd.choice([None, "Web", "Phone"]))  # fmt: skip
            record.append(ev)
            when += timedelta(minutes=rnd.choice([5, 60, 600, 1500, 2000]))
        if len(record) > 2 and rnd.random() < 0.3:  # one event arrives after the next
            i = rnd.randrange(len(record) - 1)
            record[i], record[i + 1] = record[i + 1], record[i]
        records.append(record)
    arrivals: list[dict] = []
    while records:  # records interleave, each in its own arranged order
        record = rnd.choice(records)
        arrivals.append(record.pop(0))
        if not record:
            records.remove(record)
    for ev in rnd.sample(arrivals, 10):  # redeliveries
        arrivals.insert(rnd.randrange(len(arrivals) + 1), ev)
    return [RecordEvent.model_validate(ev) for ev in arrivals]
