"""Logging: one JSON object per line, for structlog and the standard library alike.

Context bound with `structlog.contextvars` (the receiver binds `request_id` per request) is on
every line. Record field values never belong in a log line; `_drop_values` is a safety net that
redacts the keys that would carry them, should a call site slip, and a traceback keeps its frames
but not the exception's message (which may quote a value), except at the debug level.
"""

from __future__ import annotations

import logging
import sys
import traceback
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


def _traceback_without_message(
    _logger: WrappedLogger, _method: str, event_dict: EventDict
) -> EventDict:
    """`exc_info` as its frames and the exception's type: its message, and the messages of the
    exceptions it was raised from, may quote a field value (`invalid literal ... 'Jansen'`)."""
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    kind, _, tb = exc_info
    if kind is None:
        return event_dict
    frames = "".join(traceback.format_tb(tb))
    event_dict["exception"] = (
        f"Traceback (most recent call last):\n{frames}{kind.__module__}.{kind.__qualname__} "
        "(message left out: it may quote a field value; LASTMILE_LOG_LEVEL=debug shows it)"
    )
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
    tracebacks = (
        structlog.processors.format_exc_info
        if threshold <= logging.DEBUG
        else _traceback_without_message
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_values,
    ]
    structlog.configure(
        processors=[*shared, tracebacks, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        # One writer for every logger: a new one per log call (the factory's way) cost the
        # receiver a few percent of each request. WriteLogger locks around each line.
        logger_factory=lambda *_args: writer,
        cache_logger_on_first_use=cache,
    )

    # Waitress, Alembic and Flask log through the standard library: same format, same context.
    handler = logging.StreamHandler(out)
    handler.name = _HANDLER_NAME
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                tracebacks,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.name == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
