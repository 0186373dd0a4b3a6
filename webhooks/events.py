"""`POST /webhooks/events`: RecordEvent JSON (one or a list), signed per Standard Webhooks."""

from __future__ import annotations

import json
import re
from typing import Any

import structlog
from flask import Blueprint, Response, jsonify, request
from pydantic import ValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError, WebhookVerificationError

from lastmile.rules.records import RecordEvent

from . import admission
from .errors import BadSettings, BadSignature, InvalidBody, InvalidEvent, NotConfigured, TooLarge
from .intake import current_intake, require_content_type
from .limits import MAX_EVENTS, check_json_depth, read_body

log = structlog.get_logger("lastmile.webhooks")

bp = Blueprint("events", __name__)

_SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def verifiers(secrets: str | None) -> tuple[Webhook, ...]:
    """One verifier per secret in `secrets` (`whsec_...`, separated by spaces or commas);
    raise `BadSettings`, naming the secret's position only, for one that cannot be used."""
    parts = [part for part in re.split(r"[\s,]+", secrets or "") if part]
    found = []
    for number, secret in enumerate(parts, start=1):
        try:
            found.append(Webhook(secret))
        except (EmptyWebhookSecretError, ValueError):
            raise BadSettings(
                f"LASTMILE_WEBHOOK_SECRET: secret {number} of {len(parts)} is not a base64 "
                "whsec_ secret"
            ) from None
    return tuple(found)


@bp.post("/webhooks/events")
def receive() -> tuple[Response, int]:
    """Verify, validate and store the events (all or none); 202 with the inbox ids."""
    intake = current_intake()
    if not intake.verifiers:
        raise NotConfigured(
            "this endpoint has no webhook secret configured (LASTMILE_WEBHOOK_SECRET)"
        )
    require_content_type(request, ("application/json",), "application/json")
    body = read_body(request, intake.settings.max_body_bytes)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidBody("the body is not UTF-8") from None
    _verify(intake.verifiers, text)
    check_json_depth(text, intake.settings.max_json_depth)
    events = parse_events(_parse_json(text))
    results = intake.store(events)
    return jsonify(
        {
            "received": len(events),
            "new": sum(1 for _, new in results if new),
            "events": [
                {"id": event.id, "inbox_id": inbox_id, "new": new}
                for event, (inbox_id, new) in zip(events, results, strict=True)
            ],
        }
    ), 202


def _verify(candidates: tuple[Webhook, ...], text: str) -> None:
    """Accept when any configured secret verifies one of the signatures (key rotation)."""
    headers = {name: request.headers.get(name, "") for name in _SIGNATURE_HEADERS}
    missing = [name for name, value in headers.items() if not value]
    if missing:
        raise BadSignature(f"missing header {', '.join(missing)}", code="missing_signature")
    reason = "no signature matches"
    for webhook in candidates:
        try:
            webhook.verify(text, headers, json_parse=False)
            return
        except WebhookVerificationError as exc:
            reason = str(exc)  # the package's fixed texts: too old / too new / no match
        except (ValueError, TypeError):  # a signature that is not `v1,<base64>`
            reason = "malformed webhook-signature header"
    raise BadSignature(f"signature verification failed: {reason}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidBody("JSON nested too deep", code="too_deep") from None
    except ValueError as exc:  # JSONDecodeError names a position, never the content
        raise InvalidBody(f"not JSON: {exc}", code="invalid_json") from None


def parse_events(data: Any) -> list[RecordEvent]:
    """One RecordEvent or a list of them; every invalid one is listed by its pydantic location
    (prefixed with its index in a list)."""
    items, in_list = (data, True) if isinstance(data, list) else ([data], False)
    if not items:
        raise InvalidBody("an empty list: send one event or a list of events")
    if len(items) > MAX_EVENTS:
        raise TooLarge(f"{len(items)} events in one request; at most {MAX_EVENTS}")
    events: list[RecordEvent] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        prefix = [index] if in_list else []
        if not isinstance(item, dict):
            problems.append({"loc": prefix, "message": "an event must be a JSON object"})
            continue
        try:
            event = RecordEvent.model_validate(item)
        except ValidationError as exc:
            found = [
                {"loc": err["loc"], "message": err["msg"]}
                for err in exc.errors(include_input=False, include_url=False)
            ]
        else:
            found = admission.problems(event)
            if not found:
                events.append(event)
        problems.extend(
            {"loc": [*prefix, *(_short(part) for part in p["loc"])], "message": p["message"]}
            for p in found
        )
    if problems:
        raise InvalidEvent(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the events",
            problems=problems[:100],
        )
    return events


def _short(part: str | int) -> str | int:
    return part[:100] if isinstance(part, str) else part
