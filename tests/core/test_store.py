"""The store: idempotent and concurrent adds, leases, ops queries, and its migrations."""

from __future__ import annotations

import multiprocessing
import random
import sqlite3
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fakes import event

from lastmile.store import Completion, LeaseLost, Snapshot, Store
from lastmile.store.tables import metadata


def test_add_gives_one_id_per_source_and_event_id(store):
    a, b = event("a"), event("b")
    assert store.add([a, b, a]) == [(1, True), (2, True), (1, False)]
    assert store.add([b, a]) == [(2, False), (1, False)]
    other_source = a.model_copy(update={"source": "hubspot"})
    assert store.add([other_source]) == [(3, True)]
    assert store.add([]) == []
    assert store.counts() == {"pending": 3, "running": 0, "done": 0, "dead": 0}
    assert store.get(1).event == a


def test_concurrent_adds_from_several_connections_store_each_event_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    Store(url).upgrade()
    shared = [event(f"shared-{n}") for n in range(40)]
    results: list[list[tuple[str, int, bool]]] = []
    errors: list[BaseException] = []

    def deliver(n: int) -> None:
        store = Store(url)  # its own engine and connections, as another process would have
        try:
            rng = random.Random(n)
            for _ in range(5):
                batch = [*rng.sample(shared, 10), event(f"own-{n}-{rng.random()}")]
                got = store.add(batch)
                results.append([(ev.id, i, new) for ev, (i, new) in zip(batch, got, strict=True)])
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids: dict[str, set[int]] = {}
    news: dict[str, int] = {}
    for batch in results:
        for eid, inbox_id, new in batch:
            ids.setdefault(eid, set()).add(inbox_id)
            news[eid] = news.get(eid, 0) + new
    assert all(len(v) == 1 for v in ids.values())  # one id per event, whoever asked
    assert all(n == 1 for n in news.values())  # and exactly one caller was told it is new
    store = Store(url)
    assert sum(store.counts().values()) == len(ids)
    store.close()


def _add_in_child(url: str, seed: int, out) -> None:
    store = Store(url)
    events = [event(f"shared-{n}") for n in range(30)]
    random.Random(seed).shuffle(events)
    out.put([(ev.id, i, new) for ev, (i, new) in zip(events, store.add(events), strict=True)])
    store.close()


def test_threads_sharing_one_store_have_their_adds_committed_together_and_each_once(store):
    # The receiver's threads share one Store: their adds are grouped into shared commits, and
    # every caller still gets its own answer, duplicates included.
    ids = [f"e{i}" for i in range(60)]
    answers: dict[int, list[tuple[str, int, bool]]] = {}
    barrier = threading.Barrier(12)

    def sender(n: int) -> None:
        mine = random.Random(n).sample(ids, 20)
        barrier.wait()
        got = []
        for chunk in (mine[:10], mine[10:]):
            stored = store.add([event(e) for e in chunk])
            got += [(eid, i, new) for eid, (i, new) in zip(chunk, stored, strict=True)]
        answers[n] = got

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(12)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    seen: dict[str, set[int]] = {}
    new_count: dict[str, int] = {}
    for got in answers.values():
        for eid, inbox_id, new in got:
            seen.setdefault(eid, set()).add(inbox_id)
            new_count[eid] = new_count.get(eid, 0) + new
    assert all(len(v) == 1 for v in seen.values())  # one inbox id per event, whoever asked
    assert all(n == 1 for n in new_count.values())  # exactly one caller was told "new"
    assert store.counts()["pending"] == len(seen)


def test_a_failed_group_commit_fails_every_caller_in_it(store, monkeypatch):
    def broken(requests):
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(store, "_add_many", broken)
    with pytest.raises(sa.exc.OperationalError):
        store.add([event("e1")])
    monkeypatch.undo()
    assert store.add([event("e1")]) == [(1, True)]  # nothing half-stored; the retry works


def test_concurrent_adds_from_several_processes_store_each_event_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'procs.db'}"
    Store(url).upgrade()
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_add_in_child, args=(url, n, out)) for n in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=20) for _ in procs]
    for p in procs:
        p.join(20)
        assert p.exitcode == 0
    by_event: dict[str, set[int]] = {}
    new_count: dict[str, int] = {}
    for rows in results:
        for eid, inbox_id, new in rows:
            by_event.setdefault(eid, set()).add(inbox_id)
            new_count[eid] = new_count.get(eid, 0) + new
    assert len(by_event) == 30 and all(len(ids) == 1 for ids in by_event.values())
    assert set(new_count.values()) == {1}


def test_add_raises_when_the_store_cannot_take_the_events(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    with pytest.raises(sa.exc.OperationalError):
        store.add([event("a")])
    store.close()


def test_ping_answers_and_raises_when_the_database_is_unreachable(store, tmp_path):
    assert store.ping() is True
    gone = Store(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    with pytest.raises(sa.exc.OperationalError):
        gone.ping()


def test_claim_leases_and_due_finds_retries_and_expired_leases(store, clock):
    (a, _), (b, _), (c, _) = store.add([event("a"), event("b"), event("c")])
    now = clock()
    assert store.due(now) == [a, b, c]
    assert store.claim(a, "w1", now, timedelta(minutes=1)).status == "running"
    assert store.claim(a, "w2", now, timedelta(minutes=1)) is None  # leased to w1
    store.claim(b, "w1", now, timedelta(minutes=1))
    store.release(b, "w1", status="pending", next_attempt_at=now + timedelta(minutes=5))
    assert store.due(now) == [c]
    assert store.due(now + timedelta(minutes=2)) == [a, c]  # a's lease ran out
    assert store.due(now + timedelta(minutes=6)) == [a, b, c]
    assert store.claim(a, "w2", now + timedelta(minutes=2), timedelta(minutes=1)) is not None
    # the first worker's lease is gone: its release changes nothing
    store.release(a, "w1", status="dead", error="late")
    assert store.get(a).status == "running"


def test_ops_queries_list_show_replay_and_count(store, clock):
    (a, _), (b, _) = store.add([event("a"), event("b")])
    store.claim(a, "w", clock(), timedelta(minutes=1))
    store.release(a, "w", status="dead", attempts=8, error="TransientError: 503", outcome="dead")
    assert [r.id for r in store.list_events()] == [b, a]  # newest first
    assert [r.id for r in store.list_events(status="dead")] == [a]
    assert [r.id for r in store.list_events(limit=1)] == [b]
    with pytest.raises(ValueError, match="unknown status"):
        store.list_events(status="zombie")
    assert store.counts() == {"pending": 1, "running": 0, "done": 0, "dead": 1}
    detail = store.get_event(a)
    assert detail.row.last_error == "TransientError: 503" and detail.writes == ()
    assert store.get_event(999) is None
    assert store.replay(b) is False  # pending: nothing to replay
    assert store.replay(999) is False
    assert store.replay(a) is True
    row = store.get(a)
    assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == (
        "pending",
        0,
        None,
        None,
    )


def test_summaries_carry_no_field_values(store):
    store.add([event("a", Name="Hypotheek fam. Jansen", Amount=385000)])
    detail = store.get_event(1).to_json()
    assert detail["fields"] == ["Amount", "Name"]
    assert "Jansen" not in repr(detail) and "385000" not in repr(detail)


def test_migrations_create_the_tables_of_the_metadata_and_run_again_safely(tmp_path):
    path = tmp_path / "fresh.db"
    store = Store(f"sqlite:///{path}")
    assert store.revision() is None
    store.upgrade()
    store.upgrade()  # already at head: nothing to do
    assert store.revision() == "0007"
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"inbox", "snapshots", "writebacks", "ledger_observations"} <= tables


def test_sqlite_connections_enforce_foreign_keys_and_wait_when_busy(store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_get_with_earlier_finds_the_records_open_events_before_it(store, clock):
    (first, _), (second, _), _, (third, _) = store.add(
        [event("a", 1), event("b", 2), event("c", 0, record_id="006OTHER"), event("d", 3)]
    )
    row, earlier = store.get_with_earlier(third)
    assert row.id == third and [r.id for r in earlier] == [first, second]  # not `other`
    store.claim(first, "w", clock(), timedelta(minutes=1))
    store.release(first, "w", status="dead", error="x")
    assert [r.id for r in store.get_with_earlier(third)[1]] == [second]
    assert store.get_with_earlier(999) == (None, [])


def test_claim_with_snapshot_leases_and_brings_the_records_snapshot(store, clock):
    (a, _), (b, _) = store.add([event("a", 1), event("b", 2)])
    row, snap = store.claim_with_snapshot(a, "w", clock(), timedelta(minutes=1))
    assert row.status == "running" and snap is None  # the record's first event
    store.complete(a, "w", Completion(
        outcome="nothing", rules_version="v1", fields_seen={"Amount": 1}, fields_written={},
        snapshot=Snapshot({"Amount": 1}, row.occurred_at, a, {}, None),
    ), clock())  # fmt: skip
    row, snap = store.claim_with_snapshot(b, "w", clock(), timedelta(minutes=1))
    assert snap.fields == {"Amount": 1} and snap.inbox_id == a
    assert store.claim_with_snapshot(b, "other", clock(), timedelta(minutes=1)) is None
    with pytest.raises(LeaseLost):
        store.complete(b, "other", Completion("nothing", "v1", {}, {}), clock())
    store.complete(b, "w", Completion(
        outcome="nothing", rules_version="v1", fields_seen={"Amount": 2}, fields_written={},
        snapshot=Snapshot({"Amount": 2}, row.occurred_at, b, {"r": "Fill in"}, "Fill in"),
    ), clock())  # fmt: skip
    snap = store.snapshot(row.object, row.record_id)  # the record's one row, updated
    assert (snap.fields, snap.inbox_id, snap.prompt_value) == ({"Amount": 2}, b, "Fill in")


def test_a_transaction_inside_another_on_one_thread_has_a_connection_of_its_own(store):
    ((a, _),) = store.add([event("a")])
    with store.reading() as outer:
        assert store.get(a).id == a  # a second read transaction, while the first is open
        assert outer.execute(sa.text("SELECT count(*) FROM inbox")).scalar() == 1
        with store.writing() as conn:
            conn.execute(sa.text("UPDATE inbox SET attempts = 5"))
    assert store.get(a).attempts == 5


def test_a_large_add_is_stored_in_several_statements_with_its_times_intact(store):
    events = [event(f"big-{n}", n / 7) for n in range(1_203)]  # 500 rows a statement on SQLite
    stored = store.add([*events, events[0], events[700]])
    assert [new for _, new in stored] == [True] * 1_203 + [False, False]
    assert stored[-2][0] == stored[0][0] and stored[-1][0] == stored[700][0]
    assert len({i for i, _ in stored}) == 1_203
    back = store.get(stored[1_202][0])
    assert back.occurred_at == events[1_202].occurred_at  # microseconds and zone kept
    assert store.due(events[0].occurred_at, limit=2_000) == [i for i, _ in stored[:1_203]]


def test_the_postgresql_pool_holds_the_connections_asked_for() -> None:
    from lastmile.store.database import make_engine

    engine = make_engine("postgresql://nobody@127.0.0.1:1/none", pool_size=131)
    try:  # nothing connects until a connection is asked for
        assert (engine.pool.size(), engine.pool._max_overflow) == (66, 65)
    finally:
        engine.dispose()
