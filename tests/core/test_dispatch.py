"""The embedded dispatcher: threads process what is dispatched, the sweeper finds the rest."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from fakes import OPP, PERSON, Clock, FakeCrm, event

from lastmile.dispatch import EmbeddedDispatcher
from lastmile.worker import Worker

NEW = {"Name": "Beleggen", "StageName": "Prospecting", "LeadSource": None, "Probability": None}


class RealClock(Clock):
    """The wall clock, so leases and retry times pass as the threads run."""

    def __call__(self) -> datetime:
        return datetime.now(UTC)


@pytest.fixture
def crm() -> FakeCrm:
    return FakeCrm(RealClock())


@pytest.fixture
def worker(store, crm, settings, example_rules) -> Worker:
    return Worker(store, lambda: example_rules, crm, settings, lease=timedelta(seconds=30))


@pytest.fixture
def dispatcher(worker, store):
    d = EmbeddedDispatcher(worker, store, threads=3, sweep_every=0.05)
    yield d
    d.stop(5)


def _records(crm, n: int):
    events = []
    for i in range(n):
        record = f"0067Q00000Jk{i:04d}AAA"
        ev = event(f"e{i}", kind="created", record_id=record, OwnerId=PERSON, **NEW)
        crm.seed("Opportunity", record, ev.occurred_at, **ev.fields, Amount=1, CloseDate="x")
        events.append(ev)
    return events


def test_dispatched_events_are_processed(dispatcher, store, crm):
    events = _records(crm, 12)
    dispatcher.start()
    dispatcher.dispatch([i for i, new in store.add(events) if new])
    assert dispatcher.drain(10)
    assert store.counts()["done"] == 12
    assert len(crm.updates) == 12  # one update per record, none twice


def test_the_sweeper_finds_what_was_never_dispatched_and_expired_leases(dispatcher, store, crm):
    (lost,), (crashed,) = _records(crm, 2)[:1], _records(crm, 2)[1:]
    ((lost_id, _), (crashed_id, _)) = store.add([lost, crashed])
    # a worker that died holding its lease a while ago
    assert store.claim(crashed_id, "dead-worker", datetime.now(UTC) - timedelta(minutes=10),
                       timedelta(minutes=1)) is not None  # fmt: skip
    dispatcher.start()  # nobody dispatches: the sweeper must find both
    assert dispatcher.drain(10)
    assert store.get(lost_id).status == "done"
    assert store.get(crashed_id).status == "done"


def test_events_of_one_record_never_run_at_once(store, crm, settings, example_rules):
    running = 0
    most = 0
    guard = threading.Lock()

    class Slow(FakeCrm):
        def apply(self, writes):
            nonlocal running, most
            with guard:
                running += 1
                most = max(most, running)
            time.sleep(0.02)
            try:
                return super().apply(writes)
            finally:
                with guard:
                    running -= 1

    slow = Slow(RealClock())
    worker = Worker(store, lambda: example_rules, slow, settings)
    d = EmbeddedDispatcher(worker, store, threads=4, sweep_every=0.05).start()
    try:
        events = [
            event(f"e{n}", n, kind="created" if n == 0 else "updated", changed=["StageName"],
                  OwnerId=PERSON, **{**NEW, "StageName": "Proposal" if n % 2 else "Prospecting"})
            for n in range(6)
        ]  # fmt: skip
        slow.seed("Opportunity", OPP, events[-1].occurred_at, **events[-1].fields)
        ids = [i for i, _ in store.add(list(reversed(events)))]
        d.dispatch(ids)
        assert d.drain(10)
    finally:
        d.stop(5)
    assert most == 1
    rows = sorted(store.list_events(), key=lambda r: r.occurred_at)
    assert [r.status for r in rows] == ["done"] * 6
    assert [r.processed_at for r in rows] == sorted(r.processed_at for r in rows)


def test_stop_lets_in_flight_work_finish_and_joins_the_threads(store, settings, example_rules):
    started = threading.Event()

    class Slow(FakeCrm):
        def apply(self, writes):
            started.set()
            time.sleep(0.3)
            return super().apply(writes)

    slow = Slow(RealClock())
    (ev,) = _records(slow, 1)
    worker = Worker(store, lambda: example_rules, slow, settings)
    d = EmbeddedDispatcher(worker, store, threads=2, sweep_every=0.05).start()
    ((inbox_id, _),) = store.add([ev])
    d.dispatch([inbox_id])
    assert started.wait(5)
    assert d.stop(timeout=5) is True
    assert store.get(inbox_id).status == "done"  # finished, not abandoned
    assert not [t for t in threading.enumerate() if t.name.startswith("lastmile-")]


def test_a_failing_event_does_not_stop_the_threads(dispatcher, store, crm, monkeypatch):
    events = _records(crm, 2)
    real = dispatcher.worker.process_event
    calls = []

    def flaky(inbox_id):
        calls.append(inbox_id)
        if len(calls) == 1:
            raise RuntimeError("storage hiccup")
        return real(inbox_id)

    monkeypatch.setattr(dispatcher.worker, "process_event", flaky)
    dispatcher.start()
    dispatcher.dispatch([i for i, _ in store.add(events)])
    # the first event's failure left it pending; the sweeper hands it out again
    assert dispatcher.drain(10)
    assert store.counts()["done"] == 2
