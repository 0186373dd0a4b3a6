"""Salesforce Outbound Messages (SOAP 1.1): parse a `notifications` message into RecordEvents
(the envelopes answered are in envelopes.py).

Values: an Outbound Message carries every field as text, without its type, so the text is read
the way Salesforce writes each type, and the result matches what its REST API returns for the
same record (the worker compares the two):

- `true` / `false` become booleans;
- an integer without leading zeros (`1260`, `-3`) becomes an int; a decimal (`50000.0`) or
  Java's exponent form (`1.0E7`, how Salesforce writes large doubles) becomes a float;
- a datetime (`2026-01-08T13:42:10.000Z`) becomes the REST form in UTC with milliseconds,
  `2026-01-08T13:42:10.000+0000` (one that is no time in UTC, `9999-12-31T23:59:59-14:00`,
  stays text: no Salesforce datetime is, so it came from a text field); a date (`2026-01-08`)
  and a time stay as sent;
- anything else stays text: `0612345678`, `+31`, ` 42` and `1e5` are not numbers; so do `Id`
  and the standard reference fields (`OwnerId`, `WhatId`, ...: names ending in `Id`).

A text field whose whole value is exactly such a number or boolean is read as one: without the
object's describe there is no telling them apart. With it (`FieldTypes`: a field name -> its
Salesforce type, for one object), each value is read by its field's type: text stays text
(`2026` in a text field is the string "2026"), and only number, currency, percent, boolean and
datetime fields are converted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

import structlog
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from defusedxml.ElementTree import fromstring
from pydantic import ValidationError

from lastmile.rules.records import FieldValue, RecordEvent

from . import admission
from .admission import EARLIEST, LATEST
from .envelopes import OUTBOUND, SOAP_ENV
from .errors import InvalidBody, InvalidEvent, TooLarge

SOBJECT = "urn:sobject.enterprise.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

log = structlog.get_logger("lastmile.webhooks")

EVENT_ID_PREFIX = "sfom:"

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:E-?[0-9]+)?|E-?[0-9]+)")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})"
)


@dataclass(frozen=True)
class OutboundMessage:
    """The parts of a `notifications` message Lastmile uses."""

    organization_id: str
    notifications: tuple[Element, ...]
    session_id: str | None = None  # sent when the Outbound Message has "Send Session ID" ticked


def parse_message(body: bytes, *, max_notifications: int) -> OutboundMessage:
    """Parse the envelope (entities, DTDs and external references refused) down to the
    notifications; raise `InvalidBody` saying what is wrong, `TooLarge` past the count."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DTDForbidden:
        raise InvalidBody("a DTD is not allowed in an Outbound Message") from None
    except EntitiesForbidden:
        raise InvalidBody("XML entity declarations are not allowed") from None
    except DefusedXmlException:
        raise InvalidBody("external references are not allowed") from None
    except ParseError as exc:
        # expat's message names only a position, never the content
        raise InvalidBody(f"malformed XML: {exc}") from None
    except (ValueError, LookupError):
        raise InvalidBody("malformed XML: unreadable encoding") from None

    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise InvalidBody("not a SOAP 1.1 envelope (soapenv:Envelope expected)")
    body_el = root.find(f"{{{SOAP_ENV}}}Body")
    notifications = body_el.find(f"{{{OUTBOUND}}}notifications") if body_el is not None else None
    if notifications is None:
        raise InvalidBody(f"no notifications element in namespace {OUTBOUND} in the SOAP Body")
    organization_id = _text(notifications.find(f"{{{OUTBOUND}}}OrganizationId"))
    if not organization_id:
        raise InvalidBody("the message has no OrganizationId")
    items = notifications.findall(f"{{{OUTBOUND}}}Notification")
    if not items:
        raise InvalidBody("the message has no Notification")
    if len(items) > max_notifications:
        raise TooLarge(f"{len(items)} notifications in one message; at most {max_notifications}")
    session_id = (_text(notifications.find(f"{{{OUTBOUND}}}SessionId")) or "").strip() or None
    return OutboundMessage(organization_id.strip(), tuple(items), session_id)


# The field types of an object, by its name and the fields a message carries (None: not known;
# the lookup may note the fields it did not know, to learn them later).
FieldTypes = Callable[[str, Iterable[str]], Mapping[str, str] | None]
_NUMBERS = frozenset({"double", "currency", "percent"})


def to_events(
    message: OutboundMessage, *, received_at: datetime, types: FieldTypes | None = None
) -> list[RecordEvent]:
    """One RecordEvent per notification, its values read by their fields' `types` where known;
    raise `InvalidEvent` listing every invalid one."""
    events: list[RecordEvent] = []
    problems: list[dict[str, str]] = []
    for number, notification in enumerate(message.notifications, start=1):
        where = f"Notification {number}"
        try:
            event = _event(notification, received_at, types)
        except InvalidBody as exc:
            problems.append({"loc": where, "message": exc.message})
            continue
        except ValidationError as exc:
            found = [
                {"loc": err["loc"], "message": err["msg"]}
                for err in exc.errors(include_input=False, include_url=False)
            ]
        else:
            found = admission.problems(event)
        if found:
            problems.extend(
                {"loc": _soap_loc(where, p["loc"]), "message": p["message"]} for p in found
            )
            continue
        if event.fields.get("LastModifiedDate") is None:
            # Without it the event is dated on receipt and write-backs cannot be made conditional.
            log.warning(
                "outbound_message_lacks_field",
                field="LastModifiedDate",
                hint="add LastModifiedDate, CreatedDate and LastModifiedById to the Outbound "
                "Message",
                record_id=event.record_id,
            )
        events.append(event)
    if problems:
        raise InvalidEvent("invalid notifications", problems=problems)
    return events


# Where a RecordEvent's parts come from in an Outbound Message, to name them as the sender does.
_SOAP_NAMES = {
    "id": "Id",
    "record_id": "sObject Id",
    "actor": "LastModifiedById",
    "occurred_at": "LastModifiedDate",
}


def _soap_loc(where: str, loc: tuple[str | int, ...]) -> str:
    """`Notification 2.OwnerId` for an event's `("fields", "OwnerId")`, and so on."""
    parts = list(map(str, loc))
    if parts and parts[0] == "fields":
        parts = parts[1:]
    elif parts:
        parts[0] = _SOAP_NAMES.get(parts[0], parts[0])
    return ".".join([where, *parts])[:200]


def _event(notification: Element, received_at: datetime, types: FieldTypes | None) -> RecordEvent:
    notification_id = _text(notification.find(f"{{{OUTBOUND}}}Id"))
    if not notification_id:
        raise InvalidBody("no notification Id")
    sobject = notification.find(f"{{{OUTBOUND}}}sObject")
    if sobject is None:
        raise InvalidBody("no sObject")
    xsi_type = sobject.get(f"{{{XSI}}}type")
    if not xsi_type:
        raise InvalidBody("the sObject has no xsi:type")
    object_name = xsi_type.rpartition(":")[2]
    fields = read_fields(sobject, object_name, types)
    record_id = fields.get("Id")
    if not isinstance(record_id, str) or not record_id:
        raise InvalidBody("the sObject has no Id")

    modified = _datetime_field(fields, "LastModifiedDate")
    created = _datetime_field(fields, "CreatedDate")
    modified_by = fields.get("LastModifiedById")
    return RecordEvent(
        id=EVENT_ID_PREFIX + notification_id.strip(),
        source="salesforce",
        object=object_name,
        record_id=record_id,
        kind="created" if created is not None and created == modified else "updated",
        occurred_at=modified or received_at,
        actor=modified_by if isinstance(modified_by, str) else None,
        fields=fields,
    )


def read_fields(
    sobject: Element, object_name: str = "", types: FieldTypes | None = None
) -> dict[str, FieldValue]:
    """The sObject's fields by API name, values converted as the module docstring says.

    Elements outside the sObject namespace, and nested ones (no flat field), are skipped.
    """
    prefix = f"{{{SOBJECT}}}"
    children = [
        (child.tag[len(prefix) :], child)
        for child in sobject
        if isinstance(child.tag, str) and child.tag.startswith(prefix) and not len(child)
    ]
    kinds = types(object_name, [name for name, _ in children]) if types else None
    fields: dict[str, FieldValue] = {}
    for name, child in children:
        kind = kinds.get(name) if kinds is not None else None
        if child.get(f"{{{XSI}}}nil") in ("true", "1"):
            fields[name] = None
        elif kind is not None:
            fields[name] = typed(child.text or "", kind)
        elif name.endswith("Id"):  # an id is text, even one that looks like a number
            fields[name] = child.text or ""
        else:
            fields[name] = convert(child.text or "")
    return fields


def typed(text: str, kind: str) -> FieldValue:
    """One field's text read by its Salesforce type, as the REST API gives it; text that does
    not fit the type stays text (the worker's reads agree, and rules compare what they get)."""
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    if kind == "int" and _INT.fullmatch(text) and len(text) <= 19:
        return int(text)
    if kind in _NUMBERS and (_INT.fullmatch(text) or _FLOAT.fullmatch(text)):
        number = float(text)
        return number if math.isfinite(number) else text
    if kind == "datetime" and _DATETIME.fullmatch(text):
        moment = _parse_datetime(text)
        return rest_datetime(moment) if moment is not None else text
    return text


def convert(text: str) -> FieldValue:
    """One field's text as the value Salesforce's REST API would give (see the module doc)."""
    if text == "true":
        return True
    if text == "false":
        return False
    if _INT.fullmatch(text):
        return int(text) if len(text) <= 19 else text
    if _FLOAT.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else text
    if _DATETIME.fullmatch(text):
        moment = _parse_datetime(text)
        if moment is not None:
            return rest_datetime(moment)
    return text


def rest_datetime(moment: datetime) -> str:
    """A datetime as Salesforce's REST API writes one: `2026-01-08T13:42:10.000+0000`."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}+0000"


def _parse_datetime(text: str) -> datetime | None:
    """`text` as a datetime in UTC; None when it is none, has no zone, or is beyond the years
    1 to 9999 once in UTC (`9999-12-31T23:59:59-14:00`: text, as no Salesforce datetime is)."""
    try:
        moment = datetime.fromisoformat(text)
        return moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def _datetime_field(fields: dict[str, FieldValue], name: str) -> datetime | None:
    """A system datetime field (LastModifiedDate, CreatedDate); None when absent or nil."""
    value = fields.get(name)
    if value is None:
        return None
    moment = _parse_datetime(value) if isinstance(value, str) else None
    if moment is None or not EARLIEST <= moment <= LATEST:
        raise InvalidBody(
            f"{name} is not a datetime with a zone from 1700-01-01 to 4000-12-31 (UTC)"
        )
    return moment


def _text(element: Element | None) -> str | None:
    if element is None or element.get(f"{{{XSI}}}nil") in ("true", "1"):
        return None
    return element.text
