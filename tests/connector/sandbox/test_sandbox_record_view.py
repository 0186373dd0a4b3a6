"""What a record page shows beside the record's own values: links for the ids in it, the tasks
about it, the follow-up tasks Lastmile created because of it, labels given by a rule pack, and
the digest the open page polls to update itself."""

from __future__ import annotations

import re

import pytest
from sandbox_helpers import trusting


@pytest.fixture
def browser(sandbox):
    return trusting(sandbox)


def page_of(sandbox, browser, object_name: str, record_id: str) -> str:
    response = browser.get(f"{sandbox.instance_url}/records/{object_name}/{record_id}")
    assert response.status_code == 200
    return response.text


def listed(page: str, group: str) -> list[str]:
    """The task ids in one group of the page's task tables."""
    found = re.search(rf'data-group="{group}">(.*?)</table>', page, re.S)
    return re.findall(r'data-task="(\w+)"', found.group(1)) if found else []


def row(page: str, field: str) -> str:
    """The value cell of one field's row, as HTML."""
    found = re.search(rf'<tr data-field="{field}"><th[^>]*>[^<]*</th><td>(.*?)</td></tr>', page)
    assert found, field
    return found.group(1)


def follow_up(sandbox, cause: str, what: str, subject: str = "Vervolgafspraak") -> str:
    """A task as Lastmile writes one: its key names the record whose save asked for it."""
    return sandbox.save_as(
        sandbox.integration_user_id,
        "Task",
        {
            "Subject": subject,
            "WhatId": what,
            "OwnerId": sandbox.sales_user_id,
            "Lastmile_Key__c": f"follow-up-when-interested:{cause}:sfom:04l7Q00000AbCdEQAR",
        },
    )


def test_a_task_page_shows_its_follow_ups_and_the_other_tasks_on_what_it_is_about(sandbox, browser):
    ids = sandbox.seed_demo()
    call, opportunity = ids["task_call_jansen"], ids["opportunity"]
    other = sandbox.save_as(
        sandbox.sales_user_id, "Task", {"Subject": "Offerte sturen", "WhatId": opportunity}
    )
    made = follow_up(sandbox, call, opportunity)
    unrelated = follow_up(sandbox, ids["task_call_visser"], ids["case"], "Elders")

    page = page_of(sandbox, browser, "Task", call)
    assert listed(page, "follow-ups") == [made]
    assert "Follow-up tasks Lastmile created from this task" in page
    assert listed(page, "same-what") == [other]  # not the call itself, not its follow-up again
    href = f'href="/records/Opportunity/{opportunity}">Hypotheek fam. Jansen</a>'
    assert f"Other tasks on <a {href}" in page
    assert "No related tasks." not in page and unrelated not in page

    # The follow-up's own page says where it came from.
    made_page = page_of(sandbox, browser, "Task", made)
    assert (
        f'Lastmile created this task because of <a href="/records/Task/{call}">'
        "Hypotheekgesprek fam. Jansen</a>" in made_page
    )
    # What the tasks are about lists them all, as Salesforce's related list does.
    assert listed(page_of(sandbox, browser, "Opportunity", opportunity), "related") == [
        call,
        other,
        made,
    ]
    # A contact's tasks are those whose WhoId it is.
    assert listed(page_of(sandbox, browser, "Contact", ids["contact_jansen"]), "related") == [call]


def test_a_record_without_tasks_says_so(sandbox, browser):
    ids = sandbox.seed_demo()
    page = page_of(sandbox, browser, "Account", ids["account_visser"])
    assert "No related tasks." in page and 'data-group="' not in page


def test_ids_link_to_the_records_they_name(sandbox, browser):
    ids = sandbox.seed_demo()
    task = sandbox.save_as(
        sandbox.sales_user_id,
        "Task",
        {
            "Subject": "Bellen",
            "WhatId": ids["opportunity"],
            "WhoId": ids["contact_jansen"],
            # Text that happens to be an id of a record the sandbox holds is a link too.
            "CallDisposition": ids["account_jansen"],
        },
    )
    page = page_of(sandbox, browser, "Task", task)
    user = f'<a href="/records/User/{sandbox.sales_user_id}">Sanne de Vries</a>'
    assert row(page, "OwnerId") == user and row(page, "CreatedById") == user
    assert row(page, "WhatId") == (
        f'<a href="/records/Opportunity/{ids["opportunity"]}">Hypotheek fam. Jansen</a>'
    )
    assert (
        row(page, "WhoId") == f'<a href="/records/Contact/{ids["contact_jansen"]}">Peter Jansen</a>'
    )
    assert row(page, "CallDisposition") == (
        f'<a href="/records/Account/{ids["account_jansen"]}">Fam. Jansen</a>'
    )
    assert row(page, "Subject") == "Bellen"  # text is text
    opportunity = page_of(sandbox, browser, "Opportunity", ids["opportunity"])
    assert row(opportunity, "AccountId") == (
        f'<a href="/records/Account/{ids["account_jansen"]}">Fam. Jansen</a>'
    )


def test_labels_given_replace_the_schemas_on_pages_and_forms(sandbox, browser):
    ids = sandbox.seed_demo()
    call, case = ids["task_call_jansen"], ids["case"]
    sandbox.use_labels({"Description": "Gespreksverslag", "Outcome__c": "Uitkomst"}, "Task")
    sandbox.use_labels({"Subject": "Onderwerp"})  # every object's
    page = page_of(sandbox, browser, "Task", call)
    assert '<th title="Description">Gespreksverslag</th>' in page and ">Comments<" not in page
    assert '<th title="Outcome__c">Uitkomst</th>' in page
    assert '<th title="Subject">Onderwerp</th>' in page
    assert '<th title="Status">Status</th>' in page  # no label given: the schema's
    form = browser.get(f"{sandbox.instance_url}/records/Task/{call}/edit").text
    assert '<label for="f-Description">Gespreksverslag</label>' in form
    # The Task's labels are not the Case's: its Description keeps the schema's label.
    assert '<th title="Description">Description</th>' in page_of(sandbox, browser, "Case", case)
    sandbox.use_labels({}, "Task")
    assert '<th title="Description">Comments</th>' in page_of(sandbox, browser, "Task", call)


def test_the_version_changes_exactly_when_what_the_page_shows_changes(sandbox, browser):
    ids = sandbox.seed_demo()
    call = ids["task_call_jansen"]
    url = f"{sandbox.instance_url}/records/Task/{call}/version"

    def version() -> str:
        reply = browser.get(url)
        assert reply.status_code == 200 and reply.headers["Cache-Control"] == "no-store"
        return reply.json()["version"]

    first = version()
    page = page_of(sandbox, browser, "Task", call)
    assert f'data-version="{first}"' in page  # the page knows the version it shows
    assert version() == first
    sandbox.save_as(sandbox.sales_user_id, "Account", {"Name": "Elders"})
    assert version() == first  # nothing on this page changed
    # Two writes within one second: LastModifiedDate alone could not tell them apart.
    sandbox.save_as(sandbox.sales_user_id, "Task", {"Status": "Completed"}, record_id=call)
    completed = version()
    sandbox.save_as(
        sandbox.integration_user_id,
        "Task",
        {"Lastmile_Prompt__c": "Gesprek afgerond."},
        record_id=call,
    )
    prompted = version()
    follow_up(sandbox, call, ids["opportunity"])
    followed = version()
    sandbox.use_labels({"Description": "Gespreksverslag"}, "Task")
    assert len({first, completed, prompted, followed, version()}) == 5
    missing = f"{sandbox.instance_url}/records/Task/00T7Q0000000000/version"
    assert browser.get(missing).status_code == 404
