"""PostgreSQL as the store: psycopg 3 URLs, the same Alembic migrations as SQLite, and the
advisory record locks that keep workers in different processes off one record."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from lastmile.cli.events import db
from lastmile.store import Store
from lastmile.store.database import DatabaseUrlError, normalize_url
from lastmile.store.tables import metadata
from lastmile.worker.locks import (
    LocalRecordLocks,
    LockTimeout,
    PostgresRecordLocks,
    advisory_key,
    record_locks,
)

LEAD = "00Q7Q000000GtLUUA0"


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://lm:pw@db:5432/lastmile", "postgresql+psycopg://lm:pw@db:5432/lastmile"),
        (
            "postgres://lm@db/lastmile?sslmode=require",
            "postgresql+psycopg://lm@db/lastmile?sslmode=require",
        ),
        ("postgresql+psycopg://lm@db/lastmile", "postgresql+psycopg://lm@db/lastmile"),
        ("sqlite:///data/lastmile.db", "sqlite:///data/lastmile.db"),
    ],
)
def test_database_urls_get_the_psycopg_driver(given: str, used: str) -> None:
    assert normalize_url(given) == used


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("mysql://lm@db/lastmile", "not supported"),
        ("postgresql+psycopg2://lm@db/lastmile", "psycopg 3"),
        ("lastmile.db", "not a database URL"),
    ],
)
def test_a_database_url_lastmile_cannot_use_is_refused_clearly(given: str, says: str) -> None:
    with pytest.raises(DatabaseUrlError, match=says):
        Store(given)


def test_db_upgrade_creates_the_same_tables_on_postgresql(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LASTMILE_DATABASE_URL", pg_url)
    for _ in range(2):  # a second upgrade is a no-op
        result = CliRunner().invoke(db, ["upgrade"])
        assert result.exit_code == 0, result.output
    store = Store(pg_url)
    try:
        assert store.dialect == "postgresql"
        assert store.revision() is not None
        tables = set(sa.inspect(store.engine).get_table_names()) - {"alembic_version"}
        assert tables == set(metadata.tables)
    finally:
        store.close()


def test_workers_upgrading_at_once_take_turns(pg_url: str) -> None:
    stores = [Store(pg_url) for _ in range(4)]
    errors: list[BaseException] = []

    def upgrade(store: Store) -> None:
        try:
            store.upgrade()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert {s.revision() for s in stores} == {stores[0].revision()} != {None}
    for s in stores:
        s.close()


def test_the_lock_kind_follows_the_database(pg_url: str, tmp_path) -> None:
    pg, lite = Store(pg_url), Store(f"sqlite:///{tmp_path / 'lastmile.db'}")
    assert isinstance(record_locks(pg.engine), PostgresRecordLocks)
    assert isinstance(record_locks(lite.engine), LocalRecordLocks)
    pg.close()
    lite.close()


def test_advisory_keys_are_stable_and_tell_records_apart() -> None:
    assert advisory_key("Lead", LEAD) == advisory_key("Lead", LEAD)
    assert advisory_key("Lead", LEAD) != advisory_key("Lead", LEAD.lower())
    assert advisory_key("Lead", LEAD) != advisory_key("Contact", LEAD)
    assert -(2**63) <= advisory_key("Lead", LEAD) < 2**63


def _overlap(locks_a, locks_b, record_a: str, record_b: str) -> bool:
    """Whether two holders (separate engines: separate sessions, as two processes) of the given
    records were ever inside their locks at the same time."""
    inside = 0
    most = 0
    guard = threading.Lock()

    def hold(locks, record: str) -> None:
        nonlocal inside, most
        with locks.hold("Lead", record):
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.3)
            with guard:
                inside -= 1

    threads = [
        threading.Thread(target=hold, args=(locks_a, record_a)),
        threading.Thread(target=hold, args=(locks_b, record_b)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return most == 2


def test_one_record_is_held_by_one_session_at_a_time(pg_url: str) -> None:
    a, b = Store(pg_url), Store(pg_url)
    try:
        locks_a, locks_b = PostgresRecordLocks(a.engine), PostgresRecordLocks(b.engine)
        assert not _overlap(locks_a, locks_b, LEAD, LEAD)
        assert _overlap(locks_a, locks_b, LEAD, "00Q7Q000000GtLVUA0")  # other records: no wait
    finally:
        a.close()
        b.close()


def test_a_lock_wait_is_bounded(pg_url: str) -> None:
    a, b = Store(pg_url), Store(pg_url)
    try:
        impatient = PostgresRecordLocks(b.engine, wait_s=0.2)
        with PostgresRecordLocks(a.engine).hold("Lead", LEAD):
            started = time.monotonic()
            with pytest.raises(LockTimeout, match="stayed locked"), impatient.hold("Lead", LEAD):
                pass
            assert time.monotonic() - started < 2
        with impatient.hold("Lead", LEAD):  # free again once the holder let go
            pass
    finally:
        a.close()
        b.close()


def test_a_dead_session_lets_go_of_its_lock(pg_url: str) -> None:
    """A worker that dies (its connection gone) does not keep the record locked."""
    a, b = Store(pg_url), Store(pg_url)
    try:
        waiter = PostgresRecordLocks(b.engine, wait_s=5)
        with PostgresRecordLocks(a.engine).hold("Lead", LEAD):
            with b.engine.connect() as admin:
                admin.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks "
                        "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
                    )
                )
                admin.commit()
            with waiter.hold("Lead", LEAD):  # taken at once, not after 5 s
                pass
        # The holder's release found its session gone: no error, and the pool still works.
        with a.reading() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        a.close()
        b.close()
