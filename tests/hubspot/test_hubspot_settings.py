"""The LASTMILE_HUBSPOT_* settings: a token picks the HubSpot connector and HubSpot's names."""

from __future__ import annotations

import os

import pytest

from lastmile.connector.hubspot import HubSpotConnector
from lastmile.runtime import connector_from_settings
from lastmile.settings import Settings


@pytest.fixture(autouse=True)
def no_lastmile_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("LASTMILE_")]:
        monkeypatch.delenv(name)


def test_a_token_picks_hubspot_and_its_property_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LASTMILE_HUBSPOT_ACCESS_TOKEN", "pat-na1-x")
    monkeypatch.setenv("LASTMILE_HUBSPOT_CLIENT_SECRET", "new-secret, old-secret")
    settings = Settings()
    assert (settings.prompt_field, settings.task_key_field) == ("lastmile_prompt", "lastmile_key")
    assert [s.get_secret_value() for s in settings.hubspot_client_secret] == [
        "new-secret",
        "old-secret",
    ]
    connector = connector_from_settings(settings)
    assert isinstance(connector, HubSpotConnector)
    assert connector.prompt_property == "lastmile_prompt"


def test_names_set_explicitly_are_kept_and_salesforce_is_unchanged() -> None:
    given = Settings(hubspot_access_token="pat-na1-x", prompt_field="our_prompt")
    assert (given.prompt_field, given.task_key_field) == ("our_prompt", "lastmile_key")
    salesforce = Settings()
    assert salesforce.prompt_field == "Lastmile_Prompt__c"
    assert connector_from_settings(salesforce) is None
