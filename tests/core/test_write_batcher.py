"""The write batcher: a lone write goes at once, writes of events in flight together go in one
`apply`, each caller gets its own result (or the batch's error), and a write never waits long
for an event that does not write."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fakes import Clock, FakeCrm

from lastmile.connector.base import TaskWrite, TransientError, WriteBack
from lastmile.worker.batcher import Sent, WriteBatcher


def record(n: int) -> str:
    return f"0067Q00000Jk{n:04d}AAA"


@pytest.fixture
def crm() -> FakeCrm:
    crm = FakeCrm(Clock())
    for n in range(10):
        crm.seed("Opportunity", record(n), crm.clock.at, Name=f"Deal {n}")
    return crm


def in_threads(count: int, batcher: WriteBatcher, work: Callable[[int], Sent]) -> list[Sent]:
    """`count` events in flight at once, each writing through the batcher."""
    results: list[Sent | None] = [None] * count
    started = threading.Barrier(count)

    def event(n: int) -> None:
        with batcher.in_flight():
            started.wait()
            results[n] = work(n)

    threads = [threading.Thread(target=event, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def test_a_lone_write_goes_at_once(crm: FakeCrm) -> None:
    batcher = WriteBatcher(crm, window_s=0.05)
    started = time.monotonic()
    with batcher.in_flight():
        sent = batcher.apply(WriteBack("Opportunity", record(1), {"NextStep": "Call"}))
    assert time.monotonic() - started < 0.04  # no window waited out
    assert (sent.result.status, sent.batch, crm.calls) == ("applied", 1, 1)
    assert crm.fields("Opportunity", record(1))["NextStep"] == "Call"


def test_writes_of_events_in_flight_together_go_in_one_apply(crm: FakeCrm) -> None:
    batcher = WriteBatcher(crm, window_s=0.05)
    sent = in_threads(
        8, batcher, lambda n: batcher.apply(WriteBack("Opportunity", record(n), {"Amount": n}))
    )
    assert crm.calls == 1
    assert [s.result.status for s in sent] == ["applied"] * 8
    assert [s.result.record_id for s in sent] == [record(n) for n in range(8)]
    assert {s.batch for s in sent} == {8}
    assert [crm.fields("Opportunity", record(n))["Amount"] for n in range(8)] == list(range(8))


def test_a_batch_is_at_most_size_writes(crm: FakeCrm) -> None:
    batcher = WriteBatcher(crm, window_s=0.05, size=3)
    sent = in_threads(
        7, batcher, lambda n: batcher.apply(WriteBack("Opportunity", record(n), {"Amount": n}))
    )
    assert all(s.batch <= 3 for s in sent) and crm.calls == 3
    assert {s.result.status for s in sent} == {"applied"}


def test_the_batchs_error_reaches_every_caller(crm: FakeCrm) -> None:
    crm.transient = 1
    batcher = WriteBatcher(crm, window_s=0.05)

    def work(n: int) -> Sent:
        try:
            return batcher.apply(WriteBack("Opportunity", record(n), {"Amount": n}))
        except TransientError as exc:
            return exc  # type: ignore[return-value]

    outcomes = in_threads(4, batcher, work)
    assert all(isinstance(o, TransientError) for o in outcomes)
    assert crm.updates == []


def test_a_write_does_not_wait_long_for_an_event_that_writes_nothing(crm: FakeCrm) -> None:
    batcher = WriteBatcher(crm, window_s=0.05)
    release = threading.Event()

    def idle_event() -> None:  # in flight, but stuck elsewhere and never writing
        with batcher.in_flight():
            release.wait(5)

    other = threading.Thread(target=idle_event)
    other.start()
    time.sleep(0.01)
    try:
        started = time.monotonic()
        with batcher.in_flight():
            sent = batcher.apply(WriteBack("Opportunity", record(1), {"Amount": 1}))
        waited = time.monotonic() - started
    finally:
        release.set()
        other.join()
    assert sent.result.status == "applied"
    assert 0.04 <= waited < 1.0  # the 50 ms window, not the other event's 5 s


def test_without_a_window_every_write_goes_alone(crm: FakeCrm) -> None:
    batcher = WriteBatcher(crm, window_s=0)
    sent = in_threads(
        4, batcher, lambda n: batcher.apply(WriteBack("Opportunity", record(n), {"Amount": n}))
    )
    assert crm.calls == 4 and {s.batch for s in sent} == {1}


def test_a_window_longer_than_50_ms_is_refused(crm: FakeCrm) -> None:
    with pytest.raises(ValueError, match="50 ms"):
        WriteBatcher(crm, window_s=0.2)


def follow_up(n: int) -> TaskWrite:
    return TaskWrite(key=f"rule:{n}", subject=f"Follow-up {n}", due=date(2026, 12, 1))


def test_a_lone_write_with_tasks_goes_whole_in_one_apply(crm: FakeCrm) -> None:
    batcher = WriteBatcher(crm, window_s=0.05)
    write = WriteBack("Opportunity", record(1), {"Amount": 1}, (follow_up(1),), crm.clock.at)
    with batcher.in_flight():
        sent = batcher.apply(write)
    assert sent.result.status == "applied" and set(sent.result.task_ids) == {"rule:1"}
    assert crm.applies == [write] and crm.calls == 1


def test_record_updates_go_first_and_a_conflict_gets_no_task(crm: FakeCrm) -> None:
    seen = crm.clock.at
    crm.edit("Opportunity", record(1), seen + timedelta(minutes=1), NextStep="Call")
    batcher = WriteBatcher(crm, window_s=0.05)

    def work(n: int) -> Sent:
        write = WriteBack("Opportunity", record(n), {"Amount": n}, (follow_up(n),), seen)
        return batcher.apply(write)

    sent = in_threads(4, batcher, work)
    assert [s.result.status for s in sent] == ["applied", "conflict", "applied", "applied"]
    assert sorted(crm.tasks) == ["rule:0", "rule:2", "rule:3"]
    assert sent[0].result.task_ids == {"rule:0": crm.tasks["rule:0"]["Id"]}
    assert crm.calls == 2  # the record updates together, then the tasks together
    assert [len(w.tasks) for w in crm.applies[:4]] == [0, 0, 0, 0]
    assert all(not w.fields for w in crm.applies[4:])
