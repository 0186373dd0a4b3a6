"""`HubSpotSandbox`: a local HTTPS server speaking the part of HubSpot's CRM API Lastmile uses
(and its OAuth token endpoint), delivering signed webhooks, with record pages for people. It
serves TLS the way the Salesforce sandbox does (its certificate authority and cheroot adapter);
the account lives in memory."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from cheroot import wsgi

from lastmile.connector.sandbox.certs import ensure_certificates
from lastmile.connector.sandbox.https import https_url, serve_https, stop_serving

from .api import Limits, create_app
from .delivery import Deliveries
from .oauth import AppTokens
from .portal import Change, Portal, Record

PORTAL_ID = 62515
APP_ID = 7_001_234  # Lastmile's private app: its changes say sourceId = this id
SALES_USER_ID = 2_001  # a sales person's user id (`userId:2001` in notifications)
SALES_OWNER_ID = "3001"  # the same person as a record owner (hubspot_owner_id)


class HubSpotSandbox:
    """The HubSpot sandbox. Nothing starts in __init__; `start()` serves HTTPS in a thread."""

    def __init__(
        self,
        data_dir: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_url: str | None = None,
        daily_limit: int = 250_000,
        burst_limit: int = 190,
        clock: Callable[[], datetime] | None = None,
        retry_s: float = 1.0,
        token_lifetime_s: float = 1800,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.access_token = "pat-sandbox-" + secrets.token_hex(16)
        self.user_token = "pat-user-" + secrets.token_hex(16)
        self.client_secret = secrets.token_hex(16)
        self.app_id = APP_ID
        clock = clock or (lambda: datetime.now(UTC))
        self._clock = clock
        self.webhooks = Deliveries(
            webhook_url, self.client_secret, PORTAL_ID, APP_ID, retry_s=retry_s
        )
        self.portal = Portal(clock=clock, notify=self.webhooks.notify)
        # Lastmile as a public app: OAuth access tokens that expire (HubSpot: 30 minutes); the
        # app's changes are Lastmile's own, as the private app's are.
        self.oauth = AppTokens(
            self.client_secret, Change("INTEGRATION", str(APP_ID)), clock, token_lifetime_s
        )
        self.limits = Limits(daily=daily_limit, burst=burst_limit)
        self.ca_bundle = self.data_dir / "ca.pem"
        self._server: wsgi.Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> HubSpotSandbox:
        if self._server is not None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ca, cert, key = ensure_certificates(self.data_dir, self.host)
        self.ca_bundle = ca
        tokens = {
            self.access_token: Change("INTEGRATION", str(APP_ID)),
            self.user_token: Change("API", f"userId:{SALES_USER_ID}"),
        }
        app = create_app(self.portal, tokens, self.limits, self._clock, self.oauth)
        self._server, self._thread = serve_https(
            app, self.host, self.port, cert, key, threads=8, name="hubspot-sandbox"
        )
        self.port = self._server.bind_addr[1]
        self.webhooks.start()
        return self

    def stop(self) -> None:
        self.webhooks.stop()
        if self._server is not None:
            stop_serving(self._server, self._thread)
            self._server = self._thread = None

    def __enter__(self) -> HubSpotSandbox:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # what clients are told
    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started: call start() first")
        return https_url(self.host, self.port)

    def settings(self, oauth: bool = False) -> dict[str, str]:
        """The LASTMILE_* settings that connect Lastmile to this sandbox: as a private app (an
        access token), or with `oauth` as a public app (client id and refresh token)."""
        if oauth:
            credentials = {
                "LASTMILE_HUBSPOT_CLIENT_ID": self.oauth.client_id,
                "LASTMILE_HUBSPOT_REFRESH_TOKEN": self.oauth.refresh_token,
            }
        else:
            credentials = {"LASTMILE_HUBSPOT_ACCESS_TOKEN": self.access_token}
        return {
            "LASTMILE_HUBSPOT_BASE_URL": self.base_url,
            **credentials,
            "LASTMILE_HUBSPOT_CLIENT_SECRET": self.client_secret,
            "LASTMILE_HUBSPOT_CA_BUNDLE": str(self.ca_bundle.resolve()),
            "LASTMILE_INTEGRATION_USER_ID": str(APP_ID),
        }

    # what a person does in HubSpot's own pages
    def save_as_user(
        self, object_name: str, values: Mapping[str, Any], record_id: str | None = None
    ) -> Record:
        """Create (no id) or update a record as the sales person would in HubSpot's UI."""
        who = Change("CRM_UI", f"userId:{SALES_USER_ID}")
        if record_id is None:
            return self.portal.create(object_name, values, who)
        return self.portal.update(object_name, record_id, values, who)

    def tasks_of(self, object_name: str, record_id: str) -> list[Record]:
        """The tasks associated with a record."""
        ids = self.portal.associated(object_name, record_id, "tasks")
        return [self.portal.get("tasks", i) for i in ids]

    def seed_demo(self) -> dict[str, str]:
        """A few deals owned by the sales person; their ids by name."""
        made = {}
        for name, stage in (("Acme renewal", "contractsent"), ("Globex pilot", "qualifiedtobuy")):
            values = {"dealname": name, "dealstage": stage, "pipeline": "default"}
            record = self.save_as_user("deals", {**values, "hubspot_owner_id": SALES_OWNER_ID})
            made[name] = record.id
        return made
