"""HubSpot's text values read by their property's type: numbers, checkboxes, dates and datetimes
as rules see Salesforce's; enumerations and text stay text; "" is None; a value that does not
fit its type stays text and is logged by the property's name, never its value."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from lastmile.connector.hubspot.values import kind_of, rest_datetime, typed, typed_fields
from lastmile.rules.records import RecordEvent, same_value
from lastmile.webhooks.soap import rest_datetime as salesforce_datetime


@pytest.mark.parametrize(
    ("hubspot_type", "field_type", "kind"),
    [
        ("number", "number", "double"),
        ("bool", "booleancheckbox", "boolean"),
        ("enumeration", "booleancheckbox", "boolean"),  # older accounts' checkboxes
        ("enumeration", "select", "picklist"),
        ("date", "date", "date"),
        ("datetime", "date", "datetime"),
        ("string", "textarea", "string"),
        ("phone_number", "phonenumber", "string"),
        (None, None, "string"),
    ],
)
def test_hubspot_types_in_describe_words(
    hubspot_type: str | None, field_type: str | None, kind: str
) -> None:
    assert kind_of(hubspot_type, field_type) == kind


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("12", "double", 12),
        ("-3", "double", -3),
        ("1500.00", "double", 1500.0),
        ("0.5", "double", 0.5),
        ("1.5E7", "double", 15_000_000.0),
        ("12345678901234567890", "double", 12345678901234567890.0),  # past int64: a double
        ("true", "boolean", True),
        ("false", "boolean", False),
        ("TRUE", "boolean", True),
        ("2026-12-01", "date", "2026-12-01"),
        ("1796083200000", "date", "2026-12-01"),  # webhooks: midnight UTC in epoch ms
        ("2026-12-01T00:00:00Z", "date", "2026-12-01"),
        ("2026-12-01T00:00:00Z", "datetime", "2026-12-01T00:00:00.000+0000"),
        ("2026-12-01T10:30:00.123Z", "datetime", "2026-12-01T10:30:00.123+0000"),
        ("2026-12-01T11:30:00+01:00", "datetime", "2026-12-01T10:30:00.000+0000"),
        ("1796121000123", "datetime", "2026-12-01T10:30:00.123+0000"),  # webhooks: epoch ms
        ("closedwon", "picklist", "closedwon"),
        ("1500", "string", "1500"),  # text stays text, however it looks
        ("true", "string", "true"),
        ("0612345678", None, "0612345678"),  # a property of unknown type: text
    ],
)
def test_values_are_read_by_type(text: str, kind: str | None, value: object) -> None:
    got = typed("prop", text, kind)
    assert got == value
    assert type(got) is type(value)


@pytest.mark.parametrize("kind", ["double", "boolean", "date", "datetime", "picklist", "string"])
def test_empty_text_is_none_for_every_type(kind: str) -> None:
    assert typed("prop", "", kind) is None
    assert typed("prop", None, kind) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("1,500", "double"),
        ("1500 EUR", "double"),
        ("NaN", "double"),
        ("1e999", "double"),  # beyond a double
        (" 12", "double"),
        ("yes", "boolean"),
        ("2026-13-01", "date"),
        ("01/12/2026", "date"),
        ("2026-12-01T10:00:00", "datetime"),  # no zone: no HubSpot datetime
        ("2026-12-01", "datetime"),
        ("soon", "datetime"),
        ("999999999999999", "datetime"),  # epoch ms past the year 9999
    ],
)
def test_a_value_that_does_not_fit_stays_text_and_is_logged_by_name_only(
    text: str, kind: str
) -> None:
    with capture_logs() as logs:
        assert typed("secret_amount", text, kind) == text
    (line,) = [entry for entry in logs if entry["event"] == "hubspot.value_untyped"]
    assert line["property"] == "secret_amount"
    assert line["type"] == kind
    assert text not in repr(logs)


def test_datetimes_take_the_form_salesforce_datetimes_take() -> None:
    moment = datetime(2026, 12, 1, 10, 30, 0, 123456, tzinfo=UTC)
    assert rest_datetime(moment) == salesforce_datetime(moment) == "2026-12-01T10:30:00.123+0000"
    assert rest_datetime(datetime(5, 1, 2, tzinfo=UTC)) == "0005-01-02T00:00:00.000+0000"


def test_typed_values_are_record_event_values() -> None:
    kinds = {
        "amount": "double",
        "closedate": "datetime",
        "flag": "boolean",
        "dealstage": "picklist",
    }
    raw = {
        "amount": "1500.00",
        "closedate": "1796083200000",
        "flag": "true",
        "dealstage": "closedwon",
        "hs_next_step": "",
    }
    fields = typed_fields(raw, kinds)
    assert fields == {
        "amount": 1500.0,
        "closedate": "2026-12-01T00:00:00.000+0000",
        "flag": True,
        "dealstage": "closedwon",
        "hs_next_step": None,
    }
    event = RecordEvent(
        id="e",
        source="hubspot",
        object="deals",
        record_id="1",
        kind="updated",
        occurred_at=datetime(2026, 11, 30, tzinfo=UTC),
        fields=fields,
    )
    assert event.fields == fields
    assert typed_fields(raw, None)["amount"] == "1500.00"  # types unknown: text


def test_the_api_form_and_the_webhook_form_of_one_value_are_the_same_value() -> None:
    """The worker compares what a webhook said with what a batch read says."""
    pairs = [
        ("datetime", "2026-12-01T10:30:00.123Z", "1796121000123"),
        ("date", "2026-12-01", "1796083200000"),
        ("double", "1500", "1500.0"),
    ]
    for kind, from_api, from_webhook in pairs:
        assert same_value(typed("p", from_api, kind), typed("p", from_webhook, kind))
