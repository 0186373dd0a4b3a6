"""The receiver on a real store: the `inbox` fixture overridden by a migrated Store, once on
SQLite and once on PostgreSQL (skipped here without PostgreSQL, failed in CI). A test module
imports `inbox` and `store` from here; webhook_support's `client` and `make_app` then use it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres import postgres_database, postgres_problem  # tests/postgres.py

from lastmile.store import Store


def _migrated(url: str) -> Store:
    store = Store(url)
    store.upgrade()
    return store


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store_or_problem(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store | str]:
    """One store per module and database; for PostgreSQL without a server, why not."""
    if request.param == "sqlite":
        folder: Path = tmp_path_factory.mktemp("store")
        store = _migrated(f"sqlite:///{folder / 'lastmile.db'}")
        yield store
        store.close()
        return
    problem = postgres_problem()
    if problem:
        yield problem
        return
    with postgres_database() as url:
        store = _migrated(url)
        yield store
        store.close()


@pytest.fixture
def store(store_or_problem: Store | str, need_service) -> Store:
    if isinstance(store_or_problem, str):
        need_service("PostgreSQL", store_or_problem)
    assert isinstance(store_or_problem, Store)
    return store_or_problem


@pytest.fixture
def inbox(store: Store) -> Store:
    """The store as the receiver's inbox (overrides webhook_support's in-memory one)."""
    return store


def stored(store: Store) -> int:
    """How many events the store holds."""
    return sum(store.counts().values())
