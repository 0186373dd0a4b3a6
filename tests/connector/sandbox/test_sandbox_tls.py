"""A browser meeting the sandbox's self-signed certificate refuses it or hangs up mid-handshake:
that is expected, and prints nothing on the console. Other handshake failures still do."""

from __future__ import annotations

import contextlib
import socket
import ssl

import pytest
from sandbox_helpers import trusting


def served(sandbox) -> None:
    """A request answered: the server's accept loop (where handshakes run) has dealt with every
    connection opened before."""
    assert trusting(sandbox).get(f"{sandbox.instance_url}/").status_code == 200


def connect(sandbox) -> socket.socket:
    return socket.create_connection((sandbox.host, sandbox.port), timeout=5)


def client_hello() -> bytes:
    """A TLS 1.2 ClientHello (1.2: so that an alert after it goes in the clear)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    outgoing = ssl.MemoryBIO()
    tls = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_refused_certificates_and_hang_ups_print_nothing(sandbox, capfd):
    served(sandbox)
    capfd.readouterr()
    # A client that does not trust the certificate (OpenSSL's unknown_ca alert).
    with pytest.raises(ssl.SSLCertVerificationError), connect(sandbox) as raw:
        ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
    # Chromium's refusal: the fatal certificate_unknown alert once the certificate came.
    with connect(sandbox) as raw:
        raw.sendall(client_hello())
        raw.recv(65536)  # the server's hello and certificate
        raw.sendall(bytes([21, 3, 3, 0, 2, 2, 46]))  # alert record: fatal, certificate_unknown
    with connect(sandbox) as raw:  # a browser giving up mid-handshake
        raw.sendall(client_hello())
    connect(sandbox).close()  # a preconnected socket closed unused
    served(sandbox)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_refusal_alerts_are_told_from_other_failures():
    from lastmile.connector.sandbox.tls import refused_or_hung_up

    def alert(reason: str) -> ssl.SSLError:
        error = ssl.SSLError(1, f"[SSL: {reason}] ...")
        error.reason = reason
        return error

    assert refused_or_hung_up(alert("SSLV3_ALERT_CERTIFICATE_UNKNOWN"))
    assert refused_or_hung_up(alert("TLSV1_ALERT_UNKNOWN_CA"))
    assert refused_or_hung_up(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"))
    assert refused_or_hung_up(ConnectionResetError(104, "Connection reset by peer"))
    assert not refused_or_hung_up(alert("TLSV1_ALERT_PROTOCOL_VERSION"))
    assert not refused_or_hung_up(alert("HTTP_REQUEST"))
    assert not refused_or_hung_up(TimeoutError("timed out"))
    assert not refused_or_hung_up(None)


def test_plain_http_on_the_https_port_is_still_reported(sandbox, capfd):
    served(sandbox)
    capfd.readouterr()
    with connect(sandbox) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        with contextlib.suppress(ConnectionResetError):  # cheroot answers, then resets
            raw.recv(1024)
    served(sandbox)
    assert "attempted to speak plain HTTP" in capfd.readouterr().err
