"""The Celery app a worker runs, built from LASTMILE_* settings on first use:
`celery -A lastmile.celery_worker worker` (`lastmile worker` is the usual way in)."""

from __future__ import annotations

from celery import Celery

from lastmile.celery_app import make_celery
from lastmile.runtime import Runtime
from lastmile.settings import Settings

_default: Celery | None = None


def __getattr__(name: str) -> Celery:
    """`app` (and `celery`), as `celery -A` looks them up."""
    global _default
    if name not in ("app", "celery"):
        raise AttributeError(name)
    if _default is None:
        _default = make_celery(Settings(), Runtime.build)
    return _default
