"""Outbound Messaging as Salesforce does it: on create or update of a configured object, a SOAP 1.1
`notifications` message to the endpoint, up to 100 notifications a message, retried with capped
exponential backoff until the endpoint answers `<Ack>true</Ack>`. The queue lives in SQLite."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

import defusedxml.ElementTree as SafeET
import requests
import structlog

from .faults import Faults
from .ids import random_id
from .schema import ObjectSpec, Schema, parse_datetime
from .store import Store

log = structlog.get_logger("lastmile.sandbox.outbound")

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
MAX_PER_MESSAGE = 100


def _xml_value(kind: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "datetime":
        moment = parse_datetime(str(value))
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return escape(str(value))


def envelope(
    org_id: str,
    action_id: str,
    session_id: str,
    enterprise_url: str,
    partner_url: str,
    notifications: list[dict],
    schema: Schema,
) -> str:
    """The SOAP envelope of one message: `notifications` with one `Notification` per item, and
    the session of the user it is sent as (the Outbound Message's "Send Session ID")."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        " <soapenv:Body>\n"
        f'  <notifications xmlns="{OUTBOUND_NS}">\n'
        f"   <OrganizationId>{org_id}</OrganizationId>\n"
        f"   <ActionId>{action_id}</ActionId>\n"
        f"   <SessionId>{escape(session_id)}</SessionId>\n"
        f"   <EnterpriseUrl>{escape(enterprise_url)}</EnterpriseUrl>\n"
        f"   <PartnerUrl>{escape(partner_url)}</PartnerUrl>\n"
    ]
    for item in notifications:
        spec = schema.object(item["object"])
        kinds = {f.name: f.type for f in spec.fields} if spec else {}
        parts.append(
            f"   <Notification>\n    <Id>{item['id']}</Id>\n"
            f"    <sObject xsi:type={quoteattr('sf:' + item['object'])} "
            f'xmlns:sf="{SOBJECT_NS}">\n'
        )
        for name, value in item["sobject"].items():
            if value is None:
                parts.append(f'     <sf:{name} xsi:nil="true"/>\n')
            else:
                text = _xml_value(kinds.get(name, "string"), value)
                parts.append(f"     <sf:{name}>{text}</sf:{name}>\n")
        parts.append("    </sObject>\n   </Notification>\n")
    parts.append("  </notifications>\n </soapenv:Body>\n</soapenv:Envelope>\n")
    return "".join(parts)


def acknowledged(body: bytes) -> bool:
    """Whether a response is a `notificationsResponse` with `<Ack>true</Ack>`."""
    try:
        root = SafeET.fromstring(body)
    except Exception:  # any parse failure means no Ack; the message is retried
        return False
    return any(
        el.tag.rsplit("}", 1)[-1] == "Ack" and (el.text or "").strip() == "true"
        for el in root.iter()
    )


class Outbox:
    """Queues notifications inside the writing transaction and delivers them in a thread."""

    def __init__(
        self,
        store: Store,
        schema: Schema,
        faults: Faults,
        org_id: Callable[[], str],
        instance_url: Callable[[], str],
        session_id: Callable[[], str],
        api_version: str,
        retry_s: float = 1.0,
        retry_cap_s: float = 60.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.store, self.schema, self.faults = store, schema, faults
        self._org_id, self._instance_url, self._session_id = org_id, instance_url, session_id
        self.api_version = api_version
        self.retry_s, self.retry_cap_s, self.timeout_s = retry_s, retry_cap_s, timeout_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = requests.Session()

    def setup(self, spec: ObjectSpec, endpoint: str, fields: list[str] | None) -> str:
        """Send Outbound Messages for `spec` to `endpoint` (None: all fields); the action id."""
        if urlsplit(endpoint).scheme not in ("http", "https"):
            raise ValueError(f"endpoint must be an http(s) URL, not {endpoint!r}")
        names = None
        if fields is not None:
            names = []
            for name in fields:
                field = spec.field(name)
                if field is None:
                    raise ValueError(f"{spec.name} has no field {name!r}")
                names.append(field.name)
        existing = self.store.outbound_setup(spec.name)
        action_id = existing[2] if existing else random_id("04k")
        self.store.set_outbound(spec.name, endpoint, names, action_id)
        return action_id

    def enqueue(self, spec: ObjectSpec, record: dict) -> None:
        """Queue a notification for a saved record, if its object sends Outbound Messages."""
        setup = self.store.outbound_setup(spec.name)
        if setup is None:
            return
        endpoint, fields, action_id = setup
        chosen = [
            f.name for f in spec.fields if fields is None or f.name in fields or f.name == "Id"
        ]
        self.store.enqueue(
            {
                "id": random_id("04l"),
                "action_id": action_id,
                "endpoint": endpoint,
                "object": spec.name,
                "record_id": record["Id"],
                "sobject": {name: record.get(name) for name in chosen},
                "next_at": 0.0,  # due at once (a time read here could be later than the sender's)
            }
        )
        self._wake.set()

    def pending(self) -> int:
        return self.store.pending()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sandbox-outbound", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5)
            self._thread = None
        self._http.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # a broken queue row must not end deliveries for good
                log.exception("outbound delivery loop failed")
            next_at = self.store.next_due()
            wait = 1.0 if next_at is None else min(1.0, max(0.0, next_at - time.time()))
            if wait > 0:
                self._wake.wait(wait)
            self._wake.clear()

    def deliver_due(self) -> int:
        """Send every due notification, batched per endpoint and action; how many were acked."""
        due = self.store.due(time.time(), limit=10 * MAX_PER_MESSAGE)
        batches: dict[tuple[str, str], list[dict]] = {}
        for item in due:
            # The endpoint as set up now: an admin who corrects the URL redirects the backlog.
            setup = self.store.outbound_setup(item["object"])
            endpoint = setup[0] if setup and setup[2] == item["action_id"] else item["endpoint"]
            batches.setdefault((endpoint, item["action_id"]), []).append(item)
        acked = 0
        for (endpoint, action_id), items in batches.items():
            for start in range(0, len(items), MAX_PER_MESSAGE):
                if self._stop.is_set():
                    return acked
                acked += self._send(endpoint, action_id, items[start : start + MAX_PER_MESSAGE])
        return acked

    def _send(self, endpoint: str, action_id: str, items: list[dict]) -> int:
        org_id = self._org_id()
        base = self._instance_url()
        xml = envelope(
            org_id,
            action_id,
            self._session_id(),
            f"{base}/services/Soap/c/{self.api_version}/{org_id[:15]}",
            f"{base}/services/Soap/u/{self.api_version}/{org_id[:15]}",
            items,
            self.schema,
        )
        ids = [item["id"] for item in items]
        try:
            response = self._http.post(
                endpoint,
                data=xml.encode("utf-8"),
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                timeout=self.timeout_s,
            )
            ok = response.status_code == 200 and acknowledged(response.content)
            status: object = response.status_code
        except requests.RequestException as exc:
            ok, status = False, type(exc).__name__
        if ok:
            now = time.time()
            again = {i["id"]: now for i in items if not i["redeliver"] and self.faults.duplicate()}
            self.store.acknowledged(ids, again)
            log.info("outbound delivered", notifications=len(ids), duplicates=len(again))
            return len(ids)
        attempts = min(item["attempts"] for item in items)
        delay = min(self.retry_cap_s, self.retry_s * 2**attempts)
        self.store.retry_later(ids, time.time() + delay)
        log.warning(
            "outbound not acknowledged", status=status, notifications=len(ids), retry_in_s=delay
        )
        return 0
