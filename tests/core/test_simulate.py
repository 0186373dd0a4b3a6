"""The behavioural simulator: deterministic, its events read by the example rules as the
occasions it meant, its truth recovered from a large sample, and its quirks present."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import numpy as np
import pytest

from lastmile.rules import RuleSet, evaluate
from lastmile.rules.experiments import assign_arm
from lastmile.rules.occasions import derive, observe
from lastmile.simulate import Experiment, Habit, Params, Team, simulate, true_compliance, truth

MET = ("met_first_time", "met_after_prompt")
PREFIX = {"Task": "00T", "Opportunity": "006", "Lead": "00Q"}


def _rate(mask: np.ndarray, outcome: np.ndarray) -> float:
    return float(np.mean(np.isin(outcome[mask], MET)))


def test_the_same_seed_gives_the_same_history() -> None:
    one, two, other = simulate(seed=7), simulate(seed=7), simulate(seed=8)
    assert np.array_equal(one.occasions.outcome, two.occasions.outcome)
    assert one.events() == two.events()
    assert not np.array_equal(one.occasions.opened_s, other.occasions.opened_s)


def test_the_example_rules_see_the_occasions_the_simulator_meant(example_rules: RuleSet) -> None:
    """Every event through the real evaluation and occasion derivation: same outcomes.

    Placeholders are left out (whether `asdf` counts as filled is the rules' business; the
    simulator's truth says it does not), and so are occasions whose deadline lies after the
    history's end (their later events are cut off).
    """
    history = simulate(Params(version_week=None), seed=5)
    previous: dict[str, dict] = {}
    observed = defaultdict(list)
    for event in history.events():
        decision = evaluate(example_rules, event, previous.get(event.record_id))
        previous[event.record_id] = dict(event.fields)
        observed[event.record_id] += observe(example_rules, event, decision)
    within = {item.id: item.rule.then.within for item in example_rules.rules}
    objects = {item.id: item.rule.object for item in example_rules.rules}
    derived = {
        (occ.opened_by, occ.rule): occ.outcome
        for observations in observed.values()
        for occ in derive(observations, within, history.end + timedelta(days=30))
    }
    occ, compared = history.occasions, 0
    for row in range(len(occ.rule)):
        rule = str(occ.rule[row])
        opened = history.params.start + timedelta(seconds=float(occ.opened_s[row]))
        if occ.placeholder[row] or within[rule].after(opened) >= history.end:
            continue
        record = f"{PREFIX[objects[rule]]}SIM{row:09d}AAA"
        assert derived.get((f"evt-{record}-1", rule)) == occ.outcome[row], (row, rule)
        compared += 1
    assert compared > 0.9 * len(occ.rule)
    assert len(derived) == len(occ.rule)  # and no occasion the simulator did not mean


def test_a_large_sample_recovers_the_truth() -> None:
    params = Params(  # observe 0-1, experiment 2-3, live 4-5, fewer fields from week 6
        weeks=10,
        teams=(Team("Advisers North", 300, 1.0), Team("Advisers South", 200, 1.4)),
        experiment=Experiment(start_week=2, end_week=4),
        version_week=6,
    )
    occ = simulate(params, seed=1).occasions
    calls = occ.rule == "call-essentials"
    for arm in ("control", "prompt"):
        got = _rate(calls & (occ.regime == arm), occ.outcome)
        assert got == pytest.approx(truth(params).arms[arm], abs=0.03)
    for version in ("A", "B"):
        got = _rate(calls & (occ.version == version) & (occ.regime == "live"), occ.outcome)
        assert got == pytest.approx(truth(params).versions[version], abs=0.03)
    for rule in ("proposal-essentials", "lead-contacted-essentials", "closed-won-handover"):
        for regime in ("observe", "live"):
            got = _rate((occ.rule == rule) & (occ.regime == regime), occ.outcome)
            assert got == pytest.approx(true_compliance(params, rule, "A", regime), abs=0.04)
    effects = truth(params)
    assert effects.effects["prompt"] > 0.15 and effects.version_effect > 0.05


def test_arms_follow_the_assignment_formula() -> None:
    params = Params(experiment=Experiment(id="call-prompt-2026-12"))
    history = simulate(params, seed=2)
    occ = history.occasions
    running = (occ.rule == "call-essentials") & np.isin(occ.regime, ["control", "prompt"])
    assert running.any()
    for row in np.flatnonzero(running):
        owner = history.owners[occ.owner[row]].id
        assert occ.regime[row] == assign_arm(
            "call-prompt-2026-12", owner, dict(params.experiment.arms)
        )
    observed_weeks = occ.opened_s[running].min() // (7 * 86400)
    assert observed_weeks >= params.observe_weeks  # no experiment in the baseline weeks


def test_placeholders_overrides_and_the_version_change_show_in_the_events(
    example_rules: RuleSet,
) -> None:
    history = simulate(seed=3)
    events = history.events()
    next_steps = [e.fields.get("NextStep") for e in events if e.object == "Opportunity"]
    assert {"asdf", "n/a", "."} & set(next_steps)
    created = [e for e in events if e.object == "Opportunity" and e.kind == "created"]
    overridden = [e for e in events if e.changed == ("LeadSource",)]
    assert 0.3 < len(overridden) / len(created) < 0.6
    assert all(e.fields["LeadSource"] != "Phone" for e in overridden)
    # Version B asks no call notes: a B opening event may lack them and still be met first time.
    occ = history.occasions
    b_met = np.flatnonzero((occ.version == "B") & (occ.outcome == "met_first_time"))
    opening = {e.id: e for e in events if e.object == "Task"}
    notes = [opening[f"evt-00TSIM{row:09d}AAA-1"].fields["Description"] for row in b_met]
    assert None in notes and any(notes)
    assert {e.fields["OwnerId"] for e in events} <= {o.id for o in history.owners}
    assert {o.team for o in history.owners} == {"Advisers North", "Advisers South"}


def test_a_rule_without_event_shapes_is_refused() -> None:
    with pytest.raises(ValueError, match="no event shapes"):
        Params(habits=(Habit("made-up", 0.5, 4, 0.5, 0.1, 1, "1d"),))
