"""The whole loop over real HTTP: a record saved in the sandbox CRM goes out as an Outbound
Message, the receiver stores and acknowledges it, the worker evaluates the example rules, and the
write-back lands in the sandbox."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from waiting import wait_for

from lastmile.cli.demo import Demo
from lastmile.webhooks.envelopes import ACK

PROMPT = "Lastmile_Prompt__c"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    with Demo(tmp_path, port=0, sandbox_port=0) as running:
        yield running


def idle(demo: Demo) -> bool:
    """Nothing waits: no Outbound Message unacknowledged, no event unprocessed."""
    assert demo.sandbox is not None and demo.runtime is not None
    counts = demo.runtime.store.counts()
    return demo.sandbox.outbound_pending() == 0 and not counts.get("pending")


def our_tasks(demo: Demo, what_id: str) -> list[dict]:
    assert demo.sandbox is not None
    return [
        t
        for t in demo.sandbox.store.records("Task")
        if t.get("WhatId") == what_id and t.get("Lastmile_Key__c")
    ]


def test_a_completed_call_gets_its_prompt_and_follow_up_task(demo: Demo) -> None:
    sandbox = demo.sandbox
    assert sandbox is not None
    opportunity = sandbox.seed_demo()["opportunity"]
    call = sandbox.save_as(
        sandbox.sales_user_id,
        "Task",
        {
            "Subject": "Call: renewal",
            "Type": "Call",
            "Status": "Not Started",
            "WhatId": opportunity,
        },
    )
    wait_for(lambda: idle(demo))
    sandbox.save_as(
        sandbox.sales_user_id,
        "Task",
        {"Status": "Completed", "Outcome__c": "Interested"},
        record_id=call,
    )
    record = wait_for(
        lambda: sandbox.org.get("Task", call).get(PROMPT) and sandbox.org.get("Task", call)
    )
    # client-calls.yaml, call-essentials (nl): the notes and next step are still missing.
    assert record[PROMPT] == "Gesprek afgerond. Leg meteen vast: Gespreksverslag en Volgende stap."
    (task,) = wait_for(lambda: our_tasks(demo, opportunity))
    assert task["Subject"] == "Vervolgafspraak: Call: renewal"
    assert task["OwnerId"] == sandbox.sales_user_id
    assert task["Priority"] == "High"

    # Filling in what was asked clears the prompt: the behaviour happened.
    sandbox.save_as(
        sandbox.sales_user_id,
        "Task",
        {"Description": "Wants a quote.", "Next_Step__c": "Send quote"},
        record_id=call,
    )
    wait_for(lambda: not sandbox.org.get("Task", call).get(PROMPT))
    wait_for(lambda: idle(demo))
    assert len(our_tasks(demo, opportunity)) == 1


def test_a_new_lead_gets_its_defaults(demo: Demo) -> None:
    sandbox = demo.sandbox
    assert sandbox is not None
    lead = sandbox.save_as(
        sandbox.sales_user_id,
        "Lead",
        {"FirstName": "Ana", "LastName": "Silva", "Company": "-", "Country": "Portugal"},
    )
    # leads.yaml, expat-lead-defaults: a lead from abroad gets English as its language.
    wait_for(lambda: sandbox.org.get("Lead", lead).get("Preferred_Language__c") == "en")


class Catcher:
    """An Outbound Message endpoint that keeps what it receives and acknowledges it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                catcher.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.end_headers()
                self.wfile.write(ACK)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_one_notification_delivered_three_times_is_applied_once(demo: Demo) -> None:
    sandbox, runtime = demo.sandbox, demo.runtime
    assert sandbox is not None and runtime is not None
    opportunity = sandbox.seed_demo()["opportunity"]
    call = sandbox.save_as(
        sandbox.sales_user_id,
        "Task",
        {"Subject": "Call: offer", "Type": "Call", "Status": "Not Started", "WhatId": opportunity},
    )
    wait_for(lambda: idle(demo))
    catcher = Catcher()
    try:
        sandbox.outbound("Task", catcher.url)  # catch the next message, deliver it by hand
        sandbox.save_as(
            sandbox.sales_user_id,
            "Task",
            {"Status": "Completed", "Outcome__c": "Interested"},
            record_id=call,
        )
        wait_for(lambda: catcher.bodies)
    finally:
        sandbox.outbound("Task", f"{demo.receiver_url}/webhooks/salesforce")
        catcher.close()
    calls_before = sandbox.api_calls
    for _ in range(3):
        answer = requests.post(
            f"{demo.receiver_url}/webhooks/salesforce",
            data=catcher.bodies[0],
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
            timeout=10,
        )
        assert answer.status_code == 200
        assert answer.content == ACK
    wait_for(lambda: sandbox.org.get("Task", call).get(PROMPT))
    wait_for(lambda: idle_inbox(demo))
    assert len(our_tasks(demo, opportunity)) == 1
    # One Composite call carried the prompt and the task upsert; the duplicates made none.
    assert sandbox.api_calls - calls_before == 1


def idle_inbox(demo: Demo) -> bool:
    assert demo.runtime is not None
    return not demo.runtime.store.counts().get("pending")


def _forged_message(org_id: str, session_id: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org_id}</OrganizationId>
   <ActionId>04k7Q000000CaLlQAK</ActionId>
   <SessionId>{session_id}</SessionId>
   <EnterpriseUrl>https://attacker.example/services/Soap/c/62.0</EnterpriseUrl>
   <PartnerUrl>https://attacker.example/services/Soap/u/62.0</PartnerUrl>
   <Notification>
    <Id>04l7Q00000Forged1AAA</Id>
    <sObject xsi:type="sf:Task" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"
             xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
     <sf:Id>00T7Q00000Lm3aBUAR</sf:Id>
     <sf:Subject>Call me on 0612345678</sf:Subject>
     <sf:Type>Call</sf:Type>
     <sf:Status>Completed</sf:Status>
     <sf:OwnerId>0057Q00000A1bCdQAJ</sf:OwnerId>
     <sf:CreatedDate>2026-11-24T10:00:00.000Z</sf:CreatedDate>
     <sf:LastModifiedDate>2026-11-24T10:05:00.000Z</sf:LastModifiedDate>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"""


def test_a_forged_message_with_the_org_id_and_a_made_up_session_is_refused(demo: Demo) -> None:
    """The org id is no secret: the session is checked with the sandbox CRM itself (userinfo),
    never with the URLs the message names."""
    sandbox = demo.sandbox
    assert sandbox is not None and demo.runtime is not None
    wait_for(lambda: idle(demo))
    before = sum(demo.runtime.store.counts().values())
    url = f"{demo.receiver_url}/webhooks/salesforce"
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    made_up = f"{sandbox.org_id[:15]}!AQ4AQmadeUpSessionThatLooksRight"
    forged = requests.post(url, data=_forged_message(sandbox.org_id, made_up), headers=headers)
    assert forged.status_code == 403 and b"faultcode" in forged.content
    assert sum(demo.runtime.store.counts().values()) == before  # nothing stored
    # The same message with a live session of the org (what the sandbox's own messages carry).
    real = requests.post(
        url, data=_forged_message(sandbox.org_id, sandbox.outbound_session()), headers=headers
    )
    assert real.status_code == 200 and ACK in real.content
