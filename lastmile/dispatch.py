"""Embedded dispatch: worker threads in the server process, and a sweeper that finds what the
threads were never handed (retries that came due, leases a crash left behind, lost dispatches)
and probes the CRM while it is unavailable (the worker's breaker)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime

import structlog

from .store import Store
from .worker import Worker

log = structlog.get_logger("lastmile.dispatch")

_STOP = object()


class EmbeddedDispatcher:
    """Runs `worker.process_event` on `threads` threads; `dispatch(ids)` hands work over.

    While events queue and the CRM takes its time to answer a batch of writes, more threads take
    events, up to a write batch and a bit (`worker.batcher`): a thread waits for its event's write,
    so the events in flight are what a batch can share. Those extra threads end after `idle_s`
    without work."""

    def __init__(
        self,
        worker: Worker,
        store: Store,
        threads: int = 2,
        sweep_every: float = 1.0,
        *,
        clock: Callable[[], datetime] | None = None,
        sweep_limit: int = 500,
        idle_s: float = 5.0,
        max_threads: int | None = None,
    ) -> None:
        self.worker = worker
        self.store = store
        self.threads = max(1, threads)
        # a full batch of tasks, and the next record updates gathering meanwhile
        self.max_threads = max(self.threads, worker.batcher.size + worker.batcher.unit)
        if max_threads is not None:  # what the store's connections allow
            self.max_threads = max(1, min(self.max_threads, max_threads))
            self.threads = min(self.threads, self.max_threads)
        self.idle_s = idle_s
        self.peak_threads = 0  # the most threads at once since start (for benchmarks)
        self.sweep_every = sweep_every
        self.clock = clock or worker.clock
        self.sweep_limit = sweep_limit
        self._queue: queue.Queue[object] = queue.Queue()
        self._queued: set[int] = set()  # queued or in flight: not handed out twice
        self._busy = 0
        self._waiting_threads = 0  # threads waiting for an item
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._workers: list[threading.Thread] = []
        self._sweeper: threading.Thread | None = None

    def start(self) -> EmbeddedDispatcher:
        """Start the threads; the first sweep picks up what a previous run left pending."""
        if self._workers:
            return self
        self._stopping.clear()
        for n in range(self.threads):
            thread = threading.Thread(target=self._work, name=f"lastmile-worker-{n}", daemon=True)
            thread.start()
            self._workers.append(thread)
        self.peak_threads = self.threads
        self._sweeper = threading.Thread(
            target=self._sweep_loop, name="lastmile-sweeper", daemon=True
        )
        self._sweeper.start()
        return self

    def dispatch(self, ids: Iterable[int]) -> None:
        """Queue inbox ids for processing (ids already queued or in flight are not added)."""
        with self._lock:
            for inbox_id in ids:
                if inbox_id not in self._queued:
                    self._queued.add(inbox_id)
                    self._queue.put(inbox_id)

    def sweep(self) -> int:
        """Queue what is due in the store now; how many rows that was."""
        ids = self.store.due(self.clock(), self.sweep_limit)
        self.dispatch(ids)
        return len(ids)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop taking work, let in-flight events finish, join the threads. Events still queued
        stay pending in the store for the next start. False if a thread outlived `timeout`."""
        self._stopping.set()
        with self._lock:
            while True:  # drop what is queued; the inbox still has it
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, int):
                    self._queued.discard(item)
            for _ in self._workers:
                self._queue.put(_STOP)
            threads = [*self._workers, *([self._sweeper] if self._sweeper else [])]
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        clean = not any(t.is_alive() for t in threads)
        with self._lock:
            self._workers, self._sweeper = [], None
            while True:  # an extra thread that ended on its own left its stop unread
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
        if not clean:
            log.warning("worker threads still busy after stop timeout", timeout_s=timeout)
        return clean

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued, in flight or due in the store (for tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._idle:
                idle = not self._queued and self._busy == 0
                if not idle:
                    self._idle.wait(min(0.05, max(0.0, deadline - time.monotonic())))
                    continue
            if not self.store.due(self.clock(), 1):
                return True
            self.sweep()
            time.sleep(0.01)
        return False

    # -- threads --------------------------------------------------------------------------------

    def _work(self, extra: bool = False) -> None:
        while True:
            with self._lock:
                self._waiting_threads += 1
            try:
                item = self._queue.get(timeout=self.idle_s if extra else None)
            except queue.Empty:
                with self._lock:
                    self._waiting_threads -= 1
                    if self._queue.empty():
                        self._workers.remove(threading.current_thread())
                        return
                continue
            with self._lock:
                self._waiting_threads -= 1
            if item is _STOP:
                return
            assert isinstance(item, int)
            self._grow_while_writes_wait()
            with self._lock:
                self._busy += 1
            try:
                self.worker.process_event(item)
            except Exception:
                # The row keeps its lease; when it expires the sweeper hands it out again.
                log.exception("processing an event failed", inbox_id=item)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._queued.discard(item)
                    self._idle.notify_all()

    def _grow_while_writes_wait(self) -> None:
        """One more thread when events queue, no thread is free, and the CRM takes its time
        to answer a batch of writes: the new thread's event can join the next batch."""
        with self._lock:
            if (
                self._stopping.is_set()
                or self._queue.empty()
                or self._waiting_threads > 0
                or len(self._workers) >= self.max_threads
                or not self.worker.batcher.slow
            ):
                return
            n = len(self._workers)
            thread = threading.Thread(
                target=self._work, args=(True,), name=f"lastmile-worker-{n}", daemon=True
            )
            self._workers.append(thread)
            self.peak_threads = max(self.peak_threads, len(self._workers))
        thread.start()

    def _sweep_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                # While the CRM is unavailable this thread makes the breaker's due probe before
                # the waiting events come due and are handed out, and even when none waits.
                self.worker.breaker.wait_until()
                self.sweep()
            except Exception:
                log.exception("sweeping the inbox failed")
            self._stopping.wait(self.sweep_every)
