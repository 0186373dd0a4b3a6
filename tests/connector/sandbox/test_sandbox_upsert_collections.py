"""sObject Collections upsert on an external id (PATCH composite/sobjects/<Object>/<Field>, up to
200 records, per-record results with `created`) and Composite without allOrNone, where each
conditional subrequest stands alone (a 412 refuses that record only), as Salesforce documents."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import pytest

from lastmile.connector.sandbox.schema import parse_datetime


@pytest.fixture
def base(sandbox) -> str:
    return f"{sandbox.instance_url}/services/data/v62.0"


def tasks(keys: list[str], **fields) -> list[dict]:
    return [
        {"attributes": {"type": "Task"}, "Lastmile_Key__c": key, "Subject": f"Follow-up {key}"}
        | fields
        for key in keys
    ]


def count_tasks(sf) -> int:
    return sf.query("SELECT Id FROM Task WHERE Lastmile_Key__c != null")["totalSize"]


def test_an_upsert_collection_creates_then_updates_in_one_call_each(sandbox, sf, api, base):
    url = f"{base}/composite/sobjects/Task/Lastmile_Key__c"
    calls = sandbox.api_calls
    first = api.patch(url, json={"allOrNone": False, "records": tasks(["a", "b", "c"])})
    assert first.status_code == 200 and sandbox.api_calls == calls + 1
    created = first.json()
    assert [(r["success"], r["created"], r["errors"]) for r in created] == [(True, True, [])] * 3
    again = api.patch(url, json={"records": tasks(["b", "d"], Subject="Renamed")}).json()
    assert [(r["success"], r["created"]) for r in again] == [(True, False), (True, True)]
    assert again[0]["id"] == created[1]["id"]
    assert sf.Task.get(created[1]["id"])["Subject"] == "Renamed"
    assert count_tasks(sf) == 4


def test_an_upsert_collection_reports_each_bad_record_and_keeps_the_good(sf, api, base):
    url = f"{base}/composite/sobjects/Task/Lastmile_Key__c"
    records = [
        *tasks(["good"]),
        {"attributes": {"type": "Task"}, "Subject": "no key"},
        {"attributes": {"type": "Account"}, "Lastmile_Key__c": "x", "Name": "wrong type"},
        *tasks(["bad-field"], Nope__c=1),
    ]
    results = api.patch(url, json={"records": records}).json()
    assert [r["success"] for r in results] == [True, False, False, False]
    codes = [r["errors"][0]["statusCode"] for r in results[1:]]
    assert codes == ["MISSING_ARGUMENT", "INVALID_TYPE", "INVALID_FIELD"]
    assert count_tasks(sf) == 1


def test_an_upsert_collection_under_all_or_none_writes_nothing_on_one_error(sf, api, base):
    url = f"{base}/composite/sobjects/Task/Lastmile_Key__c"
    records = [*tasks(["a"]), *tasks(["b"], Nope__c=1)]
    results = api.patch(url, json={"allOrNone": True, "records": records}).json()
    assert [r["success"] for r in results] == [False, False]
    assert count_tasks(sf) == 0


def test_an_upsert_collection_takes_at_most_200_records_and_only_patch(api, base, sf):
    url = f"{base}/composite/sobjects/Task/Lastmile_Key__c"
    too_many = api.patch(url, json={"records": tasks([f"k{n}" for n in range(201)])})
    assert too_many.status_code == 400
    assert too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert api.post(url, json={"records": tasks(["a"])}).status_code == 405
    assert api.patch(f"{base}/composite/sobjects/Nope/Key", json={}).status_code == 404
    old = url.replace("v62.0", "v45.0")
    assert api.patch(old, json={"records": tasks(["a"])}).status_code == 404
    assert count_tasks(sf) == 0


def _http_date(sf_datetime: str, shift_s: int = 0) -> str:
    return format_datetime(parse_datetime(sf_datetime) + timedelta(seconds=shift_s), usegmt=True)


def test_composite_without_all_or_none_refuses_only_the_stale_record(sf, api, base):
    ids = [
        sf.Opportunity.create(
            {"Name": f"Deal {n}", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
        )["id"]
        for n in range(3)
    ]
    subrequests = []
    for n, record_id in enumerate(ids):
        modified = sf.Opportunity.get(record_id)["LastModifiedDate"]
        since = _http_date(modified, -60 if n == 1 else 0)  # the second changed after "since"
        subrequests.append(
            {
                "method": "PATCH",
                "url": f"/services/data/v62.0/sobjects/Opportunity/{record_id}",
                "referenceId": f"r{n}",
                "body": {"Lastmile_Prompt__c": f"prompt {n}"},
                "httpHeaders": {"If-Unmodified-Since": since},
            }
        )
    body = {"allOrNone": False, "compositeRequest": subrequests}
    results = api.post(f"{base}/composite", json=body).json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in results] == [204, 412, 204]
    assert results[1]["body"][0]["errorCode"] == "PRECONDITION_FAILED"
    prompts = [sf.Opportunity.get(i)["Lastmile_Prompt__c"] for i in ids]
    assert prompts == ["prompt 0", None, "prompt 2"]
