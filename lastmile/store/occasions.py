"""Occasions kept as rows: each record's occasions, derived from its ledger observations by
`rules.occasions.derive` and stored, so indicators are aggregate queries instead of a replay.

A row holds the occasion as it ends once every event is in (`outcome`, `closed_at`). Because
`derive` reads a record's events in `occurred_at` order, the occasion as it stands at an earlier
`as_of` follows from the row's times alone (see `outcome_at`):
- met or withdrawn, and `closed_at <= as_of`: that outcome;
- otherwise missed once `missed_from <= as_of` (the deadline passed before `as_of`, or an event
  of the record at the very deadline showed it passed);
- otherwise open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lastmile.rules import RuleSet
from lastmile.rules.occasions import Observation, derive
from lastmile.rules.templates import Duration

from . import totals
from .models import ObservationRow
from .tables import observations, occasions

Within = Mapping[str, Duration | None]
Progress = Callable[[str, int, int], None]  # (what, done, of)

# Far enough that every deadline has passed: the occasion as it ends with the events known.
END = datetime(9000, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)  # the store's resolution: `deadline < as_of` is this `<=`
_BATCH = 5_000
_OBSERVED = sa.select(observations).order_by(
    observations.c.object,
    observations.c.record_id,
    observations.c.occurred_at,
    observations.c.inbox_id,
    observations.c.rule,
)


def outcome_at(as_of: datetime) -> sa.ColumnElement[str]:
    """An occasion row's outcome as it stands at `as_of` (see above)."""
    o = occasions
    return sa.case(
        (sa.and_(o.c.outcome != "missed", o.c.closed_at <= as_of), o.c.outcome),
        (o.c.missed_from <= as_of, "missed"),
        else_="open",
    )


def within_of(ruleset: RuleSet) -> dict[str, Duration | None]:
    """Each rule's deadline. A rule no longer loaded has none: its occasions stay open."""
    return {item.id: item.rule.then.within for item in ruleset.rules}


def within_text(within: Duration | None) -> str:
    """How a row names the `within` it was derived with ("" for none)."""
    return within.text if within is not None else ""


def within_kept(conn: sa.Connection) -> dict[str, Duration | None]:
    """The `within` the stored rows were derived with, per rule (for work that has no rules at
    hand, such as a purge)."""
    query = sa.select(occasions.c.rule, occasions.c.within).distinct()
    return {rule: Duration.parse(text) if text else None for rule, text in conn.execute(query)}


def as_observation(row: ObservationRow) -> Observation:
    return Observation(
        event_id=row.event_id,
        occurred_at=row.occurred_at,
        rule=row.rule,
        matched=row.matched,
        situation=row.situation,
        missing=tuple(row.missing),
        owner=row.owner,
        placeholder=tuple(row.placeholder),
        rule_version=row.rule_version,
        experiment=row.experiment,
        arm=row.arm,
        suppressed=row.suppressed,
    )


def occasion_rows(observed: Sequence[ObservationRow], within: Within) -> list[dict[str, Any]]:
    """The rows of one record's occasions, from its observations in store order (occurred_at,
    then arrival)."""
    if not observed:
        return []
    first = observed[0]
    inbox_of = {(r.event_id, r.rule): r.inbox_id for r in observed}
    seen_at = {(r.rule, r.occurred_at) for r in observed}
    version = {r.rule: r.rules_version for r in observed}  # the latest event's, per rule
    rows = []
    for occ in derive((as_observation(r) for r in observed), within, END):
        missed_from = None
        if occ.outcome == "missed" and occ.deadline is not None:
            # At `as_of == deadline` only an event at that instant shows the deadline passed.
            tick = timedelta(0) if (occ.rule, occ.deadline) in seen_at else _TICK
            missed_from = occ.deadline + tick
        year, week, _ = occ.opened_at.astimezone(UTC).isocalendar()
        rows.append(
            {
                "object": first.object,
                "record_id": first.record_id,
                "rule": occ.rule,
                "opened_event_id": occ.opened_by,
                "opened_inbox_id": inbox_of[(occ.opened_by, occ.rule)],
                "owner": occ.owner,
                "opened_at": occ.opened_at,
                "opened_week": f"{year}-W{week:02d}",
                "deadline": occ.deadline,
                "within": within_text(within.get(occ.rule)),
                "outcome": occ.outcome,
                "closed_at": occ.closed_at,
                "missed_from": missed_from,
                "time_to_comply_s": occ.time_to_comply_s,
                "fields_missing": _bar(occ.fields_missing),
                "rules_version": version[occ.rule],
                "fields_placeholder": _bar(occ.fields_placeholder),
                "rule_version": occ.rule_version,
                "experiment": occ.experiment,
                "arm": occ.arm,
                "suppressed": occ.suppressed,
            }
        )
    return rows


def _bar(names: Iterable[str]) -> str:
    """Field names as a row keeps them: `|A|B|` (`|` for none), so `LIKE '%|A|%'` finds one."""
    return "|" + "".join(f"{f}|" for f in names)


# One record's observations and occasion rows: built once, run per event with its parameters
# (building the statements each time was a tenth of the worker's time).
_RECORD = {"object": sa.bindparam("object"), "record_id": sa.bindparam("record_id")}
_OBSERVED_OF_RECORD = _OBSERVED.where(
    observations.c.object == _RECORD["object"], observations.c.record_id == _RECORD["record_id"]
)
_MINE = sa.and_(
    occasions.c.object == _RECORD["object"], occasions.c.record_id == _RECORD["record_id"]
)
_ROWS_OF_RECORD = sa.select(occasions).where(_MINE)
_DELETE_OF_RECORD = occasions.delete().where(_MINE)


def rederive(conn: sa.Connection, object: str, record_id: str, within: Within) -> None:
    """Replace one record's occasion rows by those its observations give now (and the totals
    by what that changes)."""
    key = {"object": object, "record_id": record_id}
    observed = [ObservationRow.from_row(r._mapping) for r in conn.execute(_OBSERVED_OF_RECORD, key)]
    gone = [r._mapping for r in conn.execute(_ROWS_OF_RECORD, key)]
    conn.execute(_DELETE_OF_RECORD, key)
    rows = occasion_rows(observed, within)
    if rows:
        conn.execute(occasions.insert(), rows)
    totals.change(conn, gone, rows)


def add(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert the occasion rows of records that had none (`occasion_rows`), totals included."""
    if rows:
        conn.execute(occasions.insert(), rows)
        totals.change(conn, (), rows)


def rebuild(
    conn: sa.Connection,
    within: Within,
    rules: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> int:
    """Derive the occasion rows of every record again (of `rules` only, when given), and their
    totals. Returns how many rows it wrote."""
    written = rebuild_rows(conn, within, rules, progress)
    totals.refold(conn, rules)
    return written


def rebuild_rows(
    conn: sa.Connection,
    within: Within,
    rules: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> int:
    """Derive the occasion rows of every record again (of `rules` only, when given), reading
    the ledger once in record order, saying `progress` now and then (not the totals: migration
    0003 runs before they exist). Returns how many rows it wrote."""
    wanted = sorted(rules) if rules is not None else None
    gone = occasions.delete()
    query, count = _OBSERVED, sa.select(sa.func.count()).select_from(observations)
    if wanted is not None:
        gone = gone.where(occasions.c.rule.in_(wanted))
        query = query.where(observations.c.rule.in_(wanted))
        count = count.where(observations.c.rule.in_(wanted))
    total = conn.execute(count).scalar_one()
    conn.execute(gone)
    read = written = 0
    pending: list[dict[str, Any]] = []
    record: list[ObservationRow] = []
    # Buffered by the driver on SQLite; a server-side cursor on PostgreSQL.
    result = conn.execute(query, execution_options={"stream_results": True, "yield_per": _BATCH})
    for row in result:
        obs = ObservationRow.from_row(row._mapping)
        if record and (obs.object, obs.record_id) != (record[0].object, record[0].record_id):
            pending.extend(occasion_rows(record, within))
            record = []
        record.append(obs)
        read += 1
        if len(pending) >= _BATCH:
            conn.execute(occasions.insert(), pending)
            written += len(pending)
            pending = []
        if progress is not None and read % 50_000 == 0:
            progress("ledger observations", read, total)
    pending.extend(occasion_rows(record, within))
    if pending:
        conn.execute(occasions.insert(), pending)
        written += len(pending)
    if progress is not None:
        progress("ledger observations", read, total)
    return written
