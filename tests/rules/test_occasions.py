"""Occasions from a record's observations: every outcome, deadlines, order and duplicates."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from lastmile.rules.occasions import Observation, derive
from lastmile.rules.templates import Duration

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
DAY = Duration.parse("1d")


def obs(
    eid: str, hours: float, matched: bool, situation: bool, missing: tuple[str, ...] = ()
) -> Observation:
    return Observation(eid, T0 + timedelta(hours=hours), "r", matched, situation, missing, "005A")


def outcomes(observations: list[Observation], as_of_hours: float, within: Duration | None = DAY):
    return [
        (o.outcome, o.time_to_comply_s)
        for o in derive(observations, {"r": within}, T0 + timedelta(hours=as_of_hours))
    ]


def test_met_first_time_when_the_opening_event_has_every_field():
    assert outcomes([obs("e1", 0, True, True)], 1) == [("met_first_time", None)]


def test_met_after_prompt_records_time_to_comply_from_occurred_at():
    seq = [obs("e1", 0, True, True, ("Outcome__c",)), obs("e2", 3, False, True)]
    assert outcomes(seq, 5) == [("met_after_prompt", 3 * 3600.0)]


def test_missed_when_the_deadline_passes_even_without_a_later_event():
    seq = [obs("e1", 0, True, True, ("Outcome__c",))]
    assert outcomes(seq, 23) == [("open", None)]
    assert outcomes(seq, 25) == [("missed", None)]


def test_filling_the_fields_after_the_deadline_stays_missed():
    seq = [obs("e1", 0, True, True, ("Outcome__c",)), obs("e2", 30, False, True)]
    (occasion,) = derive(seq, {"r": DAY}, T0 + timedelta(hours=40))
    assert occasion.outcome == "missed"
    assert occasion.closed_at == T0 + timedelta(hours=24)


def test_withdrawn_when_the_situation_stops_holding():
    seq = [obs("e1", 0, True, True, ("Outcome__c",)), obs("e2", 2, False, False, ("Outcome__c",))]
    assert outcomes(seq, 30) == [("withdrawn", None)]


def test_no_deadline_means_open_forever():
    seq = [obs("e1", 0, True, True, ("Outcome__c",))]
    assert outcomes(seq, 24 * 365, within=None) == [("open", None)]


def test_one_open_occasion_per_rule_and_record():
    seq = [
        obs("e1", 0, True, True, ("A",)),
        obs("e2", 1, False, True, ("A",)),
        obs("e3", 2, True, True, ("A",)),  # the if holds again while one is open: no second one
    ]
    assert len(derive(seq, {"r": None}, T0 + timedelta(hours=3))) == 1


def test_a_new_occasion_needs_the_if_to_become_true_again():
    seq = [
        obs("e1", 0, True, True),
        obs("e2", 1, True, True),  # still holding, not newly: no new occasion
        obs("e3", 2, False, True),
        obs("e4", 3, True, True, ("A",)),
    ]
    assert outcomes(seq, 4) == [("met_first_time", None), ("open", None)]


def test_duplicates_and_reordering_give_the_same_occasions():
    seq = [
        obs("e1", 0, True, True, ("A", "B")),
        obs("e2", 2, False, True, ("B",)),
        obs("e3", 5, False, True),
        obs("e4", 30, False, False),
        obs("e5", 31, True, True, ("A",)),
    ]
    expected = derive(seq, {"r": DAY}, T0 + timedelta(days=3))
    assert [o.outcome for o in expected] == ["met_after_prompt", "missed"]
    rng = random.Random(7)
    for _ in range(50):
        shuffled = seq + rng.sample(seq, 3)
        rng.shuffle(shuffled)
        assert derive(shuffled, {"r": DAY}, T0 + timedelta(days=3)) == expected


def test_events_after_as_of_are_not_seen():
    seq = [obs("e1", 0, True, True, ("A",)), obs("e2", 10, False, True)]
    assert outcomes(seq, 5) == [("open", None)]


def test_fields_missing_are_those_empty_at_opening():
    seq = [obs("e1", 0, True, True, ("A", "B")), obs("e2", 1, False, True, ("B",))]
    (occasion,) = derive(seq, {"r": None}, T0 + timedelta(hours=2))
    assert occasion.fields_missing == ("A", "B")
    assert occasion.owner == "005A"
