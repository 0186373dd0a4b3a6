"""`lastmile demo` as a newcomer meets it: the command prints the loop working and stops cleanly;
in a browser, editing a record on the sandbox's page shows the write-back on that page."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lastmile.cli.demo import Demo

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
        # The record page refreshes itself every 2 s: the write-back appears without a click.
        page.wait_for_function(
            "document.body.innerText.includes('Leg meteen vast')", timeout=10_000
        )
        shown = time.monotonic() - saved
        body = page.inner_text("body")
        assert "Gesprek afgerond. Leg meteen vast: Gespreksverslag en Volgende stap." in body
        # The write-back itself landed within a second of the save (the page shows it at its
        # next refresh, at most 2 s later).
        record = sandbox.org.get("Task", call)
        assert record["Lastmile_Prompt__c"]
        assert shown < 4.0
    finally:
        context.close()
