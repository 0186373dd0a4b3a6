"""`POST /webhooks/salesforce`: Salesforce Outbound Messages in; the Ack once they are stored.

A message is taken when its organisation is allowed AND its sender is proven: by default its
`SessionId` is a live session of that organisation (asked of the configured CRM); for orgs that
cannot send one, a secret token in the path (`/webhooks/salesforce/<token>`).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from flask import Blueprint, Response, current_app, request

from . import envelopes, soap
from .errors import CrmUnavailable, Forbidden, NotConfigured, Unauthenticated
from .intake import current_intake, require_content_type
from .limits import MAX_EVENTS, read_body
from .sessions import SessionCheck

log = structlog.get_logger("lastmile.webhooks")

bp = Blueprint("salesforce", __name__)

_XML_TYPES = ("text/xml", "application/xml", "application/soap+xml")


def same_org(a: str, b: str) -> bool:
    """Salesforce ids: a 15-character id and its 18-character form name the same organisation;
    two 18-character ids are compared whole (the last 3 characters are a checksum)."""
    a, b = a.strip(), b.strip()
    if len(a) not in (15, 18) or len(b) not in (15, 18):
        return False
    return a == b if len(a) == len(b) == 18 else a[:15] == b[:15]


def org_allowed(org_id: str, allowed: Sequence[str]) -> bool:
    """Whether the organisation is on the allowlist."""
    return any(same_org(org_id, candidate) for candidate in allowed if candidate)


@bp.post("/webhooks/salesforce")
def receive() -> Response:
    """An Outbound Message whose SessionId proves its sender."""
    return _receive(token=None)


@bp.post("/webhooks/salesforce/<token>")
def receive_with_token(token: str) -> Response:
    """An Outbound Message sent to a secret URL (for orgs that cannot send a session id)."""
    return _receive(token=token)


def _receive(token: str | None) -> Response:
    """Check the sender's organisation and proof, store the notifications, and only then Ack."""
    intake = current_intake()
    received_at = datetime.now(UTC)
    allowed = intake.settings.salesforce_org_ids
    if not allowed:
        log.error(
            "salesforce_not_configured",
            hint="set LASTMILE_SALESFORCE_ORG_IDS to the org ids that may send Outbound Messages",
        )
        raise NotConfigured("no Salesforce organisation is allowed to send to this endpoint")
    require_content_type(request, _XML_TYPES, "text/xml")
    body = read_body(request, intake.settings.max_body_bytes)
    message = soap.parse_message(body, max_notifications=MAX_EVENTS)
    if not org_allowed(message.organization_id, allowed):
        # an organisation id helps an admin fix the allowlist; anything else is not logged
        org_id = message.organization_id
        shown = org_id if org_id.isalnum() and len(org_id) in (15, 18) else "(not an org id)"
        log.warning("salesforce_org_refused", organization_id=shown)
        raise Forbidden("this organisation is not allowed to send to this endpoint")
    if token is None:
        _check_session(message)
    else:
        _check_token(
            token, [t.get_secret_value() for t in intake.settings.salesforce_outbound_tokens]
        )
    types = current_app.extensions["lastmile"].get("field_types")
    events = soap.to_events(message, received_at=received_at, types=types)
    intake.store(events)
    return Response(envelopes.ACK, 200, content_type=envelopes.CONTENT_TYPE)


def _check_token(given: str, tokens: list[str]) -> None:
    # Every token is compared, in constant time, so timing tells nothing of how many exist.
    matches = [hmac.compare_digest(given.encode(), t.encode()) for t in tokens if t]
    if not any(matches):
        log.warning("salesforce_token_refused")
        raise Forbidden("this endpoint token is not one of LASTMILE_SALESFORCE_OUTBOUND_TOKENS")


def _check_session(message: soap.OutboundMessage) -> None:
    if message.session_id is None:
        log.warning("salesforce_session_missing", organization_id=message.organization_id)
        raise Unauthenticated(
            "the message carries no SessionId: tick 'Send Session ID' on the Outbound Message, "
            "or send it to /webhooks/salesforce/<token> (LASTMILE_SALESFORCE_OUTBOUND_TOKENS)"
        )
    sessions: SessionCheck | None = current_app.extensions["lastmile"].get("sessions")
    if sessions is None:
        log.error("salesforce_sessions_not_configured", hint="no CRM connection to check with")
        raise NotConfigured("sessions cannot be checked: the receiver has no CRM connection")
    try:
        owner = sessions.owner(message.session_id)
    except Exception as exc:  # the CRM cannot be asked now; Salesforce retries for 24 hours
        log.warning("salesforce_session_unverified", error=type(exc).__name__)
        raise CrmUnavailable(
            "the session cannot be checked with the CRM now; retry later"
        ) from None
    if owner is None or not same_org(owner.organization_id, message.organization_id):
        log.warning("salesforce_session_refused", organization_id=message.organization_id)
        raise Forbidden("the SessionId is not a live session of the sending organisation")
