"""The playground in Debian's Chromium (Playwright), over real HTTP with the scenario's events put
through the pipeline: sign in, open the playground, load a live pack, edit it, run the backtest
and see its figures (those of `backtest.run`) and the traces; then a mistake, shown at its line
and column. Without Chromium the tests skip (and fail in CI), as the dashboard's do."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import test_dashboard_browser as dashboard
from dashboard_support import AS_OF, ROOT

from lastmile import backtest
from lastmile.rules import load_text
from lastmile.runtime import Runtime
from lastmile.webhooks.playground import DRAFT_PATH

# The dashboard's browser fixtures: a loaded service over HTTP, Chromium, a signed-in page.
service, browser, page, shots = (
    dashboard.service,
    dashboard.browser,
    dashboard.page,
    dashboard.shots,
)
cells, shown, Page = dashboard.cells, dashboard.shown, dashboard.Page

CALLS = (ROOT / "examples" / "rules" / "client-calls.yaml").read_text(encoding="utf-8")
LIVE_REQUIRE = "require: [Description, Outcome__c, Next_Step__c]"


def test_edit_a_draft_run_it_and_see_figures_and_a_trace(
    page: Page, service: tuple[Runtime, str], shots: Path
) -> None:
    runtime, url = service
    page.click("nav >> text=Playground")
    page.wait_for_url(f"{url}/dashboard/playground?as_of=2026-11-28T00:00:00Z")
    page.select_option("#start select[name=start]", "rule:call-essentials")
    page.click("#start button[type=submit]")
    page.wait_for_url(lambda address: "start=rule" in address)
    draft = page.locator("#draft-text")
    assert draft.input_value() == CALLS  # the live pack, as its file reads

    edited = CALLS.replace(LIVE_REQUIRE, "require: [Outcome__c]")
    assert edited != CALLS
    draft.fill(edited)
    page.fill("#draft input[name=from]", "2026-11-16")
    page.click("#draft button[type=submit]")
    page.wait_for_selector("#summary")

    since = datetime(2026, 11, 16, tzinfo=UTC)
    expected = backtest.run(
        runtime.store, load_text(edited, DRAFT_PATH), runtime.settings, AS_OF, since, explain=3
    )
    answer = expected.to_json(since, AS_OF)
    assert page.locator("#window-to").inner_text() == "2026-11-28T00:00:00Z"
    assert page.locator("#rules tbody tr").count() == len(answer["rules"]) > 0
    for row in answer["rules"]:
        assert cells(page, f'#rules tr[data-rule="{row["rule"]}"]') == {
            "rule": row["rule"],
            **shown(row),
        }
    for row in answer["backtest"]["rules"]:
        got = cells(page, f'#would tr[data-rule="{row["rule"]}"]')
        assert {k: got[k] for k in ("prompts", "tasks", "met_later")} == {
            k: str(row[k]) for k in ("prompts", "tasks", "met_later")
        }
    traces = page.locator("section.trace")
    assert traces.count() == len(expected.samples) > 0
    event, decision = expected.samples[0]
    first = traces.nth(0)
    assert first.get_attribute("data-record") == event.record_id
    held = [t.rule for t in decision.trace if t.matched]
    assert (
        held and first.locator(f'li.rule-trace[data-rule="{held[0]}"] > .mark').inner_text() == "✓"
    )
    assert first.locator("li.cond .mark").count() > 0
    assert draft.input_value() == edited  # the draft stays as edited
    page.screenshot(path=str(shots / "playground.png"), full_page=True)

    # A mistake: shown at its line and column, with the line quoted; nothing replayed.
    lines = edited.splitlines()
    [line] = [n for n, text in enumerate(lines, 1) if "require: [Outcome__c]" in text]
    column = lines[line - 1].index("require") + 1
    draft.fill(edited.replace("require: [Outcome__c]", "requir: [Outcome__c]"))
    page.click("#draft button[type=submit]")
    page.wait_for_selector("#problems")
    where = page.locator(f'#problems li[data-line="{line}"][data-column="{column}"]')
    assert where.locator("code.where").inner_text() == f"draft.yaml:{line}:{column}"
    assert "requir: [Outcome__c]" in where.locator("pre.quote").inner_text()
    assert page.locator("#summary").count() == 0
    page.screenshot(path=str(shots / "playground-problems.png"), full_page=True)
