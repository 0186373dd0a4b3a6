"""The sandbox's SQLite file: records, sessions, logins, Outbound Message setup and queue.

One connection guarded by one lock: the sandbox serves a person and a test suite, not a crowd, and
serialising requests gives every REST call (and a whole composite request) a real transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY, object TEXT NOT NULL, data TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS records_object ON records (object, seq);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, created TEXT NOT NULL, valid INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS logins (
    username TEXT PRIMARY KEY, secret TEXT NOT NULL, user_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jwt_apps (consumer_key TEXT PRIMARY KEY, public_key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbound_setup (
    object TEXT PRIMARY KEY, endpoint TEXT NOT NULL, fields TEXT, action_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbound_queue (
    id TEXT PRIMARY KEY, action_id TEXT NOT NULL, endpoint TEXT NOT NULL, object TEXT NOT NULL,
    record_id TEXT NOT NULL, sobject TEXT NOT NULL, seq INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL,
    redeliver INTEGER NOT NULL DEFAULT 0);
"""


class Store:
    """Typed access to the SQLite file; every method runs under the store's lock."""

    def __init__(self, path: Path) -> None:
        self.lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL stays consistent; no fsync a commit
        self._db.executescript(_TABLES)
        self._depth = 0

    def close(self) -> None:
        with self.lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; nested calls are savepoints, so an inner failure undoes only itself."""
        with self.lock:
            self._depth += 1
            name = f"sp{self._depth}"
            self._db.execute("BEGIN IMMEDIATE" if self._depth == 1 else f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                if self._depth == 1:
                    self._db.execute("ROLLBACK")
                else:
                    self._db.execute(f"ROLLBACK TO {name}")
                    self._db.execute(f"RELEASE {name}")
                raise
            else:
                self._db.execute("COMMIT" if self._depth == 1 else f"RELEASE {name}")
            finally:
                self._depth -= 1

    def _run(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self.lock:
            return self._db.execute(sql, args)

    # meta and counters
    def meta(self, key: str) -> str | None:
        row = self._run("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._run("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def counter(self, name: str) -> int:
        row = self._run("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return row[0] if row else 0

    def next_number(self, name: str, start: int = 1) -> int:
        with self.lock:
            row = self._run("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
            number = row[0] + 1 if row else start
            self._run("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", (name, number))
            return number

    # records
    def record(self, record_id: str) -> tuple[str, dict] | None:
        row = self._run("SELECT object, data FROM records WHERE id = ?", (record_id,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def insert(self, object_name: str, record_id: str, data: dict) -> None:
        seq = self.next_number("record-seq")
        self._run(
            "INSERT INTO records (id, object, data, seq) VALUES (?, ?, ?, ?)",
            (record_id, object_name, json.dumps(data), seq),
        )

    def replace(self, record_id: str, data: dict) -> None:
        self._run("UPDATE records SET data = ? WHERE id = ?", (json.dumps(data), record_id))

    def delete(self, record_id: str) -> None:
        self._run("DELETE FROM records WHERE id = ?", (record_id,))

    def records(self, object_name: str) -> list[dict]:
        """All records of one object, oldest first."""
        rows = self._run(
            "SELECT data FROM records WHERE object = ? ORDER BY seq", (object_name,)
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def find(self, object_name: str, field: str, value: str) -> list[str]:
        """Ids of the records whose text `field` equals `value`, ignoring case."""
        rows = self._run(
            "SELECT id FROM records WHERE object = ? AND lower(json_extract(data, ?)) = lower(?)",
            (object_name, f'$."{field}"', value),
        ).fetchall()
        return [row[0] for row in rows]

    def referring(self, object_name: str, fields: tuple[str, ...], value: str) -> list[dict]:
        """Records of one object in which any of `fields` holds exactly `value`, oldest first."""
        where = " OR ".join("json_extract(data, ?) = ?" for _ in fields)
        args = [object_name, *(part for f in fields for part in (f'$."{f}"', value))]
        rows = self._run(
            f"SELECT data FROM records WHERE object = ? AND ({where}) ORDER BY seq", tuple(args)
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def containing(self, object_name: str, field: str, text: str) -> list[dict]:
        """Records of one object whose text `field` contains `text` (case matters), oldest
        first."""
        rows = self._run(
            "SELECT data FROM records WHERE object = ? AND instr(json_extract(data, ?), ?) > 0 "
            "ORDER BY seq",
            (object_name, f'$."{field}"', text),
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    # sessions and logins
    def add_session(self, session_id: str, user_id: str, created: str) -> None:
        self._run(
            "INSERT INTO sessions (id, user_id, created, valid) VALUES (?, ?, ?, 1)",
            (session_id, user_id, created),
        )

    def session_user(self, session_id: str) -> str | None:
        row = self._run(
            "SELECT user_id FROM sessions WHERE id = ? AND valid = 1", (session_id,)
        ).fetchone()
        return row[0] if row else None

    def expire_sessions(self) -> None:
        self._run("UPDATE sessions SET valid = 0")

    def set_login(self, username: str, secret: str, user_id: str) -> None:
        self._run(
            "INSERT OR REPLACE INTO logins (username, secret, user_id) VALUES (?, ?, ?)",
            (username.lower(), secret, user_id),
        )

    def login(self, username: str) -> tuple[str, str] | None:
        """(secret hash, user id) of a username that may log in."""
        row = self._run(
            "SELECT secret, user_id FROM logins WHERE username = ?", (username.lower(),)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def set_jwt_app(self, consumer_key: str, public_key: str) -> None:
        self._run(
            "INSERT OR REPLACE INTO jwt_apps (consumer_key, public_key) VALUES (?, ?)",
            (consumer_key, public_key),
        )

    def jwt_app(self, consumer_key: str) -> str | None:
        row = self._run(
            "SELECT public_key FROM jwt_apps WHERE consumer_key = ?", (consumer_key,)
        ).fetchone()
        return row[0] if row else None

    # Outbound Messages: setup
    def set_outbound(
        self, object_name: str, endpoint: str, fields: list[str] | None, action_id: str
    ) -> None:
        self._run(
            "INSERT OR REPLACE INTO outbound_setup (object, endpoint, fields, action_id) "
            "VALUES (?, ?, ?, ?)",
            (object_name, endpoint, None if fields is None else json.dumps(fields), action_id),
        )

    def outbound_setup(self, object_name: str) -> tuple[str, list[str] | None, str] | None:
        """(endpoint, fields or None for all, action id) for an object, if it sends messages."""
        row = self._run(
            "SELECT endpoint, fields, action_id FROM outbound_setup WHERE object = ?",
            (object_name,),
        ).fetchone()
        if row is None:
            return None
        return row[0], None if row[1] is None else json.loads(row[1]), row[2]

    # Outbound Messages: the queue
    def enqueue(self, notification: dict) -> None:
        seq = self.next_number("outbound-seq")
        self._run(
            "INSERT INTO outbound_queue (id, action_id, endpoint, object, record_id, sobject, "
            "seq, next_at) VALUES (:id, :action_id, :endpoint, :object, :record_id, :sobject, "
            ":seq, :next_at)",
            {**notification, "sobject": json.dumps(notification["sobject"]), "seq": seq},
        )

    def due(self, now: float, limit: int) -> list[dict]:
        """Queued notifications due by `now`, oldest first."""
        rows = self._run(
            "SELECT id, action_id, endpoint, object, record_id, sobject, attempts, redeliver "
            "FROM outbound_queue WHERE next_at <= ? ORDER BY seq LIMIT ?",
            (now, limit),
        ).fetchall()
        keys = ("id", "action_id", "endpoint", "object", "record_id", "sobject", "attempts")
        return [
            {
                **dict(zip(keys, row[:7], strict=True)),
                "sobject": json.loads(row[5]),
                "redeliver": bool(row[7]),
            }
            for row in rows
        ]

    def next_due(self) -> float | None:
        row = self._run("SELECT min(next_at) FROM outbound_queue").fetchone()
        return row[0]

    def pending(self) -> int:
        return self._run("SELECT count(*) FROM outbound_queue").fetchone()[0]

    def acknowledged(self, ids: list[str], again_at: dict[str, float]) -> None:
        """Drop acknowledged notifications, except those to deliver once more (`again_at`)."""
        with self.transaction():
            for notification_id in ids:
                if notification_id in again_at:
                    self._run(
                        "UPDATE outbound_queue SET next_at = ?, redeliver = 1 WHERE id = ?",
                        (again_at[notification_id], notification_id),
                    )
                else:
                    self._run("DELETE FROM outbound_queue WHERE id = ?", (notification_id,))

    def retry_later(self, ids: list[str], at: float) -> None:
        with self.transaction():
            for notification_id in ids:
                self._run(
                    "UPDATE outbound_queue SET attempts = attempts + 1, next_at = ? WHERE id = ?",
                    (at, notification_id),
                )
