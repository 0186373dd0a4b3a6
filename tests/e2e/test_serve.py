"""`lastmile serve` as an operator runs it: in its own process, configured by a file of
LASTMILE_* lines, talking to the sandbox CRM over HTTPS. Hostile requests get a 4xx, store nothing
and leave the server serving; a changed rules directory goes live without a restart."""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from serving import SECRET, Served, serving
from standardwebhooks import Webhook
from waiting import wait_for

from lastmile.connector.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "Lastmile_Prompt__c"
RULES = """
pack: calls
locale: en
rules:
  - id: call-notes
    object: Task
    if: {all: [{Type: Call}, {Status: Completed}, {changed: Status}]}
    then:
      require: [Description]
      prompt: "{version}: record the call notes."
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("serve")
    with serving(base, {"calls.yaml": RULES.replace("{version}", "v1")}) as running:
        yield running


def save_completed_call(sandbox: Sandbox) -> str:
    call = sandbox.save_as(
        sandbox.sales_user_id, "Task", {"Subject": "Call", "Type": "Call", "Status": "Not Started"}
    )
    sandbox.save_as(sandbox.sales_user_id, "Task", {"Status": "Completed"}, record_id=call)
    return call


def test_a_save_in_the_crm_is_written_back_by_the_served_receiver(served: Served) -> None:
    call = save_completed_call(served.sandbox)
    prompt = wait_for(lambda: served.sandbox.org.get("Task", call).get(PROMPT))
    assert prompt == "v1: record the call notes."
    ready = served.admin("/readyz").json()
    assert ready["ready"] is True


def test_a_changed_rules_directory_goes_live_and_a_bad_one_does_not(served: Served) -> None:
    before = requests.get(served.url + "/readyz", timeout=5).json()["rules"]["version"]
    (served.rules / "calls.yaml").write_text(RULES.replace("{version}", "v2"))
    wait_for(
        lambda: requests.get(served.url + "/readyz", timeout=5).json()["rules"]["version"] != before
    )
    call = save_completed_call(served.sandbox)
    assert wait_for(lambda: served.sandbox.org.get("Task", call).get(PROMPT)).startswith("v2:")
    live = requests.get(served.url + "/readyz", timeout=5).json()["rules"]["version"]
    (served.rules / "broken.yaml").write_text("pack: x\nrules:\n  - id: y\n    objekt: Task\n")
    problems = wait_for(
        lambda: requests.get(served.url + "/readyz", timeout=5).json()["rules"]["problems"]
    )
    assert any("broken.yaml:4:" in p for p in problems)
    assert requests.get(served.url + "/readyz", timeout=5).json()["rules"]["version"] == live
    (served.rules / "broken.yaml").unlink()


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>&x;
</soapenv:Body></soapenv:Envelope>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>"""


def signed(body: bytes, *, at: datetime | None = None, secret: str = SECRET) -> dict[str, str]:
    msg_id = "msg_" + secrets.token_hex(8)
    when = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, when, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }


def event_body() -> bytes:
    return json.dumps(
        {
            "id": "evt-" + secrets.token_hex(4),
            "source": "flow",
            "object": "Task",
            "record_id": "00T7Q00000Ab1CdUAR",
            "kind": "updated",
            "occurred_at": "2026-11-24T10:00:00Z",
            "fields": {"Status": "Completed"},
        }
    ).encode()


def hostile_requests() -> list[tuple[str, str, bytes, dict[str, str]]]:
    soap = {"Content-Type": "text/xml; charset=utf-8"}
    deep = b"[" * 50_000 + b"]" * 50_000
    wrong_org = (
        b'<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
        b'envelope/"><soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        b"<OrganizationId>00D000000000BADAAA</OrganizationId><Notification><Id>04l1</Id>"
        b'<sObject xsi:type="sf:Task" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>00T7Q00000Ab1CdUAR</sf:Id>'
        b"</sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"
    )
    body = event_body()
    return [
        ("xxe", "/webhooks/salesforce", XXE, soap),
        ("billion laughs", "/webhooks/salesforce", LAUGHS, soap),
        ("10 MB", "/webhooks/salesforce", b"<a>" + b"x" * 10_000_000 + b"</a>", soap),
        ("wrong org", "/webhooks/salesforce", wrong_org, soap),
        ("deep json", "/webhooks/events", deep, signed(deep)),
        ("no signature", "/webhooks/events", body, {"Content-Type": "application/json"}),
        ("bad signature", "/webhooks/events", body, signed(body, secret="whsec_" + "A" * 32)),
        (
            "stale timestamp",
            "/webhooks/events",
            body,
            signed(body, at=datetime.now(UTC) - timedelta(minutes=10)),
        ),
    ]


@pytest.mark.parametrize("case", hostile_requests(), ids=lambda c: c[0])
def test_hostile_requests_get_a_4xx_and_leave_nothing(served: Served, case) -> None:
    _, path, body, headers = case
    before = served.stored()
    started = time.monotonic()
    answer = requests.post(served.url + path, data=body, headers=headers, timeout=30)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert time.monotonic() - started < 5
    assert served.stored() == before
    assert requests.get(served.url + "/healthz", timeout=5).status_code == 200


def test_a_signed_event_is_accepted(served: Served) -> None:
    body = event_body()
    before = served.stored()
    answer = requests.post(served.url + "/webhooks/events", data=body, headers=signed(body))
    assert answer.status_code == 202, answer.text
    assert served.stored() == before + 1


def test_slow_clients_do_not_starve_the_receiver(served: Served) -> None:
    """64 connections announce a 1,000-byte body and send it a byte every 2 s (eight stopped the
    gunicorn receiver): meanwhile /healthz and a valid event each answer within a second."""
    host, port = "127.0.0.1", int(served.url.rsplit(":", 1)[1])
    head = (
        b"POST /webhooks/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    trickling = [socket.create_connection((host, port), timeout=5) for _ in range(64)]
    try:
        for sock in trickling:
            sock.sendall(head + b"[")
        deadline = time.monotonic() + 6  # three bytes from each: the clients are still going
        while time.monotonic() < deadline:
            started = time.monotonic()
            assert requests.get(served.url + "/healthz", timeout=5).status_code == 200
            body = event_body()
            answer = requests.post(
                served.url + "/webhooks/events", data=body, headers=signed(body), timeout=5
            )
            assert answer.status_code == 202, answer.text
            assert time.monotonic() - started < 1.0
            for sock in trickling:
                sock.sendall(b" ")
            time.sleep(2)
    finally:
        for sock in trickling:
            sock.close()


def test_a_text_field_holding_a_number_matches_a_rule_comparing_text(served: Served) -> None:
    """Outbound Messages carry no types: the receiver reads each value by its field's type from
    the CRM's describe, so a Subject of exactly `2026` is the text "2026", not the number."""
    wait_for(lambda: served.admin("/readyz").json()["values"]["typed"])
    version = requests.get(served.url + "/readyz", timeout=5).json()["rules"]["version"]
    pack = served.rules / "years.yaml"
    pack.write_text(
        "pack: years\nrules:\n  - id: year-review\n    object: Task\n"
        '    if: {all: [{Subject: "2026"}]}\n'
        '    then: {require: [Description], prompt: "Jaaroverzicht: vul {missing} in."}\n'
    )
    try:
        wait_for(
            lambda: (
                requests.get(served.url + "/readyz", timeout=5).json()["rules"]["version"]
                != version
            )
        )
        task = served.sandbox.save_as(
            served.sandbox.sales_user_id, "Task", {"Subject": "2026", "Status": "Not Started"}
        )
        prompt = wait_for(lambda: served.sandbox.org.get("Task", task).get(PROMPT))
        assert prompt.startswith("Jaaroverzicht")
    finally:
        pack.unlink()
