"""The Salesforce connector: reads records and writes back defaults, prompts and follow-up tasks
through Salesforce's REST API (simple-salesforce), frugal with API calls."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from lastmile.connector.base import (
    ApiUsage,
    ChangedRecords,
    CrmError,
    NotFound,
    RecordState,
    WriteBack,
    WriteResult,
)
from lastmile.connector.salesforce.auth import (
    GivenSession,
    JwtLogin,
    Login,
    PasswordLogin,
    Session,
    login_url_for,
)
from lastmile.connector.salesforce.client import Client
from lastmile.connector.salesforce.writer import Writer, check_id, check_name

__all__ = [
    "GivenSession",
    "JwtLogin",
    "Login",
    "PasswordLogin",
    "SalesforceConnector",
    "from_settings",
    "make_login",
]


class SalesforceConnector:
    """`connector.base.Connector` for one Salesforce org.

    `login` says how to get (and renew) a session; `session` is one to start with (a given
    session id), so no login happens until it expires. Other keywords tune the Client (timeouts,
    retries, the pause on the API limit; `sleep`, `random` and `clock` are for tests)."""

    def __init__(
        self,
        login: Login,
        *,
        session: Session | None = None,
        api_version: str = "62.0",
        ca_bundle: Path | str | None = None,
        prompt_field: str = "Lastmile_Prompt__c",
        task_key_field: str = "Lastmile_Key__c",
        **client_options: Any,
    ) -> None:
        self.prompt_field = check_name(prompt_field)
        self.task_key_field = check_name(task_key_field)
        self._client = Client(
            login, session=session, api_version=api_version, ca_bundle=ca_bundle, **client_options
        )
        self._writer = Writer(self._client, task_key_field=task_key_field)

    def read(self, object: str, record_id: str, fields: Iterable[str]) -> RecordState:
        """One GET of the record with `fields=` (LastModifiedDate always included)."""
        check_name(object, "object")
        check_id(record_id)
        names = [check_name(name) for name in fields]
        wanted = list(dict.fromkeys([*names, "LastModifiedDate"]))
        try:
            body = self._client.call(
                "read",
                "GET",
                f"sobjects/{object}/{record_id}",
                object=object,
                record_id=record_id,
                params={"fields": ",".join(wanted)},
            )
        except CrmError as error:
            if any(problem.status == 404 for problem in error.problems):
                raise NotFound(f"{object} {record_id} does not exist") from None
            raise
        body = body if isinstance(body, dict) else {}
        values = {name: _scalar(body.get(name)) for name in names}
        return RecordState(
            object=object,
            record_id=str(body.get("Id") or record_id),
            fields=values,
            last_modified=parse_datetime(body.get("LastModifiedDate")),
        )

    def describe(self, object: str) -> dict[str, Any]:
        """The object's describe answer (fields, types, labels, picklist values), one call."""
        check_name(object, "object")
        body = self._client.call("describe", "GET", f"sobjects/{object}/describe", object=object)
        return body if isinstance(body, dict) else {}

    def apply(self, writes: Sequence[WriteBack]) -> list[WriteResult]:
        return self._writer.apply(writes)

    def usage(self) -> ApiUsage | None:
        return self._client.usage()

    def check(self) -> None:
        """Authenticate if needed and ask for the org's limits (one call)."""
        self._client.call("check", "GET", "limits/")

    def session_owner(self, session_id: str) -> tuple[str, str] | None:
        """(organisation id, user id) of a live session; None for one Salesforce does not know."""
        return self._client.session_owner(session_id)

    def changed_since(
        self,
        object: str,
        fields: Iterable[str],
        since: datetime,
        *,
        after: str | None = None,
        batch_size: int = 2000,
    ) -> Iterator[ChangedRecords]:
        """`connector.base.HistorySource`: records changed since `since`, with field history."""
        from lastmile.connector.salesforce.history import changed_since

        return changed_since(
            self._client, object, fields, since, after=after, batch_size=batch_size
        )


def parse_datetime(value: Any) -> datetime | None:
    """Salesforce's `2026-11-24T10:00:00.000+0000` as an aware datetime; None when absent."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _scalar(value: Any) -> Any:
    # Compound fields (addresses, geolocations) are not flat field values; leave them out.
    return None if isinstance(value, dict | list) else value


def _text(value: Any) -> str | None:
    """A setting's plain text, whether given as str or as pydantic's SecretStr."""
    if value is None:
        return None
    reveal = getattr(value, "get_secret_value", None)
    text = str(reveal() if reveal else value).strip()
    return text or None


def make_login(
    *,
    instance_url: str | None = None,
    session_id: str | None = None,
    username: str | None = None,
    password: str | None = None,
    security_token: str | None = None,
    consumer_key: str | None = None,
    private_key_file: Path | str | None = None,
    domain: str = "login",
    login_url: str | None = None,
    api_version: str = "62.0",
) -> tuple[Login, Session | None]:
    """The Login the credentials allow, and the session to start with (when a session id is
    given). Credentials win for renewal: JWT, then username + password; a bare session id cannot
    be renewed."""
    base = login_url or login_url_for(domain)
    first = Session(instance_url.rstrip("/"), session_id) if instance_url and session_id else None
    login: Login
    if consumer_key or private_key_file:
        if not (consumer_key and private_key_file and username):
            raise ValueError(
                "JWT login needs LASTMILE_SALESFORCE_CONSUMER_KEY, "
                "LASTMILE_SALESFORCE_PRIVATE_KEY_FILE and LASTMILE_SALESFORCE_USERNAME"
            )
        login = JwtLogin.from_key_file(
            private_key_file, login_url=base, consumer_key=consumer_key, username=username
        )
    elif username or password:
        if not (username and password):
            raise ValueError(
                "password login needs LASTMILE_SALESFORCE_USERNAME and "
                "LASTMILE_SALESFORCE_PASSWORD (and usually _SECURITY_TOKEN)"
            )
        login = PasswordLogin(base, username, password, security_token or "", api_version)
    elif first is not None:
        login = GivenSession(first.instance_url, first.session_id)
    else:
        raise ValueError(
            "no Salesforce credentials: set LASTMILE_SALESFORCE_INSTANCE_URL and _SESSION_ID, "
            "or _USERNAME + _PASSWORD + _SECURITY_TOKEN, or _CONSUMER_KEY + _PRIVATE_KEY_FILE + "
            "_USERNAME"
        )
    return login, first


def from_settings(settings: Any, **options: Any) -> SalesforceConnector:
    """A connector from `lastmile.settings.Settings` (or any object with the same attribute
    names: salesforce_instance_url, salesforce_session_id, ..., prompt_field, task_key_field)."""
    api_version = _text(getattr(settings, "salesforce_api_version", None)) or "62.0"
    login, first = make_login(
        instance_url=_text(getattr(settings, "salesforce_instance_url", None)),
        session_id=_text(getattr(settings, "salesforce_session_id", None)),
        username=_text(getattr(settings, "salesforce_username", None)),
        password=_text(getattr(settings, "salesforce_password", None)),
        security_token=_text(getattr(settings, "salesforce_security_token", None)),
        consumer_key=_text(getattr(settings, "salesforce_consumer_key", None)),
        private_key_file=_text(getattr(settings, "salesforce_private_key_file", None)),
        domain=_text(getattr(settings, "salesforce_domain", None)) or "login",
        login_url=_text(getattr(settings, "salesforce_login_url", None)),
        api_version=api_version,
    )
    return SalesforceConnector(
        login,
        session=first,
        api_version=api_version,
        ca_bundle=_text(getattr(settings, "salesforce_ca_bundle", None)),
        prompt_field=_text(getattr(settings, "prompt_field", None)) or "Lastmile_Prompt__c",
        task_key_field=_text(getattr(settings, "task_key_field", None)) or "Lastmile_Key__c",
        **options,
    )
