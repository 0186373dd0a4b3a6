"""History from the CRM for a fresh install (`lastmile backfill`): the records changed in a
window, each record's earlier states rebuilt from its field history, as RecordEvents for the
store to take in observe mode (nothing is written to the CRM for them), so a baseline and a
backtest exist on day one.

Resumable: every event has an id made of the record's id and the history row it comes from
(`backfill:<record id>:<history row id>`), so storing a batch again is a no-op; and a cursor
(the last record stored, per object) lets a rerun continue where an interrupted one stopped.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from lastmile.connector.base import HistoryRow, HistorySource, RecordHistory
from lastmile.rules import RecordEvent, RuleSet
from lastmile.rules.records import FieldValue
from lastmile.rules.templates import Duration

SOURCE = "salesforce"
ALWAYS = ("Id", "OwnerId")  # in every event besides the fields the rules read
CREATED = "created"  # the Field of the history row a record's creation leaves


# -- a record's states --------------------------------------------------------------------------


def record_events(
    history: RecordHistory,
    fields: Iterable[str],
    since: datetime,
    *,
    until: datetime | None = None,
    source: str = SOURCE,
) -> list[RecordEvent]:
    """The record's states in the window (from `since`, before `until`), oldest first, one event
    per save that changed a field in `fields`: the current record walked back through its
    history rows (each row's OldValue restores the field's value before that save). The first
    state is a `created` event when the record was created in the window. A field the CRM keeps
    no history of has its current value in every state.

    Without field history (Task; tracking off or unreadable), or when no tracked save falls in
    the window, the record gives one event: its current state at its last modification
    (`created` if it was never modified); none when that was at `until` or later."""
    current = history.fields
    record_id = str(current["Id"])
    wanted = {*fields, *ALWAYS}
    state: dict[str, FieldValue] = {k: v for k, v in current.items() if k in wanted}
    created_at = _time(current.get("CreatedDate"))
    modified_at = _time(current.get("LastModifiedDate")) or created_at
    if created_at is None or modified_at is None:
        raise ValueError(f"{history.object} {record_id} has no CreatedDate or LastModifiedDate")

    def event(kind: str, key: str, at: datetime, actor: object, changed: Sequence[str] | None):
        return RecordEvent(
            id=f"backfill:{record_id}:{key}",
            source=source,
            object=history.object,
            record_id=record_id,
            kind=kind,  # type: ignore[arg-type]
            occurred_at=at,
            actor=str(actor) if actor else None,
            fields=dict(state),
            changed=None if changed is None else tuple(sorted(changed)),
        )

    def within(at: datetime) -> bool:
        return since <= at and (until is None or at < until)

    events: list[RecordEvent] = []
    if history.tracked:
        created_row = next((r for r in history.rows if r.field == CREATED), None)
        for save in reversed(_saves(history.rows)):
            changed = [name for row in save if (name := _field(row.field, state)) is not None]
            changed = list(dict.fromkeys(changed))
            if not changed:
                continue  # a save of fields the rules do not read: no state change for them
            if within(save[0].at):
                events.append(event("updated", save[0].id, save[0].at, save[0].actor, changed))
            for row in reversed(save):
                name = _field(row.field, state)
                if name is not None:
                    state[name] = row.old
        if within(created_at):
            key = created_row.id if created_row is not None else CREATED
            events.append(event("created", key, created_at, current.get("CreatedById"), None))
        events.reverse()
        if events:
            return events
        state = {k: v for k, v in current.items() if k in wanted}
    if not within(modified_at):
        return []  # the record as it is now is past the window's end: its state then is unknown
    if modified_at == created_at:
        return [event("created", CREATED, created_at, current.get("CreatedById"), None)]
    key = modified_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    return [event("updated", key, modified_at, current.get("LastModifiedById"), None)]


def _saves(rows: Sequence[HistoryRow]) -> list[list[HistoryRow]]:
    """History rows grouped by save (same time and user), oldest first, `created` rows apart.
    Of the two rows Salesforce writes for a lookup (names and ids) only the ids are kept."""
    saves: list[list[HistoryRow]] = []
    for row in rows:
        if row.field == CREATED:
            continue
        if saves and (saves[-1][0].at, saves[-1][0].actor) == (row.at, row.actor):
            saves[-1].append(row)
        else:
            saves.append([row])
    return [
        [
            row
            for row in save
            if row.data_type == "EntityId"
            or not any(o.field == row.field and o.data_type == "EntityId" for o in save)
        ]
        for save in saves
    ]


def _field(name: str, state: Mapping[str, FieldValue]) -> str | None:
    """The event field a history row's Field names (Owner is OwnerId), None if not read."""
    for candidate in (name, name + "Id"):
        found = next((k for k in state if k.lower() == candidate.lower()), None)
        if found is not None:
            return found
    return None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- the window, and the cursor that makes a run resumable ----------------------------------------


def window_start(text: str, now: datetime) -> datetime:
    """`--since`: a span back from now (90d, 12w, 24h) or a date or time (2026-09-01)."""
    from lastmile.measure.indicators import parse_time

    try:
        return parse_time(text)
    except ValueError:
        pass
    try:
        span = Duration.parse(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a span nor a time; write e.g. 90d, 12w or 2026-09-01"
        ) from None
    if span.unit == "bd":
        raise ValueError("write the span in days or weeks (90d, 12w), not business days")
    return now - (span.after(now) - now)


class Cursor(BaseModel):
    """How far a backfill got: per object the last record stored; objects finished."""

    target: str  # which CRM and which store it is for
    since: datetime
    until: datetime | None = None  # None: no end
    objects: list[str]
    after: dict[str, str] = {}
    done: list[str] = []

    @property
    def complete(self) -> bool:
        return set(self.objects) <= set(self.done)


def target_of(*parts: str | None) -> str:
    """A short digest naming the CRM and the store a cursor belongs to (no secrets in it)."""
    return hashlib.sha256("\n".join(p or "" for p in parts).encode()).hexdigest()[:16]


def load_cursor(
    path: Path, target: str, objects: list[str], since: datetime, until: datetime | None = None
) -> Cursor:
    """The unfinished cursor at `path` for the same CRM, store and objects (its window kept,
    so a resumed run reads what the first one would have); else a new one from `since`."""
    try:
        found = Cursor.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        found = None
    if (
        found is not None
        and not found.complete
        and (found.target, found.objects) == (target, objects)
    ):
        return found
    return Cursor(target=target, since=since, until=until, objects=objects)


def save_cursor(path: Path, cursor: Cursor) -> None:
    """Write the cursor whole or not at all (a crash mid-write leaves the previous one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(cursor.model_dump_json(indent=1), encoding="utf-8")
    os.replace(partial, path)


# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """One batch read from the CRM and rebuilt: its events, and where the cursor goes after."""

    object: str
    total: int  # records of the object left to read when the run (or resumption) started
    records: int
    last_id: str | None
    tracked: bool
    events: list[RecordEvent]


def batches(
    crm: HistorySource,
    ruleset: RuleSet,
    cursor: Cursor,
    *,
    batch_size: int = 2000,
    source: str = SOURCE,
) -> Iterator[Batch]:
    """The events of every object of the cursor not yet done, a batch of records at a time,
    from where the cursor stands. Reads the CRM only; stores nothing."""
    for obj in cursor.objects:
        if obj in cursor.done:
            continue
        fields = ruleset.fields(obj)
        after = cursor.after.get(obj)
        for found in crm.changed_since(
            obj, fields, cursor.since, after=after, batch_size=batch_size
        ):
            events = [
                ev
                for r in found.records
                for ev in record_events(r, fields, cursor.since, until=cursor.until, source=source)
            ]
            tracked = any(r.tracked for r in found.records) or not found.records
            last = str(found.records[-1].fields["Id"]) if found.records else None
            yield Batch(obj, found.total, len(found.records), last, tracked, events)


@dataclass
class Outcome:
    records: dict[str, int] = field(default_factory=dict)  # per object
    events: int = 0
    imported: int = 0
    without_history: set[str] = field(default_factory=set)


def run(
    crm: HistorySource,
    ruleset: RuleSet,
    cursor: Cursor,
    store_events: Callable[[list[RecordEvent]], int],
    save: Callable[[Cursor], None],
    *,
    batch_size: int = 2000,
    progress: Callable[[Batch, int], None] | None = None,
) -> Outcome:
    """Read, rebuild and store batch after batch; the cursor is saved after each batch is
    stored (`store_events` returns how many events were new), and an object is marked done
    once its last batch is. An error leaves the cursor at the last batch stored."""
    outcome = Outcome()
    started: str | None = None
    for batch in batches(crm, ruleset, cursor, batch_size=batch_size):
        if started is not None and started != batch.object:
            cursor.done.append(started)
            save(cursor)
        started = batch.object
        outcome.imported += store_events(batch.events) if batch.events else 0
        outcome.events += len(batch.events)
        outcome.records[batch.object] = outcome.records.get(batch.object, 0) + batch.records
        if not batch.tracked:
            outcome.without_history.add(batch.object)
        if batch.last_id is not None:
            cursor.after[batch.object] = batch.last_id
        save(cursor)
        if progress is not None:
            progress(batch, outcome.records[batch.object])
    for obj in cursor.objects:
        if obj not in cursor.done:
            cursor.done.append(obj)
    save(cursor)
    return outcome
