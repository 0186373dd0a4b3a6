"""Celery dispatch without running workers: what the receiver enqueues, what the sweeper finds,
the at-least-once settings, and how the runtime and the CLI choose and refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from kombu import Connection
from scale_support import fake_crm

from lastmile.celery_app import make_celery
from lastmile.celery_dispatch import CeleryDispatcher
from lastmile.cli.worker import worker
from lastmile.dispatch import EmbeddedDispatcher
from lastmile.rules import RecordEvent
from lastmile.runtime import Runtime
from lastmile.settings import Settings
from lastmile.store import Store
from lastmile.store.tables import inbox

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def event(n: int) -> RecordEvent:
    return RecordEvent(
        id=f"evt-{n}",
        source="test",
        object="Lead",
        record_id=f"00Q7Q000000GtL{n:02d}UA0",
        kind="updated",
        occurred_at=NOW,
        fields={"LastName": "Silva"},
    )


@pytest.fixture
def store(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'lastmile.db'}")
    store.upgrade()
    yield store
    store.close()


def settings(broker: str = "redis://127.0.0.1:6379/0", **more) -> Settings:
    return Settings(broker_url=broker, **more)


def test_the_app_acknowledges_late_and_fetches_one_at_a_time() -> None:
    conf = make_celery(settings(queue="q")).conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_default_queue == "q"
    assert {e["task"] for e in conf.beat_schedule.values()} == {
        "lastmile.sweep",
        "lastmile.deadlines",
    }


def test_the_sweeper_finds_only_rows_no_message_will_bring(store: Store) -> None:
    ids = [i for i, _ in store.add([event(n) for n in range(6)])]
    fresh, lost, retry_due, retry_later, dead_lease, live_lease = ids
    old = NOW - timedelta(minutes=5)
    with store.writing() as conn:
        conn.execute(inbox.update().values(received_at=NOW - timedelta(seconds=5)))
        conn.execute(inbox.update().where(inbox.c.id == lost).values(received_at=old))
        for row, when in (
            (retry_due, NOW - timedelta(seconds=1)),
            (retry_later, NOW + timedelta(minutes=1)),
        ):
            conn.execute(inbox.update().where(inbox.c.id == row).values(next_attempt_at=when))
        for row, until in (
            (dead_lease, NOW - timedelta(seconds=1)),
            (live_lease, NOW + timedelta(minutes=1)),
        ):
            conn.execute(
                inbox.update()
                .where(inbox.c.id == row)
                .values(status="running", lease_owner="w:1:x", lease_until=until)
            )
    app = make_celery(settings(sweep_grace_s=60))
    dispatcher = CeleryDispatcher(store, app, clock=lambda: NOW)
    assert dispatcher.waiting(NOW) == [lost, retry_due, dead_lease]
    assert fresh not in dispatcher.waiting(NOW + timedelta(seconds=30))
    assert fresh in dispatcher.waiting(NOW + timedelta(seconds=56))


def test_dispatch_puts_one_message_per_event_on_the_queue(
    store: Store, redis_url: str, queue: str
) -> None:
    app = make_celery(settings(redis_url, queue=queue))
    dispatcher = CeleryDispatcher(store, app)
    ids = [i for i, _ in store.add([event(n) for n in range(3)])]
    assert dispatcher.dispatch(ids) == 3
    with Connection(redis_url) as conn:
        _, messages, _ = conn.default_channel.queue_declare(queue, passive=True)
    assert messages == 3


def test_a_broker_that_is_down_loses_nothing(store: Store) -> None:
    app = make_celery(settings("redis://127.0.0.1:9/0"))
    app.conf.broker_connection_timeout = 0.5
    app.conf.task_publish_retry = False
    dispatcher = CeleryDispatcher(store, app)
    ids = [i for i, _ in store.add([event(1)])]
    assert dispatcher.dispatch(ids) == 0  # logged, not raised: the receiver still answers
    later = datetime.now(UTC) + timedelta(minutes=2)
    assert dispatcher.waiting(later) == ids  # the sweeper sends it once the grace passed
    with store.reading() as conn:
        assert conn.execute(sa.select(inbox.c.status)).scalar() == "pending"


def test_the_runtime_dispatches_through_celery_when_a_broker_is_set(tmp_path: Path) -> None:
    base = {"database_url": f"sqlite:///{tmp_path / 'lastmile.db'}"}
    crm = fake_crm()
    celery = Runtime.build(settings(**base), connector=crm)
    embedded = Runtime.build(Settings(**base), connector=crm)
    assert isinstance(celery.dispatcher, CeleryDispatcher)
    assert isinstance(embedded.dispatcher, EmbeddedDispatcher)
    for runtime in (celery, embedded):
        runtime.store.close()


def test_the_worker_command_needs_a_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LASTMILE_BROKER_URL", raising=False)
    result = CliRunner().invoke(worker, [])
    assert result.exit_code == 1
    assert "LASTMILE_BROKER_URL is not set" in result.output


def test_the_worker_command_names_a_database_it_cannot_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LASTMILE_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("LASTMILE_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    result = CliRunner().invoke(worker, [])
    assert result.exit_code == 1
    assert "cannot be used" in result.output and "nobody" not in result.output
