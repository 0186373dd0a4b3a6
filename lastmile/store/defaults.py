"""Default-override figures kept on the ledger's default rows: the record's owner when the
default was applied, and when a person first gave the field another value (`overridden_at`).
A default counts as overridden at `as_of` when `overridden_at <= as_of`, so the figures for any
`as_of` are one aggregate query. Refreshed for a record whenever one of its events is recorded,
so late and reordered events count as if they had come in order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from lastmile.rules.records import FieldValue, same_value

from ..users import same_user
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


def refresh(conn: sa.Connection, object: str, record_id: str, integration_user: str | None) -> None:
    """Work out the owner and `overridden_at` of the record's defaults again (if it has any)."""
    d = defaults_applied
    applied = conn.execute(
        sa.select(d.c.id, d.c.inbox_id, d.c.occurred_at, d.c.field, d.c.value).where(
            d.c.object == object, d.c.record_id == record_id
        )
    ).all()
    if not applied:
        return
    history = [
        _row(r)
        for r in conn.execute(
            sa.select(inbox)
            .where(inbox.c.object == object, inbox.c.record_id == record_id)
            .where(inbox.c.status == "done")
            .order_by(inbox.c.occurred_at, inbox.c.id)
        )
    ]
    owners = {r.id: (r.fields_seen or {}).get("OwnerId") for r in history}
    for a in applied:
        owner = owners.get(a.inbox_id)
        overridden = first_override(
            history, a.inbox_id, a.occurred_at, a.field, a.value, integration_user
        )
        conn.execute(
            d.update()
            .where(d.c.id == a.id)
            .values(owner=owner if isinstance(owner, str) else None, overridden_at=overridden)
        )


def refresh_all(
    conn: sa.Connection, integration_user: str | None, progress: Progress | None = None
) -> None:
    """`refresh` every record that has defaults (a migration's backfill)."""
    d = defaults_applied
    records = conn.execute(sa.select(d.c.object, d.c.record_id).distinct()).all()
    for n, (object, record_id) in enumerate(records, 1):
        refresh(conn, object, record_id, integration_user)
        if progress is not None and (n % 10_000 == 0 or n == len(records)):
            progress("records with defaults", n, len(records))
