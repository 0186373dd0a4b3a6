"""The record pages: a person sees records, the prompt and related tasks, and saves forms."""

from __future__ import annotations

import pytest
from sandbox_helpers import trusting


@pytest.fixture
def browser(sandbox):
    return trusting(sandbox)


def test_the_index_lists_objects_and_records(sandbox, browser):
    ids = sandbox.seed_demo()
    assert sandbox.seed_demo() == ids  # seeding twice adds nothing
    page = browser.get(f"{sandbox.instance_url}/").text
    assert "Hypotheek fam. Jansen" in page and "Pensioenadvies dhr. Visser" not in page
    assert f"/records/Opportunity/{ids['opportunity']}" in page
    assert "00001001" in page  # the Case, by its case number


def test_a_record_page_shows_the_prompt_and_related_tasks_and_never_reloads(sandbox, sf, browser):
    ids = sandbox.seed_demo()
    opportunity = ids["opportunity"]
    sf.Opportunity.update(opportunity, {"Lastmile_Prompt__c": "Vul nu in: <b>Bedrag</b>."})
    page = browser.get(f"{sandbox.instance_url}/records/Opportunity/{opportunity}").text
    assert 'http-equiv="refresh"' not in page and "location.reload" not in page
    assert f'data-poll="/records/Opportunity/{opportunity}/version"' in page
    assert 'class="prompt"' in page and "Vul nu in: &lt;b&gt;Bedrag&lt;/b&gt;." in page
    assert "Hypotheekgesprek fam. Jansen" in page  # its call task (WhatId)
    assert (
        browser.get(f"{sandbox.instance_url}/records/Opportunity/006000000000000").status_code
        == 404
    )
    assert browser.get(f"{sandbox.instance_url}/records/Nope/x").status_code == 404


def test_saving_the_edit_form_is_the_sales_users_save(sandbox, sf, browser, receiver):
    sandbox.outbound("Task", receiver.url)
    task_id = sf.Task.create({"Subject": "Bellen", "Type": "Call"})["id"]
    receiver.wait_for(1)
    form = browser.get(f"{sandbox.instance_url}/records/Task/{task_id}/edit").text
    assert 'name="Outcome__c"' in form and "Lastmile_Prompt__c" not in form
    response = browser.post(
        f"{sandbox.instance_url}/records/Task/{task_id}/edit",
        data={"Subject": "Bellen", "Type": "Call", "Status": "Completed",
              "Outcome__c": "Interested", "CallDurationInSeconds": "600"},
        allow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/records/Task/{task_id}")
    task = sf.Task.get(task_id)
    assert (task["Status"], task["Outcome__c"], task["CallDurationInSeconds"]) == (
        "Completed",
        "Interested",
        600,
    )
    assert task["LastModifiedById"] == sandbox.sales_user_id
    assert b"Interested" in receiver.wait_for(2)[1]  # the save sent an Outbound Message


def test_the_new_form_creates_and_shows_errors(sandbox, sf, browser):
    url = f"{sandbox.instance_url}/records/Opportunity/new"
    missing = browser.post(url, data={"Name": "Deal"})
    assert missing.status_code == 400 and "REQUIRED_FIELD_MISSING" in missing.text
    bad = browser.post(url, data={"Name": "Deal", "StageName": "Prospecting", "CloseDate": "soon"})
    assert bad.status_code == 400 and "JSON_PARSER_ERROR" in bad.text
    created = browser.post(
        url, data={"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
    )
    assert created.status_code == 200 and "Deal" in created.text
    found = sf.query("SELECT Id, OwnerId FROM Opportunity WHERE Name = 'Deal'")["records"]
    assert len(found) == 1 and found[0]["OwnerId"] == sandbox.sales_user_id
