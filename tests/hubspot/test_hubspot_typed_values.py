"""HubSpot values typed end to end against the sandbox: the sandbox keeps and answers every value
as text as HubSpot does; the connector reads them by each property's type (fetched once per
object type, then cached), so a rule on `amount: {gt: 1000}` and on a close date matches; typed
defaults written back read back as the same values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from hubspot_support import LARGE_DEALS

from lastmile.connector.base import WriteBack
from lastmile.connector.hubspot import HubSpotConnector
from lastmile.connector.hubspot_sandbox import HubSpotSandbox
from lastmile.connector.hubspot_sandbox.portal import Change, Portal
from lastmile.rules import evaluate, load_text
from lastmile.rules.records import RecordEvent, same_value

# Custom properties of the types HubSpot has beyond text, numbers and datetimes.
CUSTOM = [
    {"name": "is_renewal", "label": "Renewal", "type": "bool", "fieldType": "booleancheckbox"},
    {"name": "signed_on", "label": "Signed on", "type": "date", "fieldType": "date"},
]
WANTED = ["amount", "closedate", "is_renewal", "signed_on", "dealstage", "dealname"]


def api(sandbox: HubSpotSandbox, method: str, path: str, body: Any = None) -> requests.Response:
    """The sandbox's API without hubspot-api-client: what goes over the wire, as sent."""
    return requests.request(
        method,
        sandbox.base_url + path,
        json=body,
        headers={"Authorization": f"Bearer {sandbox.access_token}"},
        verify=str(sandbox.ca_bundle),
        timeout=10,
    )


@pytest.fixture(scope="module", autouse=True)
def custom_properties(sandbox: HubSpotSandbox) -> None:
    for spec in CUSTOM:
        made = api(sandbox, "POST", "/crm/v3/properties/deals", {**spec, "groupName": "info"})
        assert made.status_code == 201, made.text


def deal(sandbox: HubSpotSandbox, **values: str) -> str:
    return sandbox.save_as_user("deals", {"dealname": "Acme", **values}).id


def test_the_sandbox_answers_every_value_as_text(sandbox: HubSpotSandbox) -> None:
    sent = {
        "dealname": "Typed",
        "amount": 1500,
        "is_renewal": True,
        "closedate": 1796121000123,  # epoch ms, as HubSpot takes them
        "signed_on": "2026-12-01",
    }
    made = api(sandbox, "POST", "/crm/v3/objects/deals", {"properties": sent})
    assert made.status_code == 201, made.text
    record_id = made.json()["id"]
    names = ",".join(sent)
    read = api(sandbox, "GET", f"/crm/v3/objects/deals/{record_id}?properties={names}").json()
    props = read["properties"]
    assert {n: props[n] for n in sent} == {
        "dealname": "Typed",
        "amount": "1500",
        "is_renewal": "true",
        "closedate": "2026-12-01T10:30:00.123Z",
        "signed_on": "2026-12-01",
    }
    assert all(isinstance(v, str) for v in props.values() if v is not None)
    batch = api(
        sandbox,
        "POST",
        "/crm/v3/objects/deals/batch/read",
        {"inputs": [{"id": record_id}], "properties": list(sent), "propertiesWithHistory": []},
    ).json()
    assert all(isinstance(v, str) for v in batch["results"][0]["properties"].values() if v)


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("signed_on", "2026-12-01T10:00:00Z", "INVALID_DATE"),  # a date is midnight UTC
        ("signed_on", "tomorrow", "INVALID_DATE"),
        ("closedate", "2026-12-01T10:00:00", "INVALID_DATETIME"),  # no zone
        ("is_renewal", "yes", "INVALID_OPTION"),
        ("amount", "1,500", "INVALID_INTEGER"),
    ],
)
def test_the_sandbox_refuses_a_value_of_the_wrong_type(
    sandbox: HubSpotSandbox, name: str, value: str, code: str
) -> None:
    answer = api(sandbox, "POST", "/crm/v3/objects/deals", {"properties": {name: value}})
    assert answer.status_code == 400
    body = answer.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert [e["code"] for e in body["errors"]] == [code]


def test_the_sandbox_notifies_dates_and_datetimes_in_epoch_ms() -> None:
    notified: list[tuple] = []
    portal = Portal(notify=lambda *args: notified.append(args))
    portal.define("deals", {**CUSTOM[1], "groupName": "info"})
    values = {"dealname": "Acme", "closedate": "2026-12-01T10:30:00.123Z", "amount": "12"}
    record = portal.create("deals", {**values, "signed_on": "2026-12-01"}, Change())
    (_creation, (_, _, kind, changed, _, _)) = notified
    assert kind == "propertyChange"
    assert changed == {
        "dealname": "Acme",
        "closedate": "1796121000123",
        "amount": "12",
        "signed_on": "1796083200000",
    }
    assert record.properties["closedate"] == "2026-12-01T10:30:00.123Z"


def test_read_gives_values_by_their_property_type(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    record_id = deal(
        sandbox,
        amount="1500.00",
        closedate="2026-12-01T10:30:00Z",
        is_renewal="true",
        signed_on="2026-12-01",
        dealstage="contractsent",
    )
    state = connector.read("deals", record_id, WANTED)
    assert state.fields == {
        "amount": 1500.0,
        "closedate": "2026-12-01T10:30:00.000+0000",
        "is_renewal": True,
        "signed_on": "2026-12-01",
        "dealstage": "contractsent",
        "dealname": "Acme",
    }
    cleared = deal(sandbox, amount="12", is_renewal="false")
    sandbox.save_as_user("deals", {"amount": ""}, record_id=cleared)
    fields = connector.read("deals", cleared, WANTED).fields
    assert (fields["amount"], fields["is_renewal"], fields["closedate"]) == (None, False, None)


def test_types_are_fetched_once_per_object_type(sandbox: HubSpotSandbox) -> None:
    now = [0.0]
    connector = HubSpotConnector(
        sandbox.access_token,
        base_url=sandbox.base_url,
        ca_bundle=sandbox.ca_bundle,
        types_clock=lambda: now[0],
    )
    record_id = deal(sandbox, amount="7")
    for _ in range(3):
        assert connector.read("deals", record_id, ["amount"]).fields == {"amount": 7}
    assert connector.client.calls == 1 + 3  # the properties once, then one batch read a read

    # A property made after the types were fetched: text until they are fetched again, which a
    # name they do not know asks for at most once a minute.
    spec = {"name": "seats", "label": "Seats", "type": "number", "fieldType": "number"}
    assert api(sandbox, "POST", "/crm/v3/properties/deals", {**spec, "groupName": "info"}).ok
    sandbox.save_as_user("deals", {"seats": "25"}, record_id=record_id)
    assert connector.read("deals", record_id, ["seats"]).fields == {"seats": "25"}
    assert connector.client.calls == 1 + 4
    now[0] += 61
    assert connector.read("deals", record_id, ["seats"]).fields == {"seats": 25}
    assert connector.client.calls == 2 + 5
    assert connector.read("deals", record_id, ["seats"]).fields == {"seats": 25}
    assert connector.client.calls == 2 + 6


def test_describe_names_the_types_values_are_read_by(connector: HubSpotConnector) -> None:
    fields = {f["name"]: f for f in connector.describe("deals")["fields"]}
    kinds = {name: fields[name]["type"] for name in WANTED}
    assert kinds == {
        "amount": "double",
        "closedate": "datetime",
        "is_renewal": "boolean",
        "signed_on": "date",
        "dealstage": "picklist",
        "dealname": "string",
    }


def event_of(record_id: str, fields: dict[str, Any]) -> RecordEvent:
    return RecordEvent(
        id=f"e-{record_id}",
        source="hubspot",
        object="deals",
        record_id=record_id,
        kind="updated",
        occurred_at=datetime(2026, 11, 30, tzinfo=UTC),
        fields=fields,
    )


def test_a_number_and_a_date_condition_match_on_what_the_connector_reads(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    rules = load_text(LARGE_DEALS)
    names = sorted(rules.fields("deals") - {"Id"})
    large = deal(sandbox, amount="1500.00", closedate="2026-12-01T00:00:00Z")
    small = deal(sandbox, amount="900", closedate="2026-12-01T00:00:00Z")
    later = deal(sandbox, amount="5000", closedate="1830297600000")  # 2028-01-01 in epoch ms
    read = connector.read_many("deals", [large, small, later], names)
    decisions = {r: evaluate(rules, event_of(r, dict(read[r].fields))) for r in read}
    assert decisions[large].matched == ["large-deal-closing-this-year"]
    assert decisions[large].defaults == {"description": "Large deal closing this year"}
    assert decisions[small].matched == []
    assert decisions[later].matched == []
    # As text (how values reached the rules before), the number never compared as one.
    as_text = {"amount": "1500.00", "closedate": "2026-12-01T00:00:00.000Z"}
    assert evaluate(rules, event_of(large, as_text)).matched == []


def test_typed_defaults_round_trip(sandbox: HubSpotSandbox, connector: HubSpotConnector) -> None:
    record_id = deal(sandbox)
    written = {
        "amount": 1000,
        "is_renewal": False,
        "signed_on": "2026-12-01",
        "closedate": "2026-12-01T10:30:00.000+0000",  # a datetime as rules see one
        "dealstage": "closedwon",
    }
    (result,) = connector.apply([WriteBack("deals", record_id, written)])
    assert result.status == "applied", result
    stored = sandbox.portal.get("deals", record_id).properties
    assert stored["amount"] == "1000" and stored["is_renewal"] == "false"
    back = connector.read("deals", record_id, list(written)).fields
    assert back == written
    assert all(same_value(back[n], v) for n, v in written.items())
    # A float default reads back as the same number.
    connector.apply([WriteBack("deals", record_id, {"amount": 1500.5})])
    assert connector.read("deals", record_id, ["amount"]).fields == {"amount": 1500.5}
