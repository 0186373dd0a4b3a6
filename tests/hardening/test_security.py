"""Security over a whole run: no field value, session id, password, token or webhook secret in
any log line; every admin route refuses without the token; each source address is rate limited
on the webhook endpoints, answered in the endpoint's own error format."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
import requests
from hardening_support import PROMPT, TOKEN, Loop, with_settings
from standardwebhooks import Webhook
from waiting import wait_for

from lastmile.settings import Settings
from lastmile.webhooks import BadSettings, create_app

MARK = "Vertrouwelijk-Jansen-8731"  # a field value that must never be logged
PASSWORD, SECURITY_TOKEN = "pw-Zeer-Geheim-2291", "tok-Onbekend-5580"
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LW9mLXRoZS1ob29rLTEyMzQ1Njc4OTA="


def session_ids(loop: Loop) -> list[str]:
    with sqlite3.connect(loop.sandbox.data_dir / "sandbox.db") as db:
        return [row[0] for row in db.execute("SELECT id FROM sessions")]


def signed(body: str) -> dict[str, str]:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return {
        "Content-Type": "application/json",
        "webhook-id": "msg_sec_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(WEBHOOK_SECRET).sign("msg_sec_1", now, body),
    }


def test_a_whole_run_logs_no_value_session_or_secret(tmp_path: Path, captured) -> None:
    sandbox_dir = tmp_path / "sandbox"
    loop = Loop(
        tmp_path,
        salesforce_session_id=None,  # log in with username + password + security token
        salesforce_username="lastmile@example.com",
        salesforce_password=PASSWORD,
        salesforce_security_token=SECURITY_TOKEN,
        salesforce_login_url=None,
        webhook_secret=WEBHOOK_SECRET,
        log_level="debug",
    )
    try:
        assert loop.sandbox.data_dir == sandbox_dir
        loop.sandbox.add_login("lastmile@example.com", PASSWORD, SECURITY_TOKEN)
        loop.settings = with_settings(loop.settings, salesforce_login_url=loop.sandbox.instance_url)
        loop.restart()  # the connector logs in with the password now
        sales = loop.sandbox.sales_user_id
        call = loop.sandbox.save_as(
            sales, "Task", {"Subject": MARK, "Type": "Call", "Status": "Not Started"}
        )
        wait_for(loop.settled)
        assert requests.get(f"{loop.url}/readyz", timeout=10).status_code == 200  # logs in
        loop.sandbox.expire_sessions()  # the next call renews the session: a second login
        loop.sandbox.save_as(
            sales,
            "Task",
            {"Status": "Completed", "Outcome__c": "Interested", "Description": None},
            record_id=call,
        )
        wait_for(lambda: loop.sandbox.org.get("Task", call).get(PROMPT))
        event = {
            "id": "sec-1",
            "source": "crm-flow",
            "object": "Opportunity",
            "record_id": loop.about,
            "kind": "updated",
            "occurred_at": "2026-11-24T10:00:00Z",
            "fields": {"Name": MARK, "NextStep": MARK},
        }
        body = json.dumps(event)
        assert (
            requests.post(
                f"{loop.url}/webhooks/events", data=body, headers=signed(body), timeout=10
            ).status_code
            == 202
        )
        bad = requests.post(  # a refused request logs its reason, not its body
            f"{loop.url}/webhooks/events", data=body[:-3], headers=signed(body[:-3]), timeout=10
        )
        assert bad.status_code == 400
        wait_for(loop.settled)
        sessions = session_ids(loop)
    finally:
        loop.close()

    logged = captured.getvalue()
    assert "salesforce.session_renewed" in logged  # the run did log in again
    assert len(sessions) >= 3  # the sandbox's own, the first login, the renewal
    secrets = {
        "field value": MARK,
        "password": PASSWORD,
        "security token": SECURITY_TOKEN,
        "admin token": TOKEN,
        "webhook secret": WEBHOOK_SECRET.removeprefix("whsec_"),
        **{f"session {n}": s for n, s in enumerate(sessions)},
        **{f"session tail {n}": s.partition("!")[2] for n, s in enumerate(sessions)},
    }
    leaked = [name for name, value in secrets.items() if value and value in logged]
    assert not leaked, leaked
    for line in logged.splitlines():
        json.loads(line)  # every line is one JSON object: nothing bypassed the pipeline


def test_every_admin_route_refuses_without_the_right_token(tmp_path: Path) -> None:
    loop = Loop(tmp_path)
    try:
        app = loop.runtime.app()  # type: ignore[union-attr]
        guarded = sorted(
            {
                re.sub(r"<(?:int:)?[a-z_]+>", "1", rule.rule)
                for rule in app.url_map.iter_rules()
                if rule.rule.startswith(("/api/", "/dashboard"))
                and "login" not in rule.rule
                and "/static/" not in rule.rule  # the style sheet: public, like any CSS
                and "GET" in (rule.methods or ())
            }
        )
        assert len(guarded) >= 5, guarded
        for path in guarded:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                answer = requests.get(
                    loop.url + path, headers=headers, timeout=10, allow_redirects=False
                )
                assert answer.status_code in (302, 401, 403), (path, headers, answer.status_code)
                assert MARK not in answer.text
            answer = requests.post(loop.url + "/api/events/1/replay", timeout=10)
            assert answer.status_code in (401, 403)
        ok = requests.get(
            loop.url + "/api/events", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        assert ok.status_code == 200
    finally:
        loop.close()


def rate_limited_client(limit: str | None, trusted_proxies: int = 0):
    settings = Settings(
        rate_limit=limit,
        salesforce_org_ids=["00D7Q000004SaLeUAK"],
        webhook_secret=WEBHOOK_SECRET,
        trusted_proxies=trusted_proxies,
    )

    class Nothing:
        def add(self, events):
            raise AssertionError("nothing may be stored")

    return create_app(settings, Nothing()).test_client()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/webhooks/salesforce", "text/xml"), ("/webhooks/events", "application/json")],
)
def test_an_address_over_the_rate_limit_gets_429_in_the_endpoints_format(path, content_type):
    client = rate_limited_client("3/minute")
    answers = [
        client.post(path, data="<x", content_type=content_type).status_code for _ in range(4)
    ]
    assert answers[:3] != [429] * 3 and answers[3] == 429
    refused = client.post(path, data="<x", content_type=content_type)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    if path.endswith("salesforce"):
        assert refused.content_type == "text/xml; charset=utf-8"
        assert b"<faultcode>soapenv:Client</faultcode>" in refused.data
    else:
        assert refused.json["error"] == "rate_limited"
    other = client.post(
        path, data="<x", content_type=content_type, environ_base={"REMOTE_ADDR": "10.9.8.7"}
    )
    assert other.status_code != 429  # the limit is per source address
    assert client.get("/healthz").status_code == 404  # no blueprint: unlimited and unrouted


def test_each_endpoint_has_its_own_count_and_other_routes_none() -> None:
    client = rate_limited_client("2/minute")
    for _ in range(2):
        client.post("/webhooks/salesforce", data="<x", content_type="text/xml")
    assert (
        client.post("/webhooks/salesforce", data="<x", content_type="text/xml").status_code == 429
    )
    assert (
        client.post("/webhooks/events", data="{", content_type="application/json").status_code
        != 429
    )


def test_behind_a_trusted_proxy_each_client_has_its_own_count() -> None:
    client = rate_limited_client("2/minute", trusted_proxies=1)
    proxy = {"REMOTE_ADDR": "10.0.0.2"}  # every request arrives from the load balancer

    def post(client_address: str) -> int:
        return client.post(
            "/webhooks/events",
            data="{",
            content_type="application/json",
            headers={"X-Forwarded-For": client_address},
            environ_base=proxy,
        ).status_code

    assert [post("198.51.100.7") for _ in range(3)][2] == 429
    assert post("203.0.113.9") != 429  # another client behind the same proxy
    # The proxy appends the address it saw: what the client wrote before that is not trusted.
    assert post("203.0.113.9, 198.51.100.7") == 429


def test_without_trusted_proxies_a_forwarded_header_changes_nothing() -> None:
    client = rate_limited_client("2/minute")
    answers = [
        client.post(
            "/webhooks/events",
            data="{",
            content_type="application/json",
            headers={"X-Forwarded-For": f"198.51.100.{n}"},  # forged, a new one each time
        ).status_code
        for n in range(3)
    ]
    assert answers[2] == 429


@pytest.mark.parametrize("limit", ["", None])
def test_no_rate_limit_when_switched_off(limit) -> None:
    client = rate_limited_client(limit)
    answers = {client.post("/webhooks/events", data="{").status_code for _ in range(30)}
    assert 429 not in answers


def test_a_rate_limit_that_cannot_be_read_is_refused_at_start() -> None:
    with pytest.raises(BadSettings, match="LASTMILE_RATE_LIMIT"):
        rate_limited_client("lots")
