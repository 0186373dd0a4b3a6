"""`lastmile serve`: the receiver and its embedded worker under gunicorn."""

from __future__ import annotations

import os
import threading
from typing import Any

from gunicorn.app.base import BaseApplication
from werkzeug.serving import WSGIRequestHandler, make_server

# Embedded mode runs ONE worker process: the per-record ordering lock of the embedded worker lives
# in that process. Requests are served by its threads. Scale out with Celery (LASTMILE_BROKER_URL).
GUNICORN_DEFAULTS: dict[str, Any] = {
    "workers": 1,
    "worker_class": "gthread",
    "threads": 8,
    "timeout": 30,
    "graceful_timeout": 20,
    "keepalive": 5,
    "accesslog": None,  # structlog lines carry the request id; gunicorn's access log would not
    "limit_request_line": 8190,
    "limit_request_fields": 100,
}


class LastmileServer(BaseApplication):
    """Gunicorn running the Lastmile app; the runtime is built in the worker process."""

    def __init__(self, options: dict[str, Any], build: Any) -> None:
        self.options = options
        self._build = build
        self.runtime: Any = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

        def worker_exit(server: Any, worker: Any) -> None:
            if self.runtime is not None:
                self.runtime.stop()

        self.cfg.set("worker_exit", worker_exit)

    def load(self) -> Any:
        self.runtime = self._build().start()
        return self.runtime.app()


def gunicorn_options(broker: bool) -> dict[str, Any]:
    """The gunicorn settings of `lastmile serve` and `deploy/gunicorn.conf.py`. With a broker the
    receiver only stores and enqueues, so it may run WEB_CONCURRENCY processes (default 2)."""
    if not broker:
        return dict(GUNICORN_DEFAULTS)
    return {**GUNICORN_DEFAULTS, "workers": int(os.environ.get("WEB_CONCURRENCY", "2"))}


def serve(host: str, port: int, build: Any, *, broker: bool = False) -> None:
    """Serve until stopped (SIGINT/SIGTERM). `build()` returns a `Runtime`, called after fork."""
    LastmileServer({**gunicorn_options(broker), "bind": f"{host}:{port}"}, build).run()


class _QuietHandler(WSGIRequestHandler):
    """No access log: request lines carry record ids (structlog lines carry the request id)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class ServingThread:
    """`app` served over HTTP by a thread of this process: for `lastmile demo` and the tests,
    which run the receiver beside the sandbox CRM in one process (production uses gunicorn)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="lastmile-http")
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(10)
        self._server.server_close()

    def __enter__(self) -> ServingThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
