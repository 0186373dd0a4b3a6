"""Compliance intervals clustered by owner, the experiment's arm assignment, and a short run of
bench/interval_bench.py: known effects are covered, no effect stays around zero."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from lastmile.measure import intervals
from lastmile.measure.intervals import compliance, difference, icc, needed, sample_size
from lastmile.rules.experiments import assign_arm, assignment_value

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from interval_bench import bench  # noqa: E402

ARMS = {"control": 0.2, "short": 0.4, "long": 0.4}
EXPERIMENT = "call-prompt-2026-12"


# The first 8 hex digits of sha256 computed with coreutils, e.g.
#   printf '%s' 'call-prompt-2026-12:0057Q00000K2lMn' | sha256sum   ->  3303d870...
@pytest.mark.parametrize(
    ("owner", "digits", "arm"),
    [
        ("0057Q00000K2lMnQAJ", 0x3303D870, "control"),  # u = 0.19928: just under 0.2
        ("0057Q00000A1bCdQAJ", 0x53A9C0A6, "short"),  # u = 0.32681
        ("0057Q00000A2fGhQAJ", 0x996575E4, "short"),  # u = 0.59920: just under 0.2 + 0.4
        ("0057Q00000A0zZzQAJ", 0xB49DE033, "long"),  # u = 0.70553
    ],
)
def test_the_arm_follows_the_documented_formula(owner: str, digits: int, arm: str) -> None:
    assert assignment_value(EXPERIMENT, owner) == digits / 2**32
    assert assign_arm(EXPERIMENT, owner, ARMS) == arm
    assert assign_arm(EXPERIMENT, owner[:15], ARMS) == arm  # 15 and 18 characters alike


def test_the_order_of_the_arms_is_the_order_written() -> None:
    owner = "0057Q00000A1bCdQAJ"  # u = 0.32681
    assert assign_arm(EXPERIMENT, owner, {"long": 0.4, "short": 0.4, "control": 0.2}) == "long"
    assert assign_arm(EXPERIMENT, owner, {"control": 0.0, "short": 1.0}) == "short"


def test_the_shares_follow_the_weights() -> None:
    arms = [assign_arm("exp-1", f"005000000{n:06d}AAA", ARMS) for n in range(20_000)]
    shares = {arm: arms.count(arm) / len(arms) for arm in ARMS}
    assert shares == pytest.approx(ARMS, abs=0.015)


@pytest.mark.parametrize(
    "arms", [{}, {"control": 0.5, "short": 0.4}, {"control": -0.2, "short": 1.2}, {"a": "1"}]
)
def test_weights_that_are_not_a_split_are_refused(arms: dict) -> None:
    with pytest.raises(ValueError, match=r"arm|weight"):
        assign_arm(EXPERIMENT, "0057Q00000A1bCdQAJ", arms)


def test_no_closed_occasion_gives_no_figure() -> None:
    est = compliance([], [])
    assert (est.compliance, est.ci95, est.n_units, est.n_occasions) == (None, None, 0, 0)
    assert not est.enough_data
    diff = difference([], [], ["a", "b"], [1, 0])
    assert diff.difference is None and diff.ci95 is None and not diff.enough_data


def test_one_owner_gives_a_figure_but_no_interval() -> None:
    est = compliance(["a"] * 60, [1] * 45 + [0] * 15)
    assert est.compliance == 0.75 and est.ci95 is None
    assert (est.n_units, est.n_occasions, est.enough_data) == (1, 60, False)
    diff = difference(["a"] * 4, [1, 1, 0, 0], ["b", "c"], [1, 1])
    assert diff.difference == 0.5 and diff.ci95 is None


def test_all_met_has_an_interval_below_one() -> None:
    est = compliance(np.repeat(np.arange(10), 10), np.ones(100))
    assert est.compliance == 1.0 and est.enough_data
    low, high = est.ci95
    assert high == 1.0 and 0.85 < low < 0.99


def test_owners_who_differ_widen_the_interval() -> None:
    units = np.repeat(np.arange(10), 20)
    alike = np.tile([1, 0], 100)  # every owner meets half
    habits = np.repeat([1, 0] * 5, 20)  # five always, five never
    narrow, wide = compliance(units, alike), compliance(units, habits)
    assert narrow.compliance == wide.compliance == 0.5
    assert narrow.ci95[1] - narrow.ci95[0] < 0.2  # about the binomial interval of 200
    assert wide.ci95[0] < 0.2 and wide.ci95[1] > 0.8  # ten owners: hardly known
    assert icc(units, alike) == 0.0 and icc(units, habits) == pytest.approx(1.0)


def test_pairing_the_same_owners_narrows_a_before_and_after() -> None:
    rng = np.random.default_rng(3)
    habit = rng.beta(2, 2, 20)
    units = np.repeat(np.arange(20), 30)
    before = (rng.random(600) < habit[units]).astype(int)
    after = (rng.random(600) < np.minimum(1, habit[units] + 0.1)).astype(int)
    paired = difference(units, before, units, after, paired=True)
    independent = difference(units, before, units, after)
    assert paired.difference == independent.difference
    assert paired.n_units == 20 and paired.paired and paired.enough_data
    width = paired.ci95[1] - paired.ci95[0]
    assert width < 0.6 * (independent.ci95[1] - independent.ci95[0])
    assert paired.ci95[0] < paired.difference < paired.ci95[1]


def test_paired_groups_must_share_owners() -> None:
    with pytest.raises(ValueError, match="share no unit"):
        difference(["a", "b"], [1, 0], ["c", "d"], [1, 1], paired=True)


@pytest.mark.parametrize(("units", "met"), [(["a", "b"], [1, 2]), (["a"], [1, 0]), (["a"], [0.5])])
def test_bad_input_is_refused(units: list, met: list) -> None:
    with pytest.raises(ValueError):
        compliance(units, met)


def test_too_few_owners_or_occasions_is_not_enough_data() -> None:
    few_owners = compliance(np.repeat(np.arange(intervals.MIN_UNITS - 1), 20), np.ones(140))
    few_closed = compliance(np.arange(intervals.MIN_UNITS), np.ones(intervals.MIN_UNITS))
    assert not few_owners.enough_data and not few_closed.enough_data


def test_the_sample_size_is_the_textbook_one_times_the_design_effect() -> None:
    # 0.5 against 0.6: (1.95996 + 0.84162)^2 * (0.25 + 0.24) / 0.1^2 = 384.6 occasions a group
    plain = sample_size(0.5, icc=0.0, occasions_per_unit=10)
    assert (plain.occasions_per_group, plain.units_per_group, plain.design_effect) == (385, 39, 1)
    clustered = sample_size(0.5, icc=0.05, occasions_per_unit=10)  # 1 + 9 * 0.05 = 1.45
    assert clustered.occasions_per_group == 558 and clustered.units_per_group == 56
    assert sample_size(0.95, 0.0, 10).occasions_per_group < plain.occasions_per_group
    with pytest.raises(ValueError):
        sample_size(0.5, 0.0, 10, difference=0.0)


def test_the_sample_needed_uses_the_observed_clustering() -> None:
    units = np.repeat(np.arange(10), 20)
    alike, habits = needed(units, np.tile([1, 0], 100)), needed(units, np.repeat([1, 0] * 5, 20))
    assert alike.icc == 0.0 and habits.icc == pytest.approx(1.0)
    assert habits.units_per_group > 10 * alike.units_per_group


def test_no_verdict_before_the_planned_end() -> None:
    enough = compliance(np.repeat(np.arange(10), 10), np.tile([1, 0], 50))
    short = compliance(np.arange(3), [1, 0, 1])
    end = datetime(2027, 1, 15, tzinfo=UTC)
    before, after = datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 16, tzinfo=UTC)
    assert not intervals.verdict_ready(before, end, [enough, enough])
    assert intervals.verdict_ready(after, end, [enough, enough])
    assert not intervals.verdict_ready(after, end, [enough, short])
    assert not intervals.verdict_ready(after, None, [enough, enough])


@pytest.mark.parametrize("case", ["experiment", "before/after"])
def test_simulated_effects_are_covered_and_no_effect_stays_around_zero(case: str) -> None:
    with_effect = bench(case, owners=20, effect=True, runs=40)
    without = bench(case, owners=20, effect=False, runs=40)
    assert with_effect.true > 0.05 and without.true == 0.0
    assert with_effect.coverage >= 0.8 and without.coverage >= 0.8
    assert without.excludes_zero <= 0.2
    assert with_effect.excludes_zero >= 0.5  # and the effect is found
    assert abs(with_effect.mean_estimate - with_effect.true) < 0.04
    assert with_effect.no_interval == 0
