"""The WSGI entry point for running under a process manager's own gunicorn:

    gunicorn -c deploy/gunicorn.conf.py 'lastmile.wsgi:create_app()'

The runtime (store, rules, embedded worker) is built in the worker process, from LASTMILE_*.
"""

from __future__ import annotations

import atexit

from flask import Flask

from lastmile.logs import configure_logging
from lastmile.runtime import Runtime
from lastmile.settings import Settings


def create_app() -> Flask:
    settings = Settings()
    configure_logging(settings.log_level, cache=True)
    runtime = Runtime.build(settings).start()
    atexit.register(runtime.stop)
    return runtime.app()
