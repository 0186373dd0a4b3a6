"""`GET /api/indicators` and `GET /api/experiments`: the adoption indicators and the experiment
readout as JSON (DESIGN.md's measurement and experiment contracts), behind the admin token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from flask import Blueprint, Response, jsonify, request

from lastmile.measure import TeamsError, indicators, parse_time

from .ops import _error, admin_required

log = structlog.get_logger("lastmile.api")


def api_blueprint(runtime: Any) -> Blueprint:
    """The measurement API of a `lastmile.runtime.Runtime`."""
    bp = Blueprint("api", __name__)
    admin = admin_required(
        lambda: (
            runtime.settings.admin_token.get_secret_value()
            if runtime.settings.admin_token
            else None
        )
    )

    @bp.get("/api/indicators")
    @admin
    def get_indicators() -> Response | tuple[Response, int]:
        times: dict[str, datetime | None] = {}
        for name in ("as_of", "from", "to"):
            given = request.args.get(name)
            try:
                times[name] = parse_time(given) if given else None
            except ValueError as exc:
                return _error(400, "bad_time", f"{name}: {exc}")
        try:
            ruleset = runtime.rules()
        except RuntimeError:
            return _error(503, "no_rules", "no rules are loaded (see /readyz)")
        try:
            report = indicators(
                runtime.store,
                ruleset,
                runtime.settings,
                times["as_of"] or datetime.now(UTC),
                rule=request.args.get("rule") or None,
                team=request.args.get("team") or None,
                since=times["from"],
                until=times["to"],
            )
        except TeamsError as exc:
            log.error("teams file unusable", error=str(exc))
            return _error(500, "teams_unusable", "the teams file cannot be used; see the log")
        if request.args.get("versions") in ("1", "true", "yes"):
            from lastmile.measure.versions import all_versions

            at = times["as_of"] or datetime.now(UTC)
            report["versions"] = all_versions(runtime.store, report, ruleset, at)
        return jsonify(report)

    @bp.get("/api/experiments")
    @admin
    def get_experiments() -> Response | tuple[Response, int]:
        from lastmile.measure.experiments import experiments

        given = request.args.get("as_of")
        try:
            as_of = parse_time(given) if given else datetime.now(UTC)
        except ValueError as exc:
            return _error(400, "bad_time", f"as_of: {exc}")
        try:
            ruleset = runtime.rules()
        except RuntimeError:
            return _error(503, "no_rules", "no rules are loaded (see /readyz)")
        return jsonify(experiments(runtime.store, ruleset, runtime.settings, as_of))

    return bp
