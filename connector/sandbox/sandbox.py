"""`Sandbox`: a local HTTPS server speaking the part of Salesforce's REST API Lastmile uses, with
its login endpoints, Outbound Messaging, a fault switch and record pages. Data lives in SQLite
in `data_dir` and survives restarts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from cheroot import wsgi

from .app import create_app
from .certs import ensure_certificates
from .demo import INTEGRATION_USER_ID, SALES_USER_ID, seed_demo, seed_users
from .faults import Faults
from .history import FieldHistory
from .https import https_url, serve_https, stop_serving
from .ids import random_id, token
from .login import LoginContext, public_key_pem, same_secret, secret_hash
from .org import Org
from .outbound import Outbox
from .related import follow_ups as tasks_caused_by
from .rest import RestApi
from .schema import load_schema
from .store import Store


class Sandbox:
    """The sandbox CRM. Nothing starts in __init__; `start()` serves HTTPS in a thread."""

    def __init__(
        self,
        data_dir: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        daily_limit: int = 15_000,
        api_version: str = "62.0",
        clock: Callable[[], datetime] | None = None,
        outbound_retry_s: float = 1.0,
        outbound_retry_cap_s: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.daily_limit = daily_limit
        self.api_version = api_version
        self.faults = Faults()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._retry = (outbound_retry_s, outbound_retry_cap_s)
        self._store: Store | None = None
        self._server: wsgi.Server | None = None
        self._thread: threading.Thread | None = None
        self._calls = 0
        self._calls_lock = threading.Lock()
        self.ca_bundle = self.data_dir / "ca.pem"
        self._labels: dict[str | None, dict[str, str]] = {}

    # lifecycle
    def _open(self) -> Store:
        """Open (and on first use create) the org in data_dir; idempotent."""
        if self._store is not None:
            return self._store
        self.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(self.data_dir / "sandbox.db")
        self._store = store
        self.org = Org(store, load_schema(), self._clock, self.faults)
        if store.meta("org-id") is None:
            store.set_meta("org-id", random_id("00D"))
        seed_users(self.org)
        session = store.meta("session-id")
        if session is None or store.session_user(session) is None:
            store.set_meta("session-id", self.issue_session(INTEGRATION_USER_ID))
        self.outbox = Outbox(
            store,
            self.org.schema,
            self.faults,
            lambda: self.org_id,
            lambda: self.instance_url,
            self.outbound_session,
            self.api_version,
            *self._retry,
        )
        self.org.notify = self.outbox.enqueue
        self.history = FieldHistory(store, self.org.schema)
        self.org.track = self.history.record
        self.api = RestApi(self.org, self.daily_limit, self.usage_today)
        return store

    def start(self) -> Sandbox:
        """Serve HTTPS in a background thread (and deliver Outbound Messages); returns self."""
        if self._server is not None:
            return self
        self._open()
        ca, cert, key = ensure_certificates(self.data_dir, self.host)
        self.ca_bundle = ca
        self._server, self._thread = serve_https(
            create_app(self), self.host, self.port, cert, key, threads=16, name="sandbox-https"
        )
        self.port = self._server.bind_addr[1]
        self.outbox.start()
        return self

    def stop(self) -> None:
        """Stop serving and delivering; queued notifications stay in SQLite for the next start."""
        if self._server is not None:
            self.outbox.stop()
            stop_serving(self._server, self._thread)
            self._server = self._thread = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # what clients are told
    @property
    def store(self) -> Store:
        return self._open()

    @property
    def instance_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started: call start() first")
        return https_url(self.host, self.port)

    @property
    def org_id(self) -> str:
        return self.store.meta("org-id")  # type: ignore[return-value]

    @property
    def session_id(self) -> str:
        """The integration user's session id (invalid after expire_sessions, until a restart)."""
        return self.store.meta("session-id")  # type: ignore[return-value]

    integration_user_id = INTEGRATION_USER_ID
    sales_user_id = SALES_USER_ID

    def settings(self) -> dict[str, str]:
        """The LASTMILE_* settings that connect Lastmile to this sandbox."""
        return {
            "LASTMILE_SALESFORCE_INSTANCE_URL": self.instance_url,
            "LASTMILE_SALESFORCE_SESSION_ID": self.session_id,
            "LASTMILE_SALESFORCE_CA_BUNDLE": str(self.ca_bundle.resolve()),
            "LASTMILE_SALESFORCE_API_VERSION": self.api_version,
            "LASTMILE_SALESFORCE_ORG_IDS": self.org_id,
            "LASTMILE_INTEGRATION_USER_ID": self.integration_user_id,
        }

    # API usage
    def _usage_key(self) -> str:
        return f"api-usage:{self._clock().astimezone(UTC).date().isoformat()}"

    def usage_today(self) -> int:
        """REST calls counted against today's (UTC) limit, across restarts."""
        return self.store.counter(self._usage_key())

    def count_call(self) -> None:
        self.store.next_number(self._usage_key())
        with self._calls_lock:
            self._calls += 1

    @property
    def api_calls(self) -> int:
        """REST API calls served by this Sandbox object (what counts against the limit)."""
        return self._calls

    # sessions and logins
    def issue_session(self, user_id: str) -> str:
        session_id = f"{self.org_id[:15]}!{token(96)}"
        self.store.add_session(session_id, user_id, self._clock().isoformat())
        return session_id

    def outbound_session(self) -> str:
        """The session Outbound Messages carry (sent as the integration user, "Send Session
        ID" ticked): kept while it is valid, a new one after `expire_sessions`."""
        with self._calls_lock:
            current = self.store.meta("outbound-session")
            if not current or self.store.session_user(current) is None:
                current = self.issue_session(INTEGRATION_USER_ID)
                self.store.set_meta("outbound-session", current)
            return current

    def expire_sessions(self) -> None:
        """Every session id answers 401 INVALID_SESSION_ID from now on, until a new login."""
        self.store.expire_sessions()

    def add_login(
        self, username: str, password: str, security_token: str = "", user_id: str | None = None
    ) -> None:
        """Let `username` log in with password + security token (as the integration user)."""
        self.store.set_login(
            username,
            secret_hash(username, password + security_token),
            user_id or INTEGRATION_USER_ID,
        )

    def add_jwt_app(self, consumer_key: str, public_key_pem_text: str) -> None:
        """A connected app for the JWT bearer flow: its consumer key and certificate/public key."""
        self.store.set_jwt_app(consumer_key, public_key_pem(public_key_pem_text))

    def _check_password(self, username: str, given: str) -> str | None:
        login = self.store.login(username)
        if login is None or not same_secret(login[0], username, given):
            return None
        return login[1]

    def _user_for(self, username: str) -> str | None:
        login = self.store.login(username)
        if login is not None:
            return login[1]
        found = self.store.find("User", "Username", username)
        return found[0] if found else None

    def login_context(self) -> LoginContext:
        return LoginContext(
            instance_url=self.instance_url,
            org_id=self.org_id,
            check_password=self._check_password,
            user_for=self._user_for,
            jwt_key=self.store.jwt_app,
            issue_session=self.issue_session,
        )

    # what an admin or a person does in the CRM
    def outbound(
        self,
        object: str,
        endpoint_url: str,
        fields: list[str] | None = None,
    ) -> str:
        """Send Outbound Messages for `object` to `endpoint_url` (fields None: all); action id."""
        self._open()
        return self.outbox.setup(self.org.spec(object), endpoint_url, fields)

    def outbound_pending(self) -> int:
        """Notifications waiting for an Ack."""
        self._open()
        return self.outbox.pending()

    def save_as(
        self,
        user_id: str,
        object: str,
        fields: Mapping[str, object],
        record_id: str | None = None,
    ) -> str:
        """A person saving a record in the UI (create when record_id is None); the record id.
        Raises SalesforceError as the UI would show it."""
        self._open()
        if record_id is None:
            return self.org.create(object, fields, user_id)
        self.org.update(object, record_id, fields, user_id)
        return self.org.get(object, record_id)["Id"]

    def follow_ups(self, record_id: str) -> list[dict]:
        """The tasks Lastmile created because of a save of `record_id`, oldest first."""
        return tasks_caused_by(self.store, record_id)

    # how the record pages read
    def use_labels(self, labels: Mapping[str, str], object: str | None = None) -> None:
        """Show these field labels (field name -> label) on the record pages instead of the
        schema's: for the fields of `object`, or of every object when None. Replaces what was
        given before for the same object; an empty mapping brings back the schema's labels."""
        scope = None if object is None else object.lower()
        given = {str(name): str(label) for name, label in labels.items() if label}
        # A new dict rather than an update: pages being rendered keep a consistent one.
        self._labels = {**self._labels, scope: given}

    def labels(self, object_name: str) -> dict[str, str]:
        """The field labels given for `object_name` (its own over those for every object)."""
        return {**self._labels.get(None, {}), **self._labels.get(object_name.lower(), {})}

    def seed_demo(self) -> dict[str, str]:
        """Add the demo records once (accounts, contacts, an opportunity, a lead, a case, calls)."""
        self._open()
        return seed_demo(self.store, self.org.clock().date(), self.save_as)
