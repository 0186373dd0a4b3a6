"""HubSpot's v3 request signature: base64 of HMAC-SHA256, keyed with the app's client secret,
over method + URI + body + the `X-HubSpot-Request-Timestamp` header (milliseconds). The receiver
verifies with it; the HubSpot sandbox signs with it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import unquote

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE_MS = 5 * 60 * 1000  # HubSpot: refuse a request whose timestamp is older than 5 minutes

# The characters HubSpot decodes in the URI before signing (its documentation lists them).
_DECODED = ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B")


def signed_uri(uri: str) -> str:
    """The URI as HubSpot signs it: the listed percent-escapes decoded, others kept."""
    for escape in _DECODED:
        uri = uri.replace(escape, unquote(escape)).replace(escape.lower(), unquote(escape))
    return uri


def sign(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    source = method.upper().encode() + signed_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(
    secrets: list[str], method: str, uri: str, body: bytes, timestamp: str, signature: str
) -> bool:
    """Whether any secret signs this request as `signature` (every secret is tried, each
    compared in constant time)."""
    given = signature.encode()
    found = [
        hmac.compare_digest(sign(s, method, uri, body, timestamp).encode(), given) for s in secrets
    ]
    return any(found)
