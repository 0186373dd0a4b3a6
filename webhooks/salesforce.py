"""`POST /webhooks/salesforce`: Salesforce Outbound Messages in; the Ack once they are stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from flask import Blueprint, Response, request

from . import envelopes, soap
from .errors import Forbidden, NotConfigured
from .intake import current_intake, require_content_type
from .limits import MAX_EVENTS, read_body

log = structlog.get_logger("lastmile.webhooks")

bp = Blueprint("salesforce", __name__)

_XML_TYPES = ("text/xml", "application/xml", "application/soap+xml")


def org_allowed(org_id: str, allowed: Sequence[str]) -> bool:
    """Whether the organisation is on the allowlist: a 15-character id and its 18-character
    form are the same organisation (the 3 extra characters are a checksum)."""
    if len(org_id) not in (15, 18):
        return False
    return any(org_id[:15] == candidate.strip()[:15] for candidate in allowed if candidate)


@bp.post("/webhooks/salesforce")
def receive() -> Response:
    """Check the sender's organisation, store the notifications, and only then Ack."""
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
    events = soap.to_events(message, received_at=received_at)
    intake.store(events)
    return Response(envelopes.ACK, 200, content_type=envelopes.CONTENT_TYPE)
