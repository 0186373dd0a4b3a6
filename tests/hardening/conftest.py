"""Fixtures of the hardening tests."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import structlog

from lastmile.logs import configure_logging


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything structlog and the standard library log, as text."""
    buffer = io.StringIO()
    configure_logging("debug", stream=buffer)
    yield buffer
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.name == "lastmile-json"]:
        root.removeHandler(handler)
