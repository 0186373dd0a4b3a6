"""Stock simple-salesforce against the sandbox: create, read, update, upsert, query, delete, and
Salesforce's error bodies, system fields, ids and conditional updates."""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import format_datetime

import pytest
from sandbox_helpers import start, trusting
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from lastmile.connector.sandbox import Sandbox
from lastmile.connector.sandbox.ids import to18
from lastmile.connector.sandbox.schema import parse_datetime

SF_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
PREFIXES = {"Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q",
            "Task": "00T", "Case": "500"}  # fmt: skip
MINIMAL = {
    "Account": {"Name": "Acme"},
    "Contact": {"LastName": "Jansen"},
    "Opportunity": {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"},
    "Lead": {"LastName": "Schmidt", "Company": "Private client"},
    "Task": {"Subject": "Call"},
    "Case": {"Subject": "Dossier"},
}


def errors_of(exc: pytest.ExceptionInfo) -> list[dict]:
    return exc.value.content


@pytest.mark.parametrize("object_name", sorted(PREFIXES))
def test_create_gives_an_id_with_the_key_prefix_and_a_valid_checksum(sf, object_name):
    result = getattr(sf, object_name).create(MINIMAL[object_name])
    assert result["success"] is True and result["errors"] == []
    record_id = result["id"]
    assert len(record_id) == 18 and record_id.startswith(PREFIXES[object_name])
    assert to18(record_id[:15]) == record_id


def test_a_created_record_reads_back_with_attributes_and_system_fields(sandbox, sf):
    record_id = sf.Opportunity.create(
        {
            "Name": "Hypotheek",
            "StageName": "Prospecting",
            "CloseDate": "2026-03-31",
            "Amount": 385000,
        }
    )["id"]
    record = sf.Opportunity.get(record_id)
    assert record["attributes"] == {
        "type": "Opportunity",
        "url": f"/services/data/v{sf.sf_version}/sobjects/Opportunity/{record_id}",
    }
    assert record["Id"] == record_id and record["Amount"] == 385000.0
    assert record["CloseDate"] == "2026-03-31" and record["NextStep"] is None
    for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        assert SF_DATETIME.match(record[name]), record[name]
    for name in ("OwnerId", "CreatedById", "LastModifiedById"):
        assert record[name] == sandbox.integration_user_id


def test_fields_parameter_and_15_character_ids_in_urls(sf):
    record_id = sf.Account.create({"Name": "Acme", "Phone": "030 123"})["id"]
    record = sf.Account.get(record_id[:15] + "?fields=Name,phone")
    assert {k for k in record if k != "attributes"} == {"Id", "Name", "Phone"}
    assert record["Id"] == record_id and record["Phone"] == "030 123"


def test_update_answers_204_and_sets_last_modified_by(sandbox, sf):
    record_id = sf.Account.create({"Name": "Acme"})["id"]
    assert sf.Account.update(record_id, {"Phone": "1234", "Name": "Acme BV"}) == 204
    record = sf.Account.get(record_id)
    assert (record["Name"], record["Phone"]) == ("Acme BV", "1234")
    sandbox.save_as(sandbox.sales_user_id, "Account", {"Phone": "5678"}, record_id)
    assert sf.Account.get(record_id)["LastModifiedById"] == sandbox.sales_user_id


def test_upsert_creates_then_updates_by_external_id(sf, api, sandbox):
    assert sf.Task.upsert("Lastmile_Key__c/rule-1:00T:0", {"Subject": "Follow up"}) == 201
    assert sf.Task.upsert("Lastmile_Key__c/rule-1:00T:0", {"Subject": "Follow up!"}) == 200
    found = sf.query("SELECT Id, Subject FROM Task WHERE Lastmile_Key__c = 'rule-1:00T:0'")
    assert found["totalSize"] == 1 and found["records"][0]["Subject"] == "Follow up!"
    base = f"{sandbox.instance_url}/services/data"
    created = api.patch(f"{base}/v62.0/sobjects/Task/Lastmile_Key__c/k2", json={"Subject": "x"})
    assert created.status_code == 201 and created.json()["created"] is True
    updated = api.patch(f"{base}/v62.0/sobjects/Task/Lastmile_Key__c/k2", json={"Subject": "y"})
    assert updated.status_code == 200 and updated.json() == {
        "id": created.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    older = api.patch(f"{base}/v45.0/sobjects/Task/Lastmile_Key__c/k2", json={"Subject": "z"})
    assert older.status_code == 204 and older.content == b""


def test_upsert_by_a_field_that_is_no_external_id_is_refused(sf):
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Task.upsert("Subject/abc", {"Status": "Completed"})
    assert errors_of(exc)[0]["errorCode"] == "NOT_FOUND"


def test_a_unique_external_id_refuses_a_duplicate(sf):
    sf.Task.create({"Subject": "a", "Lastmile_Key__c": "same"})
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Task.create({"Subject": "b", "Lastmile_Key__c": "SAME"})
    assert errors_of(exc)[0]["errorCode"] == "DUPLICATE_VALUE"


def test_query_with_in_and_and_and_limit(sf):
    ids = [sf.Account.create({"Name": f"A{i}", "Industry": "Banking"})["id"] for i in range(4)]
    soql = (
        f"SELECT Id, Name FROM Account WHERE Id IN ('{ids[0][:15]}', '{ids[2]}') "
        "AND Industry = 'banking' ORDER BY Name DESC"
    )
    found = sf.query(soql)
    assert found["done"] is True and found["totalSize"] == 2
    assert [r["Id"] for r in found["records"]] == [ids[2], ids[0]]
    assert found["records"][0]["attributes"]["type"] == "Account"
    assert sf.query("SELECT Id FROM Account LIMIT 3")["totalSize"] == 3


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Nope__c FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name LIKE 'A%'", "MALFORMED_QUERY"),
    ],
)
def test_query_errors_are_salesforce_errors(sf, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query(soql)
    error = errors_of(exc)[0]
    assert error["errorCode"] == code and "ERROR at Row:1:Column:" in error["message"]


def test_delete_then_read_is_not_found(sf):
    record_id = sf.Case.create({"Subject": "x"})["id"]
    assert sf.Case.delete(record_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Case.get(record_id)
    assert errors_of(exc) == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND", "fields": []}
    ]


@pytest.mark.parametrize(
    ("values", "code", "fields"),
    [
        ({"Name": "x", "Nope__c": 1}, "INVALID_FIELD", ["Nope__c"]),
        ({"Phone": "1"}, "REQUIRED_FIELD_MISSING", ["Name"]),
        (
            {"Name": "x", "CreatedDate": "2020-01-01T00:00:00Z"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["CreatedDate"],
        ),
        ({"Name": "x", "NumberOfEmployees": "many"}, "JSON_PARSER_ERROR", []),
        ({"Name": "x", "ParentId": "not-an-id"}, "MALFORMED_ID", ["ParentId"]),
    ],
)
def test_bad_writes_get_salesforce_codes(sf, values, code, fields):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.create(values)
    error = errors_of(exc)[0]
    assert error["errorCode"] == code and error["fields"] == fields and error["message"]


def test_unparsable_json_is_json_parser_error(api, sandbox):
    response = api.post(
        f"{sandbox.instance_url}/services/data/v62.0/sobjects/Account", data="{not json"
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_unknown_object_and_method(api, sandbox):
    base = f"{sandbox.instance_url}/services/data/v62.0"
    assert api.get(f"{base}/sobjects/Nope/001").json()[0]["errorCode"] == "NOT_FOUND"
    put = api.put(f"{base}/sobjects/Account/0017Q000000GmqGQAS", json={})
    assert put.status_code == 405 and put.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def _http_date(sf_datetime: str, shift_s: int = 0) -> str:
    return format_datetime(parse_datetime(sf_datetime) + timedelta(seconds=shift_s), usegmt=True)


def test_if_unmodified_since_stale_gets_412_and_writes_nothing(sf):
    record_id = sf.Opportunity.create(MINIMAL["Opportunity"])["id"]
    modified = sf.Opportunity.get(record_id)["LastModifiedDate"]
    with pytest.raises(SalesforceGeneralError) as exc:
        sf.Opportunity.update(
            record_id, {"NextStep": "x"}, headers={"If-Unmodified-Since": _http_date(modified, -1)}
        )
    assert exc.value.status == 412
    assert errors_of(exc)[0]["errorCode"] == "PRECONDITION_FAILED"
    assert sf.Opportunity.get(record_id)["NextStep"] is None
    # the same second is not "modified since": one-second resolution, as HTTP dates have
    headers = {"If-Unmodified-Since": _http_date(modified)}
    assert sf.Opportunity.update(record_id, {"NextStep": "y"}, headers=headers) == 204
    assert sf.Opportunity.get(record_id)["NextStep"] == "y"


def test_a_bad_if_unmodified_since_is_400(sf):
    record_id = sf.Account.create({"Name": "x"})["id"]
    with pytest.raises(SalesforceMalformedRequest):
        sf.Account.update(record_id, {"Phone": "1"}, headers={"If-Unmodified-Since": "yesterday"})


def test_describe_names_fields_with_their_properties(sf):
    described = sf.Task.describe()
    assert described["name"] == "Task" and described["keyPrefix"] == "00T"
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["Lastmile_Key__c"]["externalId"] is True
    assert fields["Lastmile_Key__c"]["unique"] is True
    assert fields["Lastmile_Prompt__c"]["type"] == "textarea"
    assert fields["CreatedDate"]["updateable"] is False
    assert fields["Subject"]["nillable"] is True
    for name in ("Outcome__c", "Next_Step__c", "WhatId", "OwnerId"):
        assert fields[name]["updateable"] is True


def test_the_prompt_field_is_on_the_objects_lastmile_writes(sf):
    for object_name in ("Task", "Opportunity", "Lead", "Case"):
        names = {f["name"] for f in getattr(sf, object_name).describe()["fields"]}
        assert "Lastmile_Prompt__c" in names


def test_versions_and_limits(api, sandbox):
    versions = api.get(f"{sandbox.instance_url}/services/data/").json()
    assert {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"} in versions
    limits = api.get(f"{sandbox.instance_url}/services/data/v62.0/limits").json()
    assert limits["DailyApiRequests"]["Max"] == 15_000
    assert limits["DailyApiRequests"]["Remaining"] == 15_000 - sandbox.usage_today()


def test_a_restart_keeps_records_sessions_and_ids(tmp_path):
    first = start(tmp_path / "crm")
    session_id, org_id, ca = first.session_id, first.org_id, first.ca_bundle.read_bytes()
    http = trusting(first)
    http.headers["Authorization"] = f"Bearer {session_id}"
    url = f"{first.instance_url}/services/data/v62.0/sobjects/Lead"
    record_id = http.post(url, json={"LastName": "Schmidt", "Company": "x"}).json()["id"]
    first.stop()
    second: Sandbox = start(tmp_path / "crm")
    try:
        assert (second.session_id, second.org_id) == (session_id, org_id)
        assert second.ca_bundle.read_bytes() == ca
        http = trusting(second)
        http.headers["Authorization"] = f"Bearer {session_id}"
        url = f"{second.instance_url}/services/data/v62.0/sobjects/Lead/{record_id}"
        assert http.get(url).json()["LastName"] == "Schmidt"
        created = http.post(
            f"{second.instance_url}/services/data/v62.0/sobjects/Lead",
            json={"LastName": "Other", "Company": "y"},
        ).json()["id"]
        assert created != record_id
    finally:
        second.stop()
