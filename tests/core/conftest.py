"""Shared pieces for the store, worker and dispatch tests: a migrated SQLite store in tmp_path,
the example rules, a virtual clock and the in-memory CRM."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakes import INTEGRATION, Clock, FakeCrm

from lastmile.rules import RuleSet, load_rules
from lastmile.settings import Settings
from lastmile.store import Store
from lastmile.worker import Worker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def example_rules() -> RuleSet:
    return load_rules([ROOT / "examples" / "rules"])


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'lastmile.db'}")
    s.upgrade()
    yield s
    s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def crm(clock: Clock) -> FakeCrm:
    return FakeCrm(clock)


@pytest.fixture
def settings() -> Settings:
    return Settings(integration_user_id=INTEGRATION, max_attempts=3, _env_file=None)


@pytest.fixture
def make_worker(
    store: Store, crm: FakeCrm, clock: Clock, settings: Settings, example_rules: RuleSet
) -> Callable[..., Worker]:
    def make(rules: RuleSet | None = None, **kw: Any) -> Worker:
        ruleset = rules or example_rules
        return Worker(
            kw.pop("store", store),
            lambda: ruleset,
            kw.pop("connector", crm),
            kw.pop("settings", settings),
            clock=clock,
            **kw,
        )

    return make
