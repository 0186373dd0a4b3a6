"""The HubSpot sandbox's HTTP API: the part of CRM v3 (objects, batch, search, properties) and
v4 (associations) that Lastmile and hubspot-api-client use, answered with HubSpot's status codes,
error bodies (`status`, `message`, `correlationId`, `category`) and `X-HubSpot-RateLimit-*`
headers. A bearer token names the caller: Lastmile's private app, a sales user, or an OAuth
access token of Lastmile as a public app (401 EXPIRED_AUTHENTICATION once it expired)."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, jsonify, request

from .oauth import AppTokens, expired_message, token_endpoint
from .pages import pages
from .portal import (
    DEFAULT_PROPERTIES,
    TASK_ASSOCIATION,
    TYPE_IDS,
    Change,
    Portal,
    PortalError,
    Record,
    hubspot_time,
    object_type,
)
from .search import search

BATCH_LIMIT = 100
# Served without a bearer token: the OAuth token endpoint, and the record pages for people.
OPEN_BLUEPRINTS = frozenset({"oauth", "pages"})


@dataclass
class Limits:
    """HubSpot's two limits: calls a day, and calls in a rolling 10-second window."""

    daily: int = 250_000
    burst: int = 190
    window_ms: int = 10_000
    used_today: int = 0
    day: str = ""
    recent: deque = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, today: str) -> tuple[dict[str, str], str | None]:
        """Count one call; its headers, and the policy it broke (None: allowed)."""
        with self.lock:
            if today != self.day:
                self.day, self.used_today = today, 0
            now = time.monotonic()
            while self.recent and now - self.recent[0] > self.window_ms / 1000:
                self.recent.popleft()
            broke = None
            if self.used_today >= self.daily:
                broke = "DAILY"
            elif len(self.recent) >= self.burst:
                broke = "TEN_SECONDLY_ROLLING"
            else:
                self.used_today += 1
                self.recent.append(now)
            headers = {
                "X-HubSpot-RateLimit-Daily": str(self.daily),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily - self.used_today)),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.window_ms),
                "X-HubSpot-RateLimit-Max": str(self.burst),
                "X-HubSpot-RateLimit-Remaining": str(max(0, self.burst - len(self.recent))),
            }
            if broke == "TEN_SECONDLY_ROLLING":
                wait = self.window_ms / 1000 - (now - self.recent[0])
                headers["Retry-After"] = str(max(1, round(wait)))
            return headers, broke


def error_body(category: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


def as_json(record: Record, properties: list[str] | None, object_name: str) -> dict[str, Any]:
    names = properties or DEFAULT_PROPERTIES[object_name]
    wanted = [*names, "hs_object_id", "createdate", "hs_lastmodifieddate"]
    if object_name == "contacts":
        wanted.append("lastmodifieddate")
    return {
        "id": record.id,
        "properties": {n: record.properties.get(n) for n in dict.fromkeys(wanted)},
        "createdAt": hubspot_time(record.created),
        "updatedAt": hubspot_time(record.updated),
        "archived": record.archived,
    }


def create_app(
    portal: Portal,
    tokens: Mapping[str, Change],
    limits: Limits,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    app_tokens: AppTokens | None = None,
) -> Flask:
    """The API app, and the record pages for people. `tokens`: fixed bearer tokens and whose
    changes they make; `app_tokens`: a public app's OAuth (its token endpoint, and the access
    tokens it issued, which expire)."""
    app = Flask(__name__)
    app.register_blueprint(pages(portal))
    if app_tokens is not None:
        app.register_blueprint(token_endpoint(app_tokens))

    def who() -> Change:
        return g.who

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise PortalError(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        return data

    def inputs(data: Mapping[str, Any]) -> list[Any]:
        items = data.get("inputs")
        if not isinstance(items, list):
            raise PortalError(400, "VALIDATION_ERROR", "inputs must be a list")
        if len(items) > BATCH_LIMIT:
            raise PortalError(400, "VALIDATION_ERROR", f"Batch size limit is {BATCH_LIMIT}")
        return items

    def listed(name: str) -> list[str] | None:
        # `?properties=a,b` or `?properties=a&properties=b` (hubspot-api-client's way)
        found = [p for text in request.args.getlist(name) for p in text.split(",") if p]
        return found or None

    def batch(results: list[dict], errors: list[dict]) -> tuple[Response, int]:
        now = hubspot_time(clock())
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": now,
            "completedAt": now,
        }
        if errors:
            answer.update(numErrors=len(errors), errors=errors)
        return jsonify(answer), 207 if errors else 200

    @app.before_request
    def authenticate() -> Response | None:
        if request.blueprint in OPEN_BLUEPRINTS:
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        bearer = scheme.lower() == "bearer"
        if bearer and token in tokens:
            g.who = tokens[token]
        elif bearer and app_tokens is not None and app_tokens.knows(token):
            ago = app_tokens.expired_for(token)
            if ago is not None:
                return _error(401, error_body("EXPIRED_AUTHENTICATION", expired_message(ago)), {})
            g.who = app_tokens.who
        else:
            message = "Authentication credentials not found."
            return _error(401, error_body("INVALID_AUTHENTICATION", message), {})
        headers, broke = limits.take(clock().date().isoformat())
        g.limit_headers = headers
        if broke is not None:
            text = (
                "You have reached your daily limit."
                if broke == "DAILY"
                else ("You have reached your ten_secondly_rolling limit.")
            )
            extra = {"errorType": "RATE_LIMIT", "policyName": broke}
            return _error(429, error_body("RATE_LIMITS", text, **extra), headers)
        return None

    @app.after_request
    def limit_headers(response: Response) -> Response:
        for key, value in getattr(g, "limit_headers", {}).items():
            response.headers.setdefault(key, value)
        return response

    @app.errorhandler(PortalError)
    def refused(exc: PortalError) -> Response:
        extra = {"errors": exc.errors} if exc.errors else {}
        return _error(exc.status, error_body(exc.category, exc.message, **extra), {})

    @app.errorhandler(ValueError)
    @app.errorhandler(TypeError)
    @app.errorhandler(AttributeError)
    def malformed(_exc: Exception) -> Response:
        # an input of the wrong shape (a number that is not one, a list item that is no object)
        return _error(400, error_body("VALIDATION_ERROR", "Invalid input"), {})

    @app.errorhandler(404)
    def unknown(_exc: Exception) -> Response:
        return _error(404, error_body("OBJECT_NOT_FOUND", "resource not found"), {})

    @app.errorhandler(405)
    def wrong_method(_exc: Exception) -> Response:
        return _error(405, error_body("VALIDATION_ERROR", "method not allowed"), {})

    # -- objects --------------------------------------------------------------------------------

    @app.route("/crm/v3/objects/<kind>", methods=["GET", "POST"])
    def objects(kind: str) -> Any:
        name = object_type(kind)
        if request.method == "POST":
            data = body()
            record = portal.create(name, data.get("properties") or {}, who())
            for link in data.get("associations") or []:
                to = link.get("to", {}).get("id")
                to_type = _type_of(link)
                if to and to_type:
                    portal.associate(name, record.id, to_type, str(to))
            return jsonify(as_json(record, list(data.get("properties") or {}), name)), 201
        limit = min(int(request.args.get("limit", 10)), 100)
        after = int(request.args.get("after", 0) or 0)
        records = sorted(portal.live(name), key=lambda r: int(r.id))
        page = records[after : after + limit]
        answer: dict[str, Any] = {"results": [as_json(r, listed("properties"), name) for r in page]}
        if after + limit < len(records):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return jsonify(answer)

    @app.route("/crm/v3/objects/<kind>/<record_id>", methods=["GET", "PATCH", "DELETE"])
    def one(kind: str, record_id: str) -> Any:
        name = object_type(kind)
        id_property = request.args.get("idProperty")
        if request.method == "DELETE":
            portal.archive(name, portal.get(name, record_id, id_property).id, who())
            return Response(status=204)
        if request.method == "PATCH":
            found = portal.get(name, record_id, id_property)
            props = body().get("properties") or {}
            record = portal.update(name, found.id, props, who())
            return jsonify(as_json(record, list(props), name))
        record = portal.get(name, record_id, id_property)
        return jsonify(as_json(record, listed("properties"), name))

    @app.post("/crm/v3/objects/<kind>/batch/<action>")
    def batch_call(kind: str, action: str) -> Any:
        name = object_type(kind)
        data = body()
        items = inputs(data)
        results: list[dict] = []
        missing: list[str] = []
        if action == "read":
            props = data.get("properties") or None
            id_property = data.get("idProperty")
            for item in items:
                try:
                    results.append(
                        as_json(portal.get(name, str(item.get("id")), id_property), props, name)
                    )
                except PortalError:
                    missing.append(str(item.get("id")))
        elif action == "create":
            with portal.lock:
                results = [
                    as_json(portal.create(name, i.get("properties") or {}, who()), None, name)
                    for i in items
                ]
            return batch(results, [])[0], 201
        elif action == "update":
            with portal.lock:
                for item in items:  # all checked before any is written, as HubSpot does
                    portal.checked(name, item.get("properties") or {}, None)
                for item in items:
                    props = item.get("properties") or {}
                    try:
                        found = portal.get(name, str(item.get("id")), item.get("idProperty"))
                    except PortalError:
                        missing.append(str(item.get("id")))
                        continue
                    record = portal.update(name, found.id, props, who())
                    results.append(as_json(record, list(props), name))
        elif action == "upsert":
            with portal.lock:
                for item in items:
                    key, value = item.get("idProperty"), str(item.get("id"))
                    if not key:
                        raise PortalError(400, "VALIDATION_ERROR", "idProperty is required")
                    props = {**(item.get("properties") or {}), key: value}
                    found = portal.find_unique(name, key, value)
                    if found is None:
                        record, new = portal.create(name, props, who()), True
                    else:
                        record, new = portal.update(name, found.id, props, who()), False
                    results.append({**as_json(record, list(props), name), "new": new})
        elif action == "archive":
            with portal.lock:
                for item in items:  # what exists is archived; HubSpot says nothing of the rest
                    with contextlib.suppress(PortalError):
                        portal.archive(name, str(item.get("id")), who())
            return Response(status=204)
        else:
            raise PortalError(404, "OBJECT_NOT_FOUND", "resource not found")
        errors = []
        if missing:
            errors.append(
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {name} objects, they may be deleted or not "
                    "exist. Check that ids are valid.",
                    "context": {"ids": missing},
                }
            )
        return batch(results, errors)

    @app.post("/crm/v3/objects/<kind>/search")
    def search_call(kind: str) -> Any:
        name = object_type(kind)
        data = body()
        found, total, after = search(portal.live(name), data)
        props = data.get("properties") or None
        answer: dict[str, Any] = {
            "total": total,
            "results": [as_json(r, props, name) for r in found],
        }
        if after is not None:
            answer["paging"] = {"next": {"after": str(after)}}
        return jsonify(answer)

    # -- properties -----------------------------------------------------------------------------

    @app.route("/crm/v3/properties/<kind>", methods=["GET", "POST"])
    def properties(kind: str) -> Any:
        name = object_type(kind)
        if request.method == "POST":
            return jsonify(portal.define(name, body()).as_json(name)), 201
        defs = portal.definitions[name].values()
        return jsonify({"results": [d.as_json(name) for d in defs]})

    @app.get("/crm/v3/properties/<kind>/<prop>")
    def one_property(kind: str, prop: str) -> Any:
        name = object_type(kind)
        return jsonify(portal.definition(name, prop).as_json(name))

    @app.route("/crm/v3/properties/<kind>/groups", methods=["GET", "POST"])
    def groups(kind: str) -> Any:
        name = object_type(kind)
        if request.method == "POST":
            data = body()
            group, label = str(data.get("name") or ""), str(data.get("label") or "")
            if not group or not label:
                raise PortalError(400, "VALIDATION_ERROR", "name and label are required")
            portal.add_group(name, group, label)
            return jsonify(_group(group, label)), 201
        return jsonify({"results": [_group(k, v) for k, v in portal.groups[name].items()]})

    # -- associations (v4) ----------------------------------------------------------------------

    @app.put("/crm/v4/objects/<kind>/<record_id>/associations/default/<to_kind>/<to_id>")
    def associate_default(kind: str, record_id: str, to_kind: str, to_id: str) -> Any:
        name, to_name = object_type(kind), object_type(to_kind)
        portal.associate(name, record_id, to_name, to_id)
        return batch([_default_link(name, record_id, to_name, to_id)], [])

    @app.put("/crm/v4/objects/<kind>/<record_id>/associations/<to_kind>/<to_id>")
    def associate_labelled(kind: str, record_id: str, to_kind: str, to_id: str) -> Any:
        name, to_name = object_type(kind), object_type(to_kind)
        portal.associate(name, record_id, to_name, to_id)
        return jsonify(
            {
                "fromObjectTypeId": TYPE_IDS[name],
                "fromObjectId": int(record_id),
                "toObjectTypeId": TYPE_IDS[to_name],
                "toObjectId": int(to_id),
                "labels": [],
            }
        ), 201

    @app.get("/crm/v4/objects/<kind>/<record_id>/associations/<to_kind>")
    def associations(kind: str, record_id: str, to_kind: str) -> Any:
        name, to_name = object_type(kind), object_type(to_kind)
        ids = portal.associated(name, record_id, to_name)
        spec = _spec(name, to_name)
        return jsonify(
            {
                "results": [
                    {"toObjectId": int(i), "associationTypes": [{**spec, "label": None}]}
                    for i in ids
                ]
            }
        )

    @app.post("/crm/v4/associations/<kind>/<to_kind>/batch/associate/default")
    def associate_batch(kind: str, to_kind: str) -> Any:
        name, to_name = object_type(kind), object_type(to_kind)
        results = []
        with portal.lock:
            for item in inputs(body()):
                from_id = str((item.get("from") or {}).get("id"))
                to_id = str((item.get("to") or {}).get("id"))
                portal.associate(name, from_id, to_name, to_id)
                results.append(_default_link(name, from_id, to_name, to_id))
        return batch(results, [])

    return app


def _error(status: int, payload: dict[str, Any], headers: Mapping[str, str]) -> Response:
    response = jsonify(payload)
    response.status_code = status
    response.headers.update(dict(headers))
    return response


def _group(name: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "displayOrder": -1, "archived": False}


def _type_of(link: Mapping[str, Any]) -> str | None:
    """The object type a create's association names by its association type id."""
    for spec in link.get("types") or []:
        for object_name, type_id in TASK_ASSOCIATION.items():
            if spec.get("associationTypeId") == type_id:
                return object_name
    return None


def _spec(from_type: str, to_type: str) -> dict[str, Any]:
    type_id = TASK_ASSOCIATION.get(to_type, 1) if from_type == "tasks" else 1
    return {"category": "HUBSPOT_DEFINED", "typeId": type_id}


def _default_link(from_type: str, from_id: str, to_type: str, to_id: str) -> dict[str, Any]:
    spec = _spec(from_type, to_type)
    return {
        "from": {"id": from_id},
        "to": {"id": to_id},
        "associationSpec": {
            "associationCategory": spec["category"],
            "associationTypeId": spec["typeId"],
        },
    }
