"""Fixtures of the measurement tests: the scenario's service with every delivery made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from measure_support import World, world


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Shared by the tests of a module that only read."""
    with world(tmp_path_factory.mktemp("scenario")) as running:
        running.deliver()
        yield running


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[World]:
    """Its own copy, for a test that acts (deadlines, purge)."""
    with world(tmp_path / "world") as running:
        running.deliver()
        yield running
