"""A restricted picklist refuses a value outside its list, as Salesforce does: HTTP 400 and
INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST on create and update, in composite subrequests and in
sObject Collections; nothing is written."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

REFUSED = [
    {
        "message": "bad value for restricted picklist field: Closed Wonn",
        "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "fields": ["StageName"],
    }
]
DEAL = {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"}


@pytest.fixture
def base(sandbox) -> str:
    return f"{sandbox.instance_url}/services/data/v62.0"


def stages(sf) -> list[str]:
    return [r["StageName"] for r in sf.query("SELECT StageName FROM Opportunity")["records"]]


def test_create_with_a_value_outside_the_list_is_refused(sf, api, base):
    response = api.post(f"{base}/sobjects/Opportunity", json={**DEAL, "StageName": "Closed Wonn"})
    assert response.status_code == 400
    assert response.json() == REFUSED
    assert stages(sf) == []


def test_update_with_a_value_outside_the_list_is_refused_and_changes_nothing(sf, api, base):
    record_id = sf.Opportunity.create(DEAL)["id"]
    response = api.patch(
        f"{base}/sobjects/Opportunity/{record_id}", json={"StageName": "Closed Wonn"}
    )
    assert (response.status_code, response.json()) == (400, REFUSED)
    assert sf.Opportunity.get(record_id)["StageName"] == "Prospecting"
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Opportunity.update(record_id, {"StageName": "Closed Wonn"})
    assert refused.value.content == REFUSED


def test_the_values_of_the_list_and_null_are_accepted(sf):
    record_id = sf.Opportunity.create({**DEAL, "StageName": "Closed Won"})["id"]
    task_id = sf.Task.create({"Subject": "Call", "Status": "Completed", "CallType": None})["id"]
    assert sf.Opportunity.get(record_id)["StageName"] == "Closed Won"
    assert sf.Task.get(task_id)["Status"] == "Completed"


def test_an_unrestricted_picklist_takes_any_value(sf):
    record_id = sf.Opportunity.create({**DEAL, "LeadSource": "Trade fair"})["id"]
    assert sf.Opportunity.get(record_id)["LeadSource"] == "Trade fair"


def test_a_composite_subrequest_is_refused_and_all_or_none_rolls_back(sf, api, base):
    record_id = sf.Opportunity.create(DEAL)["id"]
    url = f"/services/data/v62.0/sobjects/Opportunity/{record_id}"
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {"method": "PATCH", "url": url, "referenceId": "ok", "body": {"NextStep": "Call"}},
            {
                "method": "PATCH",
                "url": url,
                "referenceId": "bad",
                "body": {"StageName": "Closed Wonn"},
            },
        ],
    }
    results = api.post(f"{base}/composite", json=body).json()["compositeResponse"]
    bad = next(r for r in results if r["referenceId"] == "bad")
    assert (bad["httpStatusCode"], bad["body"]) == (400, REFUSED)
    assert sf.Opportunity.get(record_id)["NextStep"] is None


def test_a_collection_refuses_the_record_with_the_bad_value_only(sf, api, base):
    records = [
        {"attributes": {"type": "Opportunity"}, **DEAL, "Name": "good"},
        {"attributes": {"type": "Opportunity"}, **DEAL, "Name": "bad", "StageName": "Closed Wonn"},
    ]
    results = api.post(f"{base}/composite/sobjects", json={"records": records}).json()
    assert [r["success"] for r in results] == [True, False]
    (error,) = results[1]["errors"]
    assert error["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert error["message"] == REFUSED[0]["message"]
    assert error["fields"] == ["StageName"]
    update = [{"attributes": {"type": "Opportunity"}, "Id": results[0]["id"], "StageName": "Wonn"}]
    (result,) = api.patch(f"{base}/composite/sobjects", json={"records": update}).json()
    assert result["success"] is False
    assert result["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert stages(sf) == ["Prospecting"]


def test_closed_and_won_follow_the_stage_and_cannot_be_written(sf, api, base):
    record_id = sf.Opportunity.create(DEAL)["id"]
    opened = sf.Opportunity.get(record_id)
    assert (opened["IsClosed"], opened["IsWon"]) == (False, False)
    sf.Opportunity.update(record_id, {"StageName": "Closed Won"})
    won = sf.Opportunity.get(record_id)
    assert (won["IsClosed"], won["IsWon"]) == (True, True)
    sf.Opportunity.update(record_id, {"StageName": "Closed Lost"})
    lost = sf.Opportunity.get(record_id)
    assert (lost["IsClosed"], lost["IsWon"]) == (True, False)
    refused = api.patch(f"{base}/sobjects/Opportunity/{record_id}", json={"IsWon": True})
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    fields = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    assert fields["IsWon"]["type"] == "boolean" and fields["IsWon"]["updateable"] is False
