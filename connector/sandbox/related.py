"""What a record page shows beside the record's own values: the records its ids point to, the
tasks about it, and the follow-up tasks Lastmile created because of it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from .ids import to18
from .schema import ObjectSpec, Schema
from .store import Store

# Lastmile's idempotency key on the tasks it creates: "<rule>:<record id>:<event id>", where the
# record is the one whose save asked for the task.
KEY_FIELD = "Lastmile_Key__c"


@dataclass(frozen=True)
class Link:
    """A record named by an id: its object, id and title (for a link to its page)."""

    object: str
    id: str
    title: str


@dataclass(frozen=True)
class TaskGroup:
    """Tasks listed under one heading. `kind`: "follow-ups" (Lastmile created them because of
    this record), "related" (their WhatId or WhoId is this record) or "same-what" (other tasks
    on the record this one is related to, which is `about`)."""

    kind: str
    tasks: tuple[dict, ...]
    about: Link | None = None


@dataclass(frozen=True)
class RecordView:
    """Everything a record page shows, and a digest of it: the page polls for the digest and
    fetches itself again when it changes."""

    record: dict
    labels: dict[str, str]
    links: dict[str, Link]  # field name -> the record its value names
    origin: Link | None  # for a task Lastmile created: the record whose save asked for it
    groups: tuple[TaskGroup, ...]
    version: str


def title(spec: ObjectSpec, record: Mapping) -> str:
    """What a person calls the record: its name field, else its Name, else its id."""
    return str(record.get(spec.name_field) or record.get("Name") or record["Id"])


def field_labels(spec: ObjectSpec, given: Mapping[str, str]) -> dict[str, str]:
    """Each field's label: the one `given` (a rule pack's, say), else the schema's."""
    return {f.name: given.get(f.name) or f.label for f in spec.fields}


def link_to(store: Store, schema: Schema, value: object) -> Link | None:
    """A link when `value` is the id of a record the sandbox holds, else None."""
    record_id = to18(value)
    found = store.record(record_id) if record_id else None
    spec = schema.object(found[0]) if found else None
    if found is None or spec is None:
        return None
    return Link(spec.name, found[1]["Id"], title(spec, found[1]))


def follow_ups(store: Store, record_id: str) -> list[dict]:
    """The tasks Lastmile created because of a save of `record_id`, oldest first."""
    return store.containing("Task", KEY_FIELD, f":{record_id}:")


def _origin(store: Store, schema: Schema, record: Mapping) -> Link | None:
    parts = str(record.get(KEY_FIELD) or "").split(":")
    return link_to(store, schema, parts[1]) if len(parts) >= 3 else None


def _groups(store: Store, schema: Schema, record: Mapping) -> tuple[TaskGroup, ...]:
    record_id = record["Id"]
    caused = follow_ups(store, record_id)
    shown = {record_id} | {t["Id"] for t in caused}
    about = [
        t for t in store.referring("Task", ("WhatId", "WhoId"), record_id) if t["Id"] not in shown
    ]
    groups = [TaskGroup("follow-ups", tuple(caused)), TaskGroup("related", tuple(about))]
    what = link_to(store, schema, record.get("WhatId"))
    if what is not None:
        shown |= {t["Id"] for t in about}
        same = [t for t in store.referring("Task", ("WhatId",), what.id) if t["Id"] not in shown]
        groups.append(TaskGroup("same-what", tuple(same), what))
    return tuple(g for g in groups if g.tasks)


def record_view(
    store: Store, schema: Schema, spec: ObjectSpec, record: dict, labels: Mapping[str, str]
) -> RecordView:
    """The page of `record`, with `labels` (field name -> label) for the fields they name."""
    shown_labels = field_labels(spec, labels)
    links = {
        f.name: link
        for f in spec.fields
        if f.name != "Id" and (link := link_to(store, schema, record.get(f.name))) is not None
    }
    origin = _origin(store, schema, record)
    groups = _groups(store, schema, record)
    version = digest([record, shown_labels, links, origin, groups])
    return RecordView(record, shown_labels, links, origin, groups, version)


def digest(shown: object) -> str:
    """A short digest of what a record page shows (JSON values and dataclasses): the page
    polls for it and fetches itself again when it changes."""
    text = json.dumps(shown, sort_keys=True, default=_plain)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _plain(value: object) -> object:
    """JSON for the digest: dataclasses as dicts (tuples are lists already)."""
    return asdict(value)  # type: ignore[call-overload]
