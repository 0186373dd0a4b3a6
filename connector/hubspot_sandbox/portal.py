"""The HubSpot sandbox's account (a "portal"): records of the CRM object types, their property
definitions, associations, and the notifications every change makes. In memory, one lock.

Values are kept as HubSpot keeps them: text, `None` when unset, whatever JSON type they were
sent as. A date is kept as `2026-12-01` and a datetime as `2026-12-01T10:00:00.000Z` (either may
be sent as epoch milliseconds; a date must be midnight UTC), a checkbox as `true`/`false`; the
API answers them so, and webhooks carry dates and datetimes as epoch milliseconds. Every change
stamps `hs_lastmodifieddate` (and `lastmodifieddate` on contacts) with the time it was made, and
the notifications of that change carry the same time as `occurredAt`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

# Object types as their names and ids (`0-3`), and their webhook names (`deal.creation`).
TYPE_IDS = {
    "contacts": "0-1",
    "companies": "0-2",
    "deals": "0-3",
    "tickets": "0-5",
    "tasks": "0-27",
}
TYPE_NAMES = {v: k for k, v in TYPE_IDS.items()}
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "tickets": "ticket"}
# HUBSPOT_DEFINED association types from a task (the default ones).
TASK_ASSOCIATION = {"contacts": 204, "companies": 192, "deals": 216, "tickets": 230}
_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)
_STANDARD: dict[str, dict[str, Any]] = {
    "contacts": {"firstname": "string", "lastname": "string", "email": "string", "phone": "string"},
    "companies": {"name": "string", "domain": "string", "industry": "string"},
    "deals": {
        "dealname": "string",
        "amount": "number",
        "dealstage": _STAGES,
        "pipeline": ("default",),
        "closedate": "datetime",
        "hs_next_step": "string",
        "closed_won_reason": "string",
        "closed_lost_reason": "string",
        "dealtype": ("newbusiness", "existingbusiness"),
        "description": "string",
    },
    "tickets": {"subject": "string", "content": "string", "hs_pipeline_stage": "string"},
    "tasks": {
        "hs_task_subject": "string",
        "hs_task_body": "string",
        "hs_timestamp": "datetime",
        "hs_task_status": ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"),
        "hs_task_priority": ("LOW", "MEDIUM", "HIGH", "NONE"),
        "hs_task_type": ("TODO", "CALL", "EMAIL"),
    },
}
_COMMON = {"hubspot_owner_id": "string", "createdate": "datetime", "hs_object_id": "number"}
_READ_ONLY = frozenset({"hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate"})
_MS = timedelta(milliseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_PROPERTIES = {
    "contacts": ["firstname", "lastname", "email"],
    "companies": ["name", "domain"],
    "deals": ["dealname", "amount", "dealstage", "pipeline", "closedate"],
    "tickets": ["subject", "content", "hs_pipeline_stage"],
    "tasks": ["hs_task_subject", "hs_task_status", "hs_task_priority", "hs_timestamp"],
}


class PortalError(Exception):
    """A refusal as HubSpot words it: HTTP status, category, message, and the error details."""

    def __init__(
        self, status: int, category: str, message: str, errors: list[dict] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.category, self.message = status, category, message
        self.errors = errors or []


def hubspot_time(moment: datetime) -> str:
    """`2026-11-24T10:00:00.123Z`, as HubSpot writes times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def object_type(given: str) -> str:
    """The object type's name, from a name or an id (`deals`, `0-3`); 400 for others."""
    name = TYPE_NAMES.get(given, given)
    if name not in TYPE_IDS:
        raise PortalError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {given}")
    return name


@dataclass
class Record:
    id: str
    properties: dict[str, str | None]
    created: datetime
    updated: datetime
    archived: bool = False


@dataclass
class Change:
    """Who made a change: `changeSource` and `sourceId` as HubSpot's notifications say."""

    source: str = "CRM_UI"
    source_id: str | None = None


@dataclass
class Definition:
    name: str
    label: str
    type: str
    field_type: str
    group: str
    options: tuple[str, ...] = ()
    unique: bool = False
    description: str = ""

    def as_json(self, object_name: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": self.group,
            "description": self.description,
            "options": [
                {"label": o, "value": o, "displayOrder": i, "hidden": False}
                for i, o in enumerate(self.options)
            ],
            "hasUniqueValue": self.unique,
            "hidden": False,
            "formField": True,
            "calculated": False,
            "externalOptions": False,
            "modificationMetadata": {
                "archivable": True,
                "readOnlyDefinition": self.name in _READ_ONLY,
                "readOnlyValue": self.name in _READ_ONLY,
            },
        }


def _label(name: str) -> str:
    """`hs_next_step` as HubSpot shows it: Next step."""
    return name.removeprefix("hs_").replace("_", " ").capitalize()


def _standard(object_name: str) -> dict[str, Definition]:
    defs = {}
    for name, kind in {**_COMMON, **_STANDARD[object_name]}.items():
        if isinstance(kind, tuple):
            defs[name] = Definition(name, _label(name), "enumeration", "select", "info", kind)
        else:
            field_type = {"number": "number", "datetime": "date"}.get(kind, "text")
            defs[name] = Definition(name, _label(name), kind, field_type, "info")
    modified = "lastmodifieddate" if object_name == "contacts" else "hs_lastmodifieddate"
    defs[modified] = Definition(modified, "Last modified date", "datetime", "date", "info")
    return defs


@dataclass
class Portal:
    """The account's data. Methods raise PortalError with HubSpot's status and category."""

    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    notify: Callable[[str, str, str, Mapping[str, str | None], datetime, Change], None] = field(
        default=lambda *_: None
    )

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.records: dict[str, dict[str, Record]] = {name: {} for name in TYPE_IDS}
        self.definitions = {name: _standard(name) for name in TYPE_IDS}
        self.groups: dict[str, dict[str, str]] = {
            name: {"info": "Information"} for name in TYPE_IDS
        }
        self.links: set[tuple[str, str, str, str]] = set()  # (from type, id, to type, id)
        self._ids = itertools.count(1001)
        self._last: datetime | None = None

    # -- properties -----------------------------------------------------------------------------

    def define(self, object_name: str, spec: Mapping[str, Any]) -> Definition:
        name, label, kind = spec.get("name"), spec.get("label"), spec.get("type")
        if not (isinstance(name, str) and name and label and kind and spec.get("fieldType")):
            raise PortalError(400, "VALIDATION_ERROR", "name, label, type, fieldType are required")
        group = str(spec.get("groupName") or "")
        with self.lock:
            if group not in self.groups[object_name]:
                raise PortalError(400, "VALIDATION_ERROR", f"group {group!r} does not exist")
            if name in self.definitions[object_name]:
                raise PortalError(409, "OBJECT_ALREADY_EXISTS", f"Property {name} already exists")
            options = tuple(str(o.get("value")) for o in spec.get("options") or [])
            made = Definition(
                name,
                str(label),
                str(kind),
                str(spec["fieldType"]),
                group,
                options,
                bool(spec.get("hasUniqueValue")),
                str(spec.get("description") or ""),
            )
            self.definitions[object_name][name] = made
            return made

    def definition(self, object_name: str, name: str) -> Definition:
        found = self.definitions[object_name].get(name)
        if found is None:
            raise PortalError(404, "OBJECT_NOT_FOUND", f"Property {name} does not exist")
        return found

    def add_group(self, object_name: str, name: str, label: str) -> None:
        with self.lock:
            if name in self.groups[object_name]:
                raise PortalError(409, "OBJECT_ALREADY_EXISTS", f"Group {name} already exists")
            self.groups[object_name][name] = label

    # -- records --------------------------------------------------------------------------------

    def get(self, object_name: str, record_id: str, id_property: str | None = None) -> Record:
        with self.lock:
            if id_property and id_property != "hs_object_id":
                found = self.find_unique(object_name, id_property, record_id)
            else:
                found = self.records[object_name].get(record_id)
            if found is None or found.archived:
                raise PortalError(404, "OBJECT_NOT_FOUND", "Object not found.")
            return found

    def find_unique(self, object_name: str, name: str, value: str) -> Record | None:
        definition = self.definitions[object_name].get(name)
        if definition is None or not definition.unique:
            raise PortalError(400, "VALIDATION_ERROR", f"{name} is not a unique property")
        return next(
            (
                r
                for r in self.records[object_name].values()
                if not r.archived and r.properties.get(name) == value
            ),
            None,
        )

    def create(self, object_name: str, values: Mapping[str, Any], who: Change) -> Record:
        with self.lock:
            clean = self.checked(object_name, values, None)
            now = self._now()
            record_id = str(next(self._ids))
            props: dict[str, str | None] = {
                "hs_object_id": record_id,
                "createdate": hubspot_time(now),
                self._modified(object_name): hubspot_time(now),
            }
            if object_name == "tasks":
                props["hs_task_status"] = "NOT_STARTED"
            props.update(clean)
            record = Record(record_id, props, now, now)
            self.records[object_name][record_id] = record
            self.notify(object_name, record_id, "creation", {}, now, who)
            changed = {k: v for k, v in clean.items() if v not in (None, "")}
            if changed:
                notified = self._notified(object_name, changed)
                self.notify(object_name, record_id, "propertyChange", notified, now, who)
            return record

    def update(
        self, object_name: str, record_id: str, values: Mapping[str, Any], who: Change
    ) -> Record:
        with self.lock:
            record = self.get(object_name, record_id)
            clean = self.checked(object_name, values, record)
            changed = {k: v for k, v in clean.items() if record.properties.get(k) != v}
            if changed:
                now = self._now()
                record.properties.update(changed)
                record.properties[self._modified(object_name)] = hubspot_time(now)
                record.updated = now
                notified = self._notified(object_name, changed)
                self.notify(object_name, record_id, "propertyChange", notified, now, who)
            return record

    def archive(self, object_name: str, record_id: str, who: Change) -> None:
        with self.lock:
            record = self.get(object_name, record_id)
            record.archived = True
            self.notify(object_name, record_id, "deletion", {}, self._now(), who)

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        with self.lock:
            self.get(from_type, from_id)
            self.get(to_type, to_id)
            self.links.add((from_type, from_id, to_type, to_id))
            self.links.add((to_type, to_id, from_type, from_id))

    def associated(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        with self.lock:
            self.get(from_type, from_id)
            return sorted(
                t_id
                for f_type, f_id, t_type, t_id in self.links
                if (f_type, f_id, t_type) == (from_type, from_id, to_type)
            )

    def live(self, object_name: str) -> Iterable[Record]:
        return [r for r in self.records[object_name].values() if not r.archived]

    # -- internals ------------------------------------------------------------------------------

    def _now(self) -> datetime:
        """The clock, strictly later than the last change (to the millisecond)."""
        now = self.clock().astimezone(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self._last is not None and now <= self._last:
            now = self._last + _MS
        self._last = now
        return now

    def _notified(
        self, object_name: str, changed: Mapping[str, str | None]
    ) -> dict[str, str | None]:
        """Values as HubSpot's notifications carry them: dates and datetimes in epoch ms."""
        defs = self.definitions[object_name]
        out = dict(changed)
        for name, value in changed.items():
            kind = defs[name].type if name in defs else None
            if value and kind in ("date", "datetime"):
                moment = _moment(value, date_only=kind == "date")
                out[name] = str((moment - _EPOCH) // _MS) if moment else value
        return out

    @staticmethod
    def _modified(object_name: str) -> str:
        return "lastmodifieddate" if object_name == "contacts" else "hs_lastmodifieddate"

    def checked(
        self, object_name: str, values: Mapping[str, Any], record: Record | None
    ) -> dict[str, str | None]:
        if not isinstance(values, Mapping):
            raise PortalError(400, "VALIDATION_ERROR", "properties must be an object")
        errors, clean = [], {}
        defs = self.definitions[object_name]
        for name, value in values.items():
            definition = defs.get(name)
            text = None if value is None or value == "" else str(value)
            if isinstance(value, bool):
                text = "true" if value else "false"
            if definition is None:
                errors.append(
                    _detail(f'Property "{name}" does not exist', "PROPERTY_DOESNT_EXIST", name)
                )
            elif name in _READ_ONLY:
                errors.append(_detail(f'"{name}" is a read only property', "READ_ONLY_VALUE", name))
            elif text is not None and definition.options and text not in definition.options:
                errors.append(
                    _detail(f"{text} was not one of the allowed options", "INVALID_OPTION", name)
                )
            elif text is not None and definition.type == "number" and not _is_number(text):
                errors.append(_detail(f"{text} is not a valid number", "INVALID_INTEGER", name))
            elif text is not None and _stored(definition, text) is None:
                errors.append(_invalid(definition, text))
            elif text is not None and definition.unique:
                other = self.find_unique(object_name, name, text)
                if other is not None and other is not record:
                    raise PortalError(
                        409,
                        "CONFLICT",
                        f"A {object_name} object with the value {name}={text} already exists",
                    )
                clean[name] = text
            else:
                clean[name] = _stored(definition, text) if text is not None else None
        if errors:
            raise PortalError(400, "VALIDATION_ERROR", "Property values were not valid", errors)
        return clean


def _detail(message: str, code: str, name: str) -> dict[str, Any]:
    return {"message": message, "code": code, "context": {"propertyName": [name]}}


def _stored(definition: Definition, text: str) -> str | None:
    """`text` as HubSpot keeps a value of this property's type; None when it is not one."""
    if definition.type == "bool" or definition.field_type == "booleancheckbox":
        return text.lower() if text.lower() in ("true", "false") else None
    if definition.type in ("date", "datetime"):
        moment = _moment(text, date_only=definition.type == "date")
        if moment is None:
            return None
        return moment.date().isoformat() if definition.type == "date" else hubspot_time(moment)
    return text


def _moment(text: str, *, date_only: bool) -> datetime | None:
    """A date or datetime given as HubSpot takes them: ISO 8601 (with a zone, or a date) or
    epoch milliseconds; a date must be midnight UTC."""
    try:
        if text.lstrip("-").isdigit() and len(text) <= 15:
            moment = _EPOCH + int(text) * _MS
        elif len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                return None
            moment = moment.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    if date_only and moment.time() != datetime.min.time():
        return None
    return moment


def _invalid(definition: Definition, text: str) -> dict[str, Any]:
    if definition.type == "date":
        message = f"{text} is not a valid date: a date is 2026-12-01, or midnight UTC in ms"
        return _detail(message, "INVALID_DATE", definition.name)
    if definition.type == "datetime":
        message = f"{text} is not a valid datetime: ISO 8601 with a zone, or epoch ms"
        return _detail(message, "INVALID_DATETIME", definition.name)
    return _detail(f"{text} was not one of the allowed options", "INVALID_OPTION", definition.name)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
