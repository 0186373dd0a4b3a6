"""`POST /webhooks/hubspot`: HubSpot webhook batches (up to 100 notifications), v3-signed.

A request is taken when one of the app's client secrets (LASTMILE_HUBSPOT_CLIENT_SECRET, several
for rotation) signs it and its timestamp is at most 5 minutes old. The notifications of one
record by one author in a batch become one RecordEvent (source "hubspot"): a propertyChange
names one property, so the event carries the properties the batch changed and the worker reads
the rest of what the rules need from HubSpot. A notification repeated in the batch (same
`eventId`) counts once; a batch delivered again gives the same event ids, which the inbox takes
once. Values, text in every notification, are read by their property's type as the connector
reads them (connector/hubspot/values.py), with the types `lastmile.field_types` fetched through
the connector's describe (never inside a request); until an object type's types are known its
values stay text.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from lastmile.connector.hubspot.names import ALIASES
from lastmile.connector.hubspot.signature import (
    MAX_AGE_MS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from lastmile.connector.hubspot.values import typed_fields
from lastmile.rules.records import RecordEvent

from .admission import EARLIEST, LATEST, storable
from .errors import BadSignature, InvalidBody, InvalidEvent, NotConfigured, TooLarge
from .intake import current_intake, require_content_type
from .limits import check_json_depth, read_body

log = structlog.get_logger("lastmile.webhooks")

bp = Blueprint("hubspot", __name__)

MAX_NOTIFICATIONS = 100  # HubSpot sends at most 100 in one request
_TYPES = {"contact": "contacts", "company": "companies", "deal": "deals", "ticket": "tickets"}
_TYPE_IDS = {"0-1": "contacts", "0-2": "companies", "0-3": "deals", "0-5": "tickets"}
_KINDS = {"creation": "created", "propertyChange": "updated", "deletion": "deleted"}
_MS = Field(ge=int(EARLIEST.timestamp() * 1000), le=int(LATEST.timestamp() * 1000))

Text = Annotated[str, Field(max_length=10_000), AfterValidator(storable)]
# lastmile.field_types.FieldTypes: (object type, property names) -> name -> type, or None
PropertyTypes = Callable[[str, Iterable[str]], Mapping[str, str] | None]


class Notification(BaseModel):
    """One notification as HubSpot sends it (fields Lastmile does not use are ignored)."""

    model_config = ConfigDict(extra="ignore")

    eventId: int = Field(ge=0)  # HubSpot's names, as it sends them
    subscriptionType: str = Field(pattern=r"^[a-z_]+\.[A-Za-z_]+$", max_length=80)
    objectId: int = Field(ge=1, lt=10**20)
    occurredAt: Annotated[int, _MS]
    objectTypeId: str | None = Field(default=None, max_length=20)
    propertyName: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
    propertyValue: Text | None = None
    changeSource: Text | None = None
    sourceId: Text | None = None

    @property
    def object(self) -> str | None:
        prefix, _, _ = self.subscriptionType.partition(".")
        if prefix == "object":
            return _TYPE_IDS.get(self.objectTypeId or "")
        return _TYPES.get(prefix)

    @property
    def kind(self) -> str | None:
        return _KINDS.get(self.subscriptionType.partition(".")[2])


@bp.post("/webhooks/hubspot")
def receive() -> tuple[Response, int]:
    """Verify the signature, then store one RecordEvent per record and author; 200."""
    intake = current_intake()
    secrets = [s.get_secret_value() for s in intake.settings.hubspot_client_secret]
    if not secrets:
        raise NotConfigured(
            "this endpoint has no HubSpot client secret configured (LASTMILE_HUBSPOT_CLIENT_SECRET)"
        )
    require_content_type(request, ("application/json",), "application/json")
    body = read_body(request, intake.settings.max_body_bytes)
    _verify(secrets, body, intake.settings.hubspot_webhook_url)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidBody("the body is not UTF-8") from None
    check_json_depth(text, intake.settings.max_json_depth)
    notifications = parse_notifications(_parse_json(text))
    events = to_events(notifications, current_app.extensions["lastmile"].get("field_types"))
    results = intake.store(events) if events else []
    return jsonify(
        {
            "received": len(notifications),
            "events": [
                {"id": event.id, "inbox_id": inbox_id, "new": new}
                for event, (inbox_id, new) in zip(events, results, strict=True)
            ],
        }
    ), 200


def _verify(secrets: list[str], body: bytes, configured_url: str | None) -> None:
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    missing = [
        n for n, v in ((SIGNATURE_HEADER, signature), (TIMESTAMP_HEADER, timestamp)) if not v
    ]
    if missing:
        raise BadSignature(f"missing header {', '.join(missing)}", code="missing_signature")
    if not timestamp.isdigit() or len(timestamp) > 15:
        raise BadSignature(f"{TIMESTAMP_HEADER} is not a time in milliseconds")
    age = time.time() * 1000 - int(timestamp)
    if age > MAX_AGE_MS:
        raise BadSignature("the request is older than 5 minutes", code="stale_signature")
    if age < -MAX_AGE_MS:
        raise BadSignature("the request's timestamp is in the future", code="stale_signature")
    uri = request.url
    if configured_url:  # the URL HubSpot calls, when a proxy changes what the receiver sees
        query = request.query_string.decode("latin-1")
        uri = configured_url + (f"?{query}" if query else "")
    if not verify(secrets, request.method, uri, body, timestamp, signature):
        raise BadSignature("signature verification failed: no signature matches")


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidBody("JSON nested too deep", code="too_deep") from None
    except ValueError as exc:  # names a position, never the content
        raise InvalidBody(f"not JSON: {exc}", code="invalid_json") from None


def parse_notifications(data: Any) -> list[Notification]:
    """A JSON list of 1 to 100 notifications; every invalid one listed by its location."""
    if not isinstance(data, list) or not data:
        raise InvalidBody("the body must be a list of notifications")
    if len(data) > MAX_NOTIFICATIONS:
        raise TooLarge(f"{len(data)} notifications; HubSpot sends at most {MAX_NOTIFICATIONS}")
    found: list[Notification] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(data):
        try:
            found.append(Notification.model_validate(item))
        except ValidationError as exc:
            problems.extend(
                {"loc": [index, *err["loc"]], "message": err["msg"]}
                for err in exc.errors(include_input=False, include_url=False)
            )
    if problems:
        raise InvalidEvent(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the notifications",
            problems=problems[:100],
        )
    return found


def to_events(
    notifications: list[Notification], types: PropertyTypes | None = None
) -> list[RecordEvent]:
    """One RecordEvent per (record, author), in the order their first notifications came, its
    values read by the property types `types` knows (see the module docstring).
    Notifications of other kinds (associationChange, merge) and object types are left out."""
    groups: dict[tuple[str, int, str | None], list[Notification]] = {}
    seen: set[int] = set()
    skipped = 0
    for n in notifications:
        if n.eventId in seen:
            continue
        seen.add(n.eventId)
        if n.object is None or n.kind is None:
            skipped += 1
            continue
        groups.setdefault((n.object, n.objectId, n.sourceId), []).append(n)
    if skipped:
        log.info("hubspot_notifications_skipped", count=skipped)
    return [_event(obj, object_id, items, types) for (obj, object_id, _), items in groups.items()]


def _event(
    obj: str, object_id: int, items: list[Notification], types: PropertyTypes | None
) -> RecordEvent:
    items = sorted(items, key=lambda n: (n.occurredAt, n.eventId))
    kinds = {n.kind for n in items}
    kind = "deleted" if "deleted" in kinds else "created" if "created" in kinds else "updated"
    values: dict[str, str | None] = {}
    for n in items:
        if n.kind == "updated" and n.propertyName is not None:
            values[n.propertyName] = n.propertyValue  # "" (cleared) is read as None
    known = types(obj, list(values)) if types is not None and values else None
    fields: dict[str, Any] = typed_fields(values, known)
    for rule_name, hubspot_name in ALIASES.items():
        if hubspot_name in fields:
            fields[rule_name] = fields[hubspot_name]
    ids = sorted({n.eventId for n in items})
    joined = ",".join(map(str, ids))
    if len(joined) > 200:
        joined = f"{ids[0]}~{hashlib.sha256(joined.encode()).hexdigest()[:40]}"
    last = items[-1]
    return RecordEvent(
        id=f"hs-{joined}",
        source="hubspot",
        object=obj,
        record_id=str(object_id),
        kind=kind,
        occurred_at=datetime.fromtimestamp(last.occurredAt / 1000, UTC),
        actor=last.sourceId,
        fields=fields if kind != "deleted" else {},
    )
