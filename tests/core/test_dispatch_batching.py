"""The embedded dispatcher and write batching: while a slow CRM answers a batch, more threads
take queued events (so their writes share the next batch), and they end when idle; against a
CRM that answers at once no thread is added."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from fakes import PERSON, Clock, FakeCrm, event

from lastmile.dispatch import EmbeddedDispatcher
from lastmile.worker import Worker

NEW = {"Name": "Beleggen", "StageName": "Prospecting", "LeadSource": None, "Probability": None}


class RealClock(Clock):
    def __call__(self) -> datetime:
        return datetime.now(UTC)


class SlowCrm(FakeCrm):
    """Answers a batch of writes after 30 ms, as a CRM over the network does; counts them."""

    def apply(self, writes):
        self.sizes.append(len(writes))
        time.sleep(0.03)
        return super().apply(writes)


def burst(crm: FakeCrm, count: int) -> list:
    events = []
    for i in range(count):
        record = f"0067Q00000Jk{i:04d}AAA"
        ev = event(f"e{i}", kind="created", record_id=record, OwnerId=PERSON, **NEW)
        crm.seed("Opportunity", record, ev.occurred_at, **ev.fields, Amount=1, CloseDate="x")
        events.append(ev)
    return events


def run(store, settings, example_rules, crm, count: int) -> EmbeddedDispatcher:
    worker = Worker(store, lambda: example_rules, crm, settings, lease=timedelta(seconds=30))
    d = EmbeddedDispatcher(worker, store, threads=2, sweep_every=0.05, idle_s=0.2).start()
    try:
        d.dispatch([i for i, new in store.add(burst(crm, count)) if new])
        assert d.drain(60)
    finally:
        d.stop(5)
    return d


def test_a_slow_crm_gets_more_threads_and_fewer_larger_batches(store, settings, example_rules):
    crm = SlowCrm(RealClock())
    crm.sizes = []
    d = run(store, settings, example_rules, crm, 80)
    assert store.counts()["done"] == 80
    assert len(crm.updates) == 80  # every record written once
    assert d.peak_threads > 2
    assert max(crm.sizes) > 2 and len(crm.sizes) < 80 / 2, crm.sizes


def test_extra_threads_end_when_idle(store, settings, example_rules):
    crm = SlowCrm(RealClock())
    crm.sizes = []
    worker = Worker(store, lambda: example_rules, crm, settings, lease=timedelta(seconds=30))
    d = EmbeddedDispatcher(worker, store, threads=2, sweep_every=0.05, idle_s=0.2).start()
    try:
        d.dispatch([i for i, new in store.add(burst(crm, 40)) if new])
        assert d.drain(60)
        deadline = time.monotonic() + 5
        while len(d._workers) > 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(d._workers) == 2
        assert d.peak_threads > 2
    finally:
        d.stop(5)
    assert not [t for t in threading.enumerate() if t.name.startswith("lastmile-worker")]


def test_a_crm_that_answers_at_once_gets_no_extra_thread(store, settings, example_rules):
    crm = FakeCrm(RealClock())
    d = run(store, settings, example_rules, crm, 40)
    assert store.counts()["done"] == 40
    assert d.peak_threads == 2
