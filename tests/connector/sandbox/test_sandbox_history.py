"""The sandbox's query paging (nextRecordsUrl, Sforce-Query-Options) and field history
(OpportunityFieldHistory, LeadHistory, CaseHistory rows on every save), over real HTTPS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sandbox_helpers import start, trusting
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(tmp_path, clock):
    sb = start(tmp_path / "crm", clock=clock)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def sf(sandbox) -> Salesforce:
    return Salesforce(
        instance_url=sandbox.instance_url, session_id=sandbox.session_id, session=trusting(sandbox)
    )


def _accounts(sandbox, n: int) -> list[str]:
    return [
        sandbox.save_as(sandbox.sales_user_id, "Account", {"Name": f"Account {i}"})
        for i in range(n)
    ]


def test_a_query_comes_in_batches_of_the_size_asked_for(sandbox, sf):
    made = _accounts(sandbox, 450)
    base = f"{sandbox.instance_url}/services/data/v{sandbox.api_version}"
    http = trusting(sandbox)
    http.headers["Authorization"] = f"Bearer {sandbox.session_id}"
    first = http.get(
        f"{base}/query",
        params={"q": "SELECT Id FROM Account ORDER BY Id"},
        headers={"Sforce-Query-Options": "batchSize=200"},
    ).json()
    assert (first["totalSize"], first["done"], len(first["records"])) == (450, False, 200)
    assert first["nextRecordsUrl"].startswith(f"/services/data/v{sandbox.api_version}/query/01g")
    assert first["nextRecordsUrl"].endswith("-200")
    pages, url = [first], first["nextRecordsUrl"]
    while url:
        page = http.get(f"{sandbox.instance_url}{url}").json()
        pages.append(page)
        url = page.get("nextRecordsUrl")
    assert [len(p["records"]) for p in pages] == [200, 200, 50]
    assert [p["done"] for p in pages] == [False, False, True]
    ids = [r["Id"] for p in pages for r in p["records"]]
    assert sorted(ids) == sorted(made) and len(set(ids)) == 450
    # without the header: Salesforce's default batch of 2,000; simple-salesforce's query_all
    assert sf.query("SELECT Id FROM Account")["done"] is True
    assert sf.query_all("SELECT Id FROM Account")["totalSize"] == 450
    # a batch size below Salesforce's minimum is taken as 200
    small = http.get(
        f"{base}/query",
        params={"q": "SELECT Id FROM Account"},
        headers={"Sforce-Query-Options": "batchSize=10"},
    ).json()
    assert len(small["records"]) == 200


def test_an_unknown_query_locator_is_refused(sandbox, sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more("01g7Q0000000000AAA-200", identifier_is_url=False)
    assert caught.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_ranges_on_datetimes_and_ids(sandbox, sf, clock):
    early = _accounts(sandbox, 2)
    clock.now += timedelta(days=3)
    late = _accounts(sandbox, 2)
    found = sf.query(
        "SELECT Id FROM Account WHERE LastModifiedDate >= 2026-11-04T00:00:00Z ORDER BY Id"
    )
    assert [r["Id"] for r in found["records"]] == sorted(late, key=str.lower)
    after = sorted(early + late, key=str.lower)[1]
    rest = sf.query(f"SELECT Id FROM Account WHERE Id > '{after}' ORDER BY Id")
    assert [r["Id"] for r in rest["records"]] == sorted(early + late, key=str.lower)[2:]


def _history(sf: Salesforce, opportunity_id: str) -> list[dict]:
    soql = (
        "SELECT Id, OpportunityId, Field, DataType, OldValue, NewValue, CreatedDate, CreatedById "
        f"FROM OpportunityFieldHistory WHERE OpportunityId IN ('{opportunity_id}') "
        "ORDER BY CreatedDate"
    )
    return sf.query(soql)["records"]


def test_every_save_of_a_tracked_field_leaves_history_rows(sandbox, sf, clock):
    sales, other = sandbox.sales_user_id, sandbox.integration_user_id
    opp = sandbox.save_as(
        sales,
        "Opportunity",
        {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"},
    )
    clock.now += timedelta(hours=1)
    sandbox.save_as(sales, "Opportunity", {"StageName": "Qualification", "Amount": 5000}, opp)
    clock.now += timedelta(hours=1)
    sandbox.save_as(other, "Opportunity", {"OwnerId": other, "Description": "long text"}, opp)
    rows = _history(sf, opp)
    created = rows[0]
    assert (created["Field"], created["OldValue"], created["NewValue"]) == ("created", None, None)
    assert created["CreatedById"] == sales and created["CreatedDate"].startswith("2026-11-02T09")
    stage, amount = (
        next(r for r in rows if r["Field"] == name) for name in ("StageName", "Amount")
    )
    assert (stage["OldValue"], stage["NewValue"], stage["DataType"]) == (
        "Prospecting",
        "Qualification",
        "DynamicEnum",
    )
    assert (amount["OldValue"], amount["NewValue"]) == (None, 5000)
    assert stage["CreatedDate"].startswith("2026-11-02T10:00:00")
    owner = {r["DataType"]: r for r in rows if r["Field"] == "Owner"}
    assert (owner["EntityId"]["OldValue"], owner["EntityId"]["NewValue"]) == (sales, other)
    assert owner["Text"]["NewValue"] != other  # the user's name, as people see it
    assert owner["EntityId"]["CreatedById"] == other
    description = next(r for r in rows if r["Field"] == "Description")
    assert (description["OldValue"], description["NewValue"]) == (None, None)  # long text
    assert {r["OpportunityId"] for r in rows} == {opp}


def test_only_tracked_fields_leave_rows_and_tasks_have_no_history(sandbox, sf):
    sandbox.history.track("Opportunity", ["StageName"])
    sales = sandbox.sales_user_id
    opp = sandbox.save_as(
        sales,
        "Opportunity",
        {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"},
    )
    sandbox.save_as(sales, "Opportunity", {"StageName": "Closed Won", "NextStep": "Sign"}, opp)
    assert [r["Field"] for r in _history(sf, opp)] == ["created", "StageName"]
    lead = sandbox.save_as(sales, "Lead", {"LastName": "Jansen", "Company": "Acme"})
    sandbox.save_as(sales, "Lead", {"Rating": "Hot"}, lead)
    found = sf.query(f"SELECT Field, NewValue FROM LeadHistory WHERE LeadId = '{lead}'")
    assert [(r["Field"], r["NewValue"]) for r in found["records"]] == [
        ("created", None),
        ("Rating", "Hot"),
    ]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id FROM TaskHistory")
    assert caught.value.content[0]["errorCode"] == "INVALID_TYPE"
