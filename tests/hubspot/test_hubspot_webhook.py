"""`POST /webhooks/hubspot`: v3 signatures (secrets rotated, 5-minute window), batches of up to
100 notifications, one RecordEvent per record and author, duplicates by eventId; refusals are
4xx and store nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from structlog.testing import capture_logs

from lastmile.field_types import FieldTypes
from lastmile.rules.crm_schema import CrmSchema
from lastmile.rules.records import RecordEvent
from lastmile.settings import Settings
from lastmile.webhooks import create_app

URL = "http://localhost/webhooks/hubspot"
SECRET, OLD_SECRET = "a1b2c3d4-client-secret", "old-client-secret"


class Inbox:
    """The inbox contract in memory: unique on (source, event id)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], RecordEvent] = {}

    def add(self, events: list[RecordEvent]) -> list[tuple[int, bool]]:
        results = []
        for event in events:
            key = (event.source, event.id)
            new = key not in self.rows
            self.rows.setdefault(key, event)
            results.append((list(self.rows).index(key) + 1, new))
        return results


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def client(inbox: Inbox) -> FlaskClient:
    settings = Settings(
        database_url="sqlite://",
        rate_limit="",
        hubspot_client_secret=f"{SECRET},{OLD_SECRET}",
    )
    app = create_app(settings, inbox)
    app.testing = True
    return app.test_client()


def signature(secret: str, body: bytes, timestamp: str, uri: str = URL) -> str:
    """HubSpot's recipe, written out: base64(HMAC-SHA256(secret, method + uri + body + ts))."""
    source = b"POST" + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def post(
    client: FlaskClient,
    payload: Any,
    *,
    secret: str = SECRET,
    age_s: float = 0,
    raw: bytes | None = None,
    sign_body: bytes | None = None,
) -> Any:
    body = raw if raw is not None else json.dumps(payload).encode()
    timestamp = str(int((time.time() - age_s) * 1000))
    headers = {
        "X-HubSpot-Request-Timestamp": timestamp,
        "X-HubSpot-Signature-v3": signature(secret, sign_body or body, timestamp),
    }
    return client.post(
        "/webhooks/hubspot", data=body, headers=headers, content_type="application/json"
    )


def note(event_id: int, kind: str = "propertyChange", object_id: int = 1001, **more: Any) -> dict:
    item = {
        "eventId": event_id,
        "subscriptionId": 7,
        "portalId": 62515,
        "appId": 7001234,
        "occurredAt": 1_764_493_200_000 + event_id,
        "subscriptionType": f"deal.{kind}",
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM_UI",
        "sourceId": "userId:2001",
    }
    return {**item, **more}


def test_a_batch_becomes_one_event_per_record(client: FlaskClient, inbox: Inbox) -> None:
    batch = [
        note(1, "creation", object_id=2002),
        note(2, propertyName="dealstage", propertyValue="closedwon"),
        note(3, propertyName="hs_next_step", propertyValue=""),
        note(4, propertyName="hubspot_owner_id", propertyValue="3001"),
        note(3, propertyName="hs_next_step", propertyValue=""),  # the same notification twice
        note(5, "creation", object_id=3003, subscriptionType="contact.creation"),
        note(6, "associationChange", subscriptionType="deal.associationChange"),
    ]
    answer = post(client, batch)
    assert answer.status_code == 200, answer.json
    assert answer.json["received"] == 7
    events = {e.record_id: e for e in inbox.rows.values()}
    assert sorted(events) == ["1001", "2002", "3003"]
    deal = events["1001"]
    assert (deal.source, deal.object, deal.kind) == ("hubspot", "deals", "updated")
    assert deal.fields == {
        "dealstage": "closedwon",
        "hs_next_step": None,  # "" is how HubSpot says cleared
        "hubspot_owner_id": "3001",
        "OwnerId": "3001",
    }
    assert deal.actor == "userId:2001"
    assert deal.occurred_at.timestamp() * 1000 == 1_764_493_200_000 + 4
    assert (events["2002"].kind, events["2002"].fields) == ("created", {})
    assert events["3003"].object == "contacts"

    # The same batch again (HubSpot retries): the same event ids, nothing new.
    again = post(client, batch)
    assert again.status_code == 200
    assert [e["new"] for e in again.json["events"]] == [False, False, False]
    assert len(inbox.rows) == 3


def test_our_own_change_is_an_event_of_its_own(client: FlaskClient, inbox: Inbox) -> None:
    own = {"changeSource": "INTEGRATION", "sourceId": "7001234"}
    batch = [
        note(10, propertyName="dealstage", propertyValue="closedwon"),
        note(11, propertyName="lastmile_prompt", propertyValue="Fill in", **own),
    ]
    assert post(client, batch).status_code == 200
    assert sorted(e.actor or "" for e in inbox.rows.values()) == ["7001234", "userId:2001"]


def test_the_older_secret_still_signs_during_rotation(client: FlaskClient, inbox: Inbox) -> None:
    assert post(client, [note(20)], secret=OLD_SECRET).status_code == 200
    assert len(inbox.rows) == 1


@pytest.mark.parametrize(
    ("how", "kwargs", "code"),
    [
        ("wrong secret", {"secret": "not-the-secret"}, "bad_signature"),
        ("stale", {"age_s": 301}, "stale_signature"),
        ("from the future", {"age_s": -400}, "stale_signature"),
        ("body changed after signing", {"sign_body": b"[]"}, "bad_signature"),
    ],
)
def test_a_bad_or_stale_signature_is_401_and_stores_nothing(
    client: FlaskClient, inbox: Inbox, how: str, kwargs: dict, code: str
) -> None:
    answer = post(client, [note(30)], **kwargs)
    assert answer.status_code == 401, how
    assert answer.json["error"] == code
    assert inbox.rows == {}


def test_missing_headers_are_401(client: FlaskClient, inbox: Inbox) -> None:
    answer = client.post("/webhooks/hubspot", json=[note(31)])
    assert answer.status_code == 401 and answer.json["error"] == "missing_signature"
    assert inbox.rows == {}


@pytest.mark.parametrize(
    ("payload", "raw", "status"),
    [
        (None, b"{not json", 400),
        ({"eventId": 1}, None, 400),  # an object, not a list
        ([], None, 400),
        ([note(1, objectId="abc")], None, 400),
        ([note(1, occurredAt=10**15)], None, 400),  # after the year 4000,
        ([note(1, propertyName="bad name!", propertyValue="x")], None, 400),
        ([note(1, propertyValue="nul\x00")], None, 400),
        ([note(i) for i in range(101)], None, 413),
        (None, b"[" * 100 + b"]" * 100, 400),
    ],
)
def test_malformed_bodies_are_4xx_and_store_nothing(
    client: FlaskClient, inbox: Inbox, payload: Any, raw: bytes | None, status: int
) -> None:
    answer = post(client, payload, raw=raw)
    assert answer.status_code == status, answer.json
    assert inbox.rows == {}


def test_without_a_client_secret_the_endpoint_takes_nothing(inbox: Inbox) -> None:
    app = create_app(Settings(database_url="sqlite://", rate_limit=""), inbox)
    answer = post(app.test_client(), [note(40)])
    assert answer.status_code == 403 and answer.json["error"] == "not_configured"
    assert inbox.rows == {}


def typed_client(inbox: Inbox) -> FlaskClient:
    """The receiver with the deal properties' types known, as `lastmile serve` has them from
    the connector's describe (through lastmile.field_types)."""
    describe = {
        "name": "deals",
        "fields": [
            {"name": "amount", "type": "double"},
            {"name": "closedate", "type": "datetime"},
            {"name": "signed_on", "type": "date"},
            {"name": "is_renewal", "type": "boolean"},
            {"name": "dealstage", "type": "picklist"},
            {"name": "hubspot_owner_id", "type": "string"},
            {"name": "OwnerId", "type": "string"},
        ],
    }
    settings = Settings(database_url="sqlite://", rate_limit="", hubspot_client_secret=SECRET)
    types = FieldTypes(schema=CrmSchema.from_describe([describe]))
    app = create_app(settings, inbox, field_types=types)
    app.testing = True
    return app.test_client()


def test_property_values_are_read_by_their_type(inbox: Inbox) -> None:
    batch = [
        note(50, propertyName="amount", propertyValue="1500.00"),
        note(51, propertyName="closedate", propertyValue="1796121000123"),
        note(52, propertyName="signed_on", propertyValue="1796083200000"),
        note(53, propertyName="is_renewal", propertyValue="true"),
        note(54, propertyName="dealstage", propertyValue="closedwon"),
        note(55, propertyName="hubspot_owner_id", propertyValue="3001"),
        note(56, propertyName="dealname", propertyValue="42"),  # a type not known: text
    ]
    answer = post(typed_client(inbox), batch)
    assert answer.status_code == 200, answer.json
    (event,) = inbox.rows.values()
    assert event.fields == {
        "amount": 1500.0,
        "closedate": "2026-12-01T10:30:00.123+0000",
        "signed_on": "2026-12-01",
        "is_renewal": True,
        "dealstage": "closedwon",
        "hubspot_owner_id": "3001",
        "OwnerId": "3001",
        "dealname": "42",
    }


def test_a_value_that_does_not_fit_its_type_is_stored_as_text(inbox: Inbox) -> None:
    batch = [
        note(60, propertyName="amount", propertyValue="1,500"),
        note(61, propertyName="closedate", propertyValue=""),
    ]
    with capture_logs() as logs:
        answer = post(typed_client(inbox), batch)
    assert answer.status_code == 200, answer.json
    (event,) = inbox.rows.values()
    assert event.fields == {"amount": "1,500", "closedate": None}
    (line,) = [entry for entry in logs if entry["event"] == "hubspot.value_untyped"]
    assert (line["property"], line["type"]) == ("amount", "double")
    assert "1,500" not in repr(logs)
