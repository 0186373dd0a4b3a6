"""The experiment readout over occasions the worker kept: per-arm counts match the assignment
formula exactly, control owners get nothing written, small arms show no figures."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from fakes import Clock, FakeCrm

from lastmile.measure.experiments import experiments
from lastmile.rules import RecordEvent, load_text
from lastmile.rules.experiments import assign_arm
from lastmile.settings import Settings
from lastmile.store import Store
from lastmile.worker import Worker

PACK = """\
pack: calls
rules:
  - id: call-essentials
    object: Task
    if: {all: [{Type: Call}, {Status: Completed}, {changed: Status}]}
    then:
      require: [Outcome__c]
      prompt: "Record the outcome."
      within: 1d
    experiment:
      id: call-prompt-2026-12
      arms: {control: 0.5, short: 0.5}
      variants: {short: {prompt: "Outcome?"}}
      start: 2026-12-01
      end: 2026-12-20
"""
ARMS = {"control": 0.5, "short": 0.5}
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OWNERS = [f"0057Q0000{n:06d}AAA" for n in range(24)]


def _history() -> list[RecordEvent]:
    """Each owner completes three calls; one in three is filled in at once, the rest on a
    later save for owners in `short`, never for owners in `control`."""
    events = []
    for o, owner in enumerate(OWNERS):
        arm = assign_arm("call-prompt-2026-12", owner, ARMS)
        for c in range(3):
            rid = f"00T7Q{o:05d}{c:03d}AAA"
            at = START + timedelta(days=c, minutes=o)
            base = {"Type": "Call", "Status": "Completed", "OwnerId": owner, "Subject": "S"}
            first = "Interested" if c == 0 else None
            events.append(RecordEvent(id=f"{rid}-1", object="Task", record_id=rid,
                                      kind="updated", occurred_at=at, changed=("Status",),
                                      fields={**base, "Outcome__c": first}))  # fmt: skip
            if first is None and arm == "short":
                events.append(RecordEvent(id=f"{rid}-2", object="Task", record_id=rid,
                                          kind="updated", occurred_at=at + timedelta(hours=2),
                                          fields={**base, "Outcome__c": "Later"}))  # fmt: skip
    return events


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("experiment")
    ruleset = load_text(PACK)
    store = Store(f"sqlite:///{folder / 'x.db'}")
    store.upgrade()
    clock = Clock(START + timedelta(days=30))
    crm = FakeCrm(Clock(START - timedelta(days=1)))
    events = _history()
    for ev in events:
        crm.seed(ev.object, ev.record_id, START - timedelta(days=1), **ev.fields)
    worker = Worker(store, lambda: ruleset, crm, Settings(_env_file=None, min_group_size=5),
                    clock=clock)  # fmt: skip
    for inbox_id, _ in store.add(events):
        worker.process_event(inbox_id)
    yield store, ruleset, crm
    store.close()


def test_per_arm_counts_match_the_assignment_formula(processed) -> None:
    store, ruleset, _ = processed
    settings = Settings(_env_file=None, min_group_size=5)
    answer = experiments(store, ruleset, settings, START + timedelta(days=30))
    [exp] = answer["experiments"]
    assert (exp["id"], exp["rule"], exp["unit"]) == (
        "call-prompt-2026-12",
        "call-essentials",
        "owner",
    )
    owners = Counter(assign_arm("call-prompt-2026-12", o, ARMS) for o in OWNERS)
    arms = {row["arm"]: row for row in exp["arms"]}
    assert set(arms) == {"control", "short"}
    for arm, n in owners.items():
        row = arms[arm]
        assert row["units"] == n and row["occasions"] == 3 * n
        assert row["met_first_time"] == n
        assert row["met_after_prompt"] == (2 * n if arm == "short" else 0)
        assert row["missed"] == (0 if arm == "short" else 2 * n)
        low, high = row["compliance_ci95"] or (None, None)
        assert low is None or low <= row["compliance"] <= high
    [effect] = exp["effects"]
    assert effect["arm"] == "short" and effect["vs"] == "control"
    assert effect["difference"] == pytest.approx(1 - 1 / 3, abs=1e-4)
    # The end (20 Dec) has passed but 12 owners and 36 occasions an arm is not enough data.
    assert exp["enough_data"] is False and exp["running"] is False


def test_control_owners_get_nothing_written(processed) -> None:
    _, _, crm = processed
    for o, owner in enumerate(OWNERS):
        arm = assign_arm("call-prompt-2026-12", owner, ARMS)
        for c in (1, 2):  # the calls left without an outcome
            rid = f"00T7Q{o:05d}{c:03d}AAA"
            written = [f for _, r, f in crm.updates if r == rid and "Lastmile_Prompt__c" in f]
            if arm == "control":
                assert written == [], (owner, rid)
            else:
                assert written[0]["Lastmile_Prompt__c"] == "Outcome?"
    assert crm.updates  # the short arm's prompts were written


def test_an_arm_below_the_minimum_group_size_shows_nothing(processed) -> None:
    store, ruleset, _ = processed
    big = Settings(_env_file=None, min_group_size=50)
    [exp] = experiments(store, ruleset, big, START + timedelta(days=30))["experiments"]
    assert exp["arms"] == [
        {"arm": "control", "too_few_to_show": True},
        {"arm": "short", "too_few_to_show": True},
    ]
    assert exp["effects"] == [{"arm": "short", "vs": "control", "too_few_to_show": True}]


def test_the_api_and_the_page_give_the_readout_behind_the_token(processed, tmp_path) -> None:
    from types import SimpleNamespace

    from flask import Flask

    from lastmile.webhooks.api import api_blueprint
    from lastmile.webhooks.dashboard import dashboard_blueprint

    store, ruleset, _ = processed
    settings = Settings(_env_file=None, min_group_size=5, admin_token="t0ken-for-tests")
    runtime = SimpleNamespace(settings=settings, store=store, rules=lambda: ruleset)
    app = Flask("experiments-test", root_path=str(tmp_path))
    app.secret_key = "x" * 32
    app.register_blueprint(api_blueprint(runtime))
    app.register_blueprint(dashboard_blueprint(runtime), url_prefix="/dashboard")
    client = app.test_client()
    at = "2026-12-31T00:00:00Z"
    assert client.get(f"/api/experiments?as_of={at}").status_code == 401
    bearer = {"Authorization": "Bearer t0ken-for-tests"}
    got = client.get(f"/api/experiments?as_of={at}", headers=bearer)
    assert got.status_code == 200
    assert got.json == experiments(store, ruleset, settings, datetime(2026, 12, 31, tzinfo=UTC))
    assert client.get("/api/experiments?as_of=soon", headers=bearer).status_code == 400
    page = client.get(f"/dashboard/experiments?as_of={at}", headers=bearer)
    assert page.status_code == 200, page.text
    assert 'data-experiment="call-prompt-2026-12"' in page.text
    assert "Not a verdict yet" in page.text and 'data-arm="short"' in page.text
