"""Ops endpoints: liveness, readiness, Prometheus metrics, and the inbox behind the admin token."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

import structlog
from flask import Blueprint, Response, jsonify, request
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from lastmile.metrics import REGISTRY

log = structlog.get_logger("lastmile.ops")

CRM_CHECK_EVERY_S = 60.0  # /readyz must not spend the org's API calls on every probe


@dataclass
class _CrmCheck:
    """The last CRM authentication check, remembered for a while."""

    check: Callable[[], None] | None
    at: float = field(default=-1e9)
    error: str | None = "not checked yet"

    def status(self) -> str | None:
        if self.check is None:
            return "no CRM connection configured"
        if time.monotonic() - self.at > CRM_CHECK_EVERY_S or self.error is not None:
            try:
                self.check()
                self.error = None
            except Exception as exc:  # any failure is "not ready", with its class and message
                self.error = f"{type(exc).__name__}: {exc}"
            self.at = time.monotonic()
        return self.error


def admin_required(token: Callable[[], str | None]) -> Callable:
    """Refuse a request without `Authorization: Bearer <LASTMILE_ADMIN_TOKEN>` (constant time)."""

    def wrap(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            expected = token()
            if not expected:
                return _error(
                    403, "admin_disabled", "set LASTMILE_ADMIN_TOKEN to use this endpoint"
                )
            given = request.headers.get("Authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), expected.encode()
            ):
                log.warning("admin_refused", path=request.path)
                return _error(401, "unauthorized", "a valid bearer token is required")
            return view(*args, **kwargs)

        return guarded

    return wrap


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": code, "message": message}), status


def ops_blueprint(runtime: Any) -> Blueprint:
    """The ops endpoints of a `lastmile.runtime.Runtime`."""
    bp = Blueprint("ops", __name__)
    crm = _CrmCheck(runtime.connector.check if runtime.connector is not None else None)
    admin = admin_required(
        lambda: (
            runtime.settings.admin_token.get_secret_value()
            if runtime.settings.admin_token
            else None
        )
    )

    @bp.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @bp.get("/readyz")
    def readyz() -> tuple[Response, int]:
        problems: dict[str, str] = {}
        try:
            runtime.store.ping()
        except Exception as exc:
            problems["store"] = type(exc).__name__
        rules = runtime.rules.status()
        if rules.version is None:
            problems["rules"] = "no rules loaded"
        crm_problem = crm.status()
        if crm_problem is not None:
            problems["crm"] = crm_problem
        body = {
            "ready": not problems,
            "rules": {
                "version": rules.version,
                "rules": rules.rules,
                "loaded_at": rules.loaded_at.isoformat() if rules.loaded_at else None,
                "problems": list(rules.problems),
            },
            "problems": problems,
        }
        return jsonify(body), 200 if not problems else 503

    @bp.get("/metrics")
    def metrics() -> Response:
        return Response(
            generate_latest(REGISTRY) + generate_latest(_live_gauges(runtime)),
            mimetype=CONTENT_TYPE_LATEST,
        )

    @bp.get("/api/events")
    @admin
    def list_events() -> Response | tuple[Response, int]:
        status = request.args.get("status") or None
        try:
            limit = min(max(int(request.args.get("limit", 50)), 1), 1000)
        except ValueError:
            return _error(400, "bad_limit", "limit must be a whole number")
        try:
            rows = runtime.store.list_events(status=status, limit=limit)
        except ValueError as exc:  # an unknown status
            return _error(400, "bad_status", str(exc))
        return jsonify({"events": [row.summary() for row in rows]})

    @bp.get("/api/events/<int:inbox_id>")
    @admin
    def show_event(inbox_id: int) -> Response | tuple[Response, int]:
        event = runtime.store.get_event(inbox_id)
        if event is None:
            return _error(404, "not_found", f"no event {inbox_id}")
        return jsonify(event.to_json())

    @bp.post("/api/events/<int:inbox_id>/replay")
    @admin
    def replay(inbox_id: int) -> tuple[Response, int]:
        if runtime.store.get_event(inbox_id) is None:
            return _error(404, "not_found", f"no event {inbox_id}")
        if not runtime.store.replay(inbox_id):
            return _error(409, "not_replayable", "only dead or done events can be replayed")
        runtime.dispatch([inbox_id])
        log.info("event_replayed", inbox_id=inbox_id)
        return jsonify({"replayed": inbox_id}), 202

    return bp


def _live_gauges(runtime: Any) -> CollectorRegistry:
    """Figures read at scrape time: the inbox by status and the CRM's API usage."""
    registry = CollectorRegistry()
    inbox = Gauge(
        "lastmile_inbox_events", "Events in the inbox by status", ["status"], registry=registry
    )
    for status, count in runtime.store.counts().items():
        inbox.labels(status).set(count)
    usage = runtime.connector.usage() if runtime.connector is not None else None
    if usage is not None:
        Gauge(
            "lastmile_crm_api_calls", "CRM API calls made by this process", registry=registry
        ).set(usage.calls)
        Gauge(
            "lastmile_crm_api_used",
            "CRM API calls used today (Sforce-Limit-Info)",
            registry=registry,
        ).set(usage.used)
        Gauge(
            "lastmile_crm_api_limit", "CRM API daily limit (Sforce-Limit-Info)", registry=registry
        ).set(usage.limit)
    return registry
