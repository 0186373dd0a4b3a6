"""Shared by every test folder: how a test that needs an outside service (PostgreSQL, Redis,
RabbitMQ, Chromium) behaves when it is missing."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE = "LASTMILE_REQUIRE_SERVICES"


def service_unavailable(what: str, why: str) -> NoReturn:
    """Skip on a developer laptop without the service; fail in CI, where LASTMILE_REQUIRE_SERVICES=1
    says every service must be there."""
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{what} is required ({REQUIRE}=1) but unavailable: {why}", pytrace=False)
    pytest.skip(f"{what} unavailable: {why}")


@pytest.fixture
def need_service():
    """`need_service("PostgreSQL", "connection refused")`: skip here, fail in CI."""
    return service_unavailable
