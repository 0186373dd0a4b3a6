"""One HubSpot API call, done carefully: through hubspot-api-client, with HubSpot's
`X-HubSpot-RateLimit-*` headers read from every answer, a spent burst window waited out before
the next call, 429 answered by waiting `Retry-After` (or the window), 5xx and network failures
retried with capped exponential backoff and full jitter (as the Salesforce connector does), and
writes paused once the daily limit is spent."""

from __future__ import annotations

import json
import random as _random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
import urllib3
from hubspot import HubSpot
from hubspot.crm.associations.v4.exceptions import ApiException as _AssociationsError
from hubspot.crm.objects.exceptions import ApiException as _ObjectsError
from hubspot.crm.properties.exceptions import ApiException as _PropertiesError
from urllib3.util.retry import Retry

from lastmile.connector.base import (
    ApiUsage,
    AuthError,
    CrmError,
    CrmProblem,
    LimitExceeded,
    TransientError,
)
from lastmile.connector.hubspot.oauth import FixedToken, OAuthApp, RefreshedToken
from lastmile.connector.limits import Retries, WritePause

log = structlog.get_logger("connector.hubspot")

# Each generated API package of hubspot-api-client has its own ApiException.
API_ERRORS: tuple[type[Exception], ...] = (_ObjectsError, _AssociationsError, _PropertiesError)
_CATEGORY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def problems_from(body: Any, status: int | None) -> tuple[CrmProblem, ...]:
    """HubSpot's error body (`{"status": "error", "message", "correlationId", "category"}`) as
    one CrmProblem. HubSpot's messages can quote the values sent (`Property values were not
    valid: [{"isValid":false,"message":"1x is not a valid number"...`), so only the category
    and the property names it lists are kept; the correlation id helps HubSpot's support."""
    data = _json(body)
    category = str(data.get("category") or f"HTTP_{status}") if isinstance(data, dict) else ""
    code = category if category and set(category) <= _CATEGORY_CHARS else f"HTTP_{status}"
    names: list[str] = []
    if isinstance(data, dict):
        for error in data.get("errors") or []:
            context = error.get("context") if isinstance(error, dict) else None
            if isinstance(context, dict):
                for name in context.get("propertyName") or []:
                    if isinstance(name, str) and name.replace("_", "").isalnum():
                        names.append(name)
        correlation = data.get("correlationId")
    else:
        correlation = None
    message = f"HubSpot refused the call (HTTP {status})"
    if isinstance(correlation, str) and len(correlation) <= 64:
        message += f"; correlation id {correlation}"
    return (CrmProblem(code=code, message=message, fields=tuple(names), status=status),)


def _json(body: Any) -> Any:
    if isinstance(body, bytes | str):
        try:
            return json.loads(body)
        except ValueError:
            return None
    return body


def _bearer(token: str) -> dict[str, str]:
    """hubspot-api-client's per-request authentication: it replaces the configuration's."""
    return {"type": "oauth2", "in": "header", "key": "Authorization", "value": f"Bearer {token}"}


def _header(headers: Mapping[str, str] | None, name: str) -> int | None:
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        return int(str(lowered[name.lower()]).strip())
    except (KeyError, ValueError):
        return None


class Client:
    """hubspot-api-client configured for one account, and the careful `call` every read and
    write goes through. The account is reached with a private app's `access_token` or, for a
    public app, with `oauth` credentials: an access token is then obtained with the refresh
    token and refreshed before it expires (`token_margin` seconds) and once when HubSpot
    answers 401.

    Every call is given the current token itself (`_request_auth`), so an API object that
    hubspot-api-client built before a refresh calls with the new token: the token lives in one
    place, not in each object's configuration."""

    def __init__(
        self,
        access_token: str | None = None,
        *,
        oauth: OAuthApp | None = None,
        token_margin: float = 60.0,
        token_clock: Callable[[], float] = time.monotonic,
        base_url: str | None = None,
        ca_bundle: Path | str | None = None,
        timeout: float | tuple[float, float] = (5.0, 20.0),
        attempts: int = 4,
        base_delay: float = 0.2,
        max_delay: float = 5.0,
        max_wait: float = 10.0,  # the longest 429 wait spent inside one call
        pause: timedelta = timedelta(minutes=5),
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if (access_token is None) == (oauth is None):
            raise ValueError("give a private app's access token or a public app's OAuth app")
        # a private app's token in the configuration too, for calls made without `call`
        config: dict[str, Any] = {"access_token": access_token, "retry": Retry(0)}
        if base_url:
            config["host"] = base_url.rstrip("/")
        if ca_bundle:
            config["ssl_ca_cert"] = str(ca_bundle)
        self.api = HubSpot(**config)
        self.tokens: FixedToken | RefreshedToken
        if oauth is not None:
            self.tokens = RefreshedToken(
                oauth,
                lambda: self.api.oauth.tokens_api,
                timeout=timeout,
                margin=token_margin,
                clock=token_clock,
            )
        else:
            self.tokens = FixedToken(str(access_token))
        self._timeout = timeout
        self._retries = Retries(attempts, base_delay, max_delay, random)
        self._max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._daily: tuple[int, int] | None = None  # (remaining, limit)
        self._window_spent_until: float | None = None  # monotonic time the burst window ends
        self._paused = WritePause(
            "hubspot",
            length=pause,
            clock=clock,
            refused="HubSpot daily API limit reached; writes are paused",
            spent="HubSpot's daily API limit is spent; writes paused",
        )
        self.calls = 0

    def usage(self) -> ApiUsage | None:
        if self._daily is None:
            return None
        remaining, limit = self._daily
        return ApiUsage(used=max(0, limit - remaining), limit=limit, calls=self.calls)

    def call(self, kind: str, method: Callable[..., Any], *args: Any, write: bool = False) -> Any:
        """Call one `*_with_http_info` method of hubspot-api-client; return its data.

        Raises CrmError for a permanent error (HTTP 4xx; `status` on the problem), AuthError
        for a token HubSpot refuses (a public app's after one refresh) or a refresh HubSpot
        refuses, LimitExceeded when the daily limit is spent (and for writes while paused) or
        a 429 asks to wait longer than `max_wait`, TransientError when the retries ran out."""
        if write:
            self._paused.refuse_while_paused()
        bound = log.bind(kind=kind)
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            self._wait_for_window()
            token = self.tokens.current()
            self.calls += 1
            wait: float | None = None
            try:
                data, _status, headers = method(
                    *args, _request_timeout=self._timeout, _request_auth=_bearer(token)
                )
            except API_ERRORS as error:
                status = int(getattr(error, "status", 0) or 0)
                headers = getattr(error, "headers", None)
                self._read_limits(headers)
                if status == 0:  # the client's own wrapping of a TLS or connection failure
                    bound.warning("hubspot.call", status=None, attempt=attempt, outcome="tls")
                    raise TransientError(
                        "TLS with HubSpot failed (is the certificate trusted? "
                        "LASTMILE_HUBSPOT_CA_BUNDLE names an extra one to trust)"
                    ) from None
                if status == 429:
                    wait = self._rate_limited(error, headers)
                    outcome = "transient:429"
                elif status == 401:
                    if not renewed and self.tokens.renew(token) is not None:
                        # expired early or revoked: once more with a new token, at once
                        bound.info("hubspot.call", status=status, attempt=attempt, outcome="renew")
                        renewed, attempt = True, attempt - 1
                        continue
                    bound.info("hubspot.call", status=status, attempt=attempt, outcome="auth")
                    raise AuthError(self.tokens.refusal) from None
                elif status >= 500:
                    outcome = f"transient:{status}"
                else:
                    bound.info("hubspot.call", status=status, attempt=attempt, outcome="refused")
                    raise CrmError(problems_from(getattr(error, "body", None), status)) from None
            except urllib3.exceptions.HTTPError as error:
                status, outcome = None, f"transient:{type(error).__name__}"
            else:
                self._read_limits(headers)
                bound.info("hubspot.call", status="ok", attempt=attempt, outcome="ok")
                return data
            bound.warning("hubspot.call", status=status, attempt=attempt, outcome=outcome)
            if attempt >= self._retries.attempts:
                raise TransientError(
                    f"HubSpot {kind} failed {attempt} times ({outcome}); try again later"
                )
            self._sleep(wait if wait is not None else self._retries.backoff(attempt))

    # -- internals ------------------------------------------------------------------------------

    def _rate_limited(self, error: Exception, headers: Mapping[str, str] | None) -> float:
        """Seconds to wait after a 429; raises LimitExceeded when the daily limit is spent or
        the wait is longer than one call should block."""
        body = _json(getattr(error, "body", None))
        policy = body.get("policyName") if isinstance(body, dict) else None
        if policy == "DAILY" or (self._daily is not None and self._daily[0] <= 0):
            raise self._paused.start()
        after = _header(headers, "Retry-After")
        interval = _header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        wait = float(after) if after is not None else (interval or 1000) / 1000
        if wait > self._max_wait:
            until = self._clock() + timedelta(seconds=wait)
            raise LimitExceeded("HubSpot answered 429: too many calls; try again later", until)
        return wait

    def _read_limits(self, headers: Mapping[str, str] | None) -> None:
        daily = _header(headers, "X-HubSpot-RateLimit-Daily")
        remaining = _header(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        if daily is not None and remaining is not None:
            self._daily = (remaining, daily)
            if remaining > 0:
                self._paused.lift()
        left = _header(headers, "X-HubSpot-RateLimit-Remaining")
        interval = _header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        if left is not None and left <= 0 and interval:
            with self._lock:
                self._window_spent_until = time.monotonic() + interval / 1000

    def _wait_for_window(self) -> None:
        """The burst window's calls are spent: wait for the next window rather than be
        refused (the wait is at most one window, 10 seconds at HubSpot)."""
        with self._lock:
            until, self._window_spent_until = self._window_spent_until, None
        if until is not None:
            left = until - time.monotonic()
            if left > 0:
                self._sleep(min(left, self._max_wait))
