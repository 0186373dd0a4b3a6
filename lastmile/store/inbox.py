"""The inbox: events stored once per (source, event id), leased to a worker, retried, parked."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lastmile.rules import RecordEvent

from .database import PG_POOL_SIZE, Database
from .models import EventDetail, InboxRow, WriteLog
from .tables import STATUSES, UTCDateTime, inbox, writebacks

OPEN = ("pending", "running")
# What the receiver stores of each event; the other columns start empty.
_ADDED = (
    "source", "event_id", "object", "record_id", "kind", "occurred_at", "received_at", "event",
    "status", "attempts",
)  # fmt: skip

# The worker's statements, built once with bound parameters: SQLAlchemy then reuses their
# compiled form, where building them per call cost the worker a fifth of its time.
_NOW = sa.bindparam("now", type_=UTCDateTime())
_DUE = sa.or_(  # pending and its retry time passed, or leased and the lease expired (a crash)
    sa.and_(
        inbox.c.status == "pending",
        sa.or_(inbox.c.next_attempt_at.is_(None), inbox.c.next_attempt_at <= _NOW),
    ),
    sa.and_(inbox.c.status == "running", inbox.c.lease_until < _NOW),
)
_ID_OF = sa.select(inbox.c.id).where(
    inbox.c.source == sa.bindparam("source"), inbox.c.event_id == sa.bindparam("event_id")
)
_BY_ID = sa.select(inbox).where(inbox.c.id == sa.bindparam("inbox_id"))
_CLAIM = (
    inbox.update()
    .where(inbox.c.id == sa.bindparam("inbox_id"), _DUE)
    .values(
        status="running",
        lease_owner=sa.bindparam("owner"),
        lease_until=sa.bindparam("until", type_=UTCDateTime()),
    )
    .returning(*inbox.c)  # the leased row in the same statement
)
_OCCURRED = sa.bindparam("occurred_at", type_=UTCDateTime())
_EARLIER_OPEN = (
    sa.select(inbox)
    .where(
        inbox.c.object == sa.bindparam("object"),
        inbox.c.record_id == sa.bindparam("record_id"),
        inbox.c.status.in_(OPEN),
        sa.or_(
            inbox.c.occurred_at < _OCCURRED,
            sa.and_(inbox.c.occurred_at == _OCCURRED, inbox.c.id < sa.bindparam("inbox_id")),
        ),
    )
    .order_by(inbox.c.occurred_at, inbox.c.id)
)


def pairs_in(
    first: sa.ColumnElement, second: sa.ColumnElement, pairs: Iterable[tuple[Any, Any]]
) -> Iterator[sa.ColumnElement[bool]]:
    """Conditions that together select the rows whose (`first`, `second`) is one of `pairs`:
    `first = a AND second IN (...)` for each `a`, in parts under SQLite's limit of bound
    parameters. SQLite scans the whole table for a row-value IN; this uses an index on
    (`first`, `second`)."""
    by_first: dict[Any, list[Any]] = {}
    for a, b in pairs:
        by_first.setdefault(a, []).append(b)
    for a, seconds in by_first.items():
        unique = sorted(set(seconds))
        for start in range(0, len(unique), 500):
            yield sa.and_(first == a, second.in_(unique[start : start + 500]))


def _new_row(ev: RecordEvent, received: datetime, status: str) -> dict[str, Any]:
    """The inbox row values of an event as it is stored, before any attempt."""
    return {
        "source": ev.source,
        "event_id": ev.id,
        "object": ev.object,
        "record_id": ev.record_id,
        "kind": ev.kind,
        "occurred_at": ev.occurred_at,
        "received_at": received,
        "event": ev.model_dump_json(),
        "status": status,
        "attempts": 0,
    }


def _now() -> datetime:
    return datetime.now(UTC)


class _GroupCommit:
    """Group commit for the receiver's threads: whoever holds the turn stores every request
    waiting at that moment in one transaction. Under load one commit serves many requests,
    instead of each request queueing for the database's single writer."""

    def __init__(self) -> None:
        self._turn = threading.Lock()
        self._guard = threading.Lock()
        self._waiting: list[_Request] = []

    def run(self, events: list[RecordEvent], store_many: Any) -> list[tuple[int, bool]]:
        mine = _Request(events)
        with self._guard:
            self._waiting.append(mine)
        with self._turn:
            if not mine.done:  # nobody took it along: take everything waiting, mine included
                with self._guard:
                    batch, self._waiting = self._waiting, []
                try:
                    for request, result in zip(
                        batch, store_many([r.events for r in batch]), strict=True
                    ):
                        request.result = result
                except BaseException as exc:  # every request of the batch failed with it
                    for request in batch:
                        request.error = exc
                finally:
                    for request in batch:
                        request.done = True
        if mine.error is not None:
            raise mine.error
        assert mine.result is not None
        return mine.result


class _Request:
    __slots__ = ("done", "error", "events", "result")

    def __init__(self, events: list[RecordEvent]) -> None:
        self.events = events
        self.done = False
        self.result: list[tuple[int, bool]] | None = None
        self.error: BaseException | None = None


class _SqliteInsert:
    """`statement` (an INSERT ... RETURNING) for many rows at once on SQLite, as multi-row
    statements run by the driver. SQLAlchemy's executemany-with-RETURNING machinery cost the
    receiver about 5 % of each request; the SQL and each value's conversion are still
    SQLAlchemy's, compiled once here."""

    ROWS = 500  # rows per statement: 10 values each stays far under SQLite's variable limit

    def __init__(self, statement: sa.Insert, columns: Sequence[str], dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        head, values, rest = compiled.string.partition(" VALUES (")
        group, close, tail = rest.partition(") ")
        if not values or not close or "(" in group:
            raise RuntimeError(f"unexpected INSERT form: {compiled.string}")
        self._head, self._group, self._tail = head + " VALUES ", f"({group})", " " + tail
        self._convert = [
            (name, inbox.c[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in compiled.positiontup or ()
        ]
        self._sql: dict[int, str] = {}

    def __call__(self, conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> list[sa.Row]:
        returned: list[sa.Row] = []
        for start in range(0, len(rows), self.ROWS):
            chunk = rows[start : start + self.ROWS]
            sql = self._sql.get(len(chunk))
            if sql is None:
                sql = self._head + ", ".join([self._group] * len(chunk)) + self._tail
                self._sql[len(chunk)] = sql
            values = tuple(
                convert(row[name]) if convert is not None else row[name]
                for row in chunk
                for name, convert in self._convert
            )
            returned.extend(conn.exec_driver_sql(sql, values))
        return returned


class Inbox(Database):
    """Inbox operations: what the receiver, the worker, the sweeper and ops call."""

    def __init__(self, url: str, pool_size: int = PG_POOL_SIZE) -> None:
        super().__init__(url, pool_size)
        self._combiner = _GroupCommit()
        # Built once: the receiver's hot path then reuses SQLAlchemy's compiled form.
        add = self.insert_ignoring_duplicates(inbox).returning(
            inbox.c.id, inbox.c.source, inbox.c.event_id
        )
        if self.dialect == "sqlite":
            self._insert_new_events: Any = _SqliteInsert(add, _ADDED, self.engine.dialect)
            leased = (*_ADDED, "lease_owner", "lease_until")
            self._insert_leased: Any = _SqliteInsert(add, leased, self.engine.dialect)
        else:
            self._insert_new_events = self._insert_leased = lambda conn, rows: conn.execute(
                add, rows
            )

    def add(self, events: Sequence[RecordEvent]) -> list[tuple[int, bool]]:
        """Store events in one transaction; (inbox id, new?) per event, in order.

        A duplicate (same source + event id, stored before or earlier in this list) gives the
        existing id and False. Safe to call from several threads and processes at once. Durable
        when it returns: the transaction has committed.
        """
        if not events:
            return []
        return self._combiner.run(list(events), self._add_many)

    def _add_many(self, requests: list[list[RecordEvent]]) -> list[list[tuple[int, bool]]]:
        """Several callers' events in ONE statement and ONE transaction: the new rows come
        back from RETURNING; a duplicate (stored before, or earlier in the batch) returns
        nothing there and is looked up after."""
        received = _now()
        events = [ev for request in requests for ev in request]
        rows = [_new_row(ev, received, "pending") for ev in events]
        with self.writing() as conn:
            new = {(r.source, r.event_id): r.id for r in self._insert_new_events(conn, rows)}
            known: dict[tuple[str, str], int] = {}
            for ev in events:
                key = (ev.source, ev.id)
                if key not in new and key not in known:
                    found = conn.execute(_ID_OF, {"source": ev.source, "event_id": ev.id})
                    known[key] = found.scalar_one()
        results: list[list[tuple[int, bool]]] = []
        for request in requests:
            result = []
            for ev in request:
                key = (ev.source, ev.id)
                if key in new:  # the first of its key in the batch is the one stored
                    result.append((new.pop(key), True))
                    known[key] = result[-1][0]
                else:
                    result.append((known[key], False))
            results.append(result)
        return results

    def add_leased(
        self, conn: sa.Connection, events: Sequence[RecordEvent], owner: str, until: datetime
    ) -> list[InboxRow | None]:
        """Store events as running, leased to `owner` until `until`, in the caller's transaction
        (the bulk import processes them before it commits): each one's row, None for one stored
        before (same source + event id: a no-op, as a redelivery is) or earlier in `events`."""
        if not events:  # PostgreSQL's executemany of no rows would insert one empty row
            return []
        received = _now()
        rows = [
            {**_new_row(ev, received, "running"), "lease_owner": owner, "lease_until": until}
            for ev in events
        ]
        new = {(r.source, r.event_id): r.id for r in self._insert_leased(conn, rows)}
        found: list[InboxRow | None] = []
        for row in rows:
            inbox_id = new.pop((row["source"], row["event_id"]), None)
            found.append(None if inbox_id is None else _leased_row(inbox_id, row))
        return found

    @staticmethod
    def stored_events(conn: sa.Connection, events: Sequence[RecordEvent]) -> set[tuple[str, str]]:
        """Which of `events` are in the inbox already, as (source, event id)."""
        pairs = [(ev.source, ev.id) for ev in events]
        return {
            (source, event_id)
            for where in pairs_in(inbox.c.source, inbox.c.event_id, pairs)
            for source, event_id in conn.execute(
                sa.select(inbox.c.source, inbox.c.event_id).where(where)
            )
        }

    def get(self, inbox_id: int) -> InboxRow | None:
        with self.reading() as conn:
            row = conn.execute(_BY_ID, {"inbox_id": inbox_id}).first()
        return _row(row) if row is not None else None

    def get_with_earlier(self, inbox_id: int) -> tuple[InboxRow | None, list[InboxRow]]:
        """The row and its record's events before it (by occurred_at, then arrival) not yet
        done or dead, in one transaction."""
        with self.reading() as conn:
            found = conn.execute(_BY_ID, {"inbox_id": inbox_id}).first()
            if found is None:
                return None, []
            row = _row(found)
            return row, self._earlier_open(conn, row)

    def claim(self, inbox_id: int, owner: str, now: datetime, lease: timedelta) -> InboxRow | None:
        """Lease a row that is due (pending and its retry time passed, or its lease expired);
        None when it is done, dead, leased by another, or waiting for its retry time."""
        with self.writing() as conn:
            return self._claim(conn, inbox_id, owner, now, lease)

    def _claim(
        self, conn: sa.Connection, inbox_id: int, owner: str, now: datetime, lease: timedelta
    ) -> InboxRow | None:
        leased = conn.execute(
            _CLAIM, {"inbox_id": inbox_id, "now": now, "owner": owner, "until": now + lease}
        ).first()
        return _row(leased) if leased is not None else None

    @staticmethod
    def _earlier_open(conn: sa.Connection, row: InboxRow) -> list[InboxRow]:
        """The record's events before `row` (by occurred_at, then arrival) not yet done or dead."""
        bound = {
            "object": row.object,
            "record_id": row.record_id,
            "occurred_at": row.occurred_at,
            "inbox_id": row.id,
        }
        return [_row(r) for r in conn.execute(_EARLIER_OPEN, bound)]

    def release(
        self,
        inbox_id: int,
        owner: str,
        *,
        status: str,
        next_attempt_at: datetime | None = None,
        attempts: int | None = None,
        error: str | None = None,
        outcome: str | None = None,
        writes: Sequence[WriteLog] = (),
    ) -> None:
        """Give a leased row back: pending again (to retry at `next_attempt_at`) or dead."""
        values: dict[str, Any] = {
            "status": status,
            "next_attempt_at": next_attempt_at,
            "lease_owner": None,
            "lease_until": None,
        }
        if attempts is not None:
            values["attempts"] = attempts
        if error is not None:
            values["last_error"] = error[:2000]
        if outcome is not None:
            values["outcome"] = outcome
        with self.writing() as conn:
            conn.execute(
                inbox.update()
                .where(inbox.c.id == inbox_id, inbox.c.lease_owner == owner)
                .values(**values)
            )
            self._log_writes(conn, inbox_id, writes)

    def postpone(self, inbox_id: int, until: datetime) -> None:
        """Hold a pending row back until `until` (an earlier event of its record is waiting)."""
        with self.writing() as conn:
            conn.execute(
                inbox.update()
                .where(inbox.c.id == inbox_id, inbox.c.status == "pending")
                .values(next_attempt_at=until)
            )

    def hold(self, inbox_id: int, until: datetime, why: str) -> bool:
        """Keep a pending row waiting until `until` without taking an attempt (the CRM is
        unavailable); a later retry time it already has stays. False when it is not pending."""
        at = sa.literal(until, UTCDateTime())
        with self.writing() as conn:
            changed = conn.execute(
                inbox.update()
                .where(inbox.c.id == inbox_id, inbox.c.status == "pending")
                .values(
                    next_attempt_at=sa.case(
                        (inbox.c.next_attempt_at > at, inbox.c.next_attempt_at), else_=at
                    ),
                    last_error=why[:2000],
                )
            ).rowcount
        return changed == 1

    def due(self, now: datetime, limit: int = 100) -> list[int]:
        """Rows to process now: pending and due, or leased with the lease expired (a crash)."""
        query = sa.select(inbox.c.id).where(_DUE).order_by(inbox.c.id).limit(limit)
        with self.reading() as conn:
            return list(conn.execute(query, {"now": now}).scalars())

    # -- ops ------------------------------------------------------------------------------------

    def list_events(self, status: str | None = None, limit: int = 50) -> list[InboxRow]:
        """The newest events first, optionally of one status."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown status {status!r}: one of {', '.join(STATUSES)}")
        query = sa.select(inbox).order_by(inbox.c.id.desc()).limit(max(0, limit))
        if status is not None:
            query = query.where(inbox.c.status == status)
        with self.reading() as conn:
            return [_row(r) for r in conn.execute(query)]

    def get_event(self, inbox_id: int) -> EventDetail | None:
        """One event with its write-backs, oldest first."""
        with self.reading() as conn:
            row = conn.execute(sa.select(inbox).where(inbox.c.id == inbox_id)).first()
            if row is None:
                return None
            logs = conn.execute(
                sa.select(writebacks)
                .where(writebacks.c.inbox_id == inbox_id)
                .order_by(writebacks.c.id)
            )
            writes = tuple(_write_log(w) for w in logs)
        return EventDetail(_row(row), writes)

    def replay(self, inbox_id: int) -> bool:
        """Send a dead or done event through the worker again (attempts reset); False when it
        is unknown, pending or in flight."""
        with self.writing() as conn:
            changed = conn.execute(
                inbox.update()
                .where(inbox.c.id == inbox_id, inbox.c.status.in_(("dead", "done")))
                .values(
                    status="pending",
                    attempts=0,
                    next_attempt_at=None,
                    lease_owner=None,
                    lease_until=None,
                    last_error=None,
                    outcome=None,
                )
            ).rowcount
        return changed == 1

    def counts(self) -> dict[str, int]:
        """How many events are in each status (every status listed, zeros included)."""
        with self.reading() as conn:
            rows = conn.execute(
                sa.select(inbox.c.status, sa.func.count()).group_by(inbox.c.status)
            ).all()
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({status: n for status, n in rows})
        return counts

    def _log_writes(self, conn: sa.Connection, inbox_id: int, writes: Sequence[WriteLog]) -> None:
        if not writes:
            return
        conn.execute(
            writebacks.insert(),
            [
                {
                    "inbox_id": inbox_id,
                    "attempt": w.attempt,
                    "fields": dict(w.fields),
                    "task_keys": list(w.task_keys),
                    "if_unmodified_since": w.if_unmodified_since,
                    "status": w.status,
                    "task_ids": dict(w.task_ids),
                    "api_calls": w.api_calls,
                    "problems": list(w.problems),
                    "at": w.at,
                }
                for w in writes
            ],
        )


def _row(row: sa.Row) -> InboxRow:
    m = row._mapping
    return InboxRow(
        id=m["id"],
        source=m["source"],
        event_id=m["event_id"],
        object=m["object"],
        record_id=m["record_id"],
        kind=m["kind"],
        occurred_at=m["occurred_at"],
        received_at=m["received_at"],
        status=m["status"],
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
        lease_until=m["lease_until"],
        last_error=m["last_error"],
        outcome=m["outcome"],
        rules_version=m["rules_version"],
        processed_at=m["processed_at"],
        event_json=m["event"],
        fields_seen=m["fields_seen"],
        fields_written=m["fields_written"],
    )


def _leased_row(inbox_id: int, values: dict[str, Any]) -> InboxRow:
    return InboxRow(
        id=inbox_id,
        **{k: values[k] for k in ("source", "event_id", "object", "record_id", "kind")},
        occurred_at=values["occurred_at"],
        received_at=values["received_at"],
        status="running",
        attempts=0,
        next_attempt_at=None,
        lease_until=values["lease_until"],
        last_error=None,
        outcome=None,
        rules_version=None,
        processed_at=None,
        event_json=values["event"],
    )


def _write_log(row: sa.Row) -> WriteLog:
    m = row._mapping
    return WriteLog(
        attempt=m["attempt"],
        fields=m["fields"],
        task_keys=tuple(m["task_keys"]),
        if_unmodified_since=m["if_unmodified_since"],
        status=m["status"],
        task_ids=m["task_ids"],
        api_calls=m["api_calls"],
        problems=tuple(m["problems"]),
        at=m["at"],
    )
