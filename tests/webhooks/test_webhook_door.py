"""What the door refuses before anything is stored, on SQLite and PostgreSQL alike: times no
datetime (or Salesforce) holds, text the store cannot keep, and record, actor and owner ids that
are no Salesforce ids. Each is a 4xx naming where it is (a SOAP Client fault on
/webhooks/salesforce), never a 5xx, and never quoting the value."""

from __future__ import annotations

import pytest
from store_support import inbox, store, store_or_problem, stored
from webhook_support import event_json, notification, outbound_message, post_events, post_soap

__all__ = ["inbox", "store", "store_or_problem"]  # fixtures: the receiver on a real store

OUT_OF_RANGE = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]
# Times Python holds but Salesforce does not (1700-01-01 to 4000-12-31).
BEYOND_SALESFORCE = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
BAD_IDS = ["00T' OR '1'='1", "../../../services/data", "00T7Q00000Lm3aBU", ""]
TASK = "00T7Q00000Lm3aBUAR"
PERSON = "0057Q00000A1bCdQAJ"


def task(fields: str, notification_id: str = "04l7Q00000Kc1AcQAJ") -> str:
    """An Outbound Message with one Task notification carrying `fields` (SOAP elements)."""
    return outbound_message(notification(notification_id, "Task", fields))


def soap_fault(response) -> str:
    text = response.get_data(as_text=True)
    assert response.status_code == 400, text
    assert "<faultcode>soapenv:Client</faultcode>" in text
    return text


def json_problems(response) -> list[tuple[object, ...]]:
    assert response.status_code == 400, response.get_data(as_text=True)
    return [tuple(problem["loc"]) for problem in response.json["problems"]]


@pytest.mark.parametrize("when", OUT_OF_RANGE + BEYOND_SALESFORCE)
@pytest.mark.parametrize("field", ["LastModifiedDate", "CreatedDate"])
def test_an_outbound_message_with_a_system_date_out_of_range_is_a_client_fault(
    client, store, when, field
):
    before = stored(store)
    body = task(f"<sf:Id>{TASK}</sf:Id><sf:{field}>{when}</sf:{field}>")
    text = soap_fault(post_soap(client, body))
    assert f"Notification 1: {field} is not a datetime" in text
    assert when not in text
    assert stored(store) == before


@pytest.mark.parametrize("when", OUT_OF_RANGE + BEYOND_SALESFORCE)
def test_a_json_event_occurring_out_of_range_is_a_400_naming_occurred_at(
    client, store, secret, when
):
    before = stored(store)
    response = post_events(client, [event_json(), event_json(id="e2", occurred_at=when)], secret)
    assert json_problems(response) == [(1, "occurred_at")]
    assert when not in response.get_data(as_text=True)
    assert stored(store) == before


@pytest.mark.parametrize(("number", "when"), list(enumerate(OUT_OF_RANGE)))
def test_a_date_like_text_value_stays_text(client, store, secret, number, when):
    body = task(
        f"<sf:Id>{TASK}</sf:Id><sf:Subject>{when}</sf:Subject>"
        "<sf:LastModifiedDate>2026-01-09T15:20:00.000Z</sf:LastModifiedDate>",
        notification_id=f"04l7Q00000Kc1T{number}QAJ",
    )
    assert post_soap(client, body).status_code == 200
    response = post_events(client, event_json(id=f"text-{when}", fields={"Subject": when}), secret)
    assert response.status_code == 202
    latest = store.list_events(limit=2)
    assert [row.event.fields["Subject"] for row in latest] == [when, when]


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"fields": {"Description": "lone \ud800 surrogate"}}, ("fields", "Description")),
        ({"fields": {"Description": "nul \x00 here"}}, ("fields", "Description")),
        ({"id": "evt-\x00"}, ("id",)),
        ({"record_id": "0067Q00000Jk9sPQA\x00"}, ("record_id",)),
        ({"source": "crm\x00flow"}, ("source",)),
        ({"changed": ["Stage\x00Name"]}, ("changed", 0)),
        ({"fields": {"Na\x00me": "x"}}, ("fields", "Na\x00me", "[key]")),
    ],
)
def test_text_the_store_cannot_keep_is_a_400_naming_the_event_and_field(
    client, store, secret, overrides, where
):
    before = stored(store)
    poisoned = event_json(**{"id": "e2", **overrides})
    response = post_events(client, [event_json(), poisoned], secret)
    assert json_problems(response) == [(1, *where)]
    assert stored(store) == before


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("part", ["record_id", "actor", "owner"])
def test_an_invalid_id_in_a_json_event_is_a_400_naming_it(client, store, secret, bad, part):
    before = stored(store)
    if part == "owner":
        event, where = event_json(fields={"OwnerId": bad}), ("fields", "OwnerId")
    else:
        event, where = event_json(**{part: bad}), (part,)
    response = post_events(client, event, secret)
    assert json_problems(response) == [where]
    if bad:  # an empty record id is refused as too short before its form is looked at
        assert "not a Salesforce id" in response.json["problems"][0]["message"]
    assert stored(store) == before


@pytest.mark.parametrize("bad", [b for b in BAD_IDS if b])
@pytest.mark.parametrize("field", ["Id", "LastModifiedById", "OwnerId"])
def test_an_invalid_id_in_an_outbound_message_is_a_client_fault_naming_it(
    client, store, bad, field
):
    before = stored(store)
    values = {"Id": TASK, "LastModifiedById": PERSON, "OwnerId": PERSON, field: bad}
    body = task("".join(f"<sf:{name}>{value}</sf:{name}>" for name, value in values.items()))
    text = soap_fault(post_soap(client, body))
    named = "sObject Id" if field == "Id" else field
    assert f"Notification 1.{named}: Value error, not a Salesforce id" in text
    assert bad not in text
    assert stored(store) == before


def test_15_and_18_character_ids_pass_the_door(client, store, secret):
    response = post_events(
        client,
        event_json(id="ids-ok", record_id=TASK[:15], actor=PERSON, fields={"OwnerId": PERSON[:15]}),
        secret,
    )
    assert response.status_code == 202
