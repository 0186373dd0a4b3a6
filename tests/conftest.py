"""Shared by every test folder: how a test that needs an outside service (PostgreSQL, Redis,
RabbitMQ, Chromium) behaves when it is missing."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import structlog

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; `.ci/run` installs it
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

REQUIRE = "LASTMILE_REQUIRE_SERVICES"


def service_unavailable(what: str, why: str) -> NoReturn:
    """Skip on a developer laptop without the service; fail in CI, where LASTMILE_REQUIRE_SERVICES=1
    says every service must be there."""
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{what} is required ({REQUIRE}=1) but unavailable: {why}", pytrace=False)
    pytest.skip(f"{what} unavailable: {why}")


@pytest.fixture(scope="session")
def need_service():
    """`need_service("PostgreSQL", "connection refused")`: skip here, fail in CI."""
    return service_unavailable


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, or a string saying why it cannot start (a test
    passes that to `need_service`, which skips here and fails in CI)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        yield "the playwright package is not installed (pip install -e '.[test]')"
        return
    if not CHROMIUM.exists():
        yield f"{CHROMIUM} is missing (apt-get install chromium)"
        return
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _logging_as_found() -> Iterator[None]:
    """A command run in-process configures logging (`lastmile schema pull` sets the level to
    warning): the next test gets the set-up this one found, so `capture_logs` sees info lines."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
