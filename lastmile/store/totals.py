"""Occasion figures folded into totals up to a checkpoint, so indicators at a million events read
a few thousand rows instead of every occasion (issue 17).

An occasion row whose outcome can no longer change with `as_of` once `as_of` reaches the
checkpoint C is *folded*: it closed before C (`closed_at < C`; a missed one then counts as missed
from C on too, see store/occasions.py), or it never closes and opened before C. At any
`as_of >= C` a folded row stands as its final outcome (or open), so its share of the figures
is in `occasion_totals`, per rule and opening week and per rule and owner: how many ended how,
how many opened with each field missing, and the times to comply, each distinct time counted
(the database ranks them for the median and p90: measure/tally.py). The rows not folded (closed
or opened since C, or deadlines still ahead) are read one by one. Defaults applied are folded
likewise into `default_totals`.

Kept in the same transaction as the rows: every change of a record's occasion rows applies the
difference of what its old and new rows added (`change`), so a late event that re-derives a
record keeps the totals exact. `fold` moves the checkpoint on (under a lock the writers share).
`stamp` says which totals a reader sees: what is read from them can be kept until it changes.
"""

from __future__ import annotations

import functools
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from .tables import (
    default_totals,
    defaults_applied,
    occasion_checkpoint,
    occasion_totals,
    occasions,
    totals_changes,
)

Key = tuple[str, str, str, str, str, str, float]  # rule, within, by, key, kind, item, wait_s
# What `parts` and `folded` read of a row (named: a migration runs before later columns exist).
_READ = [
    occasions.c[name]
    for name in (
        "rule", "within", "opened_week", "owner", "outcome", "fields_missing",
        "fields_placeholder", "time_to_comply_s", "opened_at", "closed_at", "suppressed",
    )
]  # fmt: skip
Progress = Callable[[str, int, int], None]
_BATCH = 5_000


def checkpoint(conn: sa.Connection, lock: str | None = None) -> datetime | None:
    """Where the totals stand: rows folded before this time (None: nothing folded yet).

    Writers of rows lock it "share" (PostgreSQL: FOR SHARE) and `fold` "update", so a fold
    never runs between a writer's read of the checkpoint and its commit. Readers take no lock.
    """
    query = sa.select(occasion_checkpoint.c.folded_before).where(occasion_checkpoint.c.id == 1)
    if lock is not None and conn.dialect.name == "postgresql":
        query = query.with_for_update(read=lock == "share")
    return conn.execute(query).scalar_one_or_none()


Stamp = tuple[datetime, int, int]  # the checkpoint, its generation, corrections since


def stamp(conn: sa.Connection) -> Stamp | None:
    """Which totals `conn` sees (None: nothing folded yet). Every change of the totals commits a
    new stamp with it: a fold or refold a new generation, a correction a `totals_changes` row
    (counted: the rows committed by then, so two readers that see different totals never see
    the same stamp)."""
    c = occasion_checkpoint.c
    changes = sa.select(sa.func.count()).select_from(totals_changes).scalar_subquery()
    query = sa.select(c.folded_before, c.generation, changes).where(c.id == 1)
    row = conn.execute(query).first()
    return (row[0], row[1], row[2]) if row is not None else None


def _new_generation(conn: sa.Connection) -> None:
    """The totals were rewritten (under the checkpoint's "update" lock): a new generation, and
    the corrections counted since the last one are part of it."""
    conn.execute(totals_changes.delete())
    c = occasion_checkpoint.c
    conn.execute(occasion_checkpoint.update().values(generation=c.generation + 1))


def plain_rows(conn: sa.Connection, query: sa.Select) -> list[tuple[Any, ...]]:
    """The rows of a query without parameters that reads text and numbers only, as the driver
    gives them: for the tens of thousands of totals rows a page reads, SQLAlchemy's rows cost
    more than the read itself. In `conn`'s transaction."""
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


def one_view(conn: sa.Connection) -> None:
    """Make the reading transaction `conn` (before its first statement) see the totals and the
    rows as of one moment: on PostgreSQL a fold or a writer committing between the reads of
    the two would count a row twice or not at all. (SQLite's read transactions are so already.)
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def folded(row: Mapping[str, Any], at: datetime | None) -> bool:
    """Whether an occasion row's share is in the totals when they stand at `at`."""
    if at is None:
        return False
    closed = row["closed_at"]
    return closed < at if closed is not None else row["opened_at"] < at


def folded_rows(at: datetime) -> sa.ColumnElement[bool]:
    """The occasion rows whose share is in the totals when they stand at `at` (`folded`)."""
    o = occasions
    return sa.or_(o.c.closed_at < at, sa.and_(o.c.closed_at.is_(None), o.c.opened_at < at))


def unfolded(at: datetime) -> sa.ColumnElement[bool]:
    """The occasion rows read one by one when the totals stand at `at` (the others). Said as
    ids from `ix_occasion_settled`: with a plain OR the planners scan a whole index instead."""
    o = occasions
    closed_since = sa.select(o.c.id).where(o.c.closed_at >= at)
    open_since = sa.select(o.c.id).where(o.c.closed_at.is_(None), o.c.opened_at >= at)
    return o.c.id.in_(sa.union_all(closed_since, open_since))


def parts(row: Mapping[str, Any]) -> list[Key]:
    """What one occasion row adds to the totals: per opening week and per owner, its outcome,
    each field it opened without, each it saw a placeholder in, whether the prompt budget held
    its prompt back, and (met after prompt) its time to comply."""
    rule, within, outcome = row["rule"], row["within"], row["outcome"]
    missing = [f for f in row["fields_missing"].split("|") if f]
    placeholder = [f for f in (row.get("fields_placeholder") or "").split("|") if f]
    found: list[Key] = []
    for by, key in (("week", row["opened_week"]), ("owner", row["owner"] or "")):
        found.append((rule, within, by, key, "outcome", outcome, 0.0))
        found.extend((rule, within, by, key, "missing", f, 0.0) for f in missing)
        found.extend((rule, within, by, key, "filler", f, 0.0) for f in placeholder)
        if row.get("suppressed"):
            found.append((rule, within, by, key, "held", "", 0.0))
        if outcome == "met_after_prompt":
            found.append((rule, within, by, key, "wait", "", float(row["time_to_comply_s"] or 0)))
    return found


def change(
    conn: sa.Connection, gone: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]
) -> None:
    """Occasion rows replaced (`gone` by `new`): take the difference into the totals."""
    gone, new = list(gone), list(new)
    # The checkpoint never stands later than yesterday's midnight (`fold` is asked for no
    # later), so rows of lately opened occasions not closed before it are in no totals: the
    # usual case for a live event, which then reads and locks nothing here.
    latest = datetime.combine(datetime.now(UTC).date(), time(), UTC) - timedelta(days=1)
    if not any(folded(row, latest) for row in (*gone, *new)):
        return
    at = checkpoint(conn, "share")
    if at is None:
        return
    delta: Counter[Key] = Counter()
    for row in gone:
        if folded(row, at):
            delta.subtract(parts(row))
    for row in new:
        if folded(row, at):
            delta.update(parts(row))
    _add(conn, delta)


def fold(conn: sa.Connection, to: datetime, progress: Progress | None = None) -> bool:
    """Move the checkpoint on to `to` (never back, never past yesterday's midnight: `change`
    relies on it), adding the rows that become folded. False when the totals already stand
    there or later."""
    today = datetime.combine(datetime.now(UTC).date(), time(), UTC)
    to = min(to, today - timedelta(days=1))
    at = checkpoint(conn, "update")
    if at is not None and to <= at:
        return False
    query = sa.select(*_READ).where(folded_rows(to))
    if at is not None:
        query = query.where(unfolded(at))
    _add_rows(conn, query, progress)
    conn.execute(occasion_totals.delete().where(occasion_totals.c.n == 0))
    _fold_defaults(conn, at, to)
    if at is None:
        # A generation from a random start: a checkpoint made again (its row deleted by hand)
        # does not repeat the stamps of the one before.
        first = secrets.randbelow(2**30)
        conn.execute(occasion_checkpoint.insert().values(id=1, folded_before=to, generation=first))
    else:
        conn.execute(occasion_checkpoint.update().values(folded_before=to))
    _new_generation(conn)
    if conn.dialect.name == "postgresql":
        # Fresh statistics: with none (a table just filled) the planner joins row by row.
        conn.exec_driver_sql("ANALYZE occasion_totals, default_totals, occasions")
    return True


def refold(conn: sa.Connection, rules: Iterable[str] | None = None) -> None:
    """The totals of `rules` (every rule: None) again from their rows (after a rebuild)."""
    at = checkpoint(conn, "update")
    gone, query = occasion_totals.delete(), sa.select(*_READ)
    if rules is not None:
        wanted = sorted(rules)
        gone = gone.where(occasion_totals.c.rule.in_(wanted))
        query = query.where(occasions.c.rule.in_(wanted))
    conn.execute(gone)
    if at is not None:
        _add_rows(conn, query.where(folded_rows(at)), None)
    _new_generation(conn)


def _add_rows(conn: sa.Connection, query: sa.Select, progress: Progress | None) -> None:
    total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    delta: Counter[Key] = Counter()
    done = 0
    result = conn.execute(query, execution_options={"stream_results": True, "yield_per": _BATCH})
    for row in result:
        delta.update(parts(row._mapping))
        done += 1
        if progress is not None and done % 50_000 == 0:
            progress("occasion totals", done, total)
    _add(conn, delta)
    if progress is not None:
        progress("occasion totals", done, total)


def _add(conn: sa.Connection, delta: Counter[Any], table: sa.Table = occasion_totals) -> None:
    """Add counts to totals (`table`: keyed by every column but `n`): one upsert, keys in order
    (PostgreSQL locks rows in that order, so two writers never wait for each other in a circle).
    """
    names = [c.name for c in table.c if c.name != "n"]
    rows = [dict(zip(names, key, strict=True), n=n) for key, n in sorted(delta.items()) if n]
    if not rows:
        return
    statement = _upsert(conn.dialect.name, table)
    for start in range(0, len(rows), _BATCH):
        conn.execute(statement, rows[start : start + _BATCH])
    conn.execute(totals_changes.insert())  # a new `stamp` (a fold then starts a generation)


@functools.cache
def _upsert(dialect: str, table: sa.Table) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n, built once per table."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    names = [c.name for c in table.c if c.name != "n"]
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=names, set_={"n": table.c.n + statement.excluded.n}
    )


# -- defaults applied and overridden ------------------------------------------------------------

DefaultKey = tuple[str, str, str, bool]  # rule, field, owner ("" none), overridden


def default_folded(row: Mapping[str, Any], at: datetime | None) -> bool:
    """Whether a default row's share is in the totals at `at`: applied before it and, if a
    person overrode it, overridden before it too (it then stands so at any later `as_of`)."""
    if at is None:
        return False
    overridden = row["overridden_at"]
    return row["occurred_at"] < at and (overridden is None or overridden < at)


def default_unfolded(at: datetime) -> sa.ColumnElement[bool]:
    """The default rows read one by one when the totals stand at `at` (ids, as `unfolded`)."""
    d = defaults_applied
    applied_since = sa.select(d.c.id).where(d.c.occurred_at >= at)
    overridden_since = sa.select(d.c.id).where(d.c.overridden_at >= at)
    return d.c.id.in_(sa.union_all(applied_since, overridden_since))


def default_change(
    conn: sa.Connection, gone: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]
) -> None:
    """Default rows changed (`gone`, as they were, became `new`): the difference to the totals."""
    at = checkpoint(conn, "share")
    if at is None:
        return
    delta: Counter[DefaultKey] = Counter()
    for row in gone:
        if default_folded(row, at):
            delta[_default_key(row)] -= 1
    for row in new:
        if default_folded(row, at):
            delta[_default_key(row)] += 1
    _add(conn, delta, default_totals)


def _default_key(row: Mapping[str, Any]) -> DefaultKey:
    return (row["rule"], row["field"], row["owner"] or "", row["overridden_at"] is not None)


def _fold_defaults(conn: sa.Connection, at: datetime | None, to: datetime) -> None:
    d = defaults_applied
    query = sa.select(d.c.rule, d.c.field, d.c.owner, d.c.occurred_at, d.c.overridden_at).where(
        d.c.occurred_at < to, sa.or_(d.c.overridden_at.is_(None), d.c.overridden_at < to)
    )
    if at is not None:
        query = query.where(default_unfolded(at))
    delta: Counter[DefaultKey] = Counter()
    for row in conn.execute(query, execution_options={"stream_results": True}):
        delta[_default_key(row._mapping)] += 1
    _add(conn, delta, default_totals)
    conn.execute(default_totals.delete().where(default_totals.c.n == 0))
