"""A HubSpot sandbox per test module, and a connector and a stock client that talk to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hubspot import HubSpot
from hubspot_support import stock_client

from lastmile.connector.hubspot import HubSpotConnector
from lastmile.connector.hubspot_sandbox import HubSpotSandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(tmp_path_factory.mktemp("hubspot")) as running:
        yield running


@pytest.fixture
def client(sandbox: HubSpotSandbox) -> HubSpot:
    return stock_client(sandbox)


@pytest.fixture
def connector(sandbox: HubSpotSandbox) -> HubSpotConnector:
    return HubSpotConnector(
        sandbox.access_token, base_url=sandbox.base_url, ca_bundle=Path(sandbox.ca_bundle)
    )
