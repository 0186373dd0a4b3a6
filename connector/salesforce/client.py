"""One REST call to Salesforce, done carefully: through simple-salesforce, with the session
renewed once when it expired, transient failures retried with capped exponential backoff and
full jitter, `Sforce-Limit-Info` read from every answer, and writes paused on
REQUEST_LIMIT_EXCEEDED."""

from __future__ import annotations

import random as _random
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import structlog
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from lastmile.connector.base import (
    ApiUsage,
    AuthError,
    CrmError,
    CrmProblem,
    TransientError,
)
from lastmile.connector.limits import Retries, WritePause
from lastmile.connector.salesforce.auth import Login, Session
from lastmile.connector.salesforce.messages import WITHHELD, field_names, without_values

log = structlog.get_logger("connector.salesforce")

_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,79}")


def problems_from(content: Any, status: int | None) -> tuple[CrmProblem, ...]:
    """Salesforce's error list (`[{"errorCode"|"statusCode", "message", "fields"}]`) as
    CrmProblems, messages without the values they quote (messages.py); anything else becomes
    one problem naming the HTTP status."""
    items = content if isinstance(content, list) else [content]
    problems = []
    for item in items:
        if isinstance(item, dict) and (item.get("errorCode") or item.get("statusCode")):
            problems.append(
                CrmProblem(
                    code=_code(item.get("errorCode") or item.get("statusCode")),
                    message=without_values(str(item.get("message", ""))),
                    fields=field_names(item.get("fields")),
                    status=status,
                )
            )
    if not problems:
        # not Salesforce's error list (a proxy's page, say): its text is not shown either
        problems.append(CrmProblem(code=f"HTTP_{status}", message=WITHHELD, status=status))
    return tuple(problems)


def _code(code: object) -> str:
    """An error code is upper case letters and _; anything else is not shown."""
    text = str(code)
    return text if _CODE.fullmatch(text) else "UNKNOWN_ERROR"


def has_transient_code(content: Any) -> bool:
    """Whether an error list (or anything nested in an answer) names a transient error code."""
    if isinstance(content, dict):
        code = content.get("errorCode") or content.get("statusCode")
        return code in _TRANSIENT_CODES or any(has_transient_code(v) for v in content.values())
    if isinstance(content, list):
        return any(has_transient_code(item) for item in content)
    return False


class TrustingSession(requests.Session):
    """A requests session that trusts one CA bundle, whatever the environment says.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override `Session.verify` for every request
    that does not pass `verify` itself, so the bundle is passed on each request."""

    def __init__(self, ca_bundle: Path | str) -> None:
        super().__init__()
        self.verify = str(ca_bundle)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, *args, **kwargs)


class Client:
    """REST calls under /services/data/vNN.N/ for one org, shared by reads and writes."""

    def __init__(
        self,
        login: Login,
        *,
        session: Session | None = None,
        api_version: str = "62.0",
        ca_bundle: Path | str | None = None,
        timeout: float | tuple[float, float] = (5.0, 20.0),  # connect, read (seconds)
        attempts: int = 4,
        base_delay: float = 0.2,
        max_delay: float = 5.0,
        pause: timedelta = timedelta(minutes=5),
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api_version = api_version.removeprefix("v")
        self._login = login
        self._session = session
        self._timeout = timeout
        self._retries = Retries(attempts, base_delay, max_delay, random)
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._sf: Salesforce | None = None
        self._paused = WritePause(
            "salesforce",
            length=pause,
            clock=clock,
            refused="Salesforce API limit reached; writes are paused",
            spent="Salesforce answered REQUEST_LIMIT_EXCEEDED; writes paused",
        )
        self._used: int | None = None
        self._limit: int | None = None
        self.calls = 0
        self.http = requests.Session() if ca_bundle is None else TrustingSession(ca_bundle)
        self.http.hooks["response"].append(self._read_limit_info)

    # -- state others read ------------------------------------------------------------------

    def usage(self) -> ApiUsage | None:
        if self._used is None or self._limit is None:
            return None
        return ApiUsage(used=self._used, limit=self._limit, calls=self.calls)

    @property
    def paused_until(self) -> datetime | None:
        return self._paused.until

    @property
    def attempts(self) -> int:
        """How often a call (or a part of one that met a locked row) is tried."""
        return self._retries.attempts

    def pause_before_retry(self, attempt: int) -> None:
        """Wait the backoff before trying again what failed at `attempt` (parts of a call)."""
        self._sleep(self._retries.backoff(attempt))

    def data_path(self, path: str) -> str:
        """A resource path as a Composite subrequest names it: /services/data/vNN.N/<path>."""
        return f"/services/data/v{self.api_version}/{path}"

    # -- calls ------------------------------------------------------------------------------

    def call(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        write: bool = False,
        object: str | None = None,
        record_id: str | None = None,
        params: dict[str, str] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        retry_if: Callable[[Any], bool] | None = None,
    ) -> Any:
        """Make one REST call and return its JSON body (None for 204).

        Raises CrmError (with the HTTP status on each problem) for a permanent error, AuthError
        when no session can be had, LimitExceeded on REQUEST_LIMIT_EXCEEDED (and for writes
        while paused), TransientError when the retries ran out. `retry_if(body)` marks a 2xx
        answer as transient too (a Composite subrequest that met a locked row)."""
        if write:
            self._paused.refuse_while_paused()
        bound = log.bind(kind=kind, object=object, record_id=record_id)
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            sf = self._salesforce()
            self.calls += 1
            try:
                body = sf.restful(
                    path,
                    params=params,
                    method=method,
                    json=json,
                    headers=headers or {},
                    timeout=self._timeout,
                )
            except SalesforceError as error:
                status = error.status
                problems = problems_from(error.content, status)
                codes = [p.code for p in problems]
                if status == 401 and "INVALID_SESSION_ID" in codes:
                    bound.info("salesforce.call", status=status, attempt=attempt, outcome=codes[0])
                    if renewed or not self._login.renewable:
                        raise AuthError(
                            "the Salesforce session expired and cannot be renewed: set a "
                            "username + password or JWT credentials, or a fresh session id"
                        ) from None
                    self._renew(sf)
                    renewed = True
                    attempt -= 1  # a renewal is not a failed attempt
                    continue
                if "REQUEST_LIMIT_EXCEEDED" in codes:
                    bound.warning(
                        "salesforce.call",
                        status=status,
                        attempt=attempt,
                        outcome=codes[0],
                    )
                    raise self._paused.start() from None
                if status >= 500 or any(code in _TRANSIENT_CODES for code in codes):
                    outcome = f"transient:{codes[0]}"
                else:
                    bound.info("salesforce.call", status=status, attempt=attempt, outcome=codes[0])
                    raise CrmError(problems) from None
            except requests.exceptions.SSLError:
                # An untrusted certificate does not heal by retrying.
                bound.warning("salesforce.call", status=None, attempt=attempt, outcome="SSLError")
                raise TransientError(
                    "TLS with Salesforce failed (is the certificate trusted? "
                    "LASTMILE_SALESFORCE_CA_BUNDLE names an extra one to trust)"
                ) from None
            except requests.RequestException as error:
                status, outcome = None, f"transient:{type(error).__name__}"
            else:
                if retry_if is None or not retry_if(body):
                    bound.info("salesforce.call", status="ok", attempt=attempt, outcome="ok")
                    self._lift_pause_if_below_limit()
                    return body
                status, outcome = 200, "transient:UNABLE_TO_LOCK_ROW"
            bound.warning("salesforce.call", status=status, attempt=attempt, outcome=outcome)
            if attempt >= self._retries.attempts:
                raise TransientError(
                    f"Salesforce {kind} failed {attempt} times ({outcome}); try again later"
                )
            self._sleep(self._retries.backoff(attempt))

    def session_owner(self, session_id: str) -> tuple[str, str] | None:
        """(organisation id, user id) of a live session, asked of this org's own instance
        (OpenID Connect userinfo); None when Salesforce does not know the session. Raises
        TransientError when it cannot be asked. Not an API call against the daily limit."""
        self._salesforce()  # logged in: the instance URL is the configured org's
        assert self._session is not None
        url = f"{self._session.instance_url}/services/oauth2/userinfo"
        try:
            response = self.http.get(
                url, headers={"Authorization": f"Bearer {session_id}"}, timeout=self._timeout
            )
        except requests.RequestException as error:
            raise TransientError(f"Salesforce userinfo failed ({type(error).__name__})") from None
        if response.status_code in (401, 403):
            return None
        if response.status_code != 200:
            raise TransientError(f"Salesforce userinfo answered {response.status_code}")
        try:
            info = response.json()
            return str(info["organization_id"]), str(info["user_id"])
        except (ValueError, KeyError, TypeError):
            raise TransientError("Salesforce userinfo answered no organisation") from None

    # -- internals --------------------------------------------------------------------------

    def _salesforce(self) -> Salesforce:
        with self._lock:
            if self._sf is None:
                if self._session is None:
                    self._session = self._login.login(self.http)
                self._sf = self._build(self._session)
            return self._sf

    def _build(self, session: Session) -> Salesforce:
        return Salesforce(
            instance_url=session.instance_url,
            session_id=session.session_id,
            session=self.http,
            version=self.api_version,
        )

    def _renew(self, expired: Salesforce) -> None:
        with self._lock:
            if self._sf is not expired:  # another thread renewed already
                return
            self._session = self._login.login(self.http)
            self._sf = self._build(self._session)
            log.info("salesforce.session_renewed")

    def _read_limit_info(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self._used, self._limit = int(match.group(1)), int(match.group(2))

    def _lift_pause_if_below_limit(self) -> None:
        used, limit = self._used, self._limit
        if used is not None and limit and used < limit:
            self._paused.lift()
