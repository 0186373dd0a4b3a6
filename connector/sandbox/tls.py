"""The sandbox's TLS adapter: cheroot's, without a console line for each browser that refuses
the self-signed certificate or hangs up during the handshake. Other handshake failures (plain
HTTP on the HTTPS port, a protocol mismatch, a timeout) are reported as cheroot reports them."""

from __future__ import annotations

import errno
import socket
import ssl

from cheroot.errors import FatalSSLAlert
from cheroot.ssl.builtin import BuiltinSSLAdapter

# The alerts a client sends when it does not trust the server's certificate: Chromium's, the
# one some other browsers send, and OpenSSL's (curl, Python).
_REFUSALS = frozenset(
    {"SSLV3_ALERT_CERTIFICATE_UNKNOWN", "SSLV3_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_UNKNOWN_CA"}
)
_HANG_UPS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE})


def refused_or_hung_up(error: BaseException | None) -> bool:
    """Whether a handshake failed because the client refused the certificate or closed the
    connection: what a browser meeting a self-signed certificate does, not a fault."""
    if isinstance(error, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return True
    if isinstance(error, ssl.SSLError):
        return error.reason in _REFUSALS
    return isinstance(error, OSError) and error.errno in _HANG_UPS


class QuietSSLAdapter(BuiltinSSLAdapter):
    """cheroot's built-in adapter, quiet about refused certificates and hang-ups."""

    def wrap(self, sock: socket.socket) -> tuple[ssl.SSLSocket, dict]:
        try:
            return super().wrap(sock)
        except FatalSSLAlert as exc:
            if not refused_or_hung_up(exc.__cause__):
                raise
            # cheroot writes every FatalSSLAlert from a handshake to stderr, and drops an
            # aborted connection silently (ECONNABORTED is among the socket errors it ignores).
            raise ConnectionAbortedError(
                errno.ECONNABORTED, "the client refused the certificate or hung up"
            ) from exc
