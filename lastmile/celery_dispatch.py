"""Celery dispatch (scale-out): the receiver stores an event, then enqueues its inbox id for a
Celery worker. The inbox stays the source of truth: `sweep` re-enqueues what a lost broker
message, a crashed worker or a retry time left waiting in it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog
from celery import Celery

from .store import Store
from .store.tables import inbox

log = structlog.get_logger("lastmile.dispatch")

PROCESS_TASK = "lastmile.process_event"


class CeleryDispatcher:
    """The EmbeddedDispatcher's interface over a Celery broker: start, dispatch, sweep, stop,
    drain. Nothing runs in this process; Celery workers call `Worker.process_event`."""

    def __init__(
        self,
        store: Store,
        app: Celery,
        *,
        grace: timedelta | None = None,
        sweep_limit: int = 500,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.app = app
        # A pending row younger than this may still sit in the broker's queue behind others.
        self.grace = grace if grace is not None else app.conf.get("lastmile_sweep_grace")
        self.grace = self.grace or timedelta(seconds=60)
        self.sweep_limit = sweep_limit
        self.clock = clock or (lambda: datetime.now(UTC))

    def start(self) -> CeleryDispatcher:
        """Nothing to start here: the workers are `lastmile worker` processes."""
        return self

    def dispatch(self, ids: Iterable[int]) -> int:
        """Enqueue inbox ids (one message each); how many the broker took. A broker that is
        down loses nothing: the events wait in the inbox for the sweeper."""
        ids = list(ids)
        sent = 0
        if not ids:
            return 0
        try:
            with self.app.producer_or_acquire() as producer:
                for inbox_id in ids:
                    self.app.send_task(PROCESS_TASK, args=(inbox_id,), producer=producer)
                    sent += 1
        except Exception as exc:  # kombu raises its own and the transports' errors
            log.warning(
                "broker did not take the events; the sweeper will send them",
                error=type(exc).__name__,
                sent=sent,
                waiting=len(ids) - sent,
            )
        return sent

    def waiting(self, now: datetime) -> list[int]:
        """Inbox rows no message will bring to a worker: pending with a retry time that came,
        pending for longer than the grace (a lost message), or leased by a worker whose lease
        ran out (it died)."""
        query = (
            sa.select(inbox.c.id)
            .where(
                sa.or_(
                    sa.and_(
                        inbox.c.status == "pending",
                        sa.or_(
                            inbox.c.next_attempt_at <= now,
                            sa.and_(
                                inbox.c.next_attempt_at.is_(None),
                                inbox.c.received_at < now - self.grace,
                            ),
                        ),
                    ),
                    sa.and_(inbox.c.status == "running", inbox.c.lease_until < now),
                )
            )
            .order_by(inbox.c.id)
            .limit(self.sweep_limit)
        )
        with self.store.reading() as conn:
            return list(conn.execute(query).scalars())

    def sweep(self) -> int:
        """Enqueue what waits in the inbox with no message on its way; how many rows."""
        ids = self.waiting(self.clock())
        if ids:
            log.info("sweeper re-dispatches", events=len(ids), first=ids[0])
        return self.dispatch(ids)

    def stop(self, timeout: float = 10.0) -> bool:
        """Nothing runs here to stop. (The broker connection pool is kombu's, shared by every
        app of this process with the same broker URL: closing it would break the others.)"""
        return True

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until no event is pending or running in the store (for tests and benches);
        sweeps meanwhile, so a lost message does not make it wait for the beat."""
        deadline = time.monotonic() + timeout
        next_sweep = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            counts = self.store.counts()
            if not counts["pending"] and not counts["running"]:
                return True
            if time.monotonic() >= next_sweep:
                self.sweep()
                next_sweep = time.monotonic() + 5.0
            time.sleep(0.1)
        return False
