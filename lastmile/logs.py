"""Logging: one JSON object per line, for structlog and the standard library alike.

Context bound with `structlog.contextvars` (the receiver binds `request_id` per request) is on
every line. Record field values never belong in a log line; `_drop_values` is a safety net that
redacts the keys that would carry them, should a call site slip.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

# Keys whose values are record contents or credentials; a log line shows that they were there.
REDACTED_KEYS = frozenset(
    {"fields", "values", "value", "body", "payload", "session_id", "secret", "password", "token"}
)
_HANDLER_NAME = "lastmile-json"


def _drop_values(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    for key in REDACTED_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


def _level(name: str) -> int:
    level = logging.getLevelNamesMapping().get(name.upper())
    if level is None:
        raise ValueError(f"unknown log level {name!r}: use debug, info, warning or error")
    return level


def configure_logging(
    level: str = "info", *, stream: TextIO | None = None, cache: bool = False
) -> None:
    """Send structlog and standard-library logs as JSON lines to `stream` (default stderr).

    Safe to call again (tests point it at a buffer); the last call wins, except with `cache`:
    then each logger is assembled once, on first use, and keeps what it was given (the
    servers' choice: assembling a logger for every call cost each request a few percent).
    """
    threshold = _level(level)
    out = stream if stream is not None else sys.stderr
    writer = structlog.WriteLogger(out)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_values,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        # One writer for every logger: a new one per log call (the factory's way) cost the
        # receiver a few percent of each request. WriteLogger locks around each line.
        logger_factory=lambda *_args: writer,
        cache_logger_on_first_use=cache,
    )

    # Werkzeug, gunicorn and Flask log through the standard library: same format, same context.
    handler = logging.StreamHandler(out)
    handler.name = _HANDLER_NAME
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.name == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
