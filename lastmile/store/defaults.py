"""Default-override figures kept on the ledger's default rows: the record's owner when the
default was applied, and when a person first gave the field another value (`overridden_at`).
A default counts as overridden at `as_of` when `overridden_at <= as_of`, so the figures for any
`as_of` are one aggregate query (and, up to the totals' checkpoint, sums of `default_totals`:
store/totals.py). Refreshed for a record whenever one of its events is recorded, so late and
reordered events count as if they had come in order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lastmile.rules.records import FieldValue, same_value

from ..users import same_user
from . import totals
from .inbox import _row
from .models import InboxRow
from .tables import defaults_applied, inbox

Progress = Callable[[str, int, int], None]


def first_override(
    history: list[InboxRow],
    inbox_id: int,
    occurred_at: datetime,
    field: str,
    value: FieldValue,
    integration_user: str | None,
) -> datetime | None:
    """When a later event of a known person, not the integration user, first carried another
    value in the field (None: not yet). Events whose actor is unknown cannot say a person did it.
    """
    for row in history:
        if (row.occurred_at, row.id) <= (occurred_at, inbox_id):
            continue
        event = row.event
        if event.actor is None or same_user(event.actor, integration_user):
            continue
        if field in event.fields and not same_value(event.fields[field], value):
            return row.occurred_at
    return None


def add(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert default rows (`DefaultRow` fields) not there yet (same event and field), with
    their share of the totals (`refresh` then works out their owner and override)."""
    d = defaults_applied
    ids = sorted({r["inbox_id"] for r in rows})
    there: set[tuple[int, str]] = set()
    for start in range(0, len(ids), 500):  # SQLite limits bound parameters
        query = sa.select(d.c.inbox_id, d.c.field).where(d.c.inbox_id.in_(ids[start : start + 500]))
        there.update((i, f) for i, f in conn.execute(query))
    new: dict[tuple[int, str], dict[str, Any]] = {}
    for r in rows:
        if (r["inbox_id"], r["field"]) not in there:
            new.setdefault((r["inbox_id"], r["field"]), r)
    if new:
        conn.execute(d.insert(), list(new.values()))
        totals.default_change(conn, (), new.values())


# One record's defaults and history: built once, run per record with its parameters (building
# them each time was most of `refresh`).
_RECORD = {"object": sa.bindparam("object"), "record_id": sa.bindparam("record_id")}
_APPLIED_OF_RECORD = sa.select(
    defaults_applied.c.id, defaults_applied.c.inbox_id, defaults_applied.c.occurred_at,
    defaults_applied.c.rule, defaults_applied.c.field, defaults_applied.c.value,
    defaults_applied.c.owner, defaults_applied.c.overridden_at,
).where(
    defaults_applied.c.object == _RECORD["object"],
    defaults_applied.c.record_id == _RECORD["record_id"],
)  # fmt: skip
_HISTORY_OF_RECORD = (
    sa.select(inbox)
    .where(inbox.c.object == _RECORD["object"], inbox.c.record_id == _RECORD["record_id"])
    .where(inbox.c.status == "done")
    .order_by(inbox.c.occurred_at, inbox.c.id)
)
_SET_DEFAULT = defaults_applied.update().where(defaults_applied.c.id == sa.bindparam("default_id"))


def refresh(
    conn: sa.Connection,
    object: str,
    record_id: str,
    integration_user: str | None,
    *,
    with_totals: bool = True,
) -> None:
    """Work out the owner and `overridden_at` of the record's defaults again (if it has any),
    and the totals by what that changes (not in migration 0003: they come later)."""
    key = {"object": object, "record_id": record_id}
    applied = conn.execute(_APPLIED_OF_RECORD, key).all()
    if not applied:
        return
    history = [_row(r) for r in conn.execute(_HISTORY_OF_RECORD, key)]
    owners = {r.id: (r.fields_seen or {}).get("OwnerId") for r in history}
    gone, new = [], []
    for a in applied:
        owner = owners.get(a.inbox_id)
        now = {
            "owner": owner if isinstance(owner, str) else None,
            "overridden_at": first_override(
                history, a.inbox_id, a.occurred_at, a.field, a.value, integration_user
            ),
        }
        if now == {"owner": a.owner, "overridden_at": a.overridden_at}:
            continue
        conn.execute(_SET_DEFAULT, {"default_id": a.id, **now})
        gone.append(a._mapping)
        new.append({**a._mapping, **now})
    if with_totals:
        totals.default_change(conn, gone, new)


def forget_before(conn: sa.Connection, before: datetime) -> None:
    """Take the default rows applied before `before` out of the totals (a purge deletes them)."""
    d = defaults_applied
    query = sa.select(d.c.rule, d.c.field, d.c.owner, d.c.occurred_at, d.c.overridden_at)
    gone = [r._mapping for r in conn.execute(query.where(d.c.occurred_at < before))]
    totals.default_change(conn, gone, ())


def refresh_all(
    conn: sa.Connection, integration_user: str | None, progress: Progress | None = None
) -> None:
    """`refresh` every record that has defaults (migration 0003's backfill, before the totals)."""
    d = defaults_applied
    records = conn.execute(sa.select(d.c.object, d.c.record_id).distinct()).all()
    for n, (object, record_id) in enumerate(records, 1):
        refresh(conn, object, record_id, integration_user, with_totals=False)
        if progress is not None and (n % 10_000 == 0 or n == len(records)):
            progress("records with defaults", n, len(records))
