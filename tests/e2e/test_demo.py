"""`lastmile demo` as a newcomer meets it: the command prints the loop working and stops cleanly;
in a browser, editing a record on the sandbox's page shows the write-back on that page, an open
page shows Lastmile's write within a second without reloading, the scripted call's page shows
its follow-up task, fields carry the rule packs' labels, and a rerun piles nothing up."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from waiting import wait_for

from lastmile.cli.demo import COMPLETED, SCRIPTED_CALL, Demo
from lastmile.runtime import example_dir

try:
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # the `test` extra installs it; `chromium` says so and the tests skip
    PlaywrightError = Exception

LASTMILE = str(Path(sys.executable).with_name("lastmile"))


def test_the_demo_command_shows_a_write_back_and_stops_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [LASTMILE, "demo", "--port", "0", "--sandbox-port", "0", "--data", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if "Ctrl-C stops everything" in line or not line:
            break
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=30)
    text = "".join(lines) + rest
    assert process.returncode == 0, text
    assert "Lastmile wrote back:" in text
    assert "Lastmile_Prompt__c: Gesprek afgerond. Leg meteen vast:" in text
    assert "follow-up task: Vervolgafspraak: Call: mortgage renewal" in text
    assert "/dashboard" in text and "stopping" in text


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    with Demo(tmp_path, port=0, sandbox_port=0) as running:
        yield running


def test_editing_a_record_in_the_browser_shows_the_write_back_on_its_page(
    demo: Demo, chromium: Any, need_service
) -> None:
    if isinstance(chromium, str):
        need_service("Chromium", chromium)
    sandbox = demo.sandbox
    assert sandbox is not None
    call = sandbox.save_as(
        sandbox.sales_user_id,
        "Task",
        {"Subject": "Call: pension", "Type": "Call", "Status": "Not Started"},
    )
    context = chromium.new_context(ignore_https_errors=True)  # the sandbox's own certificate
    try:
        page = context.new_page()
        page.goto(f"{sandbox.instance_url}/records/Task/{call}/edit")
        page.fill("[name=Status]", "Completed")
        page.fill("[name=Outcome__c]", "Interested")
        saved = time.monotonic()
        page.locator("form [type=submit]").first.click()
        # The record page polls for changes: the write-back appears without a click.
        page.wait_for_function(
            "document.body.innerText.includes('Leg meteen vast')", timeout=10_000
        )
        shown = time.monotonic() - saved
        body = page.inner_text("body")
        assert "Gesprek afgerond. Leg meteen vast: Gespreksverslag en Volgende stap." in body
        record = sandbox.org.get("Task", call)
        assert record["Lastmile_Prompt__c"]
        assert shown < 3.0
    finally:
        context.close()


def trusting(demo: Demo) -> requests.Session:
    """HTTPS to the demo's sandbox, trusting its CA (and not REQUESTS_CA_BUNDLE)."""
    assert demo.sandbox is not None
    http = requests.Session()
    http.verify, http.trust_env = str(demo.sandbox.ca_bundle), False
    return http


def record_page(demo: Demo, object_name: str, record_id: str) -> str:
    assert demo.sandbox is not None
    url = f"{demo.sandbox.instance_url}/records/{object_name}/{record_id}"
    response = trusting(demo).get(url)
    assert response.status_code == 200
    return response.text


def scripted_calls(demo: Demo) -> list[dict]:
    assert demo.sandbox is not None
    subject = SCRIPTED_CALL["Subject"]
    return [t for t in demo.sandbox.store.records("Task") if t.get("Subject") == subject]


def test_an_open_record_page_shows_lastmiles_write_within_a_second_without_reloading(
    demo: Demo, chromium: Any, need_service
) -> None:
    if isinstance(chromium, str):
        need_service("Chromium", chromium)
    sandbox = demo.sandbox
    assert sandbox is not None
    about = sandbox.seed_demo()["opportunity"]
    call = sandbox.save_as(
        sandbox.sales_user_id,
        "Task",
        {"Subject": "Call: pension", "Type": "Call", "Status": "Not Started", "WhatId": about},
    )
    context = chromium.new_context(ignore_https_errors=True)  # the sandbox's own certificate
    try:
        page = context.new_page()
        page.goto(f"{sandbox.instance_url}/records/Task/{call}")
        assert page.locator("#prompt").inner_text() == ""
        page.evaluate("window.__marker = 1")
        # When the prompt shows, by the page's clock (the same as this process's).
        page.evaluate(
            """() => new MutationObserver(() => {
                 if (!window.__shownAt && document.getElementById("prompt").innerText.trim())
                   window.__shownAt = Date.now() / 1000;
               }).observe(document.body, {subtree: true, childList: true, characterData: true})"""
        )
        landed: list[float] = []

        def watch() -> None:
            """When Lastmile's write lands in the sandbox's store."""
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if sandbox.org.get("Task", call).get("Lastmile_Prompt__c"):
                    landed.append(time.time())
                    return
                time.sleep(0.002)

        watcher = threading.Thread(target=watch)
        watcher.start()
        # Another person's save elsewhere (not in this tab): the whole loop through Lastmile.
        sandbox.save_as(sandbox.sales_user_id, "Task", COMPLETED, record_id=call)
        watcher.join()
        assert landed, "Lastmile wrote no prompt"
        page.wait_for_function("window.__shownAt", timeout=5_000)
        shown_at = page.evaluate("window.__shownAt")
        assert shown_at - landed[0] < 1.0
        assert page.evaluate("window.__marker") == 1  # updated in place, never reloaded
        assert "Leg meteen vast: Gespreksverslag en Volgende stap." in page.inner_text("#prompt")
        assert page.inner_text('tr[data-field="Status"] td') == "Completed"
        # The follow-up task Lastmile created shows up in place too.
        page.wait_for_selector('table[data-group="follow-ups"] tr[data-task]', timeout=5_000)
        assert "Vervolgafspraak: Call: pension" in page.inner_text("#tasks")
        assert page.evaluate("window.__marker") == 1
    finally:
        context.close()


def test_the_scripted_calls_page_shows_its_follow_up_task_and_labels(demo: Demo) -> None:
    assert demo.sandbox is not None
    assert demo.show_one_save(lambda line: None) is not None
    (call,) = scripted_calls(demo)
    (made,) = wait_for(lambda: demo.sandbox.follow_ups(call["Id"]))
    page = record_page(demo, "Task", call["Id"])
    assert f'data-task="{made["Id"]}"' in page.split('data-group="follow-ups"')[1]
    assert f'<a href="/records/Task/{made["Id"]}">Vervolgafspraak: {call["Subject"]}</a>' in page
    # Its WhatId is a link to the opportunity, whose page lists the follow-up too.
    opportunity = call["WhatId"]
    assert f'<a href="/records/Opportunity/{opportunity}">Hypotheek fam. Jansen</a>' in page
    assert made["Id"] in record_page(demo, "Opportunity", opportunity)
    # The words of the prompt are the words of the page (client-calls.yaml, locale nl).
    assert '<th title="Description">Gespreksverslag</th>' in page
    assert '<th title="Next_Step__c">Volgende stap</th>' in page
    assert '<th title="Subject">Subject</th>' in page  # no label in the pack: the schema's


def test_the_pages_use_each_packs_labels_in_its_locale_and_follow_a_reload(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(example_dir() / "rules", rules)
    with Demo(tmp_path / "data", port=0, sandbox_port=0, rules=rules) as run:
        assert run.sandbox is not None and run.runtime is not None
        ids = run.sandbox.seed_demo()
        opportunity = record_page(run, "Opportunity", ids["opportunity"])
        assert '<th title="NextStep">Volgende stap</th>' in opportunity  # opportunities: nl
        # The Task pack's label for Description is not the Opportunity's.
        assert '<th title="Description">Description</th>' in opportunity
        lead = record_page(run, "Lead", ids["lead"])
        assert '<th title="Phone">Phone number</th>' in lead  # leads: en
        pack = rules / "client-calls.yaml"
        pack.write_text(
            pack.read_text(encoding="utf-8").replace("nl: Gespreksverslag", "nl: Verslag"),
            encoding="utf-8",
        )
        assert run.runtime.rules.reload()
        run.sync_labels()  # what `lastmile demo` does while it waits
        call = record_page(run, "Task", ids["task_call_jansen"])
        assert '<th title="Description">Verslag</th>' in call


def test_running_the_demo_again_piles_up_no_scripted_calls_or_follow_ups(tmp_path: Path) -> None:
    follow_up_keys = []
    for _ in range(3):
        lines: list[str] = []
        with Demo(tmp_path, port=0, sandbox_port=0) as run:
            assert run.sandbox is not None
            assert run.show_one_save(lines.append) is not None, lines
            assert any(line.startswith("  follow-up task: Vervolgafspraak") for line in lines)
            (call,) = scripted_calls(run)
            (made,) = wait_for(lambda: run.sandbox.follow_ups(call["Id"]))  # noqa: B023
            follow_up_keys.append(made["Lastmile_Key__c"])
            subjects = [t["Subject"] for t in run.sandbox.store.records("Task")]
            assert subjects.count(f"Vervolgafspraak: {SCRIPTED_CALL['Subject']}") == 1
            assert call["Status"] == "Completed" and call["Lastmile_Prompt__c"]
    # One call, completed anew each run: each run's follow-up is that run's.
    assert len(set(follow_up_keys)) == 3


def test_a_browser_refusing_the_certificate_prints_nothing(
    demo: Demo, chromium: Any, need_service, capfd: pytest.CaptureFixture[str]
) -> None:
    if isinstance(chromium, str):
        need_service("Chromium", chromium)
    assert demo.sandbox is not None
    capfd.readouterr()
    context = chromium.new_context()  # trusts only what the system trusts: not the sandbox
    try:
        with pytest.raises(PlaywrightError, match="ERR_CERT"):
            context.new_page().goto(f"{demo.sandbox.instance_url}/")
    finally:
        context.close()
    record_page(demo, "User", demo.sandbox.sales_user_id)  # served after Chromium's attempts
    err = capfd.readouterr().err
    assert "handshake" not in err and "TLS" not in err and "SSL" not in err, err
