"""The Celery app of scale-out mode: `process_event(inbox_id)` on the workers, and a beat schedule
with the sweeper (what a lost broker message or a dead worker left in the inbox) and deadlines.

At least once: a message is acknowledged only after its task ran (late acks), given back when
the worker process dies, and fetched one at a time; `Worker.process_event` is idempotent, so
effects happen exactly once. The runtime a worker process needs is built by the function given
to `make_celery` (`Runtime.build`), so this module does not import the wiring that imports it.
`lastmile worker` and `lastmile beat` are the usual way in; `celery -A lastmile.celery_worker`
works too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from celery import Celery, Task

from .celery_dispatch import PROCESS_TASK, CeleryDispatcher
from .settings import Settings
from .worker import DEFERRED, PAUSED, RETRY
from .worker.locks import LockTimeout, PostgresRecordLocks

# Builds a worker process's runtime from the settings (`lastmile.runtime.Runtime.build`). The
# runtime is typed Any here: naming its class would import the wiring back.
BuildRuntime = Callable[[Settings], Any]

log = structlog.get_logger("lastmile.celery")

SWEEP_TASK = "lastmile.sweep"
DEADLINES_TASK = "lastmile.deadlines"


def make_celery(settings: Settings, build_runtime: BuildRuntime | None = None) -> Celery:
    """The Celery app for `settings.broker_url` (redis:// or amqp://) with Lastmile's tasks.

    A worker's tasks run on the runtime `build_runtime(settings)` makes (once per process,
    after the fork); without it the app only sends tasks (the receiver's dispatcher)."""
    if not settings.broker_url:
        raise ValueError("LASTMILE_BROKER_URL is not set: scale-out mode needs a Redis or AMQP URL")
    app = Celery("lastmile", broker=settings.broker_url, set_as_current=False)
    schedule_queue = f"{settings.queue}.schedule"
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=settings.queue,
        # The beat's tasks have their own queue, so a backlog of events does not delay them.
        task_routes={
            SWEEP_TASK: {"queue": schedule_queue},
            DEADLINES_TASK: {"queue": schedule_queue},
        },
        task_ignore_result=True,  # outcomes live in the inbox, not in a result backend
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,  # lastmile.logs formats every line as JSON
        worker_send_task_events=False,
        beat_schedule={
            "sweep": {
                "task": SWEEP_TASK,
                "schedule": settings.sweep_every_s,
                "options": {"expires": settings.sweep_every_s},
            },
            "deadlines": {
                "task": DEADLINES_TASK,
                "schedule": settings.deadline_every_s,
                "options": {"expires": settings.deadline_every_s},
            },
        },
        lastmile_sweep_grace=timedelta(seconds=settings.sweep_grace_s),
        lastmile_queues=(settings.queue, schedule_queue),
    )
    holder = _RuntimeHolder(app, settings, build_runtime)
    app.lastmile_runtime = holder  # type: ignore[attr-defined]
    _register_tasks(app, holder)
    return app


class _RuntimeHolder:
    """The worker process's runtime, built on first use: after the fork, so no process shares
    another's database connections or threads."""

    def __init__(self, app: Celery, settings: Settings, build: BuildRuntime | None) -> None:
        self.app, self.settings, self.build = app, settings, build
        self._lock = threading.Lock()
        self._runtime: Any = None
        self.dispatcher: CeleryDispatcher | None = None

    def get(self) -> Any:
        with self._lock:
            if self._runtime is None:
                if self.build is None:
                    raise RuntimeError(
                        "this Celery app only sends tasks: make_celery(settings, Runtime.build) "
                        "makes one that runs them"
                    )
                runtime = self.build(self.settings)
                runtime.worker.lease = timedelta(seconds=self.settings.worker_lease_s)
                if isinstance(runtime.worker.locks, PostgresRecordLocks):
                    runtime.worker.locks.wait_ms = int(self.settings.lock_wait_s * 1000)
                else:
                    log.warning(
                        "Celery workers on SQLite: record locks hold within one process only; "
                        "run a single worker process, or use PostgreSQL"
                    )
                runtime.rules.start()  # the dispatcher is this app: nothing else to start
                self.dispatcher = CeleryDispatcher(runtime.store, self.app)
                self._runtime = runtime
            return self._runtime


def _retry_in(task: Task) -> float:
    return float(min(30, 2 ** min(task.request.retries, 5)))


def _register_tasks(app: Celery, holder: _RuntimeHolder) -> None:
    @app.task(name=PROCESS_TASK, bind=True, max_retries=None)
    def process_event(self: Task, inbox_id: int) -> str:
        """One inbox event through the worker; a database outage is waited out."""
        runtime = holder.get()
        try:
            outcome = runtime.worker.process_event(inbox_id)
        except (sa.exc.DBAPIError, LockTimeout) as exc:
            # The database went away (a restart, a failover) or the record stayed locked: the
            # row is as it was before (pending, or leased until its lease runs out). Try again.
            log.warning(
                "event waits: store unavailable", inbox_id=inbox_id, error=type(exc).__name__
            )
            raise self.retry(countdown=_retry_in(self), max_retries=50) from None
        if outcome in (RETRY, DEFERRED, PAUSED):
            _send_when_due(holder, inbox_id)
        return outcome

    @app.task(name=SWEEP_TASK)
    def sweep() -> int:
        """Re-dispatch what waits in the inbox with no message on its way."""
        holder.get()
        assert holder.dispatcher is not None
        return holder.dispatcher.sweep()

    @app.task(name=DEADLINES_TASK)
    def deadlines() -> dict[str, Any]:
        """Act on passed deadlines once (escalation tasks, stale prompts)."""
        from .deadlines import run_deadlines  # an ImportError here fails the beat task loudly

        runtime = holder.get()
        # One run at a time across workers: the key is no record id Salesforce can make.
        with runtime.worker.locks.hold("lastmile", "deadlines"):
            return run_deadlines(
                runtime.store,
                runtime.rules(),
                runtime.connector,
                runtime.settings,
                datetime.now(UTC),
            )


def _send_when_due(holder: _RuntimeHolder, inbox_id: int) -> None:
    """An event that waits (a retry time, the CRM, an earlier event of its record) goes back on
    the queue for when it is due; the sweeper would find it too, only later."""
    runtime = holder.get()
    row = runtime.store.get(inbox_id)
    if row is None or row.status != "pending":
        return
    when = row.next_attempt_at or datetime.now(UTC)
    countdown = max(0.0, (when - datetime.now(UTC)).total_seconds())
    holder.app.send_task(PROCESS_TASK, args=(inbox_id,), countdown=countdown)
