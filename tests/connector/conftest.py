"""Fixtures for the connector tests: a sandbox CRM over real HTTPS in tmp_path, connectors
pointed at it, and a stock simple-salesforce client to look at what was written."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from simple_salesforce import Salesforce

from lastmile.connector.salesforce import GivenSession, Login, SalesforceConnector
from lastmile.connector.salesforce.client import TrustingSession
from lastmile.connector.sandbox import Sandbox


class Clock:
    """A settable clock for the pause on the API limit."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sandbox(tmp_path) -> Iterator[Sandbox]:
    sb = Sandbox(tmp_path / "crm", port=0, daily_limit=15_000).start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def sleeps() -> list[float]:
    """The backoff delays the connector asked for (it never really sleeps in tests)."""
    return []


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_connector(
    sandbox: Sandbox, sleeps: list[float], clock: Clock
) -> Callable[..., SalesforceConnector]:
    def make(login: Login | None = None, **options: Any) -> SalesforceConnector:
        login = login or GivenSession(sandbox.instance_url, sandbox.session_id)
        options.setdefault("sleep", sleeps.append)
        options.setdefault("clock", clock)
        return SalesforceConnector(login, ca_bundle=sandbox.ca_bundle, **options)

    return make


@pytest.fixture
def connector(make_connector) -> SalesforceConnector:
    return make_connector()


@pytest.fixture
def crm(sandbox: Sandbox) -> Salesforce:
    """Stock simple-salesforce on the sandbox, to check what the connector wrote."""
    http = TrustingSession(sandbox.ca_bundle)  # REQUESTS_CA_BUNDLE must not override it
    return Salesforce(
        instance_url=sandbox.instance_url, session_id=sandbox.session_id, session=http
    )


@pytest.fixture
def opportunity(sandbox: Sandbox) -> Callable[..., str]:
    """Create an Opportunity as the sales user would; returns its id."""

    def create(**fields: Any) -> str:
        values = {"Name": "Acme mortgage", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
        return sandbox.save_as(sandbox.sales_user_id, "Opportunity", values | fields)

    return create
