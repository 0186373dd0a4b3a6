"""`lastmile serve`: the receiver and its embedded worker under gunicorn."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

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


def serve(host: str, port: int, build: Any, **options: Any) -> None:
    """Serve until stopped (SIGINT/SIGTERM). `build()` returns a `Runtime`, called after fork."""
    LastmileServer({**GUNICORN_DEFAULTS, "bind": f"{host}:{port}", **options}, build).run()
