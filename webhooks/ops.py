"""Ops endpoints: liveness, readiness, Prometheus metrics, and the inbox behind the admin token."""

from __future__ import annotations

import hmac
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
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
    """The CRM as /readyz shows it: the worker's breaker (open while the CRM is unavailable),
    and a check of the connection at most once a minute (or a due probe while it is open). The
    check runs in a thread of its own, so /readyz answers at once whatever the CRM does."""

    check: Callable[[], None] | None
    breaker: Any  # lastmile.worker.CrmBreaker
    at: float = field(default=-1e9)
    checked_at: datetime | None = None
    error: str | None = None  # a failure of a call the CRM answered (not an outage)
    error_since: datetime | None = None
    _running: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def state(self, *, detail: bool) -> dict[str, Any]:
        """The body's `crm`: `ok`, `since` (when it last changed), `paused` (events wait),
        `error` (its class; the whole message with `detail`), `next_probe`, `checked_at` (the
        last check or probe)."""
        if self.check is None:
            return {"ok": False, "paused": False, "error": "no CRM connection configured"}
        self._start_if_due()
        breaker = self.breaker.state()
        checked = [t for t in (self.checked_at, breaker.probed_at) if t is not None]
        error = breaker.error if breaker.open else self.error
        since = breaker.since if breaker.open or self.error is None else self.error_since
        return {
            "ok": not breaker.open and self.error is None,
            "since": _iso(since),
            "paused": breaker.open,
            "error": error if detail or error is None else error.split(":", 1)[0],
            "next_probe": _iso(breaker.next_probe),
            "checked_at": _iso(max(checked, default=None)),
        }

    def _start_if_due(self) -> None:
        now = time.monotonic()
        breaker = self.breaker.state()
        probe_due = breaker.next_probe is not None and breaker.next_probe <= self.breaker.clock()
        with self._lock:
            if self._running or not (probe_due or now - self.at > CRM_CHECK_EVERY_S):
                return
            self._running, self.at = True, now
        threading.Thread(target=self._run, name="lastmile-crm-check", daemon=True).start()

    def _run(self) -> None:
        try:
            error = self.breaker.refresh()
            if error is not None and self.error is None:
                self.error_since = datetime.now(UTC)
            self.error = error
            self.checked_at = datetime.now(UTC)
        except Exception:  # a check that breaks must not stop the next one
            log.exception("crm_check_failed")
        finally:
            with self._lock:
                self._running = False


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _without_paths(problems: Iterable[str], base: Path) -> list[str]:
    """Rule-file problems with file names relative to the rules directory and no other
    directory named (for callers without the admin token)."""
    prefixes = sorted({str(base), str(base.resolve())}, key=len, reverse=True)
    out = []
    for problem in problems:
        for prefix in prefixes:
            problem = problem.replace(prefix.rstrip("/") + "/", "")
            problem = problem.replace(prefix, "<rules>")
        out.append(_ABSOLUTE_DIRS.sub("", problem))
    return out


_ABSOLUTE_DIRS = re.compile(r"(?<![\w.:/])(?:/[^/\s:'\"]+)+/(?=[^/\s])")


def _bearer_ok(expected: str | None) -> bool:
    """Whether the request carries `Authorization: Bearer <expected>` (constant time)."""
    if not expected:
        return False
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        value.strip().encode(), expected.encode()
    )


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
            if not _bearer_ok(expected):
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
    crm = _CrmCheck(
        runtime.connector.check if runtime.connector is not None else None,
        runtime.worker.breaker,
    )

    def admin_token() -> str | None:
        token = runtime.settings.admin_token
        return token.get_secret_value() if token else None

    admin = admin_required(admin_token)

    @bp.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @bp.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """200 when this receiver can take events: the store answers and rules are loaded. The
        CRM (and whether processing waits for it) and a rejected rules change are in the body,
        whatever they are; file paths and error messages only with the admin token."""
        detail = _bearer_ok(admin_token())
        problems: dict[str, str] = {}
        try:
            runtime.store.ping()
        except Exception as exc:
            problems["store"] = type(exc).__name__
        rules = runtime.rules.status()
        if rules.version is None:
            problems["rules"] = "no rules loaded"
        shown = list(rules.problems)
        if not detail:
            shown = _without_paths(shown, Path(runtime.rules.path))
        body = {
            "ready": not problems,
            "rules": {
                "version": rules.version,
                "rules": rules.rules,
                "loaded_at": _iso(rules.loaded_at),
                "problems": shown,
                # A change that did not go live (the rules in use are the version above).
                "rejected": shown,
            },
            "crm": crm.state(detail=detail),
            # Outbound Message values read by their fields' types (else by their look).
            "values": runtime.field_types.state(),
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
    """Figures read at scrape time: the inbox by status, whether processing is paused for the
    CRM, and the CRM's API usage."""
    registry = CollectorRegistry()
    inbox = Gauge(
        "lastmile_inbox_events", "Events in the inbox by status", ["status"], registry=registry
    )
    for status, count in runtime.store.counts().items():
        inbox.labels(status).set(count)
    Gauge(
        "lastmile_crm_paused",
        "1 while processing waits for an unavailable CRM (the CRM breaker is open)",
        registry=registry,
    ).set(1 if runtime.worker.breaker.is_open else 0)
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
