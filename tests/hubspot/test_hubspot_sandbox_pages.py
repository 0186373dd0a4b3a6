"""The HubSpot sandbox's record pages over HTTPS, as a person opens them: a deal with its
properties, the prompt Lastmile wrote and the follow-up task, updated in place while open."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest
import requests

from lastmile.connector.base import TaskWrite, WriteBack
from lastmile.connector.hubspot import HubSpotConnector
from lastmile.connector.hubspot.setup import ensure_properties
from lastmile.connector.hubspot_sandbox import HubSpotSandbox
from lastmile.connector.hubspot_sandbox.sandbox import SALES_OWNER_ID


@pytest.fixture(scope="module", autouse=True)
def properties(sandbox: HubSpotSandbox) -> None:
    connector = HubSpotConnector(
        sandbox.access_token, base_url=sandbox.base_url, ca_bundle=sandbox.ca_bundle
    )
    ensure_properties(connector, ["deals"])


def get(sandbox: HubSpotSandbox, path: str) -> requests.Response:
    """A browser's GET: no bearer token, the sandbox's certificate trusted."""
    return requests.get(f"{sandbox.base_url}{path}", verify=str(sandbox.ca_bundle), timeout=10)


def test_a_deal_s_page_shows_its_properties_prompt_and_follow_up_task(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    values = {"dealname": "Umbrella <renewal>", "dealstage": "closedwon", "amount": "4200"}
    deal = sandbox.save_as_user("deals", {**values, "hubspot_owner_id": SALES_OWNER_ID}).id
    contact = sandbox.save_as_user("contacts", {"firstname": "Ada", "lastname": "Jansen"}).id
    sandbox.portal.associate("deals", deal, "contacts", contact)
    key = f"won-follow-up:{deal}:evt-1"
    task = TaskWrite(key, "Kick-off call", date(2026, 12, 2), what_id=deal)
    prompt = {"lastmile_prompt": "Fill in: Closed won reason."}
    (written,) = connector.apply([WriteBack("deals", deal, prompt, (task,))])
    assert written.status == "applied"
    task_id = written.task_ids[task.key]

    answer = get(sandbox, f"/records/deals/{deal}")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert answer.headers["Cache-Control"] == "no-store"
    page = answer.text
    assert "<h1" in page and "Umbrella &lt;renewal&gt;" in page  # escaped, never markup
    assert 'class="prompt"' in page and "Fill in: Closed won reason." in page
    assert '<tr data-property="dealstage"><th title="dealstage">Dealstage</th><td>closedwon' in page
    assert '<tr data-property="closed_won_reason">' in page  # empty: shown as a dash
    assert 'data-property="lastmile_prompt"' not in page  # the prompt stands apart
    assert 'data-group="follow-ups"' in page and f'href="/records/tasks/{task_id}"' in page
    assert "Kick-off call" in page and "2026-12-02" in page
    assert f'href="/records/contacts/{contact}">Ada Jansen</a>' in page
    assert f'data-poll="/records/deals/{deal}/version"' in page and "setTimeout" in page

    # The open page polls a digest; a change shows as a new one.
    version = get(sandbox, f"/records/deals/{deal}/version").json()["version"]
    assert f'data-version="{version}"' in page
    sandbox.save_as_user("deals", {"closed_won_reason": "Price"}, deal)
    assert get(sandbox, f"/records/deals/{deal}/version").json()["version"] != version

    task_page = get(sandbox, f"/records/tasks/{task_id}").text
    assert "Kick-off call" in task_page and f'href="/records/deals/{deal}"' in task_page

    index = get(sandbox, "/").text
    assert f'href="/records/deals/{deal}"' in index and "Umbrella &lt;renewal&gt;" in index


def test_a_missing_record_or_type_is_a_not_found_page(sandbox: HubSpotSandbox) -> None:
    for path in ("/records/deals/999999", "/records/widgets/1", "/records/deals/1/version"):
        answer = get(sandbox, path)
        assert answer.status_code == 404 and "Not found" in answer.text, path
    # the API still asks for a token
    assert get(sandbox, "/crm/v3/objects/deals").status_code == 401


def test_an_open_page_shows_lastmile_s_write_without_reloading(
    sandbox: HubSpotSandbox, connector: HubSpotConnector, chromium: Any, need_service: Any
) -> None:
    if isinstance(chromium, str):
        need_service("Chromium", chromium)
    deal = sandbox.save_as_user("deals", {"dealname": "Initech pilot"}).id
    context = chromium.new_context(ignore_https_errors=True)  # the sandbox's own certificate
    try:
        page = context.new_page()
        page.goto(f"{sandbox.base_url}/records/deals/{deal}")
        assert page.locator("#prompt").inner_text() == ""
        page.evaluate("window.__marker = 1")  # gone if the page reloaded
        written = time.monotonic()
        prompt = {"lastmile_prompt": "Fill in: Next step."}
        connector.apply([WriteBack("deals", deal, prompt)])
        page.wait_for_function(
            "document.getElementById('prompt').innerText.includes('Fill in: Next step.')",
            timeout=5000,
        )
        assert time.monotonic() - written < 2  # polled every 300 ms
        assert page.evaluate("window.__marker") == 1
    finally:
        context.close()
