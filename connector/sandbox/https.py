"""Serving a sandbox's WSGI app over HTTPS from a background thread (both sandboxes use it)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from cheroot import wsgi

from .tls import QuietSSLAdapter


def serve_https(
    app: Any, host: str, port: int, cert: Path, key: Path, *, threads: int, name: str
) -> tuple[wsgi.Server, threading.Thread]:
    """Start serving `app` on host:port (0 picks a free port: read `server.bind_addr[1]`).
    cheroot, not werkzeug's development server: it keeps connections alive, as the CRMs do, so
    a client pays for one TLS handshake rather than one per call. Raises OSError naming the
    address when it cannot listen."""
    server = wsgi.Server((host, port), app, numthreads=threads)
    server.expiration_interval = 0.05  # how often the loop looks up: stop() waits for one
    server.ssl_adapter = QuietSSLAdapter(str(cert), str(key))
    try:
        server.prepare()
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port}: {exc}") from exc
    thread = threading.Thread(target=server.serve, name=name, daemon=True)
    thread.start()
    return server, thread


def stop_serving(server: wsgi.Server, thread: threading.Thread | None) -> None:
    server.stop()
    if thread is not None:
        thread.join(timeout=10)


def https_url(host: str, port: int) -> str:
    """The URL clients use: localhost when the server listens on every address."""
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    return f"https://{shown}:{port}"
