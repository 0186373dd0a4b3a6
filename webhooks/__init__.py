"""The receiver's Flask app: webhook sources in, RecordEvents into the inbox, an answer out.

No CRM call and no rule evaluation happens in a request: parse, verify, normalise, store, ack.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from flask import Blueprint, Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import parse_many
from werkzeug.middleware.proxy_fix import ProxyFix

from lastmile.metrics import REQUESTS_REFUSED
from lastmile.settings import Settings

from . import events, hubspot, salesforce
from .errors import (
    OWN_BLUEPRINTS,
    REQUEST_ID_KEY,
    BadSettings,
    WebhookError,
    register_error_handlers,
    render,
)
from .intake import Inbox, Intake
from .sessions import SessionCheck, SessionLookup
from .soap import FieldTypes

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
    sessions: SessionLookup | None = None,
    field_types: FieldTypes | None = None,
) -> Flask:
    """Build the receiver: `/webhooks/salesforce`, `/webhooks/events`, plus `blueprints`.

    `inbox.add(events)` stores durably and returns (inbox id, new?) per event; `dispatch` is
    called with the new inbox ids once they are stored; `sessions` names the owner of an
    Outbound Message's SessionId (the CRM connector's `session_owner`); `field_types` the
    CRM's field types, to read Outbound Message values by type. Raises `BadSettings` for a
    webhook secret that cannot be used.
    """
    app = Flask(__name__)
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    intake = Intake(settings, inbox, dispatch, events.verifiers(secret))
    app.extensions["lastmile"] = {
        "settings": settings,
        "inbox": inbox,
        "dispatch": dispatch,
        "intake": intake,
        "sessions": SessionCheck(sessions) if sessions is not None else None,
        "field_types": field_types,
    }
    if not settings.salesforce_org_ids and not settings.uses_hubspot:
        log.warning("salesforce_not_configured", hint="LASTMILE_SALESFORCE_ORG_IDS is empty")
    if not intake.verifiers:
        log.warning("events_not_configured", hint="LASTMILE_WEBHOOK_SECRET is not set")

    if settings.trusted_proxies:
        # The client is the address the last `trusted_proxies` proxies saw (rate limits, logs).
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.wsgi_app = RequestIds(app.wsgi_app)  # type: ignore[method-assign]
    register_error_handlers(app)
    _limit_rate(app, settings)
    app.register_blueprint(salesforce.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(hubspot.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    return app


class RequestIds:
    """WSGI middleware: every request gets an id, bound to each log line written while the app
    handles it and answered in `X-Request-Id`. A caller's own id is kept when it is a plain
    token. (Three Flask hooks did this before, at a few percent of each request.)"""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        given = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = given if _SANE_REQUEST_ID.fullmatch(given) else secrets.token_hex(16)
        environ[REQUEST_ID_KEY] = request_id

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            return self.app(environ, start)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)


# --- rate limiting (issue 7) -------------------------------------------------------------------


def _limit_rate(app: Flask, settings: Settings) -> None:
    """Limit each source address on each webhook endpoint to `settings.rate_limit`; over it the
    sender gets a 429 in the endpoint's own error format, with Retry-After.

    The count lives in `settings.rate_limit_storage_uri`: in memory it is per process, so N
    receivers behind a balancer let an address through N times the limit; a shared storage
    (redis://) makes it one count. A storage that fails lets requests through (logged).
    """
    if not settings.rate_limit:
        return
    try:
        parse_many(settings.rate_limit)
    except ValueError:
        raise BadSettings(
            f"LASTMILE_RATE_LIMIT: {settings.rate_limit!r} is not a rate limit such as 600/minute"
        ) from None
    Limiter(
        get_remote_address,  # the client's address: LASTMILE_TRUSTED_PROXIES behind a proxy
        app=app,
        default_limits=[settings.rate_limit],
        default_limits_exempt_when=lambda: request.blueprint not in OWN_BLUEPRINTS,
        storage_uri=settings.rate_limit_storage_uri,
        headers_enabled=True,
        swallow_errors=True,
    )
    app.register_error_handler(RateLimitExceeded, _rate_limited)


def _rate_limited(exc: RateLimitExceeded) -> Response:
    REQUESTS_REFUSED.labels(request.blueprint or "none", "rate_limited").inc()
    log.warning("webhook_refused", path=request.path, status=429, code="rate_limited")
    message = f"too many requests from this address: at most {exc.limit.limit}"
    return render(429, "rate_limited", message, [])
