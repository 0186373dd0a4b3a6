"""Polling, for the tests that wait on other threads and processes. Importable as `waiting`
from every test folder: pytest puts `tests/` on sys.path for its conftest.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    what: Callable[[], Any],
    timeout: float = 20.0,
    every: float = 0.05,
    ignore: tuple[type[BaseException], ...] = (),
) -> Any:
    """The first truthy value of `what()`, asked every `every` seconds; AssertionError after
    `timeout` seconds. An exception of a type in `ignore` counts as "not yet" (a server that
    is still starting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = what()
        except ignore:
            value = None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what.__doc__ or what}")
