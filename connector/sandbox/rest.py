"""The REST resources under /services/data/vNN.N/: sObject rows, upsert by external id, query,
describe, limits, and the composite resources (in composite.py). Framework-free: a request is
(method, path, query, headers, body) and the answer a `Reply`, so composite subrequests run
through exactly the same code as top-level calls."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, unquote, urlsplit

from .composite import collections, composite
from .errors import SalesforceError, no_such_column, not_found
from .history import queryable
from .ids import to18
from .org import Org
from .reply import Reply
from .schema import TEXT_TYPES, FieldSpec, ObjectSpec
from .soql import Query, QueryPages, batch_size
from .soql import parse as parse_soql
from .soql import run as run_soql

# The API versions the sandbox answers to, newest last (GET /services/data/).
VERSIONS = {
    "58.0": "Summer '23",
    "59.0": "Winter '24",
    "60.0": "Spring '24",
    "61.0": "Summer '24",
    "62.0": "Winter '25",
    "63.0": "Spring '25",
}


def _allowed(method: str, allowed: str) -> None:
    if method not in allowed.split(","):
        raise SalesforceError(
            405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {allowed}"
        )


def supported(version: str) -> bool:
    """Versions 20.0 and later, as NN.0."""
    return re.fullmatch(r"\d{2}\.0", version) is not None and version_key(version) >= 20.0


def version_key(version: str) -> float:
    try:
        return float(version)
    except ValueError:
        return 0.0


def _unmodified_since(headers: Mapping[str, str]) -> datetime | None:
    value = next((v for k, v in headers.items() if k.lower() == "if-unmodified-since"), None)
    if value is None:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise SalesforceError(
            400, "INVALID_HEADER_VALUE", f"If-Unmodified-Since is not an HTTP-date: {value!r}"
        ) from None


class RestApi:
    """Dispatches one REST request (top-level or composite subrequest) to the org."""

    def __init__(self, org: Org, daily_limit: int, usage: callable) -> None:  # type: ignore[valid-type]
        self.org = org
        self.daily_limit = daily_limit
        self.usage = usage  # () -> calls used today
        self.pages = QueryPages()

    def record_view(
        self, spec: ObjectSpec, record: dict, version: str, fields: list[str] | None = None
    ) -> dict:
        names = fields if fields is not None else [f.name for f in spec.fields]
        view: dict[str, object] = {"attributes": self.attributes(spec, record["Id"], version)}
        view.update((name, record.get(name)) for name in names)
        return view

    @staticmethod
    def attributes(spec: ObjectSpec, record_id: str, version: str) -> dict:
        return {
            "type": spec.name,
            "url": f"/services/data/v{version}/sobjects/{spec.name}/{record_id}",
        }

    def dispatch_url(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: object,
        user_id: str,
        all_or_none: bool = False,
    ) -> Reply:
        """A request given as a full /services/data/vNN.N/... URL (composite subrequests)."""
        parts = urlsplit(url)
        segments = parts.path.strip("/").split("/")
        if (
            segments[:2] != ["services", "data"]
            or len(segments) < 3
            or not segments[2].startswith("v")
        ):
            return Reply.error(not_found())
        version = segments[2][1:]
        return self.dispatch(
            method,
            version,
            "/".join(segments[3:]),
            dict(parse_qsl(parts.query)),
            headers,
            body,
            user_id,
            all_or_none,
        )

    def dispatch(
        self,
        method: str,
        version: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: object,
        user_id: str,
        all_or_none: bool = False,
    ) -> Reply:
        """One REST request; Salesforce errors become their error replies. `all_or_none`: a
        composite subrequest under allOrNone, which overrides a collection's own flag."""
        try:
            if not supported(version):
                raise not_found()
            return self._route(
                method.upper(), version, path, query, headers, body, user_id, all_or_none
            )
        except SalesforceError as exc:
            return Reply.error(exc)

    def _route(
        self,
        method,
        version,
        path,
        query,
        headers,
        body,
        user_id,
        all_or_none,
    ) -> Reply:

        segments = [unquote(s) for s in path.strip("/").split("/") if s]
        head = segments[0] if segments else ""
        if not segments:
            _allowed(method, "GET,HEAD")
            base = f"/services/data/v{version}"
            return Reply(
                200, {n: f"{base}/{n}" for n in ("sobjects", "query", "composite", "limits")}
            )
        if head == "limits" and len(segments) == 1:
            _allowed(method, "GET,HEAD")
            used = self.usage()
            return Reply(
                200,
                {
                    "DailyApiRequests": {
                        "Max": self.daily_limit,
                        "Remaining": max(0, self.daily_limit - used),
                    }
                },
            )
        if head == "query" and len(segments) == 1:
            _allowed(method, "GET,HEAD")
            return self._query(query.get("q", ""), version, headers)
        if head == "query" and len(segments) == 2:  # a nextRecordsUrl
            _allowed(method, "GET,HEAD")
            return Reply(200, self.pages.more(segments[1], version))
        if head == "composite" and len(segments) == 1:
            _allowed(method, "POST")
            return composite(self, version, body, user_id)
        if segments[:2] == ["composite", "sobjects"] and len(segments) == 2:
            _allowed(method, "POST,PATCH,DELETE")
            return collections(self, method, version, body, query, user_id, all_or_none)
        if segments[:2] == ["composite", "sobjects"] and len(segments) == 4:
            # upsert on an external id, since API version 46.0
            spec = self.org.schema.object(segments[2])
            if spec is None or version_key(version) < 46.0:
                raise not_found()
            _allowed(method, "PATCH")
            upsert_on = (spec.name, segments[3])
            return collections(self, method, version, body, query, user_id, all_or_none, upsert_on)
        if head == "sobjects":
            return self._sobjects(method, version, segments[1:], query, headers, body, user_id)
        raise not_found()

    def _query(self, text: str, version: str, headers: Mapping[str, str]) -> Reply:
        if not text.strip():
            raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
        query, spec = parse_soql(text, queryable(self.org.schema))
        rows = run_soql(query, self._candidates(query, spec.name))
        records = [self.record_view(spec, row, version, list(query.fields)) for row in rows]
        options = next((v for k, v in headers.items() if k.lower() == "sforce-query-options"), None)
        return Reply(200, self.pages.first(records, version, batch_size(options)))

    def _candidates(self, query: Query, object_name: str) -> list[dict]:
        """The records a query may select: by id when it names ids (how Lastmile and its tests
        look records up), else every record of the object."""
        for cond in query.where:
            if cond.field == "Id" and cond.op in ("=", "in"):
                ids = {to18(v) if len(v) == 15 else v for v in map(str, cond.values)}
                found = (self.org.store.record(i) for i in ids)
                return [data for hit in found if hit and hit[0] == object_name for data in [hit[1]]]
        return self.org.store.records(object_name)

    def _sobjects(self, method, version, rest, query, headers, body, user_id) -> Reply:
        if not rest:
            _allowed(method, "GET,HEAD")
            return Reply(
                200,
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": 200,
                    "sobjects": [self._summary(s, version) for s in self.org.schema.objects],
                },
            )
        spec = self.org.schema.object(rest[0])
        if spec is None:
            raise not_found()
        if len(rest) == 1:
            _allowed(method, "GET,HEAD,POST")
            if method == "POST":
                record_id = self.org.create(spec.name, _body(body), user_id)
                return self.created(spec, record_id, version)
            return Reply(200, {"objectDescribe": self._summary(spec, version), "recentItems": []})
        if len(rest) == 2 and rest[1] == "describe":
            _allowed(method, "GET,HEAD")
            return Reply(200, self._describe(spec, version))
        if len(rest) == 2:
            return self._row(method, version, spec, rest[1], query, headers, body, user_id)
        if len(rest) == 3:
            return self._by_external_id(method, version, spec, rest[1], rest[2], body, user_id)
        raise not_found()

    def created(self, spec: ObjectSpec, record_id: str, version: str) -> Reply:
        return Reply(
            201,
            {"id": record_id, "success": True, "errors": []},
            {"Location": self.attributes(spec, record_id, version)["url"]},
        )

    def _row(self, method, version, spec, record_id, query, headers, body, user_id) -> Reply:
        _allowed(method, "GET,HEAD,PATCH,DELETE")
        if method in ("GET", "HEAD"):
            record = self.org.get(spec.name, record_id)
            return Reply(200, self.record_view(spec, record, version, self._fields(spec, query)))
        since = _unmodified_since(headers)
        if method == "PATCH":
            self.org.update(spec.name, record_id, _body(body), user_id, since)
        else:
            self.org.delete(spec.name, record_id, since)
        return Reply(204)

    def _by_external_id(self, method, version, spec, field_name, value, body, user_id) -> Reply:
        _allowed(method, "GET,HEAD,PATCH,DELETE")
        if method == "PATCH":
            record_id, created = self.org.upsert(spec.name, field_name, value, _body(body), user_id)
            if created:
                reply = self.created(spec, record_id, version)
                reply.body["created"] = True  # type: ignore[index]
                return reply
            if version_key(version) >= 46.0:  # since 46.0 an update by upsert answers 200 + body
                return Reply(
                    200, {"id": record_id, "success": True, "errors": [], "created": False}
                )
            return Reply(204)
        field = spec.field(field_name)
        if field is None or not (field.external_id or field.name == "Id"):
            raise not_found()
        matches = self.org.find_by(spec, field, value)
        if not matches:
            raise not_found()
        if method == "DELETE":
            self.org.delete(spec.name, matches[0])
            return Reply(204)
        return Reply(200, self.record_view(spec, self.org.get(spec.name, matches[0]), version))

    @staticmethod
    def _fields(spec: ObjectSpec, query: Mapping[str, str]) -> list[str] | None:
        wanted = query.get("fields")
        if not wanted:
            return None
        names = []
        for name in (n.strip() for n in wanted.split(",") if n.strip()):
            found = spec.field(name)
            if found is None:
                raise no_such_column(spec.name, name)
            names.append(found.name)
        return ["Id", *[n for n in names if n != "Id"]]

    @staticmethod
    def _summary(spec: ObjectSpec, version: str) -> dict:
        base = f"/services/data/v{version}/sobjects/{spec.name}"
        return {
            "name": spec.name,
            "label": spec.label,
            "keyPrefix": spec.key_prefix,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "queryable": True,
            "custom": False,
            "urls": {
                "sobject": base,
                "describe": f"{base}/describe",
                "rowTemplate": f"{base}/{{ID}}",
            },
        }

    def _describe(self, spec: ObjectSpec, version: str) -> dict:
        return {
            **self._summary(spec, version),
            "fields": [
                {
                    "name": f.name,
                    "label": f.label,
                    "type": f.type,
                    "custom": f.name.endswith("__c"),
                    "createable": f.createable,
                    "updateable": f.updateable,
                    "nillable": f.nillable,
                    "externalId": f.external_id,
                    "unique": f.unique,
                    "idLookup": f.name == "Id" or f.external_id,
                    "defaultValue": f.default,
                    "length": _length(f),
                    "picklistValues": [
                        {
                            "active": True,
                            "defaultValue": value == f.default,
                            "label": value,
                            "validFor": None,
                            "value": value,
                        }
                        for value in f.values
                    ],
                    "restrictedPicklist": f.restricted,
                    "referenceTo": list(f.references),
                    "relationshipName": _relationship(f),
                }
                for f in spec.fields
            ],
        }


def _length(spec: FieldSpec) -> int:
    """Describe's `length`: characters for text types, 0 for the others (as Salesforce says)."""
    return {"id": 18, "reference": 18, "textarea": 32000, "url": 255, "email": 80}.get(
        spec.type, 255 if spec.type in TEXT_TYPES else 0
    )


def _relationship(spec: FieldSpec) -> str | None:
    if spec.type != "reference" or spec.name == "Id":
        return None
    return (
        spec.name.removesuffix("Id")
        if spec.name.endswith("Id")
        else spec.name.replace("__c", "__r")
    )


def _body(body: object) -> Mapping[str, object]:
    if not isinstance(body, Mapping):
        raise SalesforceError(
            400, "JSON_PARSER_ERROR", "The request body must be a JSON object of field values"
        )
    return body
