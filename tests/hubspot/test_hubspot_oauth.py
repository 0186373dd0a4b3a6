"""A public app's OAuth against the HubSpot sandbox: the token endpoint as HubSpot's, access
tokens refreshed before they expire and once on a 401, a refused refresh a clear permanent
error, and no token or secret in the logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
import requests
import structlog.testing
from hubspot.oauth import TokenResponseIF
from hubspot.oauth.exceptions import ApiException as OAuthApiException
from pydantic import ValidationError
from test_hubspot_connector import Script, refusal
from urllib3.exceptions import NewConnectionError

from lastmile.connector.base import AuthError, TransientError
from lastmile.connector.hubspot import HubSpotConnector, from_settings
from lastmile.connector.hubspot.oauth import OAuthApp, RefreshedToken
from lastmile.connector.hubspot_sandbox import HubSpotSandbox
from lastmile.settings import Settings

LIFETIME_S = 600


class Clock:
    """The sandbox's clock, moved on by the test; the connector reads the same time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return self.now.timestamp()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hubspot(tmp_path: Path, clock: Clock) -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(tmp_path, clock=clock, token_lifetime_s=LIFETIME_S) as running:
        running.seed_demo()
        yield running


def public_app(hubspot: HubSpotSandbox, clock: Clock, **given: str) -> HubSpotConnector:
    """A connector signed in as the sandbox's public app (`given` replaces a credential)."""
    app = {
        "client_id": hubspot.oauth.client_id,
        "client_secret": hubspot.client_secret,
        "refresh_token": hubspot.oauth.refresh_token,
        **given,
    }
    return HubSpotConnector(
        oauth=OAuthApp(**app),
        base_url=hubspot.base_url,
        ca_bundle=hubspot.ca_bundle,
        token_margin=60,
        token_clock=clock.seconds,
        sleep=lambda _s: None,
    )


def deal_names(connector: HubSpotConnector, hubspot: HubSpotSandbox) -> list[str]:
    ids = [r.id for r in hubspot.portal.live("deals")]
    found = connector.read_many("deals", ids, ["dealname"])
    return sorted(str(s.fields["dealname"]) for s in found.values())


def test_the_token_endpoint_answers_as_hubspot(hubspot: HubSpotSandbox, clock: Clock) -> None:
    url = f"{hubspot.base_url}/oauth/v1/token"
    form = {
        "grant_type": "refresh_token",
        "client_id": hubspot.oauth.client_id,
        "client_secret": hubspot.client_secret,
        "refresh_token": hubspot.oauth.refresh_token,
    }
    answer = requests.post(url, data=form, verify=str(hubspot.ca_bundle), timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "refresh_token", "expires_in", "token_type"}
    assert (body["expires_in"], body["refresh_token"]) == (LIFETIME_S, form["refresh_token"])

    api = f"{hubspot.base_url}/crm/v3/objects/deals"
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert requests.get(api, headers=bearer, verify=str(hubspot.ca_bundle)).status_code == 200
    clock.advance(LIFETIME_S + 120)
    expired = requests.get(api, headers=bearer, verify=str(hubspot.ca_bundle))
    assert expired.status_code == 401
    error = expired.json()
    assert (error["status"], error["category"]) == ("error", "EXPIRED_AUTHENTICATION")
    assert error["message"] == "The OAuth token used to make this call expired 2 minute(s) ago."
    assert error["correlationId"]

    for wrong, status in (
        ({"refresh_token": "not-it"}, "BAD_REFRESH_TOKEN"),
        ({"client_id": "not-it"}, "BAD_CLIENT_ID"),
        ({"client_secret": "not-it"}, "BAD_CLIENT_SECRET"),
    ):
        refused = requests.post(url, data={**form, **wrong}, verify=str(hubspot.ca_bundle))
        assert refused.status_code == 400
        assert refused.json()["status"] == status
        assert {"message", "correlationId"} <= set(refused.json())
    as_json = requests.post(url, json=form, verify=str(hubspot.ca_bundle))
    assert as_json.status_code == 400  # HubSpot takes a form body only


def test_the_token_is_refreshed_shortly_before_it_expires(
    hubspot: HubSpotSandbox, clock: Clock
) -> None:
    connector = public_app(hubspot, clock)
    assert deal_names(connector, hubspot) == ["Acme renewal", "Globex pilot"]
    assert len(hubspot.oauth.issued) == 1
    clock.advance(LIFETIME_S - 61)  # 61 s left: more than the margin
    connector.check()
    assert len(hubspot.oauth.issued) == 1
    clock.advance(2)  # 59 s left: refreshed before the call, which HubSpot takes at once
    calls = connector.client.calls
    assert deal_names(connector, hubspot) == ["Acme renewal", "Globex pilot"]
    assert len(hubspot.oauth.issued) == 2 and connector.client.calls == calls + 1
    clock.advance(LIFETIME_S - 61)
    connector.check()
    assert len(hubspot.oauth.issued) == 2  # the new token's own expiry counts


def test_a_401_refreshes_once_and_the_new_token_reaches_calls_built_before(
    hubspot: HubSpotSandbox, clock: Clock
) -> None:
    connector = public_app(hubspot, clock)
    connector.check()
    # An API object hubspot-api-client built with the first token, before it was revoked.
    api = connector.client.api.crm.objects.basic_api
    page = partial(api.get_page_with_http_info, "deals", limit=1, properties=["dealname"])
    hubspot.oauth.expire_all()
    calls = connector.client.calls
    data = connector.client.call("read", page)
    assert data.results[0].properties["dealname"] == "Acme renewal"
    assert len(hubspot.oauth.issued) == 2 and connector.client.calls == calls + 2

    # A token refused again right after its refresh: one refresh, then a clear AuthError.
    refused = Script(refusal(401), refusal(401), refusal(401))
    with pytest.raises(AuthError, match="is the app still installed"):
        connector.client.call("read", refused)
    assert refused.calls == 2 and len(hubspot.oauth.issued) == 3


def test_a_refused_refresh_is_a_clear_permanent_error(
    hubspot: HubSpotSandbox, clock: Clock
) -> None:
    revoked = public_app(hubspot, clock, refresh_token="revoked-long-ago")
    with pytest.raises(AuthError) as first:
        revoked.check()
    message = str(first.value)
    assert "BAD_REFRESH_TOKEN" in message and "LASTMILE_HUBSPOT_REFRESH_TOKEN" in message
    assert "revoked-long-ago" not in message
    with pytest.raises(AuthError, match="BAD_REFRESH_TOKEN"):
        revoked.read("deals", hubspot.portal.live("deals")[0].id, ["dealname"])
    assert hubspot.oauth.refused == 1  # permanent: HubSpot is not asked again
    assert revoked.client.calls == 0

    wrong_secret = public_app(hubspot, clock, client_secret="an-old-secret")
    with pytest.raises(AuthError, match=r"BAD_CLIENT_SECRET.*LASTMILE_HUBSPOT_CLIENT_SECRET"):
        wrong_secret.check()


def test_settings_pick_the_public_app(hubspot: HubSpotSandbox, clock: Clock) -> None:
    printed = hubspot.settings(oauth=True)
    assert "LASTMILE_HUBSPOT_ACCESS_TOKEN" not in printed
    settings = Settings(**{k.removeprefix("LASTMILE_").lower(): v for k, v in printed.items()})
    public = {"hubspot_client_id": "c", "hubspot_client_secret": "s"}
    assert settings.uses_hubspot and settings.prompt_field == "lastmile_prompt"
    connector = from_settings(settings)
    assert deal_names(connector, hubspot) == ["Acme renewal", "Globex pilot"]
    # Half a public app, or both kinds of app, is a bad setting: Lastmile does not start.
    with pytest.raises(ValidationError, match="needs the public app's LASTMILE_HUBSPOT_CLIENT_ID"):
        Settings(hubspot_refresh_token="r", hubspot_client_secret="s")
    with pytest.raises(ValidationError, match="not both"):
        Settings(hubspot_refresh_token="r", hubspot_access_token="a", **public)


def test_tokens_and_secrets_never_reach_the_logs(
    hubspot: HubSpotSandbox, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the standard library's loggers (hubspot-api-client's)
    with structlog.testing.capture_logs() as events:  # Lastmile's own, every field
        connector = public_app(hubspot, clock)
        connector.check()  # the first token
        clock.advance(LIFETIME_S)
        connector.check()  # refreshed at expiry
        hubspot.oauth.expire_all()
        connector.check()  # refreshed on a 401
        with pytest.raises(AuthError):
            public_app(hubspot, clock, refresh_token="a-wrong-refresh-token").check()
    tokens = [e for e in events if e["event"] == "hubspot.token"]
    assert [e["outcome"] for e in tokens] == ["refreshed", "refreshed", "refreshed", "refused"]
    assert [e.get("reason") for e in tokens[:3]] == ["first", "expiry", "refused"]
    assert tokens[3]["code"] == "BAD_REFRESH_TOKEN"
    assert len(hubspot.oauth.issued) == 3
    logged = repr(events) + caplog.text
    for secret in (
        *hubspot.oauth.issued,
        hubspot.oauth.refresh_token,
        hubspot.client_secret,
        "a-wrong-refresh-token",
    ):
        assert secret not in logged


class TokenEndpoint:
    """hubspot-api-client's tokens API answering from a list: an exception is raised."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)

    def create_with_http_info(self, **form: object) -> tuple[object, int, dict]:
        assert form["grant_type"] == "refresh_token"
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer, 200, {}


def test_a_token_endpoint_in_trouble_is_transient_and_asked_again() -> None:
    endpoint = TokenEndpoint(
        OAuthApiException(status=503, reason="unavailable"),
        NewConnectionError(None, "refused"),
        TokenResponseIF(access_token="a1", refresh_token="r", token_type="bearer", expires_in=1800),
    )
    token = RefreshedToken(OAuthApp("id", "secret", "r"), lambda: endpoint)
    with pytest.raises(TransientError, match="HTTP 503"):
        token.current()
    with pytest.raises(TransientError, match="cannot reach HubSpot's token endpoint"):
        token.current()
    assert token.current() == "a1" and token.current() == "a1"  # asked once, then kept
