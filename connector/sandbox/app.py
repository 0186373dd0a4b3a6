"""The sandbox's Flask app: the REST API (session, daily limit, faults, Sforce-Limit-Info), the
login endpoints, the fault switch for other processes, and the record pages."""

from __future__ import annotations

import json
import time
from typing import Protocol

from flask import Flask, Response, request

from .faults import Faults
from .login import LoginContext, jwt_token, soap_login
from .pages import PagesSandbox, pages
from .rest import VERSIONS, RestApi


class ServedSandbox(PagesSandbox, Protocol):
    """What the app needs of the sandbox it serves (`sandbox.Sandbox` has it)."""

    faults: Faults
    daily_limit: int
    api_version: str
    api: RestApi

    def usage_today(self) -> int: ...

    def count_call(self) -> None: ...

    def login_context(self) -> LoginContext: ...


_METHODS = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"]


def _json(status: int, body: object, headers: dict[str, str]) -> Response:
    if status == 204 or body is None:
        return Response(status=status, headers=headers)
    return Response(
        json.dumps(body),
        status=status,
        headers=headers,
        content_type="application/json;charset=UTF-8",
    )


def _error(status: int, code: str, message: str, headers: dict[str, str]) -> Response:
    return _json(status, [{"message": message, "errorCode": code}], headers)


def create_app(sb: ServedSandbox) -> Flask:
    """The app serving one sandbox."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 20 * 1024 * 1024
    app.register_blueprint(pages(sb))

    def limit_info() -> dict[str, str]:
        used = sb.usage_today()
        if sb.faults.settings.limit_reached:
            used = max(used, sb.daily_limit)
        return {"Sforce-Limit-Info": f"api-usage={used}/{sb.daily_limit}"}

    @app.route("/services/data", strict_slashes=False)
    def versions() -> Response:
        listed = sorted(set(VERSIONS) | {sb.api_version}, key=float)
        body = [
            {"label": VERSIONS.get(v, v), "url": f"/services/data/v{v}", "version": v}
            for v in listed
        ]
        return _json(200, body, limit_info())

    @app.route(
        "/services/data/v<version>", defaults={"path": ""}, methods=_METHODS, strict_slashes=False
    )
    @app.route("/services/data/v<version>/<path:path>", methods=_METHODS)
    def rest(version: str, path: str) -> Response:
        scheme, _, session_id = request.headers.get("Authorization", "").partition(" ")
        user_id = None
        if scheme.lower() in ("bearer", "oauth") and session_id.strip():
            user_id = sb.store.session_user(session_id.strip())
        if user_id is None:
            return _error(401, "INVALID_SESSION_ID", "Session expired or invalid", limit_info())
        if sb.faults.settings.limit_reached or sb.usage_today() >= sb.daily_limit:
            return _error(
                403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", limit_info()
            )
        delay = sb.faults.delay()
        if delay:
            time.sleep(delay)
        if sb.faults.fail():
            return _error(
                503,
                "SERVER_UNAVAILABLE",
                "The server is unavailable to handle the request. Typically this issue occurs if "
                "the server is down for maintenance or is currently overloaded.",
                limit_info(),
            )
        sb.count_call()
        body = None
        raw = request.get_data()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as exc:
                return _error(
                    400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}", limit_info()
                )
        reply = sb.api.dispatch(
            request.method, version, path, request.args.to_dict(), request.headers, body, user_id
        )
        return _json(reply.status, reply.body, {**reply.headers, **limit_info()})

    @app.post("/services/Soap/u/<version>")
    def soap(version: str) -> Response:
        status, xml = soap_login(request.get_data(), version, sb.login_context())
        return Response(xml, status=status, content_type="text/xml;charset=UTF-8")

    @app.post("/services/oauth2/token")
    def token() -> Response:
        status, body = jwt_token(request.form.to_dict(), sb.login_context())
        return _json(
            status, body, {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"}
        )

    @app.get("/services/oauth2/userinfo")
    def userinfo() -> Response:
        """Who a session belongs to (OpenID Connect userinfo): what a receiver asks to verify
        the SessionId of an Outbound Message. Not an API call against the daily limit."""
        scheme, _, session_id = request.headers.get("Authorization", "").partition(" ")
        user_id = None
        if scheme.lower() == "bearer" and session_id.strip():
            user_id = sb.store.session_user(session_id.strip())
        if user_id is None:
            # Salesforce answers an invalid or expired token with a bare 403.
            return Response("Bad_OAuth_Token", 403, content_type="text/plain;charset=UTF-8")
        found = sb.store.record(user_id)
        user = found[1] if found else {}
        body = {
            "sub": f"{request.host_url}id/{sb.org_id}/{user_id}",
            "user_id": user_id,
            "organization_id": sb.org_id,
            "preferred_username": user.get("Username"),
            "name": user.get("Name"),
        }
        return _json(200, body, {})

    @app.route("/sandbox/faults", methods=["GET", "POST"])
    def faults() -> Response:
        """The fault switch for another process: POST the keyword arguments of faults.set."""
        if request.method == "POST":
            settings = request.get_json(silent=True)
            if not isinstance(settings, dict):
                return _json(400, {"error": "send a JSON object of fault settings"}, {})
            try:
                sb.faults.set(**settings)
            except (TypeError, ValueError) as exc:
                return _json(400, {"error": str(exc)}, {})
        return _json(200, sb.faults.as_dict(), {})

    return app
