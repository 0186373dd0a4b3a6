"""Per-record locks: events of one record are never processed two at once."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

log = structlog.get_logger("lastmile.locks")


class RecordLocks(Protocol):
    """Keeps two workers off one record: `LocalRecordLocks` within one process,
    `PostgresRecordLocks` across processes and hosts sharing a PostgreSQL store."""

    def hold(self, object: str, record_id: str) -> AbstractContextManager[None]: ...


class LocalRecordLocks:
    """Per-record locks shared by the threads of one process; an entry goes when unused."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, object: str, record_id: str) -> Iterator[None]:
        key = (object, record_id)
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class LockTimeout(RuntimeError):
    """Another worker held the record's lock longer than the wait allows; try the event later."""


def advisory_key(object: str, record_id: str) -> int:
    """The record's PostgreSQL advisory lock key: a stable signed 64-bit hash of object and id
    (Salesforce ids are case-sensitive, so the id is hashed as given)."""
    digest = hashlib.blake2b(f"{object}\x1f{record_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresRecordLocks:
    """A session-level PostgreSQL advisory lock per record, held on a connection of its own for
    as long as the event is processed: workers on every host wait for each other per record.

    A worker that dies loses its connection and PostgreSQL drops its locks with it. The wait is
    bounded (`wait_s`, PostgreSQL's lock_timeout): LockTimeout, and the event is tried later.
    """

    def __init__(self, engine: Engine, *, wait_s: float = 60.0) -> None:
        self.engine = engine
        self.wait_ms = max(1, int(wait_s * 1000))

    @contextmanager
    def hold(self, object: str, record_id: str) -> Iterator[None]:
        key = advisory_key(object, record_id)
        # Autocommit: the lock belongs to the session, so no transaction stays open meanwhile.
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            try:
                conn.execute(
                    sa.text(
                        "SELECT set_config('lock_timeout', :wait, false), pg_advisory_lock(:key)"
                    ),
                    {"wait": f"{self.wait_ms}ms", "key": key},
                )
            except sa.exc.OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
                    raise LockTimeout(
                        f"{object} {record_id} stayed locked by another worker "
                        f"for {self.wait_ms / 1000:g} s"
                    ) from None
                raise
            try:
                yield
            finally:
                self._release(conn, key)
        finally:
            conn.close()

    @staticmethod
    def _release(conn: sa.Connection, key: int) -> None:
        try:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        except sa.exc.DBAPIError:
            # The session is gone (a database restart): PostgreSQL released the lock with it.
            # Never hand this connection out again.
            conn.invalidate()
            log.warning("record lock connection lost; the lock went with it")


def record_locks(engine: Engine) -> RecordLocks:
    """The locks for a store on `engine`: advisory locks on PostgreSQL (workers in many
    processes), in-process locks on SQLite (one process: embedded mode)."""
    if engine.dialect.name == "postgresql":
        return PostgresRecordLocks(engine)
    return LocalRecordLocks()
