"""The dashboard in Debian's Chromium (Playwright), over real HTTP, with the scenario's events put
through `/webhooks/events` and the worker: log in through the form, open each page, check the
charts and that the figures shown are the measurement's, and save a screenshot of each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import ADMIN_TOKEN, AS_OF, BIG_TEAM, loaded_service, screenshots_dir

from lastmile.measure import digest, friction, indicators
from lastmile.runtime import Runtime
from lastmile.webhooks.charts import duration, percent

try:
    from playwright.sync_api import Browser, Page
except ImportError:  # the `test` extra installs it; `chromium` says so and the tests skip
    Browser = Page = Any

WHEN = "as_of=2026-11-28T00:00:00Z"
COUNTS = ("occasions", "met_first_time", "met_after_prompt", "missed", "withdrawn", "open")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, str]]:
    with loaded_service(tmp_path_factory.mktemp("dashboard-browser")) as pair:
        yield pair


@pytest.fixture(scope="module")
def browser(chromium: Browser | str) -> Browser | str:
    return chromium


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshots_dir(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture
def page(browser: Browser | str, service: tuple[Runtime, str], need_service) -> Iterator[Page]:
    """A fresh browser context, logged in through the form."""
    if isinstance(browser, str):
        need_service("Chromium", browser)
    _, url = service
    context = browser.new_context(viewport={"width": 1180, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.goto(f"{url}/dashboard?{WHEN}")
    assert "/dashboard/login" in tab.url  # no session yet: the login form
    tab.fill("input[name=token]", ADMIN_TOKEN)
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{url}/dashboard?{WHEN}")
    yield tab
    context.close()


def report_of(service: tuple[Runtime, str], **filters: Any) -> dict[str, Any]:
    runtime, _ = service
    return indicators(runtime.store, runtime.rules(), runtime.settings, AS_OF, **filters)


def cells(tab: Page, selector: str) -> dict[str, str]:
    """The `data-key` cells of one table row, as shown."""
    return tab.eval_on_selector_all(
        f"{selector} td[data-key]",
        "tds => Object.fromEntries(tds.map(td => [td.dataset.key, td.textContent.trim()]))",
    )


def shown(row: dict[str, Any]) -> dict[str, str]:
    """What a row of figures should read on the page."""
    ttc = row["time_to_comply_s"]
    return {
        **{key: str(row[key]) for key in COUNTS},
        "compliance": percent(row["compliance"]),
        "median": duration(ttc["median"] if ttc else None),
    }


def test_a_wrong_token_in_the_form_is_refused(browser, service, need_service, shots) -> None:
    if isinstance(browser, str):
        need_service("Chromium", browser)
    _, url = service
    context = browser.new_context()
    tab = context.new_page()
    tab.goto(f"{url}/dashboard")
    tab.fill("input[name=token]", "not-the-token")
    tab.click("button[type=submit]")
    assert tab.locator("[role=alert]").inner_text() == "That is not the admin token."
    tab.screenshot(path=str(shots / "login-refused.png"), full_page=True)
    tab.goto(f"{url}/dashboard")
    assert "/dashboard/login" in tab.url
    context.close()


def test_overview_charts_and_figures(page: Page, service, shots: Path) -> None:
    report = report_of(service)
    assert report["weeks"], "the scenario must give weekly figures"
    in_weeks = {w["rule"] for w in report["weeks"]}
    rules_with_weeks = [r["rule"] for r in report["rules"] if r["rule"] in in_weeks]
    series = page.locator("svg.chart g.series")
    assert series.count() == len(rules_with_weeks)
    assert [series.nth(i).get_attribute("data-rule") for i in range(series.count())] == (
        rules_with_weeks
    )
    drawn = page.eval_on_selector_all(
        "svg.chart g.series circle.point",
        "cs => cs.map(c => [c.parentNode.dataset.rule, c.dataset.week, Number(c.dataset.value)])",
    )
    expected = [
        [w["rule"], w["week"], w["compliance"]]
        for w in report["weeks"]
        if w["compliance"] is not None  # a week with nothing closed has no point
    ]
    assert sorted(drawn) == sorted(expected)
    assert page.locator("#rules tbody tr").count() == len(report["rules"])
    for row in report["rules"]:
        assert cells(page, f'#rules tr[data-rule="{row["rule"]}"]') == {
            "rule": row["rule"],
            **shown(row),
        }
    assert page.locator("#teams tbody tr").count() == len(report["teams"])
    for row in report["teams"]:
        got = cells(page, f'#teams tr[data-team="{row["team"]}"][data-rule="{row["rule"]}"]')
        assert got == {"team": row["team"], "rule": row["rule"], **shown(row)}
    assert page.locator("#as-of").inner_text() == report["as_of"]
    page.screenshot(path=str(shots / "overview.png"), full_page=True)


def test_rule_page_funnel_fields_and_time_to_comply(page: Page, service, shots: Path) -> None:
    runtime, url = service
    rule = "call-essentials"
    page.click(f'#rules a:text-is("{rule}")')  # from the overview, by its link
    page.wait_for_url(f"{url}/dashboard/rules/{rule}?{WHEN}")
    (row,) = report_of(service, rule=rule)["rules"]
    assert row["missed"] and row["met_after_prompt"] and row["met_first_time"]
    steps = page.locator("svg.chart rect.funnel-step")
    assert steps.count() == 3
    assert [float(steps.nth(i).get_attribute("data-value")) for i in range(3)] == [
        row["met_first_time"],
        row["met_after_prompt"],
        row["missed"],
    ]
    bars = page.locator("svg.chart rect.field-bar")
    got = {
        bars.nth(i).get_attribute("data-label"): float(bars.nth(i).get_attribute("data-value"))
        for i in range(bars.count())
    }
    assert got == {field: float(n) for field, n in row["fields_missing"].items()}
    ttc = row["time_to_comply_s"]
    assert page.locator("svg.chart rect.ttc-bar").count() == 2
    assert page.locator("#ttc td[data-key=median]").inner_text() == duration(ttc["median"])
    assert page.locator("#ttc td[data-key=p90]").get_attribute("data-seconds") == str(ttc["p90"])
    assert cells(page, "#summary")["compliance"] == percent(row["compliance"])
    description = runtime.rules().get(rule).rule.description
    assert page.locator("#description").inner_text() == description
    weeks = report_of(service, rule=rule)["weeks"]
    assert page.locator("#weeks tbody tr").count() == len(weeks)
    assert page.locator("svg.chart g.series").count() == 1
    page.screenshot(path=str(shots / "rule-call-essentials.png"), full_page=True)


def test_friction_report_with_hints(page: Page, service, shots: Path) -> None:
    runtime, url = service
    page.click("nav >> text=Friction")
    page.wait_for_url(f"{url}/dashboard/friction?{WHEN}")
    items = friction(report_of(service), runtime.rules())
    assert items, "the scenario must give friction"
    rows = page.locator("#friction tbody tr")
    assert rows.count() == len(items)
    for i, item in enumerate(items):
        got = cells(page, f"#friction tbody tr:nth-child({i + 1})")
        assert got["rule"] == item["rule"]
        assert got["field"] == (item.get("field") or "")
        assert got["figure"] == str(item["figure"])
        assert got["hint"] == item["hint"]
    page.screenshot(path=str(shots / "friction.png"), full_page=True)


def test_digest_asks_three_questions_for_the_team_picked(page: Page, service, shots) -> None:
    runtime, _ = service
    page.click("nav >> text=Stand-up digest")
    options = page.locator("select[name=team] option")
    assert [options.nth(i).inner_text() for i in range(options.count())] == [BIG_TEAM, "other"]
    page.select_option("#pick select[name=team]", BIG_TEAM)
    page.fill("#pick input[name=day]", "2026-11-18")  # the stand-up after the first day of calls
    page.click("#pick button[type=submit]")
    page.wait_for_selector("#questions")
    expected = digest(
        runtime.store, runtime.rules(), runtime.settings, BIG_TEAM, date(2026, 11, 18)
    )
    questions = page.locator("#questions li")
    assert questions.count() == 3
    assert [questions.nth(i).inner_text() for i in range(3)] == expected["questions"]
    assert page.locator("#team").inner_text() == BIG_TEAM
    page.screenshot(path=str(shots / "digest.png"), full_page=True)
