"""The adoption dashboard: server-rendered pages over the measurement figures, behind the admin
token (a bearer header, or a login form that leaves a signed session cookie).

Pages are GET only (the login and logout forms are the POSTs), work without JavaScript, carry
no inline script or style (a strict Content-Security-Policy), cannot be framed, and show teams
only as the figures name them: never a person, never a team under the minimum size.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import structlog
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sansio.blueprints import BlueprintSetupState
from flask.sessions import SecureCookieSessionInterface

from . import charts

log = structlog.get_logger("lastmile.dashboard")

SESSION_KEY = "lastmile_dashboard"
OTHER = "other"
_OPEN = frozenset({"dashboard.login", "dashboard.logout", "dashboard.static"})
# No script at all; the one style sheet and the charts' inline SVG come from this server.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class _SessionCookies(SecureCookieSessionInterface):
    """The signed session cookie, `Secure` whenever the request came over HTTPS: directly, or
    through a proxy LASTMILE_TRUSTED_PROXIES trusts (ProxyFix sets the scheme it reported)."""

    def get_cookie_secure(self, app: Any) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


@dataclass(frozen=True)
class Figures:
    """The measurement functions the pages draw on (lastmile.measure's contract)."""

    indicators: Callable[..., dict[str, Any]]
    friction: Callable[..., list[dict[str, Any]]]
    digest: Callable[..., dict[str, Any]]
    versions: Callable[..., dict[str, Any]]

    @classmethod
    def measured(cls) -> Figures:
        from lastmile.measure import digest, friction, indicators
        from lastmile.measure.versions import versions

        return cls(indicators, friction, digest, versions)


class Problem(Exception):
    """A request the dashboard cannot answer; the page says why (never quoting a team asked)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def dashboard_blueprint(runtime: Any, figures: Figures | None = None) -> Blueprint:
    """The dashboard pages of a `lastmile.runtime.Runtime` under `/dashboard`."""
    bp = Blueprint(
        "dashboard",
        __name__,
        url_prefix="/dashboard",
        template_folder="templates",
        static_folder="static",
    )
    measure = figures or Figures.measured()

    @bp.record_once
    def _secret_key(state: BlueprintSetupState) -> None:
        app = state.app
        if not app.secret_key:
            # Sessions then last as long as the process: a restart asks for the token again.
            app.secret_key = secrets.token_bytes(32)
            log.info("dashboard_secret_key_generated")
        app.config["SESSION_COOKIE_HTTPONLY"] = True
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
        app.session_interface = _SessionCookies()

    @bp.after_request
    def _protect(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @bp.context_processor
    def _signed_in() -> dict[str, bool]:
        return {"signed_in": SESSION_KEY in session}

    def admin_token() -> str | None:
        token = runtime.settings.admin_token
        return token.get_secret_value() if token else None

    @bp.before_request
    def _guard() -> Response | tuple[str, int] | None:
        if request.endpoint in _OPEN:
            return None
        token = admin_token()
        if not token:
            return _disabled()
        given = request.headers.get("Authorization")
        if given is not None:
            scheme, _, value = given.partition(" ")
            if scheme.lower() == "bearer" and _same(value.strip(), token):
                return None
            log.warning("dashboard_refused", path=request.path, via="bearer")
            raise Problem(401, "The bearer token is not the admin token.")
        proof = session.get(SESSION_KEY)
        if isinstance(proof, str) and hmac.compare_digest(proof, _proof(token)):
            return None
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))

    @bp.route("/login", methods=["GET", "POST"])
    def login() -> Response | tuple[str, int] | str:
        token = admin_token()
        if not token:
            return _disabled()
        target = _local(request.values.get("next"))
        if request.method == "GET":
            return render_template("dashboard/login.html", next=target, error=None)
        if _same(request.form.get("token", "").strip(), token):
            session.clear()
            session[SESSION_KEY] = _proof(token)
            log.info("dashboard_login")
            return redirect(target)
        log.warning("dashboard_refused", path=request.path, via="login")
        error = "That is not the admin token."
        return render_template("dashboard/login.html", next=target, error=error), 401

    @bp.post("/logout")
    def logout() -> Response:
        session.clear()
        log.info("dashboard_logout")
        return redirect(url_for("dashboard.login"))

    @bp.get("")
    def overview() -> str:
        report = measure.indicators(*_sources(runtime), as_of_time())
        series = _weekly(report["weeks"], [row["rule"] for row in report["rules"]])
        return render_template(
            "dashboard/overview.html",
            report=report,
            chart=charts.compliance_chart(series) if series else None,
            api=_api_usage(runtime),
        )

    @bp.get("/rules/<rule>")
    def rule_page(rule: str) -> str:
        store, ruleset, settings = _sources(runtime)
        loaded = ruleset.get(rule)
        report = measure.indicators(store, ruleset, settings, as_of_time(), rule=rule)
        rows = [row for row in report["rules"] if row["rule"] == rule]
        if loaded is None and not rows:
            raise Problem(404, "There is no rule by that name in the rules or the figures.")
        row = rows[0] if rows else _empty_row(rule)
        missing = dict.fromkeys(loaded.rule.then.require if loaded else (), 0)
        missing.update(row["fields_missing"])
        ttc = row["time_to_comply_s"] or {"median": None, "p90": None}
        series = _weekly(report["weeks"], [rule])
        from lastmile.measure.intervals import MIN_CLOSED, MIN_UNITS

        require = tuple(loaded.rule.then.require) if loaded else ()
        history = measure.versions(store, rule, as_of_time(), require)
        marks = [(v["week"], f"v{n}") for n, v in enumerate(history["versions"], 1) if n > 1]
        return render_template(
            "dashboard/rule.html",
            rule=rule,
            loaded=loaded,
            row=row,
            report=report,
            missing=missing,
            funnel=charts.funnel(row["met_first_time"], row["met_after_prompt"], row["missed"]),
            fields_chart=charts.fields_left_empty(missing, row["occasions"]) if missing else None,
            ttc=ttc,
            ttc_chart=charts.time_to_comply(ttc["median"], ttc["p90"]),
            trend=(
                charts.compliance_chart(series, title="Compliance per week", marks=marks)
                if series
                else None
            ),
            history=history,
            min_units=MIN_UNITS,
            min_closed=MIN_CLOSED,
        )

    @bp.get("/friction")
    def friction_page() -> str:
        store, ruleset, settings = _sources(runtime)
        report = measure.indicators(store, ruleset, settings, as_of_time())
        from lastmile.measure.choices import StoreFacts

        facts = StoreFacts(store, getattr(runtime, "field_types", None))
        items = measure.friction(report, ruleset, facts)
        return render_template("dashboard/friction.html", report=report, items=items)

    @bp.get("/experiments")
    def experiments_page() -> str:
        from lastmile.measure.experiments import experiments

        store, ruleset, settings = _sources(runtime)
        readout = experiments(store, ruleset, settings, as_of_time())
        return render_template("dashboard/experiments.html", readout=readout)

    @bp.route("/playground", methods=["GET", "POST"])
    def playground_page() -> tuple[str, int] | str:
        from lastmile.measure.choices import StoreFacts

        from . import playground as pg

        store, ruleset, settings = _sources(runtime)
        page: dict[str, Any] = {
            "rules": ruleset.rules,
            "examples": pg.examples(),
            "form_token": _form_token(),
            "max_events": pg.MAX_EVENTS,
            "samples": pg.SAMPLES,
        }
        if request.method == "GET":
            start = request.args.get("start", "")
            try:
                draft = pg.starting_text(ruleset, start, settings.max_rule_file_bytes)
            except pg.Refused as exc:
                raise Problem(exc.status, exc.message) from None
            page.update(start=start, since="", until="")
            return render_template("dashboard/playground.html", draft=draft, **page)
        _limit_body(settings.max_rule_file_bytes)
        form = request.form
        page.update(start=form.get("start", ""), since=form.get("from", ""))
        page.update(until=form.get("to", ""))
        # A bearer header cannot come from another site's form; a session cookie can.
        given = form.get("form_token", "")
        if "Authorization" not in request.headers and not _same(given, page["form_token"]):
            raise Problem(403, "This form is out of date: open the playground again and rerun.")
        draft = form.get("draft", "").replace("\r\n", "\n")  # as a browser sends it
        outcome, refusal, status = None, None, 200
        try:
            since, until = pg.window(page["since"], page["until"], as_of_time())
            facts = StoreFacts(store, getattr(runtime, "field_types", None))
            outcome = pg.run(store, settings, facts, draft, since, until)
            status = 422 if outcome.problems else 200
        except pg.Refused as exc:
            refusal, status = exc.message, exc.status
        page.update(outcome=outcome, refusal=refusal)
        return render_template("dashboard/playground.html", draft=draft, **page), status

    @bp.get("/digest")
    def digest_page() -> tuple[str, int] | str:
        store, ruleset, settings = _sources(runtime)
        at = as_of_time()
        report = measure.indicators(store, ruleset, settings, at)
        teams = [*sorted({row["team"] for row in report["teams"]} - {OTHER}), OTHER]
        day = _day(request.args.get("day"), default=at.date())
        team = request.args.get("team") or None
        unknown = Problem(404, "The figures name no team by that name: pick one from the list.")
        if team is not None and team not in teams:
            # Not the name asked for: a small team's name must not come back in the page.
            raise unknown
        try:
            result = measure.digest(store, ruleset, settings, team, day) if team else None
        except LookupError:  # the measurement's UnknownTeam: the same answer as above
            raise unknown from None
        return render_template(
            "dashboard/digest.html", report=report, teams=teams, team=team, day=day, digest=result
        )

    @bp.errorhandler(Problem)
    def _problem(exc: Problem) -> tuple[str, int]:
        return render_template("dashboard/problem.html", message=exc.message), exc.status

    @bp.context_processor
    def _helpers() -> dict[str, Any]:
        return {
            "percent": charts.percent,
            "duration": charts.duration,
            "figure": _figure,
            "as_json": lambda value: json.dumps(value, ensure_ascii=False),
            "as_of_arg": request.args.get("as_of", ""),
        }

    return bp


def as_of_time() -> datetime:
    """`?as_of=` (ISO 8601 time or date, UTC when no offset is given) or now."""
    if "as_of" in g:
        return g.as_of
    value = request.args.get("as_of", "").strip()
    if not value:
        at = datetime.now(UTC)
    else:
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise Problem(
                400, "as_of must be an ISO 8601 time such as 2026-11-20T00:00:00Z, or a date."
            ) from None
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    g.as_of = at
    return at


def _day(value: str | None, *, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Problem(400, "day must be a date such as 2026-11-20.") from None


def _sources(runtime: Any) -> tuple[Any, Any, Any]:
    try:
        ruleset = runtime.rules()
    except RuntimeError:
        raise Problem(503, "No rules are loaded yet; see /readyz for why.") from None
    return runtime.store, ruleset, runtime.settings


def _weekly(weeks: list[dict[str, Any]], rules: list[str]) -> dict[str, list[tuple[str, Any]]]:
    """Weekly compliance points per rule, rules in the order given."""
    series: dict[str, list[tuple[str, Any]]] = {rule: [] for rule in rules}
    for row in weeks:
        series.setdefault(row["rule"], []).append((row["week"], row["compliance"]))
    return {rule: points for rule, points in series.items() if points}


def _empty_row(rule: str) -> dict[str, Any]:
    counts = ("occasions", "met_first_time", "met_after_prompt", "missed", "withdrawn", "open")
    return {
        "rule": rule,
        **dict.fromkeys(counts, 0),
        "compliance": None,
        "time_to_comply_s": None,
        "fields_missing": {},
    }


def _api_usage(runtime: Any) -> dict[str, Any] | None:
    """The CRM's API usage today as it last reported it, and the writes the budget put off
    (None when this process has no connector or it reported nothing yet)."""
    connector = getattr(runtime, "connector", None)
    usage = connector.usage() if connector is not None else None
    if usage is None or not usage.limit:
        return None
    worker = getattr(runtime, "worker", None)
    budget = getattr(worker, "budget", None)
    settings = runtime.settings
    return {
        "used": usage.used,
        "limit": usage.limit,
        "share": usage.used / usage.limit,
        "defer_from": settings.api_budget,
        "pause_from": settings.api_pause,
        "deferred": budget.deferred if budget is not None else 0,
    }


def _figure(value: Any) -> str:
    """A friction figure as text: a share as a percentage, a count as is."""
    if isinstance(value, float) and 0 <= value <= 1:
        return charts.percent(value)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def _proof(token: str) -> str:
    """What the session cookie keeps: the token keyed with the app's secret (the cookie is
    signed, not encrypted, so it never holds the token); a new token ends old sessions."""
    return _keyed(token)


def _form_token() -> str:
    """The hidden field of a form that starts work (the playground): bound to the session, so
    a page on another site cannot post it."""
    return _keyed(f"form:{session.get(SESSION_KEY, '')}")


def _keyed(text: str) -> str:
    key = current_app.secret_key
    key_bytes = key if isinstance(key, bytes) else str(key).encode()
    return hmac.new(key_bytes, text.encode(), hashlib.sha256).hexdigest()


def _limit_body(max_rule_bytes: int) -> None:
    """Refuse a form far larger than a rule file before reading it (a form field is
    percent-encoded: up to three bytes a byte of text)."""
    limit = 3 * max_rule_bytes + 64 * 1024
    if (request.content_length or 0) > limit:
        raise Problem(413, "The draft is larger than a rule file may be.")
    request.max_content_length = request.max_form_memory_size = limit


def _local(target: str | None) -> str:
    """A `next` target inside the dashboard, or the overview (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/dashboard"):
            return target
    return url_for("dashboard.overview")


def _disabled() -> tuple[str, int]:
    return render_template("dashboard/disabled.html"), 403
