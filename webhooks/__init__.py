"""The receiver's Flask app: webhook sources in, RecordEvents into the inbox, an answer out.

No CRM call and no rule evaluation happens in a request: parse, verify, normalise, store, ack.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from flask import Blueprint, Flask, Response, g, request

from lastmile.settings import Settings

from . import events, salesforce
from .errors import BadSettings, WebhookError, register_error_handlers
from .intake import Inbox, Intake

__all__ = ["BadSettings", "WebhookError", "create_app"]

log = structlog.get_logger("lastmile.webhooks")

REQUEST_ID_HEADER = "X-Request-Id"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def create_app(
    settings: Settings,
    inbox: Inbox,
    *,
    blueprints: Iterable[Blueprint] = (),
    dispatch: Callable[[list[int]], Any] | None = None,
) -> Flask:
    """Build the receiver: `/webhooks/salesforce`, `/webhooks/events`, plus `blueprints`.

    `inbox.add(events)` stores durably and returns (inbox id, new?) per event; `dispatch` is
    called with the new inbox ids once they are stored. Raises `BadSettings` for a webhook
    secret that cannot be used.
    """
    app = Flask("webhooks")
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    intake = Intake(settings, inbox, dispatch, events.verifiers(secret))
    app.extensions["lastmile"] = {
        "settings": settings,
        "inbox": inbox,
        "dispatch": dispatch,
        "intake": intake,
    }
    if not settings.salesforce_org_ids:
        log.warning("salesforce_not_configured", hint="LASTMILE_SALESFORCE_ORG_IDS is empty")
    if not intake.verifiers:
        log.warning("events_not_configured", hint="LASTMILE_WEBHOOK_SECRET is not set")

    app.before_request(_bind_request_id)
    app.after_request(_answer_request_id)
    app.teardown_request(_unbind_request_id)
    register_error_handlers(app)
    app.register_blueprint(salesforce.bp)
    app.register_blueprint(events.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    return app


def _bind_request_id() -> None:
    """Take the caller's X-Request-Id when it is a plain token, else make one; bind it to every
    log line of this request."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    g.log_tokens = structlog.contextvars.bind_contextvars(request_id=g.request_id)


def _answer_request_id(response: Response) -> Response:
    if "request_id" in g:
        response.headers[REQUEST_ID_HEADER] = g.request_id
    return response


def _unbind_request_id(_exc: BaseException | None) -> None:
    tokens = g.pop("log_tokens", None)
    if tokens:
        structlog.contextvars.reset_contextvars(**tokens)
