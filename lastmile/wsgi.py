"""The WSGI entry point for running the receiver under a WSGI server of your own:
`lastmile.wsgi:create_app()`. `lastmile serve` is the usual way (docs/deploy.md says why: it
is not starved by slow clients).

The runtime (store, rules, embedded worker) is built in the serving process, from LASTMILE_*:
run ONE process in embedded mode.
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
