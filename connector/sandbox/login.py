"""Salesforce's login endpoints: the SOAP `login()` call (username + password + security token)
and the OAuth 2.0 JWT bearer token flow. Each successful login issues a fresh session id."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_INVALID_LOGIN = "Invalid username, password, security token; or user locked out."


def secret_hash(username: str, secret: str) -> str:
    """What the store keeps of a password + security token."""
    return hashlib.sha256(f"{username.lower()}\0{secret}".encode()).hexdigest()


def public_key_pem(text: str) -> str:
    """A PEM public key from a certificate or a public key (as a connected app is given one)."""
    data = text.encode()
    if b"BEGIN CERTIFICATE" in data:
        key = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass
class LoginContext:
    """What the login endpoints need from the sandbox."""

    instance_url: str
    org_id: str
    check_password: Callable[[str, str], str | None]  # username, password+token -> user id
    user_for: Callable[[str], str | None]  # username -> user id (JWT subject)
    jwt_key: Callable[[str], str | None]  # consumer key -> public key PEM
    issue_session: Callable[[str], str]  # user id -> new session id


def _fault(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
        '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )


def soap_login(body: bytes, version: str, ctx: LoginContext) -> tuple[int, str]:
    """(HTTP status, SOAP XML) for a `login` request: a loginResponse or a LoginFault."""
    try:
        root = SafeET.fromstring(body)
    except Exception:  # defusedxml refuses entities; any unreadable body is the client's fault
        return 500, _fault("INVALID_LOGIN", _INVALID_LOGIN)
    values = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
    username, password = values.get("username", ""), values.get("password", "")
    user_id = ctx.check_password(username, password) if username else None
    if user_id is None:
        return 500, _fault("INVALID_LOGIN", _INVALID_LOGIN)
    session_id = ctx.issue_session(user_id)
    org15 = ctx.org_id[:15]
    base = ctx.instance_url
    return 200, (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{base}/services/Soap/m/{version}/{org15}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{base}/services/Soap/u/{version}/{org15}</serverUrl>"
        f"<sessionId>{session_id}</sessionId><userId>{user_id}</userId>"
        f"<userInfo><organizationId>{ctx.org_id}</organizationId><userId>{user_id}</userId>"
        f"<userName>{escape(username)}</userName></userInfo>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


def _oauth_error(error: str, description: str) -> tuple[int, dict]:
    return 400, {"error": error, "error_description": description}


def jwt_token(form: Mapping[str, str], ctx: LoginContext) -> tuple[int, dict]:
    """(HTTP status, JSON) for an OAuth 2.0 JWT bearer token request."""
    if form.get("grant_type") != JWT_GRANT:
        return _oauth_error("unsupported_grant_type", "grant type not supported")
    assertion = form.get("assertion", "")
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return _oauth_error("invalid_grant", "invalid assertion")
    key = ctx.jwt_key(str(claims.get("iss", "")))
    if key is None:
        return _oauth_error("invalid_client_id", "client identifier invalid")
    base = ctx.instance_url
    audiences = [
        "https://login.salesforce.com",
        "https://test.salesforce.com",
        base,
        base.replace("127.0.0.1", "localhost"),
    ]
    try:
        claims = jwt.decode(
            assertion,
            key,
            algorithms=["RS256"],
            audience=audiences,
            # exp is checked below: simple-salesforce sends it as a string, which Salesforce takes
            options={"require": ["iss", "sub", "aud", "exp"], "verify_exp": False},
        )
    except jwt.InvalidAudienceError:
        return _oauth_error("invalid_grant", "audience is invalid")
    except jwt.PyJWTError:
        return _oauth_error("invalid_grant", "invalid assertion")
    try:
        expired = float(claims["exp"]) < time.time()
    except (TypeError, ValueError):
        return _oauth_error("invalid_grant", "invalid assertion")
    if expired:
        return _oauth_error("invalid_grant", "expired authorization code")
    user_id = ctx.user_for(str(claims["sub"]))
    if user_id is None:
        return _oauth_error("invalid_grant", "user hasn't approved this consumer")
    return 200, {
        "access_token": ctx.issue_session(user_id),
        "scope": "api",
        "instance_url": base,
        "id": f"{base}/id/{ctx.org_id}/{user_id}",
        "token_type": "Bearer",
        "issued_at": str(int(time.time() * 1000)),
    }


def same_secret(expected_hash: str, username: str, given: str) -> bool:
    return hmac.compare_digest(expected_hash, secret_hash(username, given))
