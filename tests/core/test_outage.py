"""CRM outages on a virtual clock: processing pauses behind the breaker (one probe at a time,
growing waits), no event is charged an attempt or killed by a count while the CRM is away, and
when it is back every event is applied once, each record's events in order."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from itertools import pairwise

import pytest
from fakes import PERSON, Clock, FakeCrm, event

from lastmile.connector.base import CrmProblem, LimitExceeded, TransientError
from lastmile.metrics import REGISTRY
from lastmile.worker import APPLIED, DEAD, PAUSED, RETRY, Worker
from lastmile.worker.breaker import CrmBreaker

PF = "Lastmile_Prompt__c"
OUTAGE_START = timedelta(minutes=10)
OUTAGE = timedelta(hours=6)
CALLS = 12  # one client call every 30 minutes, each saved three times


@pytest.fixture(autouse=True)
def received_on_the_virtual_clock(monkeypatch, clock):
    """The inbox stamps `received_at` with the virtual time (the horizon counts from it)."""
    monkeypatch.setattr("lastmile.store.inbox._now", clock)


def call_id(n: int) -> str:
    return f"00T7Q00000Lm3a{n:02d}AR"


def saves() -> list[tuple[timedelta, object]]:
    """Each call: created, completed as Interested without notes (a prompt and a follow-up
    task), then the notes filled in (the prompt goes). Every field the rules read is in the
    event, so the worker reads nothing."""
    out = []
    for n in range(CALLS):
        base = {
            "Subject": f"Call {n}",
            "Type": "Call",
            "OwnerId": PERSON,
            "WhatId": "0067Q00000Jk9sPQAR",
            "Description": None,
            "Outcome__c": None,
            "Next_Step__c": None,
        }
        start = n * 30
        steps = [
            (start, "created", {**base, "Status": "Not Started"}, None),
            (start + 5, "updated", {**base, "Status": "Completed", "Outcome__c": "Interested"},
             ["Status", "Outcome__c"]),
            (start + 35, "updated", {**base, "Status": "Completed", "Outcome__c": "Interested",
                                     "Description": "Notes", "Next_Step__c": "Offer"},
             ["Description", "Next_Step__c"]),
        ]  # fmt: skip
        for i, (minute, kind, fields, changed) in enumerate(steps):
            ev = event(
                f"c{n}-{i}",
                minute,
                object="Task",
                record_id=call_id(n),
                kind=kind,
                changed=changed,
                **fields,
            )
            out.append((timedelta(minutes=minute), ev))
    return sorted(out, key=lambda pair: pair[0])


def run(store, crm: FakeCrm, clock: Clock, worker: Worker, *, outage: bool) -> dict:
    """Deliver the saves as people make them (in the CRM and to the inbox a minute later),
    sweep and process every 10 virtual seconds, as the embedded sweeper does."""
    start = clock()
    edits = saves()
    deliveries = [(at + timedelta(minutes=1), ev) for at, ev in edits]
    end = start + OUTAGE_START + OUTAGE + timedelta(minutes=10)
    figures = {"calls_before": 0, "calls_during": 0, "probes_during": 0, "resumed_in": None}
    while clock() < end:
        now = clock()
        if outage and now >= start + OUTAGE_START and not crm.down and now < start + OUTAGE:
            crm.down = True
            figures["calls_before"], probes_before = crm.calls, worker.breaker.probes
        if outage and crm.down and now >= start + OUTAGE_START + OUTAGE:
            crm.down = False
            figures["calls_during"] = crm.calls - figures["calls_before"]
            figures["probes_during"] = worker.breaker.probes - probes_before
            back = now
        while edits and start + edits[0][0] <= now:
            at, ev = edits.pop(0)
            if (ev.object, ev.record_id) in crm.records:
                crm.edit(ev.object, ev.record_id, start + at, **ev.fields)
            else:
                crm.seed(ev.object, ev.record_id, start + at, **ev.fields)
        while deliveries and start + deliveries[0][0] <= now:
            store.add([deliveries.pop(0)[1]])
        worker.breaker.wait_until()  # the sweeper's probe
        for inbox_id in store.due(now, 500):
            worker.process_event(inbox_id)
        if outage and figures["resumed_in"] is None and not crm.down and now > start + OUTAGE:
            counts = store.counts()
            if counts["pending"] == counts["running"] == 0:
                figures["resumed_in"] = now - back
        clock.advance(10)
    return figures


def crm_state(crm: FakeCrm) -> dict:
    return {
        record_id: {k: v for k, v in record.fields.items() if v is not None}
        for (_, record_id), record in crm.records.items()
    }


def test_a_six_hour_outage_pauses_and_then_applies_every_event_once_in_order(
    store, crm, clock, make_worker, tmp_path
):
    worker = make_worker()  # settings.max_attempts == 3: an attempt count would kill them all
    openings = REGISTRY.get_sample_value("lastmile_crm_pauses_total") or 0
    figures = run(store, crm, clock, worker, outage=True)

    rows = store.list_events(limit=1000)
    assert len(rows) == 3 * CALLS
    assert Counter(r.status for r in rows) == {"done": 3 * CALLS}  # none dead, none waiting
    # Only the event that found the CRM gone took an attempt for it; the others waited.
    assert sorted(r.attempts for r in rows) == [1] * (3 * CALLS - 1) + [2]
    # During the outage the CRM heard only the probes (and that one event), never one call per
    # event per retry; probes came at most once a minute at the breaker's cap, at least every
    # 30 s with its jitter.
    assert figures["calls_during"] == figures["probes_during"] + 1
    assert (
        OUTAGE / timedelta(seconds=60)
        <= figures["probes_during"]
        <= OUTAGE / timedelta(seconds=30) + 10
    )
    assert REGISTRY.get_sample_value("lastmile_crm_pauses_total") == openings + 1
    # Back within the breaker's longest wait (60 s) and one sweep.
    assert figures["resumed_in"] is not None and figures["resumed_in"] <= timedelta(seconds=80)
    assert not worker.breaker.is_open

    # In order per record: each record's events processed in the order they occurred.
    for n in range(CALLS):
        mine = sorted((r for r in rows if r.record_id == call_id(n)), key=lambda r: r.occurred_at)
        assert [r.processed_at for r in mine] == sorted(r.processed_at for r in mine)
        assert store.snapshot("Task", call_id(n)).inbox_id == mine[-1].id

    # Applied once: every follow-up task upserted once, no record update sent twice, and the CRM
    # ends as it does when nothing failed.
    applied = [w for r in rows for w in store.get_event(r.id).writes if w.status == "applied"]
    task_keys = Counter(key for w in applied for key in w.task_keys)
    assert len(task_keys) == CALLS and set(task_keys.values()) == {1}
    for n in range(CALLS):
        updates = [f for _, rid, f in crm.updates if rid == call_id(n)]
        assert all(a != b for a, b in pairwise(updates))

    calm_clock = Clock()
    calm_crm = FakeCrm(calm_clock)
    from lastmile.store import Store

    calm_store = Store(f"sqlite:///{tmp_path / 'calm.db'}")
    calm_store.upgrade()
    calm = Worker(calm_store, worker.rules, calm_crm, worker.settings, clock=calm_clock)
    run(calm_store, calm_crm, calm_clock, calm, outage=False)
    calm_store.close()
    assert crm_state(crm) == crm_state(calm_crm)
    assert sorted(crm.tasks) == sorted(calm_crm.tasks)


def completed_call(n: int, minutes: float = 0):
    return event(
        f"e{n}",
        minutes,
        object="Task",
        record_id=call_id(n),
        changed=["Status", "Outcome__c"],
        Subject=f"Call {n}",
        Type="Call",
        Status="Completed",
        Outcome__c="Interested",
        OwnerId=PERSON,
        WhatId="0067Q00000Jk9sPQAR",
        Description=None,
        Next_Step__c=None,
    )


def stored(store, crm, clock, *events):
    for ev in events:
        crm.seed(ev.object, ev.record_id, clock(), **ev.fields)
    return [inbox_id for inbox_id, _ in store.add(list(events))]


def test_while_the_crm_is_down_events_wait_uncharged_and_one_probe_at_a_time_asks(
    store, crm, clock, make_worker
):
    first, second, third = stored(store, crm, clock, *(completed_call(n) for n in range(3)))
    worker = make_worker()
    crm.down = True
    assert worker.process_event(first) == RETRY  # it found the CRM gone: the breaker opens
    assert worker.breaker.is_open
    probe_at = store.get(first).next_attempt_at
    assert clock() + timedelta(seconds=1) <= probe_at <= clock() + timedelta(seconds=2)
    calls = crm.calls
    assert worker.process_event(second) == PAUSED  # not tried, not charged
    assert worker.process_event(third) == PAUSED
    assert crm.calls == calls
    for inbox_id in (second, third):
        row = store.get(inbox_id)
        assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 0, probe_at)
        assert row.last_error.startswith("waiting: CRM unavailable since")
    # Each probe that fails doubles the wait, up to the cap: 2, 4, 8, ... 60 s (jitter: up to
    # half taken off). Only the probes reach the CRM.
    waits = []
    for _ in range(8):
        clock.at = worker.breaker.state().next_probe
        for inbox_id in store.due(clock(), 10):
            assert worker.process_event(inbox_id) == PAUSED
        waits.append((worker.breaker.state().next_probe - clock()).total_seconds())
    for wait, ceiling in zip(waits, (4, 8, 16, 32, 60, 60, 60, 60), strict=True):
        assert ceiling / 2 <= wait <= ceiling
    assert crm.checks == 8 and crm.calls == calls + 8
    assert {store.get(i).attempts for i in (second, third)} == {0}
    crm.down = False
    clock.at = worker.breaker.state().next_probe
    assert [worker.process_event(i) for i in store.due(clock(), 10)] == [APPLIED] * 3
    assert not worker.breaker.is_open


def test_events_go_dead_only_past_the_retry_horizon(store, crm, clock, make_worker, settings):
    settings.retry_horizon = timedelta(hours=24)
    tried, waiting = stored(store, crm, clock, completed_call(0), completed_call(1, 1))
    worker = make_worker()
    crm.down = True
    assert worker.process_event(tried) == RETRY
    assert worker.process_event(waiting) == PAUSED
    clock.advance(hours=23)
    (fresh,) = stored(store, crm, clock, completed_call(2, 23 * 60))  # received 23 hours later
    # 90 minutes of probes later the CRM is still down: the two events received a day ago are
    # past the horizon, dead with the reason (the one never tried too); the later one waits.
    for _ in range(90):
        clock.advance(minutes=1)
        for inbox_id in store.due(clock(), 10):
            worker.process_event(inbox_id)
    for inbox_id, attempts in ((tried, 1), (waiting, 0)):
        row = store.get(inbox_id)
        assert (row.status, row.attempts) == ("dead", attempts)
        assert "past the retry horizon of 1 day" in row.last_error
    assert (store.get(fresh).status, store.get(fresh).attempts) == ("pending", 0)
    # The CRM comes back: the waiting one is applied; a dead one, replayed, too.
    crm.down = False
    clock.advance(minutes=2)
    for inbox_id in store.due(clock(), 10):
        assert worker.process_event(inbox_id) == APPLIED
    assert store.get(fresh).status == "done"
    assert store.replay(tried)
    assert worker.process_event(tried) == APPLIED


def test_an_event_past_the_horizon_dies_at_its_next_failure(store, crm, clock, make_worker):
    (inbox_id,) = stored(store, crm, clock, completed_call(0))
    clock.advance(hours=25)
    crm.transient = 1
    assert make_worker().process_event(inbox_id) == DEAD
    assert "TransientError" in store.get(inbox_id).last_error


def test_the_api_limit_pauses_processing_without_a_probe_before_it_lifts(
    store, crm, clock, make_worker
):
    first, second = stored(store, crm, clock, completed_call(0), completed_call(1))
    resume = clock() + timedelta(hours=3)
    apply = crm.apply

    def paused(writes):
        raise LimitExceeded("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.", resume)

    crm.apply = paused
    worker = make_worker()
    assert worker.process_event(first) == RETRY
    assert worker.process_event(second) == PAUSED
    assert store.get(second).next_attempt_at == resume
    clock.advance(hours=2, minutes=59)
    assert store.due(clock(), 10) == []
    worker.breaker.wait_until()
    assert crm.checks == 0
    crm.apply = apply
    clock.at = resume
    assert [worker.process_event(i) for i in store.due(clock(), 10)] == [APPLIED, APPLIED]
    assert crm.checks == 1


def test_a_permanent_error_is_not_an_outage(store, crm, clock, make_worker):
    (inbox_id,) = stored(store, crm, clock, completed_call(0))
    crm.refuse = CrmProblem("INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields")
    worker = make_worker()
    assert worker.process_event(inbox_id) == DEAD
    assert not worker.breaker.is_open


def test_a_probe_answered_with_a_permanent_error_closes_the_breaker(clock):
    answers = [TransientError("down"), ConnectionRefusedError("refused"), ValueError("answered")]

    def probe():
        raise answers.pop(0)

    breaker = CrmBreaker(probe, clock=clock, random=lambda: 1.0)
    assert breaker.wait_until() is None
    breaker.failed(TransientError("503"))
    assert breaker.state().error == "TransientError: 503"
    for wait in (2, 4, 8):
        next_probe = breaker.state().next_probe
        assert next_probe == clock() + timedelta(seconds=wait)
        assert breaker.wait_until() == next_probe  # not due: no probe
        clock.at = next_probe
        until = breaker.wait_until()
        if answers:
            assert until is not None
    assert until is None and not breaker.is_open  # ValueError: the CRM answered
    assert (breaker.openings, breaker.probes) == (1, 3)


def test_unexpected_errors_are_no_outage_and_keep_their_attempts(store, crm, clock, make_worker):
    (inbox_id,) = stored(store, crm, clock, completed_call(0))
    worker = make_worker()

    def broken():
        raise KeyError("a bug")

    worker.rules = broken
    outcomes = []
    for _ in range(3):  # settings.max_attempts == 3
        outcomes.append(worker.process_event(inbox_id))
        clock.advance(hours=1)
    assert outcomes == [RETRY, RETRY, DEAD] and not worker.breaker.is_open
