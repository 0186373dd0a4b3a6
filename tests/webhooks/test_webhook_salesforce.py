"""POST /webhooks/salesforce: Outbound Messages as Salesforce sends them become RecordEvents,
stored before the exact Ack; what is not valid gets a SOAP fault and leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from defusedxml.ElementTree import fromstring
from webhook_support import (
    CALL_TASK,
    NEW_OPPORTUNITY,
    ORG_ID,
    OTHER_ORG_ID,
    notification,
    outbound_message,
    post_soap,
)

# Written from Salesforce's Outbound Messaging WSDL (notificationsResponse / Ack), independently
# of the code under test.
EXACT_ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body>"
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    "<Ack>true</Ack>"
    "</notificationsResponse>"
    "</soapenv:Body>"
    "</soapenv:Envelope>"
)
SOAP_ENV = "{http://schemas.xmlsoap.org/soap/envelope/}"


def fault_of(response) -> tuple[str, str]:
    """(faultcode, faultstring) of a SOAP 1.1 fault response."""
    assert response.content_type == "text/xml; charset=utf-8"
    root = fromstring(response.data)
    fault = root.find(f"{SOAP_ENV}Body/{SOAP_ENV}Fault")
    assert fault is not None, response.data
    assert b"<Ack>" not in response.data
    return fault.findtext("faultcode"), fault.findtext("faultstring")


def test_a_message_with_two_notifications_becomes_two_events_then_the_exact_ack(
    client, inbox, dispatched
):
    response = post_soap(client, outbound_message(CALL_TASK, NEW_OPPORTUNITY))

    assert response.status_code == 200
    assert response.content_type == "text/xml; charset=utf-8"
    assert response.get_data(as_text=True) == EXACT_ACK
    assert len(inbox.calls) == 1  # both notifications stored in one call
    task, opportunity = inbox.events

    assert task.id == "sfom:04l7Q00000Kc1AaQAJ"
    assert task.source == "salesforce"
    assert task.object == "Task"
    assert task.record_id == "00T7Q00000Lm3aBUAR"
    assert task.kind == "updated"  # CreatedDate differs from LastModifiedDate
    assert task.actor == "0057Q00000A1bCdQAJ"
    assert task.occurred_at == datetime(2026, 1, 8, 13, 42, 10, tzinfo=UTC)
    assert task.changed is None  # Outbound Messages carry no changed fields
    assert task.fields == {
        "Id": "00T7Q00000Lm3aBUAR",
        "ActivityDate": "2026-01-08",
        "CallDurationInSeconds": 1260,
        "CallType": "Outbound",
        "CreatedDate": "2026-01-08T13:00:02.000+0000",
        "Description": "Rentevaste periode besproken & <twijfel>",
        "IsClosed": True,
        "IsHighPriority": False,
        "LastModifiedById": "0057Q00000A1bCdQAJ",
        "LastModifiedDate": "2026-01-08T13:42:10.000+0000",
        "Next_Step__c": None,
        "Outcome__c": None,
        "OwnerId": "0057Q00000A1bCdQAJ",
        "Phone__c": "0612345678",  # a leading zero keeps it text
        "Status": "Completed",
        "Subject": "Hypotheekgesprek fam. Jansen",
        "WhatId": "0067Q00000Jk9sPQAR",
    }
    assert isinstance(task.fields["CallDurationInSeconds"], int)

    assert opportunity.id == "sfom:04l7Q00000Kc1AbQAJ"
    assert opportunity.object == "Opportunity"
    assert opportunity.kind == "created"  # CreatedDate == LastModifiedDate
    assert opportunity.fields["Amount"] == 10_000_000.0
    assert isinstance(opportunity.fields["Amount"], float)
    assert opportunity.fields["Probability"] == 10.0
    assert opportunity.fields["TotalOpportunityQuantity"] == -3
    assert opportunity.fields["LeadSource"] is None
    assert opportunity.fields["CloseDate"] == "2026-03-31"

    assert dispatched == [[1, 2]]


def test_redelivery_adds_nothing_new_and_still_acks(client, inbox, dispatched):
    message = outbound_message(CALL_TASK, NEW_OPPORTUNITY)
    first = post_soap(client, message)
    again = post_soap(client, message)
    partly_new = post_soap(client, outbound_message(NEW_OPPORTUNITY))

    assert first.status_code == again.status_code == partly_new.status_code == 200
    assert again.get_data(as_text=True) == EXACT_ACK
    assert len(inbox.events) == 2
    assert dispatched == [[1, 2]]  # redeliveries dispatch nothing


@pytest.mark.parametrize(
    ("allowed", "sent"),
    [(ORG_ID[:15], ORG_ID), (ORG_ID, ORG_ID[:15]), (ORG_ID, ORG_ID)],
    ids=["allow-15-send-18", "allow-18-send-15", "same"],
)
def test_15_and_18_character_org_ids_match(make_app, inbox, allowed, sent):
    client = make_app(salesforce_org_ids=[OTHER_ORG_ID, allowed]).test_client()
    response = post_soap(client, outbound_message(CALL_TASK, org_id=sent))
    assert response.status_code == 200
    assert len(inbox.events) == 1


@pytest.mark.parametrize(
    "sent",
    [OTHER_ORG_ID, OTHER_ORG_ID[:15], ORG_ID[:14], ORG_ID.lower(), ORG_ID[:15] + "XYZ9"],
    ids=["other-18", "other-15", "too-short", "case-differs", "too-long"],
)
def test_a_wrong_org_gets_403_and_a_client_fault(client, inbox, sent):
    response = post_soap(client, outbound_message(CALL_TASK, org_id=sent))
    assert response.status_code == 403
    code, text = fault_of(response)
    assert code == "soapenv:Client"
    assert "organisation is not allowed" in text
    assert inbox.calls == []


def test_an_empty_allowlist_refuses_everything_and_says_why(make_app, inbox):
    client = make_app(salesforce_org_ids=[]).test_client()
    response = post_soap(client, outbound_message(CALL_TASK))
    assert response.status_code == 403
    _, text = fault_of(response)
    assert "no Salesforce organisation is allowed" in text
    assert inbox.calls == []


def test_without_last_modified_date_the_receipt_time_is_used_and_said(client, inbox):
    before = datetime.now(UTC)
    body = outbound_message(
        notification(
            "04l7Q00000Kc1AcQAJ",
            "Lead",
            "<sf:Id>00Q7Q00000Ab1CdUAR</sf:Id><sf:Status>Open</sf:Status>",
        )
    )
    assert post_soap(client, body).status_code == 200
    (event,) = inbox.events
    assert before <= event.occurred_at <= datetime.now(UTC)
    assert event.kind == "updated"
    assert event.actor is None
    assert set(event.fields) == {"Id", "Status"}
    assert event.fields["Status"] == "Open"


def test_a_datetime_with_an_offset_is_normalised_to_utc():
    from lastmile.webhooks.soap import convert

    assert convert("2026-01-08T14:42:10.5+01:00") == "2026-01-08T13:42:10.500+0000"


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ("<sf:Status>Open</sf:Status>", "has no Id"),
        (
            "<sf:Id>00T7Q00000Lm3aBUAR</sf:Id><sf:LastModifiedDate>gisteren</sf:LastModifiedDate>",
            "LastModifiedDate is not a datetime",
        ),
    ],
)
def test_an_invalid_notification_is_a_client_fault_naming_it(client, inbox, fields, says):
    body = outbound_message(CALL_TASK, notification("04l7Q00000Kc1AcQAJ", "Task", fields))
    response = post_soap(client, body)
    assert response.status_code == 400
    code, text = fault_of(response)
    assert code == "soapenv:Client"
    assert "Notification 2" in text and says in text
    assert inbox.calls == []  # the valid first notification is not stored either


def test_an_object_name_that_is_no_api_name_is_refused(client, inbox):
    body = outbound_message(
        notification("04l7Q00000Kc1AcQAJ", "Ta sk", "<sf:Id>00T7Q00000Lm3aBUAR</sf:Id>")
    )
    response = post_soap(client, body)
    assert response.status_code == 400
    assert "object" in fault_of(response)[1]
    assert inbox.calls == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("<a/>", "not a SOAP 1.1 envelope"),
        (
            '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>',
            "no notifications element",
        ),
        (outbound_message(), "no Notification"),
        (outbound_message(CALL_TASK).replace(ORG_ID, ""), "no OrganizationId"),
    ],
    ids=["not-soap", "no-notifications", "no-notification", "no-org"],
)
def test_a_body_that_is_not_an_outbound_message_is_a_client_fault(client, inbox, body, says):
    response = post_soap(client, body)
    assert response.status_code == 400
    assert says in fault_of(response)[1]
    assert inbox.calls == []


def test_inbox_failure_is_a_503_server_fault_and_no_ack(client, inbox, dispatched):
    inbox.fail = OSError("disk full")
    response = post_soap(client, outbound_message(CALL_TASK))
    assert response.status_code == 503
    code, _ = fault_of(response)
    assert code == "soapenv:Server"
    assert inbox.rows == {}
    assert dispatched == []

    inbox.fail = None  # Salesforce retries; now it is stored and acknowledged
    assert post_soap(client, outbound_message(CALL_TASK)).get_data(as_text=True) == EXACT_ACK
    assert len(inbox.events) == 1


def test_a_failing_dispatch_still_acks_because_the_events_are_stored(make_app, inbox):
    def broken(_ids):
        raise RuntimeError("broker down")

    client = make_app(dispatch=broken).test_client()
    response = post_soap(client, outbound_message(CALL_TASK))
    assert response.get_data(as_text=True) == EXACT_ACK
    assert len(inbox.events) == 1


def test_a_json_body_is_refused_with_415(client, inbox):
    response = post_soap(client, "{}", content_type="application/json")
    assert response.status_code == 415
    assert "text/xml" in fault_of(response)[1]
    assert inbox.calls == []


def test_received_and_refused_requests_are_counted(client):
    from lastmile.metrics import EVENTS_RECEIVED, REQUESTS_REFUSED

    def count(metric, *labels):
        return metric.labels(*labels)._value.get()

    new, duplicate = (
        count(EVENTS_RECEIVED, "salesforce", "no"),
        count(EVENTS_RECEIVED, "salesforce", "yes"),
    )
    forbidden = count(REQUESTS_REFUSED, "salesforce", "forbidden")

    post_soap(client, outbound_message(CALL_TASK, NEW_OPPORTUNITY))
    post_soap(client, outbound_message(CALL_TASK))
    post_soap(client, outbound_message(CALL_TASK, org_id=OTHER_ORG_ID))

    assert count(EVENTS_RECEIVED, "salesforce", "no") == new + 2
    assert count(EVENTS_RECEIVED, "salesforce", "yes") == duplicate + 1
    assert count(REQUESTS_REFUSED, "salesforce", "forbidden") == forbidden + 1


def test_ids_stay_text_even_when_they_look_like_numbers(client, inbox):
    body = outbound_message(
        notification(
            "04l7Q00000Kc1AcQAJ",
            "Task",
            "<sf:Id>001000000000001</sf:Id><sf:WhatId>006000000000002</sf:WhatId>"
            "<sf:Subject>2026</sf:Subject>",
        )
    )
    assert post_soap(client, body).status_code == 200
    (event,) = inbox.events
    assert event.record_id == "001000000000001"
    assert event.fields["WhatId"] == "006000000000002"
    assert event.fields["Subject"] == 2026  # the documented trade-off: no describe, no types


def _task_with(subject: str, duration: str) -> str:
    return notification(
        "04l7Q00000Kc1AtQAJ",
        "Task",
        f"""
     <sf:Id>00T7Q00000Lm3aBUAR</sf:Id>
     <sf:Subject>{subject}</sf:Subject>
     <sf:CallDurationInSeconds>{duration}</sf:CallDurationInSeconds>
     <sf:Amount__c>{duration}</sf:Amount__c>
     <sf:LastModifiedDate>2026-01-08T13:42:10.000Z</sf:LastModifiedDate>""",
    )


TASK_TYPES = {
    "Id": "id",
    "Subject": "string",
    "CallDurationInSeconds": "int",
    "Amount__c": "currency",
}


def test_with_the_crms_field_types_text_stays_text(make_app, inbox):
    asked: list[tuple[str, list[str]]] = []

    def types(object_name: str, names):
        asked.append((object_name, sorted(names)))
        return TASK_TYPES

    client = make_app(field_types=types).test_client()
    assert post_soap(client, outbound_message(_task_with("2026", "1260"))).status_code == 200
    (event,) = inbox.events
    assert event.fields["Subject"] == "2026"  # a text field: the string, not the number
    assert event.fields["CallDurationInSeconds"] == 1260
    assert event.fields["Amount__c"] == 1260.0 and isinstance(event.fields["Amount__c"], float)
    assert asked[0][0] == "Task" and "Subject" in asked[0][1]


def test_without_field_types_values_are_read_by_their_look(make_app, inbox):
    client = make_app().test_client()
    assert post_soap(client, outbound_message(_task_with("2026", "1260"))).status_code == 200
    (event,) = inbox.events
    assert event.fields["Subject"] == 2026  # no describe: there is no telling text from numbers


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("true", "boolean", True),
        ("yes", "boolean", "yes"),
        ("0612345678", "phone", "0612345678"),
        ("12", "picklist", "12"),
        ("1.0E7", "double", 10_000_000.0),
        ("15", "percent", 15.0),
        ("n/a", "currency", "n/a"),
        ("2026-01-08T13:42:10.000Z", "datetime", "2026-01-08T13:42:10.000+0000"),
        ("2026-01-08", "date", "2026-01-08"),
        ("a;b", "multipicklist", "a;b"),
    ],
)
def test_values_are_read_by_their_type(text, kind, value):
    from lastmile.webhooks.soap import typed

    assert typed(text, kind) == value
