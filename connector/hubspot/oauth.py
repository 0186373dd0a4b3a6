"""The access token HubSpot calls carry: a private app's fixed token, or a public app's OAuth
access token, obtained with the app's refresh token (POST /oauth/v1/token through
hubspot-api-client's tokens API), kept with its expiry and refreshed shortly before it runs out,
or when HubSpot refuses it. Tokens and secrets are never logged."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
import urllib3
from hubspot.oauth.exceptions import ApiException as _OAuthError

from lastmile.connector.base import AuthError, TransientError

log = structlog.get_logger("connector.hubspot")

_CODE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_SETTINGS = "LASTMILE_HUBSPOT_CLIENT_ID, LASTMILE_HUBSPOT_CLIENT_SECRET"
# What to do about each refusal of the token endpoint (its `status`).
_ADVICE = {
    "BAD_REFRESH_TOKEN": "the refresh token is unknown or revoked (was the app uninstalled?): "
    "install the app again and set LASTMILE_HUBSPOT_REFRESH_TOKEN to the new refresh token",
    "BAD_CLIENT_ID": f"the app's client id is unknown: check {_SETTINGS}",
    "BAD_CLIENT_SECRET": f"the app's client secret does not match: check {_SETTINGS} "
    "(the first client secret listed is the one used)",
}


class FixedToken:
    """A private app's access token: it does not expire and cannot be refreshed."""

    refusal = (
        "HubSpot refused the access token: set LASTMILE_HUBSPOT_ACCESS_TOKEN to the private "
        "app's token"
    )

    def __init__(self, token: str) -> None:
        self._token = token

    def current(self) -> str:
        return self._token

    def renew(self, refused: str) -> str | None:
        """None: nothing to renew; HubSpot's refusal stands."""
        return None


@dataclass(frozen=True)
class OAuthApp:
    """A public app's credentials in one account: its client id and secret, and the refresh
    token the account's install gave."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)


class RefreshedToken:
    """A public app's access token, refreshed when fewer than `margin` seconds of it are left
    (at most half its life) and when HubSpot refuses it. Thread-safe: one refresh at a time,
    and a thread that finds the token already replaced uses the new one.

    `tokens_api` builds hubspot-api-client's `oauth.tokens_api` (pointed at the same host).
    A refusal of the token endpoint (HTTP 4xx: BAD_REFRESH_TOKEN, BAD_CLIENT_ID, ...) is
    permanent: AuthError, now and at every later call, without asking HubSpot again."""

    refusal = (
        "HubSpot refused the access token it had just issued: is the app still installed in "
        "the account, with the scopes Lastmile needs?"
    )

    def __init__(
        self,
        app: OAuthApp,
        tokens_api: Callable[[], Any],
        *,
        timeout: float | tuple[float, float] = (5.0, 20.0),
        margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._app = app
        self._refresh_token = app.refresh_token
        self._tokens_api = tokens_api
        self._timeout = timeout
        self._margin = margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self._refused: str | None = None
        self.refreshes = 0  # successful refreshes (for tests and figures)

    def current(self) -> str:
        """The access token to call with, refreshed first when it is (nearly) spent."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._refresh("expiry" if self._token else "first")
            return self._token  # type: ignore[return-value]

    def renew(self, refused: str) -> str:
        """A new access token after HubSpot refused `refused` (unless another thread has
        replaced it already)."""
        with self._lock:
            if self._token is None or self._token == refused:
                self._refresh("refused")
            return self._token  # type: ignore[return-value]

    # -- internals ------------------------------------------------------------------------------

    def _refresh(self, why: str) -> None:
        if self._refused is not None:
            raise AuthError(self._refused)
        try:
            data, _status, _headers = self._tokens_api().create_with_http_info(
                grant_type="refresh_token",
                client_id=self._app.client_id,
                client_secret=self._app.client_secret,
                refresh_token=self._refresh_token,
                _request_timeout=self._timeout,
            )
        except _OAuthError as error:
            status = int(getattr(error, "status", 0) or 0)
            raise self._failed(status, getattr(error, "body", None)) from None
        except urllib3.exceptions.HTTPError as error:
            log.warning("hubspot.token", reason=why, outcome=f"transient:{type(error).__name__}")
            raise TransientError(
                "cannot reach HubSpot's token endpoint to refresh the access token; "
                "it is tried again at the next call"
            ) from None
        except (ValueError, TypeError):  # an answer without a token (the client's own check)
            log.warning("hubspot.token", reason=why, outcome="malformed")
            raise TransientError(
                "HubSpot's token endpoint answered without an access token; "
                "it is tried again at the next call"
            ) from None
        lifetime = max(0.0, float(data.expires_in or 0))
        self._token = str(data.access_token)
        if data.refresh_token:
            self._refresh_token = str(data.refresh_token)
        self._renew_at = self._clock() + lifetime - min(self._margin, lifetime / 2)
        self.refreshes += 1
        log.info("hubspot.token", reason=why, outcome="refreshed", expires_in_s=int(lifetime))

    def _failed(self, status: int, body: Any) -> Exception:
        """The error a refusal of the token endpoint ends in; 4xx is remembered (permanent)."""
        if status == 0:  # the client's own wrapping of a TLS failure
            log.warning("hubspot.token", outcome="tls")
            return TransientError(
                "TLS with HubSpot's token endpoint failed (is the certificate trusted? "
                "LASTMILE_HUBSPOT_CA_BUNDLE names an extra one to trust)"
            )
        if status == 429 or status >= 500:
            log.warning("hubspot.token", status=status, outcome=f"transient:{status}")
            return TransientError(
                f"HubSpot's token endpoint answered HTTP {status}; the access token is "
                "refreshed at the next call"
            )
        code = _code(body) or f"HTTP_{status}"
        advice = _ADVICE.get(code, f"check {_SETTINGS} and LASTMILE_HUBSPOT_REFRESH_TOKEN")
        self._refused = (
            f"HubSpot refused to refresh the access token ({code}, HTTP {status}): {advice}"
        )
        log.error("hubspot.token", status=status, code=code, outcome="refused")
        return AuthError(self._refused)


def _code(body: Any) -> str | None:
    """The token endpoint's `status` (BAD_REFRESH_TOKEN, ...), if it is a plain code."""
    try:
        data = json.loads(body) if isinstance(body, bytes | str) else body
    except ValueError:
        return None
    found = data.get("status") if isinstance(data, dict) else None
    if isinstance(found, str) and 0 < len(found) <= 64 and set(found) <= _CODE_CHARS:
        return found
    return None
