"""The write batcher: the write-backs of events processed at the same time in one process go to
the CRM together (`Connector.apply` of many), so a burst of events shares API calls.

A write goes in two steps: its record update, in batches of `unit` (what one CRM call carries:
Salesforce's Composite takes 25), then, once that landed, its tasks, in batches of up to `size`
(an upsert collection takes 200). A record that conflicted or was refused gets no task. A lone
event's write goes whole and at once (one call).

A batch goes when it is full, or when every event in flight in this process waits here (nothing
more can join), or when nothing moved for `window_s` (50 ms: no write joined, no event started
or ended, no batch came back), or when its oldest write waited `cap_s`. While a batch is on its
way its writers are not counted as stuck: they come back with their next events.

Each caller gets its own result (a conflict or failure of one record is that record's alone) or
the error of the call that carried it, and only after its writes landed: an event is never
marked done before its write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from lastmile.connector.base import Connector, WriteBack, WriteResult

from ..metrics import WRITE_BATCH_SIZE


@dataclass
class _Slot:
    write: WriteBack  # the whole write
    step: WriteBack  # what goes next: the record update, the tasks, or the whole write
    arrived: float
    record: WriteResult | None = None  # the record update's result, once it landed
    result: WriteResult | None = None
    error: BaseException | None = None
    calls: int = 0
    batch: int = 0  # the most writes that went with it in one batch
    done: bool = False


@dataclass(frozen=True)
class Sent:
    """A write's result, and the API calls of the batches it went in (shared with others)."""

    result: WriteResult
    calls: int | None
    batch: int


class WriteBatcher:
    """Collects write-backs and applies them together, records first, then tasks."""

    def __init__(
        self,
        connector: Connector,
        *,
        window_s: float = 0.05,
        size: int = 200,
        unit: int = 25,
        cap_s: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= window_s <= 0.05:
            raise ValueError("the batching window is 0 to 50 ms")
        if size < 1 or unit < 1:
            raise ValueError("a batch holds at least one write")
        self.connector = connector
        self.window_s = window_s
        self.size = size if window_s > 0 else 1  # no window: each write alone, as it comes
        self.unit = min(unit, self.size)
        self.cap_s = cap_s
        self.slow_s = 0.005
        self.last_flush_s = 0.0  # how long the latest batch took
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._records: list[_Slot] = []  # record updates waiting
        self._tasks: list[_Slot] = []  # tasks waiting (their record update landed)
        self._in_flight = 0  # events being processed in this process (in_flight())
        self._flushing = 0  # writes in a batch under way
        self._last_progress = 0.0  # a write joined, an event started or ended, a batch returned

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Marks an event being processed: while some are, a write waits for theirs."""
        with self._cond:
            self._in_flight += 1
            self._last_progress = self._monotonic()
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._last_progress = self._monotonic()
                self._cond.notify_all()  # the waiting ones may be all that is left

    @property
    def slow(self) -> bool:
        """Whether the CRM's answers take long enough (`slow_s`) that more events in flight
        would share its calls (a CRM double answering at once: never)."""
        return self.window_s > 0 and self.last_flush_s >= self.slow_s

    def apply(self, write: WriteBack) -> Sent:
        """Write `write` with whatever else is waiting; raises what the connector raised."""
        slot = _Slot(write, write, self._monotonic())
        with self._cond:
            (self._records if write.fields else self._tasks).append(slot)
            self._last_progress = slot.arrived
            self._cond.notify_all()
        while True:
            with self._cond:
                batch: list[_Slot] = []
                while not slot.done:
                    batch = self._take_if_due()
                    if batch:
                        break
                    self._cond.wait(self._time_left())
                if slot.done:
                    if slot.error is not None:
                        raise slot.error
                    assert slot.result is not None
                    return Sent(slot.result, slot.calls, slot.batch)
            self._flush(batch)

    # -- internals (the lock held where it says so) -------------------------------------------

    def _oldest(self) -> float | None:
        waiting = [q[0].arrived for q in (self._records, self._tasks) if q]
        return min(waiting) if waiting else None

    def _time_left(self) -> float | None:
        """Until nothing moved for the window, or the oldest waited its longest (lock held)."""
        oldest = self._oldest()
        if oldest is None:
            return None  # ours is on its way: its batch's return wakes us
        now = self._monotonic()
        longest = oldest + self.cap_s - now
        if self._flushing:  # its writers come back with new events: wait for them
            return max(0.0, longest)
        return max(0.0, min(self._last_progress + self.window_s - now, longest))

    def _take_if_due(self) -> list[_Slot]:
        """The next batch when one is due, its slots' steps set (lock held); else []."""
        records, tasks = self._records, self._tasks
        if len(records) >= self.unit:  # (a unit of one: no batching, each write whole)
            return self._take(records, self.unit, whole=self.unit == 1)
        if len(tasks) >= self.size:
            return self._take(tasks, self.size, whole=False)
        oldest = self._oldest()
        if oldest is None:
            return []
        now = self._monotonic()
        stuck = len(records) + len(tasks) >= self._in_flight  # none can join
        quiet = not self._flushing and now - self._last_progress >= self.window_s
        if not (stuck or quiet or now - oldest >= self.cap_s):
            return []
        if len(records) == 1 and not tasks:
            return self._take(records, 1, whole=True)  # a lone write: whole, one call
        if records and (not tasks or records[0].arrived <= tasks[0].arrived):
            return self._take(records, self.unit, whole=False)
        return self._take(tasks, self.size, whole=False)

    def _take(self, queue: list[_Slot], count: int, *, whole: bool) -> list[_Slot]:
        batch = queue[:count]
        del queue[:count]
        for slot in batch:
            if queue is self._records and not whole:
                slot.step = replace(slot.write, tasks=())  # the record update alone
        self._flushing += len(batch)
        return batch

    def _flush(self, batch: list[_Slot]) -> None:
        """Apply a batch (lock not held) and hand each its result, or its tasks their turn."""
        before = self.connector.usage()
        started = self._monotonic()
        results: list[WriteResult] = []
        error: BaseException | None = None
        try:
            results = self.connector.apply([slot.step for slot in batch])
        except BaseException as exc:  # every caller of the batch sees the batch's failure
            error = exc
        self.last_flush_s = self._monotonic() - started
        after = self.connector.usage()
        calls = after.calls - before.calls if after is not None and before is not None else 0
        WRITE_BATCH_SIZE.observe(len(batch))
        with self._cond:
            for n, slot in enumerate(batch):
                slot.calls += calls
                slot.batch = max(slot.batch, len(batch))
                if error is not None or n >= len(results):
                    slot.error = error or RuntimeError("the connector answered fewer results")
                    slot.done = True
                else:
                    self._landed(slot, results[n])
            self._flushing -= len(batch)
            self._last_progress = self._monotonic()
            self._cond.notify_all()

    def _landed(self, slot: _Slot, result: WriteResult) -> None:
        """A step's result: the tasks' turn after an applied record update, else the end."""
        write = slot.write
        if slot.step is not write and slot.step.fields and write.tasks:
            if result.status == "applied":
                slot.record = result
                slot.step = replace(write, fields={}, if_unmodified_since=None)
                self._tasks.append(slot)
                return
        elif slot.record is not None:  # the tasks after the record update
            result = WriteResult(write.record_id, result.status, result.task_ids, result.problems)
        slot.result, slot.done = result, True
