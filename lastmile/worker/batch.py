"""Bulk import (`lastmile events import`): many events into the store and through the rules.

`observe` writes nothing to the CRM and needs no connection to one: each event goes through the
worker's own step (`Worker.decide`) against a stand-in that takes every write without sending
it, so the ledger, occasions, default rows and snapshots are what the normal path would leave
with a CRM that took every write; no tasks and no write-back log are kept, and the inbox rows
end `done` with the outcome `observed`. A record's events that arrive in `occurred_at` order
and after its snapshot are processed many records to a transaction, the rows written with one
statement per table; from its first event that arrives out of order on, a record's events go
one by one, in the order given, each in its own transaction, so a late event is handled as the
worker handles it.
Either way an event is stored and processed in one transaction: nothing is left half-imported
and no live worker ever sees an imported event pending.

`deliver` is the path with write-backs: store, then `Worker.process_event` per event.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog

from lastmile.connector.base import ApiUsage, RecordState, WriteBack, WriteResult
from lastmile.rules import RecordEvent, RuleSet
from lastmile.rules.records import FieldValue

from ..settings import Settings
from ..store import Completion, InboxRow, Snapshot, Store
from .core import APPLIED, NOTHING, Worker
from .locks import advisory_key

log = structlog.get_logger("lastmile.import")

OBSERVED = "observed"  # the outcome of an event imported with `observe`
RECORDS_PER_TRANSACTION = 200  # about a second of the write lock a transaction
LEASE = timedelta(hours=1)  # never seen by others: the rows commit done, or not at all

Progress = Callable[[int], None]  # events handled so far
Key = tuple[str, str]  # (object, record id)


@dataclass(frozen=True)
class ImportResult:
    events: int  # in the input
    imported: int  # new: stored and processed
    duplicates: int  # stored before (same source and id), or repeated in the input
    one_by_one: int  # of `imported`, processed one event to a transaction (from the first
    # event of its record that arrived out of order)
    outcomes: Mapping[str, int]


class ImportFailed(RuntimeError):
    """Processing an event failed and its transaction was rolled back. The message names the
    event and the error's type, not its text (which may quote a field value)."""

    def __init__(self, event: RecordEvent, cause: BaseException) -> None:
        self.event = event
        super().__init__(
            f"event {event.id!r} ({event.object} {event.record_id}) could not be processed "
            f"({type(cause).__name__})"
        )


class _Observing:
    """The CRM as `observe` sees it: every write taken and sent nowhere; a read answered with
    the record as last seen (its snapshot, `known`), an unknown field as empty."""

    def __init__(self) -> None:
        self.known: Mapping[str, FieldValue] = {}

    def read(self, object: str, record_id: str, fields: Iterable[str]) -> RecordState:
        return RecordState(object, record_id, {f: self.known.get(f) for f in fields})

    def apply(self, writes: Sequence[WriteBack]) -> list[WriteResult]:
        return [WriteResult(w.record_id, "applied") for w in writes]

    def usage(self) -> ApiUsage | None:
        return None

    def check(self) -> None:
        return None

    def session_owner(self, session_id: str) -> tuple[str, str] | None:
        return None


def observe(
    store: Store,
    ruleset: RuleSet,
    settings: Settings,
    events: Sequence[RecordEvent],
    *,
    progress: Progress | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ImportResult:
    """Import `events` (in the order given, which is their arrival order) with no CRM."""
    return _Observer(store, ruleset, settings, clock).run(events, progress)


class _Observer:
    def __init__(
        self,
        store: Store,
        ruleset: RuleSet,
        settings: Settings,
        clock: Callable[[], datetime] | None,
    ) -> None:
        self.store = store
        self.ruleset = ruleset
        self.crm = _Observing()
        # Nothing reaches a person: the prompt budget, which counts what people see, stays out.
        self.worker = Worker(
            store, lambda: ruleset, self.crm, settings, clock=clock, prompt_budget=False
        )
        self.clock = self.worker.clock
        self.outcomes: Counter[str] = Counter()
        self.imported = self.one_by_one = 0

    def run(self, events: Sequence[RecordEvent], progress: Progress | None) -> ImportResult:
        # Positions, not events: `events` may read each one when asked (cli/eventfile.py).
        records: dict[Key, list[int]] = {}
        seen: set[tuple[str, str]] = set()
        for n, ev in enumerate(events):
            if (ev.source, ev.id) not in seen:  # a repeat in the input: a redelivery
                seen.add((ev.source, ev.id))
                records.setdefault((ev.object, ev.record_id), []).append(n)
        groups = list(records.values())
        handled = len(events) - len(seen)
        for start in range(0, len(groups), RECORDS_PER_TRANSACTION):
            part = groups[start : start + RECORDS_PER_TRANSACTION]
            chunk = [[events[n] for n in group] for group in part]
            for group in self._together(chunk):
                for ev in group:
                    self._alone(ev)
            handled += sum(len(g) for g in chunk)
            if progress is not None:
                progress(handled)
        return ImportResult(
            events=len(events),
            imported=self.imported,
            duplicates=len(events) - self.imported,
            one_by_one=self.one_by_one,
            outcomes=dict(self.outcomes),
        )

    def _together(self, chunk: list[list[RecordEvent]]) -> list[list[RecordEvent]]:
        """Process the new events of `chunk`'s records in one transaction, each record's up to
        its first that arrives out of order; the rest of each are returned, to go one by one
        after this transaction."""
        now = self.clock()
        with self.store.writing() as conn:
            keys = [(g[0].object, g[0].record_id) for g in chunk]
            _lock_records(conn, keys)
            stored = self.store.stored_events(conn, [ev for group in chunk for ev in group])
            snaps = self.store.snapshots(conn, keys)
            known = snaps.keys() | self.store.observed_records(conn, keys)
            together: list[list[RecordEvent]] = []
            alone: list[list[RecordEvent]] = []
            for group in chunk:
                new = [ev for ev in group if (ev.source, ev.id) not in stored]
                ordered = _in_order(new, snaps.get((group[0].object, group[0].record_id)))
                if ordered:
                    together.append(new[:ordered])
                if new[ordered:]:
                    alone.append(new[ordered:])
            flat = [ev for group in together for ev in group]
            rows = iter(self.store.add_leased(conn, flat, self.worker.owner, now + LEASE))
            done: list[tuple[InboxRow, Completion]] = []
            for group in together:
                snap = snaps.get((group[0].object, group[0].record_id))
                for ev in group:
                    row = next(rows)
                    if row is None:  # stored meanwhile by someone else: a redelivery
                        continue
                    completion = self._decide(row, ev, snap)
                    done.append((row, completion))
                    snap = completion.snapshot
            new_records = [k for k in keys if k not in known]
            self.store.complete_all(conn, self.worker.owner, done, now, new_records=new_records)
        self.imported += len(done)
        self.outcomes.update(c.outcome for _, c in done)
        return alone

    def _alone(self, ev: RecordEvent) -> None:
        """One event in its own transaction, as the worker would process it on its arrival."""
        now = self.clock()
        key = (ev.object, ev.record_id)
        with self.store.writing() as conn:
            _lock_records(conn, [key])
            [row] = self.store.add_leased(conn, [ev], self.worker.owner, now + LEASE)
            if row is None:
                return
            completion = self._decide(row, ev, self.store.snapshots(conn, [key]).get(key))
            self.store.complete_all(conn, self.worker.owner, [(row, completion)], now)
        self.imported += 1
        self.one_by_one += 1
        self.outcomes[completion.outcome] += 1

    def _decide(self, row: InboxRow, ev: RecordEvent, snap: Snapshot | None) -> Completion:
        self.crm.known = snap.fields if snap is not None else {}
        try:
            done = self.worker.decide(row, ev, snap, self.ruleset)
        except Exception as exc:
            log.error("import stopped", event_id=ev.id, inbox_id=row.id, exc_info=True)
            raise ImportFailed(ev, exc) from exc
        outcome = OBSERVED if done.outcome in (APPLIED, NOTHING) else done.outcome
        return dataclasses.replace(done, outcome=outcome, tasks=(), writes=())


def _lock_records(conn: sa.Connection, keys: Sequence[Key]) -> None:
    """On PostgreSQL, hold the records' advisory locks until the transaction ends: the workers
    of a running service take the same locks, so none processes these records meanwhile.
    (SQLite's single writer orders the transactions; its workers lock records in-process.)"""
    if conn.dialect.name == "postgresql":
        locks = sorted({advisory_key(*key) for key in keys})
        conn.execute(
            sa.text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(:keys) AS k"),
            {"keys": locks},
        )


def _in_order(events: list[RecordEvent], snap: Snapshot | None) -> int:
    """How many of a record's events, from the first, arrive in `occurred_at` order and none
    before the record's snapshot: the worker would find none of them late."""
    after = snap.occurred_at if snap is not None else datetime.min.replace(tzinfo=UTC)
    for n, ev in enumerate(events):
        if ev.occurred_at < after:
            return n
        after = ev.occurred_at
    return len(events)


def deliver(
    store: Store,
    worker: Worker,
    events: Sequence[RecordEvent],
    *,
    progress: Progress | None = None,
) -> ImportResult:
    """Import `events` through the normal path: each stored, then processed by `worker` (with
    its CRM connector: write-backs included) before the next arrives."""
    outcomes: Counter[str] = Counter()
    imported = 0
    for n, ev in enumerate(events, 1):
        [(inbox_id, new)] = store.add([ev])
        if new:
            imported += 1
            outcomes[worker.process_event(inbox_id)] += 1
        if progress is not None and (n % 100 == 0 or n == len(events)):
            progress(n)
    return ImportResult(
        events=len(events),
        imported=imported,
        duplicates=len(events) - imported,
        one_by_one=imported,
        outcomes=dict(outcomes),
    )
