"""Ids, SOQL and value checks on their own (the HTTP tests cover them end to end)."""

from __future__ import annotations

import pytest

from lastmile.connector.sandbox.errors import SalesforceError
from lastmile.connector.sandbox.ids import checksum, make_id, to18
from lastmile.connector.sandbox.schema import coerce, load_schema
from lastmile.connector.sandbox.soql import parse, run


def test_checksum_of_known_salesforce_ids():
    # ids from Salesforce's documentation and the example events
    assert to18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert to18("0057Q00000A1bCd") == "0057Q00000A1bCdQAJ"
    assert checksum("00T7Q00000Lm3aB") == "UAR"


def test_to18_accepts_15_and_valid_18_and_refuses_the_rest():
    assert to18("0057Q00000A1bCdQAJ") == "0057Q00000A1bCdQAJ"
    assert to18("0057Q00000A1bCdqaj") == "0057Q00000A1bCdQAJ"  # the suffix ignores case
    assert to18("0057Q00000A1bCdQAA") is None
    assert to18("0057Q00000A1bC") is None and to18("0057Q00000A1bC!") is None and to18(5) is None


def test_made_ids_round_trip():
    made = [make_id("00T", n) for n in (1, 61, 62, 10**9)]
    assert len(set(made)) == 4 and all(to18(i[:15]) == i and i.startswith("00T7Q0") for i in made)


SCHEMA = load_schema()
ROWS = [
    {"Id": make_id("001", 1), "Name": "Acme", "Industry": "Banking", "NumberOfEmployees": 5},
    {"Id": make_id("001", 2), "Name": "Beta", "Industry": None, "NumberOfEmployees": 50},
    {"Id": make_id("001", 3), "Name": "Gamma", "Industry": "Banking", "NumberOfEmployees": 500},
]


def query(text: str) -> list[str]:
    parsed, _ = parse(text, SCHEMA)
    return [r["Name"] for r in run(parsed, ROWS)]


def test_soql_subset():
    assert query("select name from ACCOUNT where industry = 'BANKING'") == ["Acme", "Gamma"]
    assert query("SELECT Name FROM Account WHERE Industry = null") == ["Beta"]
    assert query("SELECT Name FROM Account WHERE Industry != null ORDER BY Name DESC") == [
        "Gamma", "Acme"
    ]  # fmt: skip
    assert query(f"SELECT Name FROM Account WHERE Id IN ('{ROWS[1]['Id'][:15]}')") == ["Beta"]
    assert query("SELECT Name FROM Account WHERE NumberOfEmployees NOT IN (5, 500)") == ["Beta"]
    assert query("SELECT Name FROM Account WHERE Name = 'it\\'s'") == []
    assert query("SELECT Name FROM Account ORDER BY NumberOfEmployees DESC LIMIT 1") == ["Gamma"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("SELECT Name FROM Account WHERE Name = 'a' OR Name = 'b'", "MALFORMED_QUERY"),
        ("SELECT Name FROM Account LIMIT x", "MALFORMED_QUERY"),
        ("SELECT Name FROM Account WHERE Name = 'unterminated", "MALFORMED_QUERY"),
        ("SELECT Owner.Name FROM Account", "INVALID_FIELD"),
        ("SELECT Name FROM Account WHERE Nope = 1", "INVALID_FIELD"),
    ],
)
def test_soql_errors(text, code):
    with pytest.raises(SalesforceError) as exc:
        parse(text, SCHEMA)
    assert exc.value.code == code and exc.value.status == 400


def test_values_are_checked_and_stored_as_salesforce_returns_them():
    task = SCHEMA.object("Task")
    assert coerce(task.field("CallDurationInSeconds"), "60") == 60
    assert coerce(task.field("ActivityDate"), "2026-01-08") == "2026-01-08"
    assert coerce(task.field("Subject"), "") is None
    assert coerce(task.field("WhatId"), "0067Q00000Jk9sP") == "0067Q00000Jk9sPQAR"
    event = SCHEMA.object("Event")
    assert coerce(event.field("StartDateTime"), "2026-01-08T13:42:10Z") == (
        "2026-01-08T13:42:10.000+0000"
    )
    assert coerce(event.field("IsAllDayEvent"), None) is False
    for field, value in [("CallDurationInSeconds", 1.5), ("ActivityDate", "08-01-2026"),
                         ("CallDurationInSeconds", True), ("Subject", {"a": 1})]:  # fmt: skip
        with pytest.raises(SalesforceError) as exc:
            coerce(task.field(field), value)
        assert exc.value.code == "JSON_PARSER_ERROR"
