"""Why a webhook request is refused, and the error handlers that answer it.

Views raise a `Refused` subclass; the handlers registered by `register_error_handlers` turn it
into the body the sender understands: a SOAP 1.1 Fault on the Salesforce endpoint, JSON
`{"error": code, "message": ...}` elsewhere. An unexpected exception becomes a logged 500.
"""

from __future__ import annotations

from typing import Any

import structlog
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from lastmile.metrics import REQUESTS_REFUSED

from .envelopes import CONTENT_TYPE, fault

log = structlog.get_logger("lastmile.webhooks")
REQUEST_ID_KEY = "lastmile.request_id"  # where `webhooks.RequestIds` puts the id in environ

SOAP_BLUEPRINT = "salesforce"  # the blueprint whose errors are SOAP faults
OWN_BLUEPRINTS = frozenset({SOAP_BLUEPRINT, "events", "hubspot"})


class WebhookError(Exception):
    """Base of the receiver's exceptions."""


class BadSettings(WebhookError, ValueError):
    """The receiver's settings cannot work (found when the app is built)."""


class Refused(WebhookError):
    """A request the receiver refuses: an HTTP status, a short code and a message for the sender.

    Messages never quote the request's values: they are logged as they are sent back.
    """

    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, code: str | None = None, problems: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.problems = problems or []


class InvalidBody(Refused):
    """The body cannot be read: not UTF-8, malformed JSON or XML, too deep, or not the shape
    expected."""

    code = "invalid_body"


class InvalidEvent(Refused):
    """The body parsed, but an event in it is not a valid RecordEvent (`problems` say where)."""

    code = "invalid_event"


class BadSignature(Refused):
    """Standard Webhooks signature missing, wrong, or outside the timestamp tolerance."""

    status = 401
    code = "bad_signature"


class Unauthenticated(Refused):
    """The sender did not prove who it is (e.g. an Outbound Message without a session id)."""

    status = 401
    code = "unauthenticated"


class Forbidden(Refused):
    """The sender is not allowed (e.g. an organisation id not on the allowlist)."""

    status = 403
    code = "forbidden"


class NotConfigured(Refused):
    """The endpoint has no secret or allowlist configured, so it accepts nothing."""

    status = 403
    code = "not_configured"


class TooLarge(Refused):
    """The body, or the number of events in it, is over the limit."""

    status = 413
    code = "too_large"


class WrongContentType(Refused):
    status = 415
    code = "unsupported_media_type"


class CrmUnavailable(Refused):
    """The sender's session could not be checked with the CRM now: the sender should retry."""

    status = 503
    code = "unavailable"


class StoreUnavailable(Refused):
    """The inbox could not store the events: the sender should retry later."""

    status = 503
    code = "unavailable"


def _is_soap() -> bool:
    return request.blueprint == SOAP_BLUEPRINT


def _source() -> str:
    return request.blueprint or "none"


def _loc(loc: Any) -> str:
    return ".".join(map(str, loc)) if isinstance(loc, list | tuple) else str(loc)


def render(status: int, code: str, message: str, problems: list[dict[str, Any]]) -> Response:
    """The error body in the format of the endpoint that was called."""
    if _is_soap():
        if problems:
            message += ": " + "; ".join(f"{_loc(p['loc'])}: {p['message']}" for p in problems)
        response = Response(fault(message, client=status < 500), status, content_type=CONTENT_TYPE)
    else:
        body: dict[str, Any] = {"error": code, "message": message}
        if problems:
            body["problems"] = problems
        response = jsonify(body)
        response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = "10"
    return response


def _refused(exc: Refused) -> Response:
    if exc.status < 500:
        REQUESTS_REFUSED.labels(_source(), exc.code).inc()
    log.warning(
        "webhook_refused",
        path=request.path,
        status=exc.status,
        code=exc.code,
        reason=exc.message,
        problems=[_loc(p["loc"]) for p in exc.problems] or None,
    )
    return render(exc.status, exc.code, exc.message, exc.problems)


def _unexpected(exc: Exception) -> Response | HTTPException:
    if isinstance(exc, HTTPException):
        if request.blueprint not in OWN_BLUEPRINTS:
            return exc  # other blueprints keep Flask's own rendering
        code = (exc.name or "error").lower().replace(" ", "_")
        log.warning("webhook_refused", path=request.path, status=exc.code, code=code)
        return render(exc.code or 400, code, exc.description or exc.name, [])
    log.exception("unexpected_error", path=request.path, error=type(exc).__name__)
    request_id = request.environ.get(REQUEST_ID_KEY, "unknown")
    return render(500, "internal_error", f"internal error (request id {request_id})", [])


def register_error_handlers(app: Flask) -> None:
    """Answer `Refused` with its status and body, anything unexpected with a logged 500."""
    app.register_error_handler(Refused, _refused)
    app.register_error_handler(Exception, _unexpected)
