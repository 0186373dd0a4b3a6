"""The Experiments page in Debian's Chromium (Playwright), over real HTTP: an experiment that has
ended with enough data reads as a verdict; one still running with too little is greyed out, and
its arm below the minimum group size (and that arm's effect) shows "too few to show". The counts
on the page are the scenario's, arm by arm; the intervals and effects are the readout's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import ADMIN_TOKEN, app_of, build_runtime, screenshots_dir, serving

from lastmile.measure.experiments import experiments
from lastmile.rules import RecordEvent, load_rules
from lastmile.rules.experiments import assign_arm
from lastmile.runtime import Runtime
from lastmile.webhooks.charts import percent
from lastmile.worker import batch

try:
    from playwright.sync_api import Browser, Page
except ImportError:  # the `test` extra installs it; `chromium` says so and the tests skip
    Browser = Page = Any

AS_OF = datetime(2026, 11, 28, tzinfo=UTC)  # after every deadline, and after DONE's end
WHEN = "as_of=2026-11-28T00:00:00Z"
DONE, RUNNING = "call-prompt-done", "meeting-prompt-new"
DONE_ARMS = {"control": 0.5, "short": 0.5}
RUNNING_ARMS = {"control": 0.4, "short": 0.4, "long": 0.2}
MIN_GROUP = 5
GREY, INK = "rgb(136, 136, 136)", "rgb(29, 29, 31)"  # dashboard.css: provisional, body
PACK = f"""\
pack: experiments
rules:
  - id: call-notes
    object: Task
    if: {{all: [{{Type: Call}}, {{Status: Completed}}, {{changed: Status}}]}}
    then:
      require: [Description, Outcome__c]
      prompt: "Record the notes and the outcome."
      within: 1d
    experiment:
      id: {DONE}
      arms: {{control: 0.5, short: 0.5}}
      variants: {{short: {{prompt: "Notes?"}}}}
      start: 2026-11-02
      end: 2026-11-23
  - id: meeting-notes
    object: Task
    if: {{all: [{{Type: Meeting}}, {{Status: Completed}}, {{changed: Status}}]}}
    then:
      require: [Description]
      prompt: "Record the meeting notes."
      within: 1d
    experiment:
      id: {RUNNING}
      arms: {{control: 0.4, short: 0.4, long: 0.2}}
      variants: {{short: {{prompt: "Notes?"}}, long: {{prompt: "Write the notes down now."}}}}
      start: 2026-11-16
"""


@dataclass(frozen=True)
class Planned:
    experiment: str
    arm: str
    owner: str
    outcome: str  # met_first_time, met_after_prompt or missed


def owners(
    prefix: str, experiment: str, arms: dict[str, float], wanted: dict[str, int]
) -> list[tuple[str, str]]:
    """(arm, owner id) pairs: the first ids the assignment formula puts in each arm, as many
    as `wanted` says."""
    found: dict[str, list[str]] = {arm: [] for arm in wanted}
    for n in range(10_000):
        owner = f"0057Q00000{prefix}{n:04d}QAJ"
        arm = assign_arm(experiment, owner, arms)
        if len(found[arm]) < wanted[arm]:
            found[arm].append(owner)
        if all(len(found[a]) == wanted[a] for a in wanted):
            return [(arm, owner) for arm in wanted for owner in found[arm]]
    raise AssertionError("too few owners in some arm")


def plan() -> list[Planned]:
    """DONE: 9 owners an arm (over the minimum of 8 units), 6 calls each (54 closed an arm, over
    50); some met at once, and in `short` half the rest later. RUNNING: 5, 5 and 2 owners (the
    last arm under the minimum group size), 2 meetings each."""
    planned = []
    for k, (arm, owner) in enumerate(owners("E", DONE, DONE_ARMS, {"control": 9, "short": 9})):
        for c in range(6):
            later = arm == "short" and (c + k) % 2 == 0
            outcome = (
                "met_first_time" if c < 2 + k % 3 else "met_after_prompt" if later else "missed"
            )
            planned.append(Planned(DONE, arm, owner, outcome))
    wanted = {"control": 5, "short": 5, "long": 2}
    for k, (arm, owner) in enumerate(owners("F", RUNNING, RUNNING_ARMS, wanted)):
        for c in range(2):
            outcome = "met_first_time" if (c + k) % 3 == 0 else "missed"
            planned.append(Planned(RUNNING, arm, owner, outcome))
    return planned


def events(planned: list[Planned]) -> list[RecordEvent]:
    """Each planned occasion as the CRM's events: the completing save, perhaps a later fill."""
    out = []
    for n, item in enumerate(planned):
        call = item.experiment == DONE
        rid = f"00T7Q{n:010d}AAA"
        start = datetime(2026, 11, 2 if call else 16, 9, tzinfo=UTC)
        at = start + timedelta(days=n % 5, minutes=n)  # every deadline before AS_OF
        fields: dict[str, Any] = {"Type": "Call" if call else "Meeting", "Status": "Completed",
                                  "Subject": f"S{n}", "OwnerId": item.owner,
                                  "Description": None, "Outcome__c": None}  # fmt: skip
        if item.outcome == "met_first_time":
            fields.update(Description="Spoke.", Outcome__c="Interested")
        out.append(RecordEvent(id=f"evt-{n}-1", object="Task", record_id=rid, kind="updated",
                               occurred_at=at, changed=("Status",), fields=fields))  # fmt: skip
        if item.outcome == "met_after_prompt":
            filled = {**fields, "Description": "Later.", "Outcome__c": "Call back"}
            out.append(RecordEvent(id=f"evt-{n}-2", object="Task", record_id=rid,
                                   kind="updated", occurred_at=at + timedelta(hours=2),
                                   fields=filled))  # fmt: skip
    return sorted(out, key=lambda e: e.occurred_at)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, str]]:
    folder = tmp_path_factory.mktemp("experiments-browser")
    rules = folder / "rules"
    rules.mkdir()
    (rules / "experiments.yaml").write_text(PACK, encoding="utf-8")
    runtime, _ = build_runtime(folder, rules=rules, min_group_size=MIN_GROUP)
    # Through the bulk import (`lastmile events import --observe`): the same worker, no CRM.
    result = batch.observe(runtime.store, load_rules([rules]), runtime.settings, events(plan()))
    assert result.imported == len(events(plan()))
    # The rules, but no worker or deadline scheduler: the store holds all the page needs.
    assert runtime.rules.reload()
    with serving(app_of(runtime)) as url:
        yield runtime, url


@pytest.fixture
def page(chromium: Browser | str, service: tuple[Runtime, str], need_service) -> Iterator[Page]:
    """The Experiments page, opened from the overview's navigation after logging in."""
    if isinstance(chromium, str):
        need_service("Chromium", chromium)
    _, url = service
    context = chromium.new_context(viewport={"width": 1180, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.goto(f"{url}/dashboard?{WHEN}")
    tab.fill("input[name=token]", ADMIN_TOKEN)
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{url}/dashboard?{WHEN}")
    tab.click("nav >> text=Experiments")
    tab.wait_for_url(f"{url}/dashboard/experiments?{WHEN}")
    yield tab
    context.close()


def readout(service: tuple[Runtime, str], eid: str) -> dict[str, Any]:
    runtime, _ = service
    found = experiments(runtime.store, runtime.rules(), runtime.settings, AS_OF)
    (exp,) = [e for e in found["experiments"] if e["id"] == eid]
    return exp


def expected_counts(eid: str) -> dict[str, dict[str, int]]:
    """Per arm, what the scenario holds: units, occasions and outcomes."""
    planned = [p for p in plan() if p.experiment == eid]
    counts: dict[str, dict[str, int]] = {}
    for arm in dict.fromkeys(p.arm for p in planned):
        mine = [p for p in planned if p.arm == arm]
        outcomes = Counter(p.outcome for p in mine)
        counts[arm] = {
            "units": len({p.owner for p in mine}),
            "occasions": len(mine),
            **{k: outcomes[k] for k in ("met_first_time", "met_after_prompt", "missed")},
        }
    return counts


def arm_row(tab: Page, eid: str, arm: str) -> list[str]:
    cells = tab.locator(f'section[data-experiment="{eid}"] table.arms tr[data-arm="{arm}"] td')
    return [t.strip() for t in cells.all_inner_texts()]


def effect_row(tab: Page, eid: str, arm: str) -> list[str]:
    cells = tab.locator(f'section[data-experiment="{eid}"] table.effects tr[data-arm="{arm}"] td')
    return [t.strip() for t in cells.all_inner_texts()]


def color(tab: Page, selector: str) -> str:
    return tab.eval_on_selector(selector, "el => getComputedStyle(el).color")


def interval(ci: list[float]) -> str:
    return f"{percent(ci[0])}–{percent(ci[1])}"


def points(value: float) -> str:
    return f"{value * 100:+.0f}"


def test_an_ended_experiment_with_enough_data_reads_as_a_verdict(
    page: Page, service, shots: Path
) -> None:
    exp = readout(service, DONE)
    assert exp["enough_data"] and not exp["running"]
    section = f'section[data-experiment="{DONE}"]'
    heading = page.locator(f"{section} h2").inner_text()
    assert heading.startswith(DONE) and "on call-notes, by owner" in heading
    assert "2026-11-02T00:00:00Z to 2026-11-23T00:00:00Z" in heading
    verdict = page.locator(f"{section} [data-key=verdict]").inner_text()
    assert verdict.startswith("The planned end has passed and every arm has enough data")
    assert "provisional" not in (page.locator(section).get_attribute("class") or "")
    assert color(page, f'{section} table.arms tr[data-arm="control"] td') == INK
    counts = expected_counts(DONE)
    assert counts["control"]["units"] == counts["short"]["units"] == 9
    for row in exp["arms"]:
        want = counts[row["arm"]]
        assert arm_row(page, DONE, row["arm"]) == [
            row["arm"],
            str(want["units"]),
            str(want["occasions"]),
            str(want["met_first_time"]),
            str(want["met_after_prompt"]),
            str(want["missed"]),
            "0",  # withdrawn
            "0",  # open: every deadline has passed
            percent(row["compliance"]),
            interval(row["compliance_ci95"]),
        ]
    # The scenario's compliance, worked out from its outcomes, is what the page shows.
    for arm, want in counts.items():
        met = want["met_first_time"] + want["met_after_prompt"]
        assert arm_row(page, DONE, arm)[8] == percent(round(met / want["occasions"], 4))
    (effect,) = exp["effects"]
    assert effect["difference"] > 0 and effect["ci95"][0] > 0  # short helps, clearly
    low, high = effect["ci95"]
    assert effect_row(page, DONE, "short") == [
        "short",
        f"{points(effect['difference'])} points",
        f"{points(low)} to {points(high)} points",
    ]
    page.screenshot(path=str(shots / "experiments.png"), full_page=True)


def test_a_running_experiment_with_too_little_data_is_greyed_out(page: Page, service) -> None:
    exp = readout(service, RUNNING)
    assert not exp["enough_data"] and exp["running"] and exp["end"] is None
    section = f'section[data-experiment="{RUNNING}"]'
    assert "provisional" in (page.locator(section).get_attribute("class") or "").split()
    assert "2026-11-16T00:00:00Z to no end" in page.locator(f"{section} h2").inner_text()
    verdict = page.locator(f"{section} [data-key=verdict]").inner_text()
    assert verdict.startswith("Not a verdict yet: every arm needs 8 units and 50 closed occasions")
    need = exp["needed"]
    assert need is not None
    assert (
        f"about {need['units_per_arm']} units and {need['closed_occasions_per_arm']} closed "
        "occasions per arm" in verdict
    )
    # Figures are shown, greyed: the arms at or above the minimum group size.
    counts = expected_counts(RUNNING)
    for arm in ("control", "short"):
        shown = arm_row(page, RUNNING, arm)
        want = counts[arm]
        assert shown[:6] == [arm, str(want["units"]), str(want["occasions"]),
                             str(want["met_first_time"]), "0", str(want["missed"])]  # fmt: skip
        (row,) = [r for r in exp["arms"] if r["arm"] == arm]
        assert shown[8:] == [percent(row["compliance"]), interval(row["compliance_ci95"])]
        selector = f'{section} table.arms tr[data-arm="{arm}"] td[data-key=compliance]'
        assert color(page, selector) == GREY
    (short,) = [e for e in exp["effects"] if e["arm"] == "short"]
    assert effect_row(page, RUNNING, "short")[1] == f"{points(short['difference'])} points"
    assert color(page, f'{section} table.effects tr[data-arm="short"] td') == GREY


def test_an_arm_under_the_minimum_group_size_shows_no_figures(page: Page, service) -> None:
    assert expected_counts(RUNNING)["long"]["units"] == 2 < MIN_GROUP
    assert arm_row(page, RUNNING, "long") == ["long", "too few to show"]
    # Its effect neither: a difference from control would give its compliance away.
    assert effect_row(page, RUNNING, "long") == ["long", "too few to show"]
    section = page.locator(f'section[data-experiment="{RUNNING}"]')
    assert section.locator("tr[data-arm=long] td[data-key=compliance]").count() == 0
    text = section.inner_text()
    for owner in {p.owner for p in plan() if p.experiment == RUNNING}:
        assert owner not in text and owner[:15] not in text  # nobody's arm is shown
    assert page.locator("table.arms tr[data-arm]").count() == 2 + 3


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshots_dir(tmp_path_factory.mktemp("screenshots"))
