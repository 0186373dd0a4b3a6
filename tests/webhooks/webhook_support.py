"""Helpers for the webhook tests: an in-memory inbox that keeps the inbox contract, an app per
test, a Salesforce Outbound Message as Salesforce sends it, and Standard Webhooks signing."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fakes import INTEGRATION, ORG_ID, SESSION_ID  # tests/fakes.py
from flask import Flask
from standardwebhooks import Webhook

from lastmile.rules.records import RecordEvent
from lastmile.settings import Settings
from lastmile.webhooks import create_app

OTHER_ORG_ID = "00D7Q000009ZzZzUAK"


def known_sessions(session_id: str) -> tuple[str, str] | None:
    """The CRM's answer to "whose session is this?": only SESSION_ID is live."""
    return (ORG_ID, INTEGRATION) if session_id == SESSION_ID else None


class MemoryInbox:
    """The inbox contract in memory: unique on (source, event id), all or none per call."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[int, RecordEvent]] = {}
        self.calls: list[list[RecordEvent]] = []
        self.fail: Exception | None = None

    def add(self, events: list[RecordEvent]) -> list[tuple[int, bool]]:
        self.calls.append(list(events))
        if self.fail is not None:
            raise self.fail
        staged = dict(self.rows)
        results = []
        for event in events:
            key = (event.source, event.id)
            if key in staged:
                results.append((staged[key][0], False))
            else:
                staged[key] = (len(staged) + 1, event)
                results.append((staged[key][0], True))
        self.rows = staged
        return results

    @property
    def events(self) -> list[RecordEvent]:
        return [event for _, event in sorted(self.rows.values(), key=lambda row: row[0])]


@pytest.fixture
def inbox() -> MemoryInbox:
    return MemoryInbox()


@pytest.fixture
def dispatched() -> list[list[int]]:
    return []


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


@pytest.fixture
def secret() -> str:
    return new_secret()


@pytest.fixture
def make_app(inbox: MemoryInbox, dispatched: list[list[int]], secret: str) -> Callable[..., Flask]:
    """An app with the test inbox; keyword arguments override settings."""

    def make(
        *,
        dispatch: Any = dispatched.append,
        blueprints=(),
        sessions: Any = known_sessions,
        field_types: Any = None,
        **overrides: Any,
    ) -> Flask:
        values: dict[str, Any] = {
            "salesforce_org_ids": [ORG_ID],
            "webhook_secret": secret,
            "database_url": "sqlite://",
            "rate_limit": "",  # these tests send thousands of requests; tests/hardening covers it
        }
        values.update(overrides)
        settings = Settings(**values)
        app = create_app(
            settings,
            inbox,
            blueprints=blueprints,
            dispatch=dispatch,
            sessions=sessions,
            field_types=field_types,
        )
        app.testing = True
        return app

    return make


@pytest.fixture
def client(make_app):
    return make_app().test_client()


def sign(
    body: str | bytes,
    secret: str,
    *,
    msg_id: str = "msg_1",
    at: datetime | None = None,
) -> dict[str, str]:
    """Standard Webhooks headers for `body` signed with `secret` at `at` (default: now)."""
    at = at or datetime.now(UTC)
    text = body.decode() if isinstance(body, bytes) else body
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, text),
    }


def post_events(client, payload: Any, secret: str, **sign_options: Any):
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return client.post(
        "/webhooks/events",
        data=body,
        content_type="application/json",
        headers=sign(body, secret, **sign_options),
    )


def post_soap(client, body: str | bytes, path: str = "/webhooks/salesforce", **options: Any):
    options.setdefault("content_type", "text/xml; charset=utf-8")
    headers = {"SOAPAction": '""', **options.pop("headers", {})}
    return client.post(path, data=body, headers=headers, **options)


def event_json(**overrides: Any) -> dict[str, Any]:
    """The RecordEvent JSON of DESIGN.md."""
    event: dict[str, Any] = {
        "id": "evt-1",
        "source": "crm-flow",
        "object": "Opportunity",
        "record_id": "0067Q00000Jk9sPQAR",
        "kind": "updated",
        "occurred_at": "2026-11-24T10:00:00Z",
        "actor": "0057Q00000A1bCdQAJ",
        "fields": {"StageName": "Closed Won", "NextStep": None, "Amount": 1200.5},
        "changed": ["StageName"],
    }
    event.update(overrides)
    return event


def notification(
    notification_id: str,
    sobject_type: str,
    fields: str,
) -> str:
    return f"""
   <Notification>
    <Id>{notification_id}</Id>
    <sObject xsi:type="sf:{sobject_type}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{fields}
    </sObject>
   </Notification>"""


def outbound_message(
    *notifications: str, org_id: str = ORG_ID, session_id: str | None = SESSION_ID
) -> str:
    """An Outbound Message envelope as Salesforce posts it (SOAP 1.1, outbound namespace), with
    "Send Session ID" ticked unless `session_id` is None."""
    session = (
        f"<SessionId>{session_id}</SessionId>"
        if session_id is not None
        else '<SessionId xsi:nil="true"/>'
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org_id}</OrganizationId>
   <ActionId>04k7Q000000CaLlQAK</ActionId>
   {session}
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0/{org_id[:15]}</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/{org_id[:15]}</PartnerUrl>\
{"".join(notifications)}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>
"""


CALL_TASK = notification(
    "04l7Q00000Kc1AaQAJ",
    "Task",
    """
     <sf:Id>00T7Q00000Lm3aBUAR</sf:Id>
     <sf:ActivityDate>2026-01-08</sf:ActivityDate>
     <sf:CallDurationInSeconds>1260</sf:CallDurationInSeconds>
     <sf:CallType>Outbound</sf:CallType>
     <sf:CreatedDate>2026-01-08T13:00:02.000Z</sf:CreatedDate>
     <sf:Description>Rentevaste periode besproken &amp; &lt;twijfel&gt;</sf:Description>
     <sf:IsClosed>true</sf:IsClosed>
     <sf:IsHighPriority>false</sf:IsHighPriority>
     <sf:LastModifiedById>0057Q00000A1bCdQAJ</sf:LastModifiedById>
     <sf:LastModifiedDate>2026-01-08T13:42:10.000Z</sf:LastModifiedDate>
     <sf:Next_Step__c xsi:nil="true"/>
     <sf:Outcome__c xsi:nil="true"/>
     <sf:OwnerId>0057Q00000A1bCdQAJ</sf:OwnerId>
     <sf:Phone__c>0612345678</sf:Phone__c>
     <sf:Status>Completed</sf:Status>
     <sf:Subject>Hypotheekgesprek fam. Jansen</sf:Subject>
     <sf:WhatId>0067Q00000Jk9sPQAR</sf:WhatId>""",
)

NEW_OPPORTUNITY = notification(
    "04l7Q00000Kc1AbQAJ",
    "Opportunity",
    """
     <sf:Id>0067Q00000Jk9sPQAR</sf:Id>
     <sf:Amount>1.0E7</sf:Amount>
     <sf:CloseDate>2026-03-31</sf:CloseDate>
     <sf:CreatedDate>2026-01-09T08:15:00.000Z</sf:CreatedDate>
     <sf:LastModifiedById>0057Q00000A1bCdQAJ</sf:LastModifiedById>
     <sf:LastModifiedDate>2026-01-09T08:15:00.000Z</sf:LastModifiedDate>
     <sf:LeadSource xsi:nil="true"/>
     <sf:Name>Acme hypotheek</sf:Name>
     <sf:Probability>10.0</sf:Probability>
     <sf:StageName>Prospecting</sf:StageName>
     <sf:TotalOpportunityQuantity>-3</sf:TotalOpportunityQuantity>""",
)
