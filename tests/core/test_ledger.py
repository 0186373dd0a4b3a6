"""The ledger is the same whatever order and how often the events arrive."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from fakes import OPP, PERSON, FakeCrm, event

from lastmile.rules.occasions import Observation, derive
from lastmile.store import Store

T1, T2 = "00T7Q00000Lm3aBUAR", "00T7Q00000Lm3bCUAR"
CALL = {"Type": "Call", "Subject": "Hypotheekgesprek", "OwnerId": PERSON, "WhatId": OPP}


def _complete(ruleset, obj: str, fields: dict) -> dict:
    """Every field the rules read, empty unless given: the events need no CRM read."""
    return {**dict.fromkeys(sorted(ruleset.fields(obj) - {"Id"})), **fields}


def scenario(ruleset):
    """Three records, nine events; `changed` is left out, so it is derived from snapshots."""
    task = lambda eid, m, rid, kind="updated", **f: event(  # noqa: E731
        eid, m, object="Task", record_id=rid, kind=kind, **_complete(ruleset, "Task", f)
    )
    opp = lambda eid, m, kind="updated", **f: event(  # noqa: E731
        eid, m, kind=kind, **_complete(ruleset, "Opportunity", {"OwnerId": PERSON, **f})
    )
    return [
        task("t1a", 0, T1, "created", **CALL, Status="In Progress"),
        task("t1b", 10, T1, **CALL, Status="Completed", Description="Besproken"),
        task("t1c", 30, T1, **CALL, Status="Completed", Description="Besproken",
             Outcome__c="Interested", Next_Step__c="Offerte"),
        task("t1d", 45, T1, **CALL, Status="Completed", Description="Besproken, offerte volgt",
             Outcome__c="Interested", Next_Step__c="Offerte"),
        task("t2a", 5, T2, "created", **CALL, Status="Completed", Outcome__c="No answer"),
        task("t2b", 50, T2, **CALL, Status="Completed", Outcome__c="Voicemail"),
        opp("o1", 0, "created", Name="Jansen", StageName="Prospecting"),
        opp("o2", 20, Name="Jansen", StageName="Proposal", LeadSource="Phone", Probability=10),
        opp("o3", 40, Name="Jansen", StageName="Proposal", LeadSource="Phone", Probability=10,
            Amount=385000, CloseDate="2026-03-31"),
    ]  # fmt: skip


def _crm(clock, events) -> FakeCrm:
    """The CRM as it stands after the last event of each record."""
    crm = FakeCrm(clock)
    for ev in sorted(events, key=lambda e: e.occurred_at):
        crm.seed(ev.object, ev.record_id, ev.occurred_at, **ev.fields)
    clock.advance(minutes=60)
    return crm


def _ledger(store: Store):
    observations = sorted(
        (o.event_id, o.rule, o.occurred_at, o.matched, o.situation, o.missing, o.owner)
        for o in store.observations()
    )
    defaults = sorted((d.event_id, d.rule, d.field, d.value) for d in store.defaults_applied())
    tasks = sorted((t.key, t.rule, t.due) for t in store.tasks())
    return observations, defaults, tasks


@pytest.fixture
def run(tmp_path, clock, make_worker, example_rules):
    stores: list[Store] = []

    def run_one(batches, order=None):
        """Add each batch (a list of events, one `add` call), then process the ids."""
        store = Store(f"sqlite:///{tmp_path / f'ledger{len(stores)}.db'}")
        store.upgrade()
        stores.append(store)
        events = [ev for batch in batches for ev in batch]
        crm = _crm(clock, events)
        worker = make_worker(store=store, connector=crm)
        ids: list[int] = []
        for batch in batches:
            ids += [i for i, new in store.add(batch) if new]
            for inbox_id in order(ids) if order else ids:
                worker.process_event(inbox_id)
        return store, crm

    yield run_one
    for store in stores:
        store.close()


def test_the_ledger_is_the_same_for_shuffled_and_duplicated_deliveries(run, example_rules):
    events = scenario(example_rules)
    in_order = sorted(events, key=lambda e: e.occurred_at)
    baseline, _ = run([in_order])
    expected = _ledger(baseline)
    assert expected[0] and expected[1] and expected[2]  # every kind of row is exercised
    for seed in range(3):
        rng = random.Random(seed)
        shuffled = [*events, *rng.sample(events, 4)]  # four delivered twice
        rng.shuffle(shuffled)
        store, _ = run([shuffled], order=lambda ids, rng=rng: rng.sample(ids, len(ids)))
        assert _ledger(store) == expected, f"seed {seed}"


def test_a_redelivery_after_processing_leaves_the_ledger_alone(run, example_rules):
    events = sorted(scenario(example_rules), key=lambda e: e.occurred_at)
    store, _ = run([events])
    expected = _ledger(store)
    assert all(not new for _, new in store.add(events))
    assert _ledger(store) == expected


def test_late_events_give_the_observations_of_an_orderly_stream(run, example_rules):
    events = sorted(scenario(example_rules), key=lambda e: e.occurred_at)
    baseline, _ = run([events])
    # These arrive after the events that followed them were processed. Whether t1c completed
    # the call depends on the event before it (its `changed` is derived), and o2's observations
    # and o3's depend on each other.
    late_ids = {"t1c", "o2"}
    first = [e for e in events if e.id not in late_ids]
    then = [e for e in events if e.id in late_ids]
    store, _ = run([first, then])
    assert _ledger(store)[0] == _ledger(baseline)[0]
    late = [r for r in store.list_events() if r.event_id in late_ids]
    assert {r.outcome for r in late} == {"late"}
    # a late event causes no write of its own
    assert all(w.key.split(":")[-1] not in late_ids for w in store.tasks())


def test_occasions_derived_from_the_ledger(run, example_rules, clock):
    events = sorted(scenario(example_rules), key=lambda e: e.occurred_at)
    store, _ = run([events])
    within = {item.id: item.rule.then.within for item in example_rules.rules}
    found = {}
    for record in (T1, T2, OPP):
        observations = [
            Observation(
                o.event_id, o.occurred_at, o.rule, o.matched, o.situation, o.missing, o.owner
            )
            for o in store.observations(record_id=record)
        ]
        as_of = events[0].occurred_at + timedelta(hours=2)
        for occasion in derive(observations, within, as_of):
            found[(record, occasion.rule)] = (occasion.outcome, occasion.time_to_comply_s)
    assert found == {
        (T1, "call-essentials"): ("met_after_prompt", 20 * 60.0),
        (OPP, "proposal-essentials"): ("met_after_prompt", 20 * 60.0),
    }
