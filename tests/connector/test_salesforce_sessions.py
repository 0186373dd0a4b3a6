"""`session_owner`: whose session an Outbound Message carries, asked of the configured org's own
userinfo endpoint (the sandbox answers as Salesforce does: JSON for a live session, a bare 403
for anything else); not an API call against the daily limit."""

from __future__ import annotations

import pytest

from lastmile.connector import TransientError
from lastmile.connector.salesforce import SalesforceConnector
from lastmile.connector.sandbox import Sandbox


def test_a_live_session_names_its_org_and_user(sandbox: Sandbox, connector) -> None:
    used = sandbox.usage_today()
    owner = connector.session_owner(sandbox.outbound_session())
    assert owner == (sandbox.org_id, sandbox.integration_user_id)
    assert sandbox.usage_today() <= used + 1  # the login's own call at most; userinfo is free


@pytest.mark.parametrize("session_id", ["00D000000000001!forged", "", "x" * 300])
def test_an_unknown_session_is_none(connector: SalesforceConnector, session_id: str) -> None:
    assert connector.session_owner(session_id) is None


def test_an_expired_session_is_none_and_a_new_one_is_issued(sandbox: Sandbox, connector) -> None:
    old = sandbox.outbound_session()
    sandbox.expire_sessions()
    assert connector.session_owner(old) is None
    assert sandbox.outbound_session() != old
    assert connector.session_owner(sandbox.outbound_session()) is not None


def test_an_unreachable_crm_raises_transient(sandbox: Sandbox, connector) -> None:
    session = sandbox.outbound_session()
    connector.check()  # logged in while the sandbox is up
    sandbox.stop()
    with pytest.raises(TransientError):
        connector.session_owner(session)
