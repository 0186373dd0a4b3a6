"""Fixtures for the sandbox CRM's tests: a Sandbox over real HTTPS in tmp_path, stock
simple-salesforce pointed at it, a raw HTTPS session, and an Outbound Message receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from sandbox_helpers import Receiver, start, trusting
from simple_salesforce import Salesforce

from lastmile.connector.sandbox import Sandbox


@pytest.fixture
def sandbox(tmp_path) -> Iterator[Sandbox]:
    sb = start(tmp_path / "crm")
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def sf(sandbox: Sandbox) -> Salesforce:
    return Salesforce(
        instance_url=sandbox.instance_url, session_id=sandbox.session_id, session=trusting(sandbox)
    )


@pytest.fixture
def api(sandbox: Sandbox) -> requests.Session:
    """Raw HTTPS with the integration user's session, for what simple-salesforce hides."""
    http = trusting(sandbox)
    http.headers["Authorization"] = f"Bearer {sandbox.session_id}"
    return http


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()
