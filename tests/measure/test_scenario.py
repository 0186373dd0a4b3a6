"""The scripted scenario of measure_support (events POSTed to /webhooks/events out of order and
duplicated): the indicators equal figures worked out by hand, at two `as_of` times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from measure_support import AS_OF_A, AS_OF_B, E, World, row, rules_row, user, world

from lastmile.measure import indicators
from lastmile.measure.indicators import figures
from lastmile.rules.occasions import Occasion

NORTH, OTHER = "Advisers North", "other"

# As of 20 Nov 00:00 (week 47 only; R5, R6 and O3 lie after it):
#   R1 met after prompt (12:00 - 10:00 = 7200 s; Outcome empty at the start)
#   R2 met first time                                   (North)
#   R3 missed (18 Nov 09:00 < as_of; both fields empty)  (Tiny Desk -> other)
#   R4 withdrawn (Description empty)                     (no team -> other)
#   R7 missed: filled 19 Nov 10:00, after its deadline 19 Nov 09:00 (Outcome empty)  (North)
CALLS_A = row(
    "call-notes", 5, 1, 1, 2, 1, 0,
    (1 + 1) / (1 + 1 + 2),  # = 0.5
    7200, 7200,  # one wait: median and p90 are it
    {"Description": 2, "Outcome__c": 3},  # Description: R3, R4; Outcome: R1, R3, R7
)  # fmt: skip
NORTH_A = row(
    "call-notes", 3, 1, 1, 1, 0, 0,  # R1, R2, R7
    2 / 3,
    7200, 7200,
    {"Description": 0, "Outcome__c": 2},  # R1, R7
)  # fmt: skip
OTHER_A = row(
    "call-notes", 2, 0, 0, 1, 1, 0,  # R3 (small team), R4 (no team)
    0 / 1,  # R4 is withdrawn: not in it
    None, None,
    {"Description": 2, "Outcome__c": 1},
)  # fmt: skip
# Defaults by 20 Nov: O1 (changed to Web by a person), O2 (changed by the integration user, then
# saved by a person with the default value): applied 2, overridden 1.
DEFAULTS_A = [
    {"rule": "opp-defaults", "field": "LeadSource", "applied": 2, "overridden": 1,
     "override_rate": 1 / 2},
]  # fmt: skip

# As of 24 Nov 12:00, adding week 48:
#   R5 met after prompt (15:00 - 09:00 = 21600 s; Outcome empty)  (North)
#   R6 open: deadline 25 Nov 08:00 is after as_of (Description empty)  (North)
CALLS_B = row(
    "call-notes", 7, 1, 2, 2, 1, 1,
    (1 + 2) / (1 + 2 + 2),  # = 0.6
    (7200 + 21600) / 2,  # median of two = 14400
    21600,  # p90: the ceil(0.9 * 2) = 2nd smallest
    {"Description": 3, "Outcome__c": 4},  # + R6; + R5
)  # fmt: skip
NORTH_B = row(
    "call-notes", 5, 1, 2, 1, 0, 1,  # R1, R2, R5, R6, R7
    3 / 4,
    14400, 21600,
    {"Description": 1, "Outcome__c": 3},  # R6; R1, R5, R7
)  # fmt: skip
WEEK_48 = row(
    "call-notes", 2, 0, 1, 0, 0, 1,  # R5, R6
    1 / 1,
    21600, 21600,
    {"Description": 1, "Outcome__c": 1},
)  # fmt: skip
# O3 (week 48, Tiny Desk) kept its default: applied 3, overridden 1.
DEFAULTS_B = [
    {"rule": "opp-defaults", "field": "LeadSource", "applied": 3, "overridden": 1,
     "override_rate": 1 / 3},
]  # fmt: skip


def test_the_api_gives_the_hand_computed_figures_at_two_times(scenario: World) -> None:
    a = scenario.get("/api/indicators", as_of="2026-11-20T00:00:00Z")
    assert a.status_code == 200
    assert a.json() == {
        "as_of": "2026-11-20T00:00:00Z",
        "rules": [rules_row(CALLS_A)],
        "teams": [{"team": NORTH, **NORTH_A}, {"team": OTHER, **OTHER_A}],
        "weeks": [{"week": "2026-W47", **CALLS_A}],
        "defaults": DEFAULTS_A,
    }
    b = scenario.get("/api/indicators", as_of="2026-11-24T12:00:00Z").json()
    assert b == {
        "as_of": "2026-11-24T12:00:00Z",
        "rules": [rules_row(CALLS_B)],
        "teams": [{"team": NORTH, **NORTH_B}, {"team": OTHER, **OTHER_A}],
        "weeks": [{"week": "2026-W47", **CALLS_A}, {"week": "2026-W48", **WEEK_48}],
        "defaults": DEFAULTS_B,
    }


def test_the_function_answers_what_the_api_answers(scenario: World) -> None:
    report = indicators(
        scenario.runtime.store, scenario.runtime.rules(), scenario.settings, AS_OF_B
    )
    assert report == scenario.get("/api/indicators", as_of="2026-11-24T12:00:00Z").json()


def test_an_orderly_single_delivery_gives_the_same_figures(scenario: World, tmp_path) -> None:
    """The same events, each once, in occurred_at order, in one delivery."""
    ordered = sorted(E, key=lambda name: E[name]["occurred_at"])
    with world(tmp_path / "orderly") as calm:
        calm.deliver([ordered])
        for as_of in (AS_OF_A, AS_OF_B):
            got = indicators(calm.runtime.store, calm.runtime.rules(), calm.settings, as_of)
            want = indicators(
                scenario.runtime.store, scenario.runtime.rules(), scenario.settings, as_of
            )
            assert got == want


def test_filters_by_rule_team_and_opening_time(scenario: World) -> None:
    b = "2026-11-24T12:00:00Z"
    north = scenario.get("/api/indicators", as_of=b, team=NORTH).json()
    assert north["rules"] == [rules_row(NORTH_B)]
    assert north["teams"] == [{"team": NORTH, **NORTH_B}]
    # North's default rows: O1 (overridden) and O2; O3 belongs to the small team.
    assert north["defaults"] == [
        {"rule": "opp-defaults", "field": "LeadSource", "applied": 2, "overridden": 1,
         "override_rate": 0.5},
    ]  # fmt: skip
    week48 = scenario.get("/api/indicators", as_of=b, **{"from": "2026-11-23", "to": "2026-11-30"})
    assert week48.json()["rules"] == [rules_row(WEEK_48)]
    only = scenario.get("/api/indicators", as_of=b, rule="opp-defaults").json()
    assert only["rules"] == [] and only["teams"] == [] and only["defaults"] == DEFAULTS_B
    unknown = scenario.get("/api/indicators", as_of=b, rule="no-such-rule").json()
    assert unknown["rules"] == [] and unknown["defaults"] == []


def test_the_api_refuses_without_the_token_and_explains_bad_times(scenario: World) -> None:
    assert scenario.get("/api/indicators", token="wrong").status_code == 401
    bad = scenario.get("/api/indicators", as_of="last tuesday")
    assert bad.status_code == 400
    assert bad.json()["error"] == "bad_time" and "2026-11-20" in bad.json()["message"]
    assert scenario.get("/api/indicators").status_code == 200  # as_of defaults to now


def test_per_person_figures_only_when_switched_on(tmp_path) -> None:
    with world(tmp_path / "people", person_reports=True) as w:
        w.deliver()
        report = w.get("/api/indicators", as_of="2026-11-20T00:00:00Z").json()
        persons = {r["person"]: r["occasions"] for r in report["people"]}
        # By opening owner: R1 (N1), R2 (N2, sent as its 15-character id), R3, R4, R7.
        assert persons == {
            user("N1"): 1,
            user("N2")[:15]: 1,
            user("T1"): 1,
            user("X1"): 1,
            user("N4"): 1,
        }
    with world(tmp_path / "nobody") as w:
        w.deliver()
        assert "people" not in w.get("/api/indicators").json()


def _occasion(outcome: str, wait: float | None = None) -> Occasion:
    opened = datetime(2026, 11, 16, 9, tzinfo=UTC)
    return Occasion(
        rule="r",
        opened_at=opened,
        opened_by="e",
        owner=None,
        fields_missing=(),
        deadline=None,
        outcome=outcome,  # type: ignore[arg-type]
        closed_at=opened + timedelta(seconds=wait) if wait is not None else None,
    )


@pytest.mark.parametrize(
    ("waits", "median", "p90"),
    [
        # n = 10: median = mean of the 5th and 6th (50, 60) = 55; p90 = ceil(9.0) = 9th = 90
        ([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 55, 90),
        # n = 11: median = 6th = 60; p90 = ceil(9.9) = 10th = 100
        ([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110], 60, 100),
        # n = 3, unsorted: median 2nd = 7; p90 = ceil(2.7) = 3rd = 9; 1.5 stays a fraction
        ([9, 1.5, 7], 7, 9),
    ],
)
def test_median_and_nearest_rank_p90(waits: list[float], median: float, p90: float) -> None:
    occs = [_occasion("met_after_prompt", w) for w in waits] + [_occasion("missed")]
    got = figures("r", occs, ("A",))
    assert got["time_to_comply_s"] == {"median": median, "p90": p90}
    assert got["compliance"] == len(waits) / (len(waits) + 1)
    assert got["fields_missing"] == {"A": 0}


def test_compliance_is_null_with_nothing_closed() -> None:
    got = figures("r", [_occasion("open"), _occasion("withdrawn")])
    assert got["compliance"] is None and got["time_to_comply_s"] is None
    assert (got["open"], got["withdrawn"], got["occasions"]) == (1, 1, 2)
