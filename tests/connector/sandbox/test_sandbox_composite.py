"""sObject Collections (at most 200 records, allOrNone) and the Composite API (subrequests with
their own headers, references, allOrNone, one API call)."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import pytest

from lastmile.connector.sandbox.schema import parse_datetime


@pytest.fixture
def base(sandbox) -> str:
    return f"{sandbox.instance_url}/services/data/v62.0"


def accounts(count: int, start: int = 0) -> list[dict]:
    return [
        {"attributes": {"type": "Account"}, "Name": f"A{i}"} for i in range(start, start + count)
    ]


def count(sf, object_name: str) -> int:
    return sf.query(f"SELECT Id FROM {object_name}")["totalSize"]


def test_collections_create_200_records_in_one_call(sandbox, sf, api, base):
    before = sandbox.api_calls
    response = api.post(f"{base}/composite/sobjects", json={"records": accounts(200)})
    assert sandbox.api_calls == before + 1
    assert response.status_code == 200
    results = response.json()
    assert len(results) == 200 and all(r["success"] and r["errors"] == [] for r in results)
    assert len({r["id"] for r in results}) == 200
    assert count(sf, "Account") == 200


def test_collections_refuse_201_records_and_write_none(sf, api, base):
    response = api.post(f"{base}/composite/sobjects", json={"records": accounts(201)})
    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
            "fields": [],
        }
    ]
    assert count(sf, "Account") == 0


def test_collections_update_and_per_record_errors(sf, api, base):
    ids = [
        r["id"]
        for r in api.post(f"{base}/composite/sobjects", json={"records": accounts(3)}).json()
    ]
    records = [
        {"attributes": {"type": "Account"}, "Id": ids[0], "Phone": "1"},
        {"attributes": {"type": "Account"}, "Id": ids[1], "Nope__c": "x"},
        {"attributes": {"type": "Account"}, "Id": ids[2][:15], "Phone": "3"},
    ]
    results = api.patch(f"{base}/composite/sobjects", json={"records": records}).json()
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert results[2]["id"] == ids[2]
    assert sf.Account.get(ids[2])["Phone"] == "3"


def test_collections_all_or_none_rolls_back_every_record(sf, api, base):
    records = [*accounts(2), {"attributes": {"type": "Account"}, "Phone": "no name"}]
    results = api.post(
        f"{base}/composite/sobjects", json={"allOrNone": True, "records": records}
    ).json()
    assert [r["success"] for r in results] == [False, False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert count(sf, "Account") == 0


def _conditional_writeback(opportunity_id: str, since: str, keys: list[str]) -> dict:
    subrequests = [
        {
            "method": "PATCH",
            "url": f"/services/data/v62.0/sobjects/Opportunity/{opportunity_id}",
            "referenceId": "record",
            "body": {"Lastmile_Prompt__c": "Vul nu in: Bedrag.", "LeadSource": "Phone"},
            "httpHeaders": {"If-Unmodified-Since": since},
        }
    ]
    for number, key in enumerate(keys):
        subrequests.append(
            {
                "method": "PATCH",
                "url": f"/services/data/v62.0/sobjects/Task/Lastmile_Key__c/{key}",
                "referenceId": f"task{number}",
                "body": {"Subject": f"Follow-up {number}", "WhatId": opportunity_id},
            }
        )
    return {"allOrNone": True, "compositeRequest": subrequests}


def _http_date(sf_datetime: str, shift_s: int = 0) -> str:
    return format_datetime(parse_datetime(sf_datetime) + timedelta(seconds=shift_s), usegmt=True)


def test_a_conditional_update_and_task_upserts_are_one_call(sandbox, sf, api, base):
    opportunity_id = sf.Opportunity.create(
        {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
    )["id"]
    since = _http_date(sf.Opportunity.get(opportunity_id)["LastModifiedDate"])
    before = sandbox.api_calls
    body = _conditional_writeback(opportunity_id, since, ["r1:006:1", "r2:006:1"])
    response = api.post(f"{base}/composite", json=body)
    assert sandbox.api_calls == before + 1
    results = response.json()["compositeResponse"]
    assert [(r["referenceId"], r["httpStatusCode"]) for r in results] == [
        ("record", 204),
        ("task0", 201),
        ("task1", 201),
    ]
    assert results[1]["body"]["created"] is True
    assert results[1]["httpHeaders"]["Location"].endswith(results[1]["body"]["id"])
    assert sf.Opportunity.get(opportunity_id)["Lastmile_Prompt__c"] == "Vul nu in: Bedrag."
    # the same write-back again: the tasks are updated, never doubled
    again = api.post(f"{base}/composite", json=body).json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in again] == [204, 200, 200]
    assert count(sf, "Task") == 2


def test_a_stale_conditional_update_writes_nothing_under_all_or_none(sf, api, base):
    opportunity_id = sf.Opportunity.create(
        {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
    )["id"]
    stale = _http_date(sf.Opportunity.get(opportunity_id)["LastModifiedDate"], -60)
    body = _conditional_writeback(opportunity_id, stale, ["r1:006:1"])
    results = api.post(f"{base}/composite", json=body).json()["compositeResponse"]
    assert results[0]["httpStatusCode"] == 412
    assert results[0]["body"][0]["errorCode"] == "PRECONDITION_FAILED"
    assert results[1]["httpStatusCode"] == 400
    assert results[1]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.Opportunity.get(opportunity_id)["Lastmile_Prompt__c"] is None
    assert count(sf, "Task") == 0


def test_references_to_earlier_results(sf, api, base):
    body = {
        "compositeRequest": [
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Account",
             "referenceId": "acct", "body": {"Name": "Acme"}},
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Contact",
             "referenceId": "person", "body": {"LastName": "Jansen", "AccountId": "@{acct.id}"}},
            {"method": "GET", "referenceId": "read",
             "url": "/services/data/v62.0/sobjects/Contact/@{person.id}?fields=AccountId"},
            {"method": "GET", "url": "/services/data/v62.0/sobjects/Account/@{nothing.id}",
             "referenceId": "broken"},
        ]
    }  # fmt: skip
    results = api.post(f"{base}/composite", json=body).json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in results] == [201, 201, 200, 400]
    assert results[2]["body"]["AccountId"] == results[0]["body"]["id"]
    assert results[3]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert count(sf, "Contact") == 1  # without allOrNone the good subrequests stay


def test_a_malformed_composite_request_is_refused_whole(api, base):
    body = {"compositeRequest": [{"method": "GET", "url": "/services/data/v62.0/limits"}]}
    response = api.post(f"{base}/composite", json=body)
    assert response.status_code == 400 and "referenceId" in response.json()[0]["message"]
