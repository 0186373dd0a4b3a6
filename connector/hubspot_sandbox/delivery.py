"""Webhook delivery as HubSpot does it: the notifications of changes to contacts, companies, deals
and tickets (`deal.creation`, `deal.propertyChange`, `deal.deletion`), up to 100 in one POST,
signed with v3 signatures, retried with backoff until the receiver answers 2xx."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime

import requests
import structlog

from lastmile.connector.hubspot.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

from .portal import SINGULAR, Change

log = structlog.get_logger("hubspot_sandbox")

BATCH = 100


class Deliveries:
    """The queue of notifications and the thread that sends them to `url`."""

    def __init__(
        self,
        url: str | None,
        secret: str,
        portal_id: int,
        app_id: int,
        *,
        retry_s: float = 1.0,
        retry_cap_s: float = 60.0,
        timeout_s: float = 5.0,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.url = url
        self._secret = secret
        self._portal_id, self._app_id = portal_id, app_id
        self._retry = (retry_s, retry_cap_s)
        self._timeout = timeout_s
        self._now_ms = now_ms
        self._ids = itertools.count(1)
        self._queue: list[dict] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent: list[list[dict]] = []  # batches the receiver took, for tests and the demo

    def notify(
        self,
        object_name: str,
        record_id: str,
        kind: str,
        changed: Mapping[str, str | None],
        when: datetime,
        who: Change,
    ) -> None:
        """Queue the notifications of one change (called by the portal, under its lock)."""
        singular = SINGULAR.get(object_name)
        if singular is None or self.url is None:
            return  # HubSpot's webhooks subscribe to these object types only
        base = {
            "subscriptionType": f"{singular}.{kind}",
            "portalId": self._portal_id,
            "appId": self._app_id,
            "occurredAt": int(when.timestamp() * 1000),
            "attemptNumber": 0,
            "objectId": int(record_id),
            "changeSource": who.source,
        }
        if who.source_id is not None:
            base["sourceId"] = who.source_id
        items = (
            [dict(base)]
            if kind != "propertyChange"
            else [
                {**base, "propertyName": name, "propertyValue": "" if value is None else value}
                for name, value in changed.items()
            ]
        )
        with self._lock:
            for item in items:
                item["eventId"] = next(self._ids)
                item["subscriptionId"] = 1
                self._queue.append(item)
        self._wake.set()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def start(self) -> None:
        if self.url is not None and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="hubspot-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def deliver(self) -> bool:
        """Send one batch of what is queued; True when the receiver took it (or none waited)."""
        with self._lock:
            batch = self._queue[:BATCH]
        if not batch or self.url is None:
            return True
        body = json.dumps(batch).encode()
        timestamp = str(self._now_ms())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, "POST", self.url, body, timestamp),
        }
        try:
            answer = requests.post(self.url, data=body, headers=headers, timeout=self._timeout)
            ok = 200 <= answer.status_code < 300
            status: int | None = answer.status_code
        except requests.RequestException:
            ok, status = False, None
        if ok:
            with self._lock:
                del self._queue[: len(batch)]
            self.sent.append(batch)
        else:
            log.warning("webhook delivery failed", status=status, notifications=len(batch))
            with self._lock:
                for item in self._queue[: len(batch)]:
                    item["attemptNumber"] += 1
        return ok

    def _loop(self) -> None:
        delay = self._retry[0]
        while not self._stop.is_set():
            self._wake.wait(timeout=delay if self.pending else None)
            self._wake.clear()
            if self._stop.is_set():
                return
            time.sleep(0.05)  # a burst of changes goes out together, as HubSpot batches them
            while self.pending and not self._stop.is_set():
                if not self.deliver():
                    delay = min(self._retry[1], delay * 2)
                    break
                delay = self._retry[0]
