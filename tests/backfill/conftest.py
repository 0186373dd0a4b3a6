"""Fixtures for the backfill tests: a sandbox CRM over real HTTPS on a settable clock, the
Salesforce connector pointed at it, a migrated SQLite store and a small rule pack."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lastmile.connector.salesforce import GivenSession, SalesforceConnector
from lastmile.connector.sandbox import Sandbox
from lastmile.rules import RuleSet, load_rules
from lastmile.settings import Settings
from lastmile.store import Store

RULES = """\
pack: backfill-test
rules:
  - id: won-needs-next-step
    object: Opportunity
    if:
      all: [{StageName: Closed Won}, {changed: StageName}]
    then:
      require: [NextStep]
      prompt: "Fill in {missing}."
  - id: call-outcome
    object: Task
    if:
      all: [{Type: Call}, {Status: Completed}]
    then:
      require: [Outcome__c]
      prompt: "Record {missing}."
"""


class Clock:
    """The sandbox's clock: saves happen when a test says."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(tmp_path: Path, clock: Clock) -> Iterator[Sandbox]:
    sb = Sandbox(tmp_path / "crm", clock=clock).start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def connector(sandbox: Sandbox) -> SalesforceConnector:
    login = GivenSession(sandbox.instance_url, sandbox.session_id)
    return SalesforceConnector(login, ca_bundle=sandbox.ca_bundle, sleep=lambda s: None)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "backfill.yaml").write_text(RULES, encoding="utf-8")
    return folder


@pytest.fixture
def ruleset(rules_dir: Path) -> RuleSet:
    return load_rules([rules_dir])


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lastmile.db'}"
    created = Store(url)
    created.upgrade()
    created.close()
    return url


@pytest.fixture
def store(database: str) -> Iterator[Store]:
    s = Store(database)
    yield s
    s.close()


@pytest.fixture
def settings(sandbox: Sandbox, rules_dir: Path, database: str) -> Settings:
    return Settings(
        rules=rules_dir,
        database_url=database,
        integration_user_id=sandbox.integration_user_id,
        _env_file=None,
    )
