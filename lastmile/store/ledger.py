"""The store as the worker finishes an event: snapshots, ledger rows and the outcome, together."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..users import user_key
from . import defaults as kept_defaults
from . import occasions as kept
from .database import PG_POOL_SIZE
from .inbox import Inbox, _row, pairs_in
from .models import Completion, DefaultRow, InboxRow, ObservationRow, Snapshot, TaskRow
from .tables import (
    deadline_actions,
    defaults_applied,
    inbox,
    observations,
    occasions,
    snapshots,
    tasks,
    writebacks,
)


class LeaseLost(RuntimeError):
    """The row's lease passed and another worker took it: this worker's result is dropped."""


_SNAPSHOT = sa.select(snapshots).where(
    snapshots.c.object == sa.bindparam("object"),
    snapshots.c.record_id == sa.bindparam("record_id"),
)
_DONE_EACH = (  # for many rows at once (executemany)
    inbox.update()
    .where(inbox.c.id == sa.bindparam("inbox_id"), inbox.c.lease_owner == sa.bindparam("owner"))
    .values(
        status="done",
        attempts=inbox.c.attempts + 1,
        next_attempt_at=None,
        lease_owner=None,
        lease_until=None,
        last_error=None,
    )
)
_DONE = _DONE_EACH.returning(inbox.c.object, inbox.c.record_id)


class Store(Inbox):
    """Lastmile's database: inbox, snapshots, write-back log and ledger (SQLAlchemy Core)."""

    def __init__(self, url: str, pool_size: int = PG_POOL_SIZE) -> None:
        super().__init__(url, pool_size)
        # The dialect's forms of the worker's inserts, built once.
        dialect = self.engine.dialect
        self._insert_new_sql = {
            t.name: _Many(self.insert_ignoring_duplicates(t), dialect)
            for t in (observations, tasks)
        }
        self._put_snapshots = _Many(self.upsert(snapshots, ("object", "record_id")), dialect)
        self._mark_done = _Many(_DONE_EACH, dialect)

    def snapshot(self, object: str, record_id: str) -> Snapshot | None:
        with self.reading() as conn:
            return _snapshot(conn, object, record_id)

    def claim_with_snapshot(
        self, inbox_id: int, owner: str, now: datetime, lease: timedelta
    ) -> tuple[InboxRow, Snapshot | None] | None:
        """`claim` and the record's snapshot, in one transaction (the worker's first step)."""
        with self.writing() as conn:
            row = self._claim(conn, inbox_id, owner, now, lease)
            return (row, _snapshot(conn, row.object, row.record_id)) if row is not None else None

    def snapshots(
        self, conn: sa.Connection, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], Snapshot]:
        """The snapshots of these records (object, record id) that have one, in `conn`."""
        s = snapshots
        return {
            (row.object, row.record_id): _snapshot_of(row)
            for where in pairs_in(s.c.object, s.c.record_id, keys)
            for row in conn.execute(sa.select(s).where(where))
        }

    def observed_records(
        self, conn: sa.Connection, keys: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Which of these records (object, record id) have ledger observations, in `conn`."""
        o = observations
        return {
            (obj, rid)
            for where in pairs_in(o.c.object, o.c.record_id, keys)
            for obj, rid in conn.execute(
                sa.select(o.c.object, o.c.record_id).where(where).distinct()
            )
        }

    def history(self, object: str, record_id: str) -> list[InboxRow]:
        """The record's processed events in order (occurred_at, then arrival)."""
        query = (
            sa.select(inbox)
            .where(
                inbox.c.object == object,
                inbox.c.record_id == record_id,
                inbox.c.status == "done",
            )
            .order_by(inbox.c.occurred_at, inbox.c.id)
        )
        with self.reading() as conn:
            return [_row(r) for r in conn.execute(query)]

    def complete(self, inbox_id: int, owner: str, done: Completion, now: datetime) -> None:
        """Commit what processing left behind, in one transaction, and mark the row done.

        Raises LeaseLost (and commits nothing) if the lease is no longer `owner`'s.
        """
        with self.writing() as conn:
            marked = conn.execute(_DONE, _done_values(inbox_id, owner, done, now)).first()
            if marked is None:
                raise LeaseLost(f"inbox row {inbox_id} was taken by another worker")
            self._record(conn, [(inbox_id, marked.object, marked.record_id, done)], now)

    def complete_all(
        self,
        conn: sa.Connection,
        owner: str,
        done: Sequence[tuple[InboxRow, Completion]],
        now: datetime,
        *,
        new_records: Collection[tuple[str, str]] = (),
    ) -> None:
        """`complete` for many rows leased to `owner`, in processing order, inside the caller's
        transaction `conn`, with one statement per table (the bulk import). The occasion rows of
        `new_records` (records with nothing stored before these events) are derived from these
        observations alone, without reading the ledger back."""
        if not done:
            return
        marked = self._mark_done(conn, [_done_values(row.id, owner, c, now) for row, c in done])
        if conn.dialect.supports_sane_multi_rowcount and marked != len(done):
            raise LeaseLost(f"{len(done) - marked} of {len(done)} rows were taken by another")
        self._record(
            conn, [(row.id, row.object, row.record_id, c) for row, c in done], now, new_records
        )

    def _record(
        self,
        conn: sa.Connection,
        done: Sequence[tuple[int, str, str, Completion]],
        now: datetime,
        new_records: Collection[tuple[str, str]] = (),
    ) -> None:
        """The ledger rows, occasions, defaults, tasks, write logs and snapshots of processed
        events (inbox id, object, record id, what processing left), in processing order."""
        last: dict[tuple[str, str], Completion] = {}  # each record's last completion
        snaps: dict[tuple[str, str], Snapshot] = {}  # and its last snapshot (a late one: none)
        for _, object, record_id, c in done:
            last[(object, record_id)] = c
            if c.snapshot is not None:
                snaps[(object, record_id)] = c.snapshot
        fresh = set(new_records)
        self._insert_new(
            conn, observations, [_observation(o) for *_, c in done for o in c.observations]
        )
        revised = [o for *_, c in done for o in c.revised]
        for i, o in enumerate(revised):
            mine = (observations.c.inbox_id == o.inbox_id, observations.c.rule == o.rule)
            # Whether the budget held the prompt back is a fact of that event: it stays.
            held = conn.execute(sa.select(observations.c.suppressed).where(*mine)).scalar()
            revised[i] = replace(o, suppressed=bool(held))
            conn.execute(observations.delete().where(*mine))
        self._insert_new(conn, observations, [_observation(o) for o in revised])
        observed = {(obj, rid) for _, obj, rid, c in done if c.observations or c.revised}
        new_ones: dict[tuple[str, str], list[ObservationRow]] = {}
        for _, object, record_id, c in done:
            if (object, record_id) in fresh:
                new_ones.setdefault((object, record_id), []).extend(c.observations)
        derived: list[dict[str, Any]] = []
        for key, mine in new_ones.items():
            mine.sort(key=lambda o: (o.occurred_at, o.inbox_id, o.rule))  # the ledger's order
            derived.extend(kept.occasion_rows(mine, last[key].within))
        kept.add(conn, derived)
        for object, record_id in sorted(observed - fresh):
            kept.rederive(conn, object, record_id, last[(object, record_id)].within)
        defaults = [vars(d) for *_, c in done for d in c.defaults]
        kept_defaults.add(conn, defaults)  # with the totals (store/totals.py)
        defaulted = {(d["object"], d["record_id"]) for d in defaults}
        for key, c in last.items():
            if key in defaulted or key not in fresh:  # a new record without defaults has none
                kept_defaults.refresh(conn, *key, c.integration_user)
        self._insert_new(conn, tasks, [vars(t) for *_, c in done for t in c.tasks])
        for inbox_id, *_, c in done:
            self._log_writes(conn, inbox_id, c.writes)
        if snaps:
            self._put_snapshots(
                conn, [_snapshot_values(*key, snap, now) for key, snap in snaps.items()]
            )

    def _insert_new(self, conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
        """Insert rows, leaving any that exist (same key) alone: one executemany."""
        if rows:
            self._insert_new_sql[table.name](conn, rows)

    # -- ledger reads (tests now, adoption measurement next) -------------------------------------

    def observations(
        self,
        object: str | None = None,
        record_id: str | None = None,
        *,
        rules: Sequence[str] | None = None,
        active_since: datetime | None = None,
    ) -> list[ObservationRow]:
        """Ledger observations in record order: occurred_at, then arrival. Of `rules` only, when
        given; with `active_since`, only records observed (for those rules) at or after it, with
        their whole history, so a job that looks at recent occasions reads what is recent."""
        o = observations
        query = sa.select(o).order_by(o.c.occurred_at, o.c.inbox_id, o.c.rule)
        if object is not None:
            query = query.where(o.c.object == object)
        if record_id is not None:
            query = query.where(o.c.record_id == record_id)
        if rules is not None:
            query = query.where(o.c.rule.in_(list(rules)))
        if active_since is not None:
            active = sa.select(o.c.object, o.c.record_id).where(o.c.occurred_at >= active_since)
            if rules is not None:
                active = active.where(o.c.rule.in_(list(rules)))
            query = query.where(sa.tuple_(o.c.object, o.c.record_id).in_(active.distinct()))
        with self.reading() as conn:
            return [ObservationRow.from_row(r._mapping) for r in conn.execute(query)]

    def rebuild_occasions(
        self,
        within: kept.Within,
        rules: Sequence[str] | None = None,
        progress: kept.Progress | None = None,
    ) -> int:
        """Derive the occasion rows again from the ledger (of `rules` only, when given), with
        these deadlines: when the rules' `within` changed. How many rows there are now."""
        with self.writing() as conn:
            return kept.rebuild(conn, within, rules, progress)

    def defaults_applied(self) -> list[DefaultRow]:
        with self.reading() as conn:
            rows = conn.execute(
                sa.select(defaults_applied).order_by(
                    defaults_applied.c.occurred_at, defaults_applied.c.inbox_id
                )
            )
            return [DefaultRow(**{k: v for k, v in r._mapping.items() if k != "id"}) for r in rows]

    def tasks(self) -> list[TaskRow]:
        with self.reading() as conn:
            rows = conn.execute(sa.select(tasks).order_by(tasks.c.occurred_at, tasks.c.key))
            return [TaskRow(**r._mapping) for r in rows]

    # -- deadlines and retention (issue 5) -------------------------------------------------------

    def deadline_keys(self, since: datetime | None = None) -> set[str]:
        """The occasions the deadline scheduler already acted on (done or failed for good),
        of deadlines at or after `since` when given."""
        query = sa.select(deadline_actions.c.key)
        if since is not None:
            query = query.where(deadline_actions.c.deadline >= since)
        with self.reading() as conn:
            return set(conn.execute(query).scalars())

    def deadline_actions(self) -> list[dict[str, Any]]:
        """What the deadline scheduler did, oldest deadline first (ids and codes, no values)."""
        query = sa.select(deadline_actions).order_by(
            deadline_actions.c.deadline, deadline_actions.c.key
        )
        with self.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def record_deadline_action(self, **values: Any) -> bool:
        """Keep what was done for one missed occasion; False if another run kept it first."""
        with self.writing() as conn:
            return bool(
                conn.execute(
                    self.insert_ignoring_duplicates(deadline_actions).values(**values)
                ).rowcount
            )

    def set_prompts(
        self,
        object: str,
        record_id: str,
        inbox_id: int,
        prompts: Mapping[str, str],
        held: Mapping[str, str],
        prompt_value: str | None,
    ) -> bool:
        """Keep what the record now shows and holds back (a deadline cleared a prompt, the
        budget released one), unless an event moved the snapshot on since it was read
        (`inbox_id`): then the worker's view stands."""
        where = (
            snapshots.c.object == object,
            snapshots.c.record_id == record_id,
            snapshots.c.inbox_id == inbox_id,
        )
        values = {
            "prompts": dict(prompts),
            "shown": len(prompts),
            "held": dict(held) or None,
            "prompt_value": prompt_value,
        }
        with self.writing() as conn:
            return conn.execute(snapshots.update().where(*where).values(**values)).rowcount == 1

    def prompts_elsewhere(self, owner: object, object: str, record_id: str) -> int | None:
        """How many prompts the other records of `owner` (an `OwnerId` value) show; None when
        the record has no owner."""
        key = _owner_key(owner)
        if key is None:
            return None
        s = snapshots
        mine = sa.and_(s.c.object == object, s.c.record_id == record_id)
        query = sa.select(sa.func.coalesce(sa.func.sum(s.c.shown), 0)).where(
            s.c.owner == key, s.c.shown > 0, sa.not_(mine)
        )
        with self.reading() as conn:
            return int(conn.execute(query).scalar_one())

    def holding(
        self, per_person: int, per_record: int, limit: int
    ) -> list[tuple[str, str, str | None, Snapshot]]:
        """Records with prompts held back by the budget whose owner (or, without one, the record)
        has room for more, longest waiting first: (object, record id, owner, snapshot)."""
        s = snapshots
        busy = (
            sa.select(s.c.owner, sa.func.sum(s.c.shown).label("shown"))
            .where(s.c.owner.is_not(None), s.c.shown > 0)
            .group_by(s.c.owner)
            .subquery("busy")
        )
        room = sa.or_(
            sa.and_(s.c.owner.is_(None), s.c.shown < per_record),
            sa.and_(
                s.c.owner.is_not(None),
                s.c.shown < per_record,
                sa.func.coalesce(busy.c.shown, 0) < per_person,
            ),
        )
        query = (
            sa.select(s)
            .select_from(s.outerjoin(busy, busy.c.owner == s.c.owner))
            .where(s.c.held.is_not(None), room)
            .order_by(s.c.updated_at, s.c.object, s.c.record_id)
            .limit(limit)
        )
        with self.reading() as conn:
            return [(r.object, r.record_id, r.owner, _snapshot_of(r)) for r in conn.execute(query)]

    def open_rules(self, object: str, record_id: str, at: datetime) -> set[str]:
        """The rules with an occasion open on the record at `at` (see store/occasions.py)."""
        o = occasions
        query = sa.select(o.c.rule).where(
            o.c.object == object,
            o.c.record_id == record_id,
            o.c.opened_at <= at,
            kept.outcome_at(at) == "open",
        )
        with self.reading() as conn:
            return set(conn.execute(query.distinct()).scalars())

    def purge(self, before: datetime) -> dict[str, int]:
        """Delete ledger rows of events that occurred before `before`, and done inbox rows of
        that age with their write-back logs (a row a snapshot still points at stays: it is the
        record's latest state). How many rows of each kind went."""
        done_old = sa.select(inbox.c.id).where(
            inbox.c.status == "done",
            inbox.c.occurred_at < before,
            inbox.c.id.not_in(sa.select(snapshots.c.inbox_id)),
        )
        counts: dict[str, int] = {}
        with self.writing() as conn:
            touched = conn.execute(
                sa.select(observations.c.object, observations.c.record_id)
                .where(observations.c.occurred_at < before)
                .distinct()
            ).all()
            within = kept.within_kept(conn)
            kept_defaults.forget_before(conn, before)  # out of the totals before they go
            for name, table, when in (
                ("observations", observations, observations.c.occurred_at),
                ("defaults", defaults_applied, defaults_applied.c.occurred_at),
                ("tasks", tasks, tasks.c.occurred_at),
                ("deadline_actions", deadline_actions, deadline_actions.c.deadline),
            ):
                counts[name] = conn.execute(table.delete().where(when < before)).rowcount
            # What is left of those records' events says what their occasions are now.
            for object, record_id in touched:
                kept.rederive(conn, object, record_id, within)
            # Ledger rows are keyed to their inbox row; one that is kept keeps its event too.
            in_use = [sa.select(t.c.inbox_id) for t in (observations, defaults_applied, tasks)]
            removable = done_old.where(*(inbox.c.id.not_in(k) for k in in_use))
            ids = list(conn.execute(removable).scalars())
            counts["writebacks"] = counts["inbox"] = 0
            for start in range(0, len(ids), 500):  # SQLite limits bound parameters
                chunk = ids[start : start + 500]
                counts["writebacks"] += conn.execute(
                    writebacks.delete().where(writebacks.c.inbox_id.in_(chunk))
                ).rowcount
                counts["inbox"] += conn.execute(
                    inbox.delete().where(inbox.c.id.in_(chunk))
                ).rowcount
        return counts


class _Many:
    """`statement` for many rows (dicts with the same keys) at once. On SQLite through the
    driver's executemany, compiled once per set of keys and each value converted by its
    column type's own bind processor: SQLAlchemy's handling of each row's parameters was most
    of the bulk import's database time. Elsewhere `conn.execute`."""

    def __init__(self, statement: Any, dialect: sa.Dialect) -> None:
        self._statement = statement
        self._dialect = dialect
        self._compiled: dict[tuple[str, ...], tuple[str, list[tuple[str, Any, Any]]]] = {}

    def __call__(self, conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> int:
        """Run it for `rows`; how many rows it changed."""
        if self._dialect.name != "sqlite":
            return conn.execute(self._statement, rows).rowcount
        keys = tuple(rows[0])
        if keys not in self._compiled:
            compiled = self._statement.compile(dialect=self._dialect, column_keys=list(keys))
            convert = []
            for name in compiled.positiontup or ():
                kind = compiled.binds[name].type.dialect_impl(self._dialect)
                process = kind.bind_processor(self._dialect)
                fixed = None  # a value the statement itself sets
                if name not in keys:
                    fixed = compiled.params.get(name)
                    fixed = process(fixed) if process is not None else fixed
                convert.append((name, process, fixed))
            self._compiled[keys] = (compiled.string, convert)
        sql, convert = self._compiled[keys]
        values = [
            tuple(
                (c(row[n]) if c is not None else row[n]) if n in row else fixed
                for n, c, fixed in convert
            )
            for row in rows
        ]
        return conn.exec_driver_sql(sql, values).rowcount


def _snapshot(conn: sa.Connection, object: str, record_id: str) -> Snapshot | None:
    row = conn.execute(_SNAPSHOT, {"object": object, "record_id": record_id}).first()
    return _snapshot_of(row) if row is not None else None


def _snapshot_of(row: sa.Row) -> Snapshot:
    m = row._mapping
    return Snapshot(
        fields=m["fields"],
        occurred_at=m["occurred_at"],
        inbox_id=m["inbox_id"],
        prompts=m["prompts"],
        prompt_value=m["prompt_value"],
        held=m["held"] or {},
    )


def _done_values(inbox_id: int, owner: str, done: Completion, now: datetime) -> dict[str, Any]:
    return {
        "inbox_id": inbox_id,
        "owner": owner,
        "outcome": done.outcome,
        "rules_version": done.rules_version,
        "processed_at": now,
        "fields_seen": dict(done.fields_seen),
        "fields_written": dict(done.fields_written),
    }


def _snapshot_values(object: str, record_id: str, snap: Snapshot, now: datetime) -> dict:
    return {
        "object": object,
        "record_id": record_id,
        "fields": dict(snap.fields),
        "occurred_at": snap.occurred_at,
        "inbox_id": snap.inbox_id,
        "prompts": dict(snap.prompts),
        "prompt_value": snap.prompt_value,
        "updated_at": now,
        "owner": _owner_key(snap.fields.get("OwnerId")),
        "shown": len(snap.prompts),
        "held": dict(snap.held) or None,
    }


def _owner_key(owner: object) -> str | None:
    """An `OwnerId` value as the prompt budget counts people (a user's 15-character id)."""
    return user_key(owner) if isinstance(owner, str) and owner.strip() else None


def _observation(o: ObservationRow) -> dict:
    data = vars(o).copy()
    data["missing"] = list(o.missing)
    data["placeholder"] = list(o.placeholder)
    return data
