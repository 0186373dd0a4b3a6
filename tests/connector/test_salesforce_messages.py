"""Salesforce's error messages reach Lastmile's logs and admin answers without the values they
quote: kept when known to hold none, masked when the value's place is known, else withheld. The
sandbox CRM quotes values as Salesforce does, so the connector meets the real thing."""

from __future__ import annotations

from datetime import date

import pytest

from lastmile.connector.base import TaskWrite, WriteBack
from lastmile.connector.salesforce.client import problems_from
from lastmile.connector.salesforce.messages import VALUE, WITHHELD, without_values

MARK = "Geheim-Jansen-5521"


@pytest.mark.parametrize(
    "message",
    [
        "No such column 'Nope__c' on sobject of type Opportunity",
        "Required fields are missing: [StageName, CloseDate]",
        "unable to obtain exclusive access to this record or 1 records: 0067Q00000Jk9sPQAR",
        "The requested resource does not exist",
        "duplicate value found: Lastmile_Key__c duplicates value on record with id: "
        "00T7Q00000Lm3aBUAR",
    ],
)
def test_a_message_known_to_hold_no_value_is_kept(message):
    assert without_values(message) == message


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        (f"Owner ID: id value of incorrect type: {MARK}", "Owner ID: id value of incorrect type: "),
        (f"Subject: data value too large: {MARK} (max length=255)", "Subject: data value too "),
        (f"Stage: bad value for restricted picklist field: {MARK}", "Stage: bad value for "),
        (f"Email: invalid email address: {MARK}", "Email: invalid email address: "),
        (
            f"Cannot deserialize instance of currency from VALUE_STRING value {MARK} or request "
            "may be missing a required field at [line:1, column:11]",
            "Cannot deserialize instance of currency from VALUE_STRING value ",
        ),
    ],
)
def test_a_known_message_with_a_value_keeps_its_words_and_loses_the_value(message, kept):
    shown = without_values(message)
    assert MARK not in shown
    assert shown.startswith(kept) and VALUE in shown


@pytest.mark.parametrize(
    "message",
    [
        f"Please fill in the client's BSN: {MARK}",  # a validation rule's own text
        f"No such column '{MARK} x' on sobject of type Opportunity",
        f"Required fields are missing: [{MARK}!]",
        f"The requested resource does not exist {MARK}",
        f"\nSELECT Id FROM Lead WHERE Name = '{MARK}'\n^\nERROR at Row:1:Column:40",
    ],
)
def test_any_other_message_is_withheld(message):
    assert without_values(message) == WITHHELD


def test_problems_keep_the_code_and_field_names_and_withhold_the_rest():
    content = [
        {"errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": MARK, "fields": ["Bsn__c"]},
        {"errorCode": f"lower {MARK}", "message": "entity is deleted", "fields": [MARK, 3]},
    ]
    first, second = problems_from(content, 400)
    assert (first.code, first.message, first.fields) == (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        WITHHELD,
        ("Bsn__c",),
    )
    assert (second.code, second.message, second.fields) == (
        "UNKNOWN_ERROR",
        "entity is deleted",
        (),
    )
    (page,) = problems_from(f"<html>{MARK}</html>", 502)
    assert (page.code, page.message) == ("HTTP_502", WITHHELD)


def test_the_sandbox_quotes_values_and_the_connector_masks_them(connector, opportunity):
    record_id = opportunity()
    owner, too_long, not_a_number = connector.apply(
        [
            WriteBack("Opportunity", record_id, {"OwnerId": MARK}),
            WriteBack(
                "Opportunity",
                record_id,
                tasks=(TaskWrite(key="k1", subject=MARK * 20, due=date(2026, 11, 26)),),
            ),
            WriteBack("Opportunity", opportunity(), {"Amount": MARK}),
        ]
    )
    problems = [p for result in (owner, too_long, not_a_number) for p in result.problems]
    assert [(p.code, p.fields) for p in problems] == [
        ("MALFORMED_ID", ("OwnerId",)),
        ("STRING_TOO_LONG", ("Subject",)),
        ("JSON_PARSER_ERROR", ()),
    ]
    assert all(VALUE in p.message and MARK not in p.message for p in problems)
