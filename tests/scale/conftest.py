"""Fixtures of the scale-out tests: a PostgreSQL database per test, brokers, the sandbox CRM."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from scale_support import (
    AMQP_URL,
    REDIS_URL,
    broker_problem,
    postgres_database,
    postgres_problem,
    purge_queues,
)

from lastmile.connector.sandbox import Sandbox


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: runs real Celery worker processes for tens of seconds (CI runs it)"
    )


@pytest.fixture
def pg_url(need_service: Callable[..., None]) -> Iterator[str]:
    """The URL of a new PostgreSQL database, dropped after the test."""
    problem = postgres_problem()
    if problem:
        need_service("PostgreSQL", problem)
    with postgres_database() as url:
        yield url


def _broker(need_service: Callable[..., None], what: str, url: str) -> str:
    problem = broker_problem(url)
    if problem:
        need_service(what, problem)
    return url


@pytest.fixture
def redis_url(need_service: Callable[..., None]) -> str:
    return _broker(need_service, "Redis", REDIS_URL)


@pytest.fixture
def amqp_url(need_service: Callable[..., None]) -> str:
    return _broker(need_service, "RabbitMQ", AMQP_URL)


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[str]:
    """A queue name of this test's own (set as LASTMILE_QUEUE), deleted afterwards."""
    name = f"lastmile-test-{os.getpid()}-{request.node.name[:40]}"
    monkeypatch.setenv("LASTMILE_QUEUE", name)
    yield name
    for fixture in ("redis_url", "amqp_url"):
        if fixture in request.fixturenames:
            purge_queues(request.getfixturevalue(fixture), (name, f"{name}.schedule"))


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "sandbox") as running:
        yield running
