"""The HubSpot sandbox's OAuth for a public app: `POST /oauth/v1/token` with the refresh-token
grant (form body), answered as HubSpot answers it, and the access tokens it issued, which expire
after `lifetime_s` (30 minutes at HubSpot; seconds in tests)."""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request

from .portal import Change

TOKEN_PATH = "/oauth/v1/token"


class AppTokens:
    """One public app installed in the sandbox's account: its client id and secret, the
    install's refresh token, and the access tokens issued so far with their expiry."""

    def __init__(
        self,
        client_secret: str,
        who: Change,
        clock: Callable[[], datetime],
        lifetime_s: float = 1800,
    ) -> None:
        self.who = who  # whose changes the app's calls make (changeSource, sourceId)
        self.client_id = str(uuid.uuid4())
        self.client_secret = client_secret
        self.refresh_token = str(uuid.uuid4())
        self.lifetime = timedelta(seconds=lifetime_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, datetime] = {}
        self.issued: list[str] = []  # the access tokens issued, oldest first
        self.refused = 0  # token requests refused

    def issue(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for a token request."""
        if form.get("grant_type") != "refresh_token":
            return self.refuse("BAD_GRANT_TYPE", "the sandbox issues tokens by refresh token")
        if form.get("client_id") != self.client_id:
            return self.refuse("BAD_CLIENT_ID", "missing or unknown client id")
        if form.get("client_secret") != self.client_secret:
            return self.refuse("BAD_CLIENT_SECRET", "missing or invalid client secret")
        if form.get("refresh_token") != self.refresh_token:
            return self.refuse("BAD_REFRESH_TOKEN", "missing or invalid refresh token")
        token = "oauth-sandbox-" + secrets.token_urlsafe(24)
        now = self._clock()
        with self._lock:
            # tokens expired a day ago are forgotten: the map stays small
            self._expiry = {t: e for t, e in self._expiry.items() if now - e < timedelta(days=1)}
            self._expiry[token] = now + self.lifetime
            self.issued.append(token)
        return 200, {
            "token_type": "bearer",
            "refresh_token": self.refresh_token,
            "access_token": token,
            "expires_in": int(self.lifetime.total_seconds()),
        }

    def expired_for(self, token: str) -> timedelta | None:
        """How long ago `token` expired (zero or more), or None while it is valid (`knows`
        says whether the sandbox issued it)."""
        now = self._clock()
        with self._lock:
            expiry = self._expiry.get(token, now)
        return None if now < expiry else now - expiry

    def knows(self, token: str) -> bool:
        with self._lock:
            return token in self._expiry

    def expire_all(self) -> None:
        """Every access token issued so far expires now (a revoked or early-expired token)."""
        now = self._clock()
        with self._lock:
            self._expiry = {t: min(e, now) for t, e in self._expiry.items()}

    def refuse(self, status: str, message: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.refused += 1
        return 400, {
            "status": status,
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "requestId": str(uuid.uuid4()),
        }


def token_endpoint(tokens: AppTokens) -> Blueprint:
    """`POST /oauth/v1/token`: form-encoded, as HubSpot takes it (no bearer token)."""
    bp = Blueprint("oauth", __name__)

    @bp.post(TOKEN_PATH)
    def token() -> Response:
        if request.mimetype != "application/x-www-form-urlencoded":
            status, body = tokens.refuse("BAD_REQUEST", "the body must be form-encoded")
        else:
            status, body = tokens.issue(request.form.to_dict())
        answer = jsonify(body)
        answer.status_code = status
        answer.headers["Cache-Control"] = "no-store"
        return answer

    return bp


def expired_message(ago: timedelta) -> str:
    """HubSpot's words for a call with an expired OAuth token."""
    minutes = int(ago.total_seconds() // 60)
    if minutes:
        return f"The OAuth token used to make this call expired {minutes} minute(s) ago."
    return (
        f"The OAuth token used to make this call expired {int(ago.total_seconds())} second(s) ago."
    )
