"""The receiver's HTTP server: waitress, for `lastmile serve`, `lastmile demo` and the tests.

Waitress reads each request whole (head and body) in its I/O thread before one of the app's
threads sees it. A client that trickles its body a byte at a time therefore holds a connection,
never a thread: slow clients cannot starve the receiver (gunicorn's threads block while they read
a body, so eight such clients stopped it). A proxy in front (nginx buffers bodies by default)
adds per-address connection limits; docs/deploy.md says more.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import signal
import threading
import time
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

# Embedded mode runs ONE process: the per-record ordering lock of the embedded worker lives in it.
# Requests are served by its threads. Scale out with Celery (LASTMILE_BROKER_URL) and more
# receiver instances behind a load balancer.
THREADS = 8
SERVER_OPTIONS: dict[str, Any] = {
    "threads": THREADS,
    "connection_limit": 1000,  # a trickling client costs a socket, not a thread
    "channel_timeout": 60,  # seconds without a byte before a connection is closed
    "backlog": 2048,
    "asyncore_use_poll": True,  # no select() ceiling on file descriptors
    # X-Forwarded-* are left alone: LASTMILE_TRUSTED_PROXIES (ProxyFix) decides whom to trust.
    "clear_untrusted_proxy_headers": False,
    "ident": "lastmile",
}
STOP_TIMEOUT_S = 20.0


def _quiet_waitress() -> None:
    # "Task queue depth is N" is routine under load; errors still come through.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


class Server:
    """`app` served over HTTP by waitress; `run()` in this thread or `start()` in its own.

    `max_body_bytes`: bodies declared larger are refused by waitress before they are read
    (the app refuses smaller excesses in its own format)."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_body_bytes: int = 2_000_000,
        **options: Any,
    ) -> None:
        _quiet_waitress()
        settings = {**SERVER_OPTIONS, "max_request_body_size": max_body_bytes, **options}
        self._server = create_server(app, host=host, port=port, **settings)
        self.port = int(self._server.effective_port)
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._stopping = threading.Lock()
        self._stop_asked = False

    def run(self) -> None:
        """Serve until `stop()` (from another thread or a signal handler)."""
        try:
            self._server.run()
        finally:
            self._stopped.set()

    def start(self) -> Server:
        self._thread = threading.Thread(target=self.run, name="lastmile-http", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop taking connections, let the requests being handled finish and their answers go
        out, then close. A request not yet handled gets no answer: its sender retries, and
        the inbox makes a retry of a stored event a no-op. Calling it again does nothing."""
        with self._stopping:
            if self._stop_asked:
                return
            self._stop_asked = True
        server = self._server
        # No new connections: the listening socket closes in the I/O thread (the trigger stays).
        _in_loop(server, lambda: wasyncore.dispatcher.close(server))
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        deadline = time.monotonic() + min(2.0, timeout)
        while time.monotonic() < deadline and any(
            getattr(channel, "total_outbufs_len", 0) for channel in list(server._map.values())
        ):
            time.sleep(0.02)  # answers of finished requests still being written

        def close_all() -> None:
            for channel in list(server._map.values()):
                channel.close()

        _in_loop(server, close_all)
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._stopped.wait(timeout)


def _in_loop(server: Any, thunk: Any) -> None:
    """Run `thunk` in the server's I/O thread; nothing to do when that loop has ended (its
    trigger is closed then)."""
    with contextlib.suppress(OSError):
        server.trigger.pull_trigger(thunk)


class ServingThread(Server):
    """`app` served by a thread of this process, started at once: for `lastmile demo` and the
    tests, which run the receiver beside the sandbox CRM in one process."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        super().__init__(app, host, port, **options)
        self.start()

    def __enter__(self) -> ServingThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(app: Any, host: str, port: int, *, max_body_bytes: int) -> None:
    """Serve in this thread until SIGINT or SIGTERM, then stop as `Server.stop` does."""
    server = Server(app, host, port, max_body_bytes=max_body_bytes)
    stopping = threading.Thread(target=server.stop, name="lastmile-stop", daemon=True)
    asked = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if not asked.is_set():  # a second Ctrl-C changes nothing: the stop is under way
            asked.set()
            stopping.start()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    # What start-up built (rules, the app, the store's metadata) lives as long as the process:
    # out of the collector's way, whose full passes over it were a quarter of a figures page.
    gc.freeze()
    server.run()
    if stopping.is_alive():
        stopping.join(STOP_TIMEOUT_S)
