"""Getting a Salesforce session: a given session id, the SOAP login (username + password +
security token), or the OAuth 2.0 JWT bearer flow (consumer key + private key).

simple-salesforce builds its login URLs as `https://{domain}.salesforce.com`; these logins take a
login base URL instead, so they can point at a My Domain, a sandbox org or the sandbox CRM.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
import jwt
import requests

from lastmile.connector.base import AuthError, TransientError

_SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_PARTNER = "urn:partner.soap.sforce.com"
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_TIMEOUT = 30.0


@dataclass(frozen=True)
class Session:
    """A usable session: where the org's API lives and the bearer token for it."""

    instance_url: str
    session_id: str = field(repr=False)


def login_url_for(domain: str) -> str:
    """The login base URL for a `domain` as simple-salesforce names them: `login` (production),
    `test` (a sandbox org), a My Domain such as `acme.my`, or a full https URL."""
    domain = domain.strip().rstrip("/")
    if not domain:
        raise ValueError("the Salesforce domain is empty: use login, test or your My Domain")
    if domain.startswith(("https://", "http://")):
        return domain
    return f"https://{domain}.salesforce.com"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Login:
    """How to get a session. `renewable` says whether `login()` can be called again when the
    session expires."""

    renewable = True

    def login(self, http: requests.Session) -> Session:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class GivenSession(Login):
    """A session id and instance URL handed over as they are; it cannot be renewed."""

    instance_url: str
    session_id: str = field(repr=False)
    renewable = False

    def login(self, http: requests.Session) -> Session:
        return Session(self.instance_url.rstrip("/"), self.session_id)


@dataclass(frozen=True)
class PasswordLogin(Login):
    """The SOAP `login()` call of the partner API: username, password + security token."""

    login_url: str
    username: str
    password: str = field(repr=False)
    security_token: str = field(default="", repr=False)
    api_version: str = "62.0"

    def login(self, http: requests.Session) -> Session:
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<env:Envelope xmlns:env="{_SOAP_ENV}" xmlns:urn="{_PARTNER}">'
            "<env:Body><urn:login>"
            f"<urn:username>{escape(self.username)}</urn:username>"
            f"<urn:password>{escape(self.password + self.security_token)}</urn:password>"
            "</urn:login></env:Body></env:Envelope>"
        )
        url = f"{self.login_url.rstrip('/')}/services/Soap/u/{self.api_version}"
        headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "login"}
        answer = _post(http, url, data=body.encode(), headers=headers)
        try:
            root = SafeET.fromstring(answer.content)
        except Exception as error:  # defusedxml raises several types; all mean "not SOAP"
            if answer.status_code >= 500:
                raise _server_trouble(answer, "the SOAP login") from error
            raise AuthError(f"SOAP login answered HTTP {answer.status_code}, not XML") from error
        # A SOAP fault (INVALID_LOGIN, ...) comes with HTTP 500, so read the body first.
        fault = root.find(f".//{{{_SOAP_ENV}}}Fault")
        if fault is not None:
            code = (fault.findtext("faultcode") or "").rpartition(":")[2] or "UNKNOWN"
            raise AuthError(f"SOAP login refused: {code}: {fault.findtext('faultstring') or ''}")
        session_id = root.findtext(f".//{{{_PARTNER}}}sessionId")
        server_url = root.findtext(f".//{{{_PARTNER}}}serverUrl")
        if not session_id or not server_url:
            raise AuthError(f"SOAP login answered HTTP {answer.status_code} without a session")
        return Session(_origin(server_url), session_id)


@dataclass(frozen=True)
class JwtLogin(Login):
    """The OAuth 2.0 JWT bearer flow: an RS256 assertion signed with the connected app's key."""

    login_url: str
    consumer_key: str
    username: str
    private_key: str = field(repr=False)  # PEM text
    audience: str | None = None  # default: the login URL (login/test.salesforce.com)
    lifetime_s: int = 180

    @classmethod
    def from_key_file(cls, path: Path | str, **kwargs: object) -> JwtLogin:
        try:
            pem = Path(path).read_text()
        except OSError as error:
            raise AuthError(f"cannot read the JWT private key file {path}: {error}") from error
        return cls(private_key=pem, **kwargs)  # type: ignore[arg-type]

    def _audience(self) -> str:
        if self.audience:
            return self.audience
        host = urlsplit(self.login_url).hostname or ""
        # A My Domain login still names the login server as audience (Salesforce's rule).
        if host.endswith(".salesforce.com") and not host.startswith(("login.", "test.")):
            sandbox = ".sandbox." in host or "--" in host
            return "https://test.salesforce.com" if sandbox else "https://login.salesforce.com"
        return self.login_url.rstrip("/")

    def login(self, http: requests.Session) -> Session:
        claims = {
            "iss": self.consumer_key,
            "sub": self.username,
            "aud": self._audience(),
            "exp": int(time.time()) + self.lifetime_s,
        }
        try:
            assertion = jwt.encode(claims, self.private_key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as error:
            raise AuthError(f"cannot sign the JWT assertion with the key: {error}") from None
        url = f"{self.login_url.rstrip('/')}/services/oauth2/token"
        answer = _post(http, url, data={"grant_type": _JWT_GRANT, "assertion": assertion})
        try:
            payload = answer.json()
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        if answer.status_code >= 500 and "error" not in payload:
            raise _server_trouble(answer, "the OAuth token endpoint")
        if answer.status_code != 200 or "access_token" not in payload:
            error = payload.get("error", f"HTTP {answer.status_code}")
            raise AuthError(f"JWT login refused: {error}: {payload.get('error_description', '')}")
        return Session(str(payload["instance_url"]).rstrip("/"), str(payload["access_token"]))


def _post(http: requests.Session, url: str, **kwargs: object) -> requests.Response:
    """POST to a login endpoint; an unreachable login server is transient, not a refusal."""
    try:
        return http.post(url, timeout=_TIMEOUT, **kwargs)  # type: ignore[arg-type]
    except requests.RequestException as error:
        raise TransientError(f"cannot reach the Salesforce login at {url}: {error}") from error


def _server_trouble(answer: requests.Response, what: str) -> TransientError:
    return TransientError(f"{what} answered HTTP {answer.status_code}; try again later")
