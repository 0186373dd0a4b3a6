"""The Composite API (`composite`: subrequests with their own headers, `@{ref.field}`
references, allOrNone; one API call in all) and sObject Collections (`composite/sobjects`: up to
200 records a call; `composite/sobjects/<Object>/<ExternalIdField>`: upsert up to 200)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

from .errors import SalesforceError
from .ids import to18
from .org import Org
from .reply import Reply


class RestApi(Protocol):
    """What composite requests need of the REST API: the org, and a way to answer each
    subrequest as a top-level request would be answered (rest.RestApi)."""

    org: Org

    def dispatch_url(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: object,
        user_id: str,
        all_or_none: bool = False,
    ) -> Reply: ...


MAX_SUBREQUESTS = 25
MAX_RECORDS = 200
_REF = re.compile(r"@\{([^}]+)\}")
_ROLLED_BACK = (
    "The transaction was rolled back since another operation in the same transaction failed."
)


class _Rollback(Exception):
    """Raised inside a transaction to undo it once every result is known."""


def _halted(message: str = _ROLLED_BACK) -> list[dict]:
    return [{"errorCode": "PROCESSING_HALTED", "message": message}]


def _lookup(expression: str, results: Mapping[str, object]) -> object:
    """The value of `ref.path[0].field` in an earlier subrequest's response body."""
    ref, _, path = expression.partition(".")
    if ref not in results:
        raise LookupError(
            f"Invalid reference specified. No value for {expression} found in {ref}. "
            f"Provided referenceId ({ref}) does not refer to an earlier successful subrequest."
        )
    value: object = results[ref]
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        try:
            key: int | str = int(part[1:-1]) if part.startswith("[") else part
            value = value[key]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            raise LookupError(
                f"Invalid reference specified. No value for {expression} found in {ref}."
            ) from None
    return value


def _resolve(value: object, results: Mapping[str, object]) -> object:
    if isinstance(value, str):
        return _REF.sub(lambda m: str(_lookup(m.group(1), results)), value)
    if isinstance(value, list):
        return [_resolve(v, results) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, results) for k, v in value.items()}
    return value


def _bad_request(message: str) -> SalesforceError:
    return SalesforceError(400, "JSON_PARSER_ERROR", message)


def _subrequests(body: object) -> list[dict]:
    if not isinstance(body, Mapping) or not isinstance(body.get("compositeRequest"), list):
        raise _bad_request("The request body must have a compositeRequest array")
    subs = body["compositeRequest"]
    if not subs:
        raise _bad_request("compositeRequest must have at least one subrequest")
    if len(subs) > MAX_SUBREQUESTS:
        raise SalesforceError(
            400,
            "LIMIT_EXCEEDED",
            f"Composite requests can have at most {MAX_SUBREQUESTS} subrequests",
        )
    seen: set[str] = set()
    for sub in subs:
        if not isinstance(sub, Mapping):
            raise _bad_request("Each subrequest must be an object")
        for key in ("method", "url", "referenceId"):
            if not isinstance(sub.get(key), str) or not sub[key]:
                raise _bad_request(f"Each subrequest needs a '{key}'")
        if not re.fullmatch(r"[A-Za-z0-9_]+", sub["referenceId"]) or sub["referenceId"] in seen:
            raise _bad_request(f"Invalid or duplicate referenceId: {sub['referenceId']}")
        if not isinstance(sub.get("httpHeaders", {}), Mapping):
            raise _bad_request("httpHeaders must be an object")
        seen.add(sub["referenceId"])
    return subs


def composite(api: RestApi, version: str, body: object, user_id: str) -> Reply:
    """POST composite: run the subrequests in order, in one transaction when allOrNone."""
    subs = _subrequests(body)
    all_or_none = bool(body.get("allOrNone", False))  # type: ignore[union-attr]
    replies: list[Reply] = []
    results: dict[str, object] = {}
    failed = None
    try:
        with api.org.store.transaction():
            for index, sub in enumerate(subs):
                try:
                    url = _resolve(sub["url"], results)
                    sub_body = _resolve(sub.get("body"), results)
                except LookupError as exc:
                    reply = Reply(400, _halted(str(exc)))
                else:
                    if urlsplit_path(str(url)).rstrip("/").endswith("/composite"):
                        reply = Reply(
                            400, _halted("A composite subrequest cannot be a composite request.")
                        )
                    else:
                        reply = api.dispatch_url(
                            sub["method"],
                            str(url),
                            sub.get("httpHeaders") or {},
                            sub_body,
                            user_id,
                            all_or_none=all_or_none,
                        )
                replies.append(reply)
                if reply.status < 400:
                    results[sub["referenceId"]] = reply.body
                elif all_or_none:
                    failed = index
                    raise _Rollback
    except _Rollback:
        pass
    out = []
    for index, sub in enumerate(subs):
        halted = failed is not None and index != failed
        reply = Reply(400, _halted()) if halted else replies[index]
        out.append(
            {
                "body": reply.body,
                "httpHeaders": reply.headers,
                "httpStatusCode": reply.status,
                "referenceId": sub["referenceId"],
            }
        )
    return Reply(200, {"compositeResponse": out})


def urlsplit_path(url: str) -> str:
    return url.split("?", 1)[0]


def _record_error(exc: SalesforceError) -> dict:
    return {"statusCode": exc.code, "message": exc.message, "fields": exc.fields}


def collections(
    api: RestApi,
    method: str,
    version: str,
    body: object,
    query: Mapping[str, str],
    user_id: str,
    force_all_or_none: bool = False,
    upsert_on: tuple[str, str] | None = None,
) -> Reply:
    """composite/sobjects: create (POST), update (PATCH) or delete (DELETE ?ids=) up to 200;
    with `upsert_on` (object, external id field), upsert (PATCH) up to 200 on that field."""
    if method == "DELETE":
        ids = [i for i in query.get("ids", "").split(",") if i]
        all_or_none = query.get("allOrNone", "false").lower() == "true"
        items: list[object] = ids
    else:
        if not isinstance(body, Mapping) or not isinstance(body.get("records"), list):
            raise _bad_request("The request body must have a records array")
        items = body["records"]
        all_or_none = bool(body.get("allOrNone", False))
    all_or_none = all_or_none or force_all_or_none
    if not items:
        raise SalesforceError(400, "INVALID_FIELD", "No records to process", [])
    if len(items) > MAX_RECORDS:
        raise SalesforceError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
        )
    results: list[dict] = []
    try:
        with api.org.store.transaction():
            for item in items:
                if upsert_on is None:
                    results.append(_one(api, method, item, user_id))
                else:
                    results.append(_upsert_one(api, *upsert_on, item, user_id))
            if all_or_none and not all(r["success"] for r in results):
                raise _Rollback
    except _Rollback:
        rolled_back = {
            "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "message": "Record rolled back because not all records were valid and the request "
            "was using AllOrNone header",
            "fields": [],
        }
        results = [
            r
            if not r["success"]
            else {"id": r.get("id"), "success": False, "errors": [rolled_back]}
            for r in results
        ]
    return Reply(200, results)


def _one(api: RestApi, method: str, item: object, user_id: str) -> dict:
    org = api.org
    record_id = None
    try:
        if method == "DELETE":
            record_id = to18(item)
            found = org.store.record(record_id) if record_id else None
            if found is None:
                raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
            org.delete(found[0], record_id)  # type: ignore[arg-type]
            return {"id": record_id, "success": True, "errors": []}
        if not isinstance(item, Mapping):
            raise _bad_request("Each record must be an object")
        attributes = item.get("attributes")
        object_name = attributes.get("type") if isinstance(attributes, Mapping) else None
        if not object_name:
            raise SalesforceError(400, "INVALID_TYPE", "Must send a concrete entity type.", [])
        values = {k: v for k, v in item.items() if k != "attributes"}
        if method == "POST":
            return {"id": org.create(object_name, values, user_id), "success": True, "errors": []}
        raw_id = next((v for k, v in values.items() if k.lower() == "id"), None)
        record_id = to18(raw_id)
        if raw_id is None:
            raise SalesforceError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
        if record_id is None:
            raise SalesforceError(
                400, "MALFORMED_ID", f"Id: id value of incorrect type: {raw_id}", ["Id"]
            )
        org.update(object_name, record_id, values, user_id)
        return {"id": record_id, "success": True, "errors": []}
    except SalesforceError as exc:
        failure: dict = {"success": False, "errors": [_record_error(exc)]}
        if record_id:
            failure = {"id": record_id, **failure}
        return failure


def _upsert_one(
    api: RestApi, object_name: str, field_name: str, item: object, user_id: str
) -> dict:
    """One record of an upsert collection: its external id value travels in the record."""
    try:
        if not isinstance(item, Mapping):
            raise _bad_request("Each record must be an object")
        attributes = item.get("attributes")
        given_type = attributes.get("type") if isinstance(attributes, Mapping) else None
        if not given_type:
            raise SalesforceError(400, "INVALID_TYPE", "Must send a concrete entity type.", [])
        if str(given_type).lower() != object_name.lower():
            raise SalesforceError(
                400,
                "INVALID_TYPE",
                f"This upsert can only take records of the type {object_name}",
                [],
            )
        values = {k: v for k, v in item.items() if k != "attributes"}
        if any(k.lower() == "id" for k in values):
            raise SalesforceError(
                400, "INVALID_FIELD", "Record ids are not supported in an upsert collection", []
            )
        key = next((v for k, v in values.items() if k.lower() == field_name.lower()), None)
        if key is None or key == "":
            raise SalesforceError(
                400, "MISSING_ARGUMENT", f"{field_name} not specified", [field_name]
            )
        others = {k: v for k, v in values.items() if k.lower() != field_name.lower()}
        record_id, created = api.org.upsert(object_name, field_name, str(key), others, user_id)
        return {"id": record_id, "success": True, "errors": [], "created": created}
    except SalesforceError as exc:
        return {"success": False, "errors": [_record_error(exc)]}
