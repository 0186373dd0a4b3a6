"""The prompt budget (issue 19): a person sees at most so many prompts at once across records,
a record at most so many; the higher `priority` wins; the rest are held back, recorded on their
occasions as `suppressed`, counted in the indicators, and shown once there is room."""

from __future__ import annotations

from datetime import timedelta

from fakes import PERSON, event

from lastmile.deadlines import run_deadlines
from lastmile.measure import indicators
from lastmile.rules import load_text
from lastmile.settings import Settings
from lastmile.worker.prompts import allot, prompt_text, slots

PF = "Lastmile_Prompt__c"
OTHER_PERSON = "0057Q000001AbcdQAC"

RULES = """
pack: budget
locale: en
rules:
  - id: notes
    object: Opportunity
    if: {all: [{StageName: Proposal}]}
    then: {require: [Description], prompt: "Write the notes."}
  - id: amount
    object: Opportunity
    priority: 10
    if: {all: [{StageName: Proposal}]}
    then: {require: [Amount], prompt: "Fill in the amount."}
  - id: close-date
    object: Opportunity
    if: {all: [{StageName: Proposal}]}
    then: {require: [CloseDate], prompt: "Fill in the close date."}
"""

PROPOSAL = {"StageName": "Proposal", "Description": None, "Amount": None, "CloseDate": None}


def opp(n: int) -> str:
    return f"0067Q00000Bud{n:03d}AAA"[:18]


def test_the_ranking_puts_priority_first_then_file_order() -> None:
    rules = load_text(RULES, "budget.yaml")
    wanted = {"close-date": "c", "notes": "n", "amount": "a"}
    assert allot(wanted, rules, 2) == ({"amount": "a", "notes": "n"}, {"close-date": "c"})
    assert allot(wanted, rules, 0) == ({}, wanted)
    assert allot(wanted, rules, None) == (wanted, {})
    assert prompt_text(wanted, rules) == "a\nn\nc"  # the field lists them in rank order
    assert slots(3, 5, None) == 3  # no owner: the record's cap alone
    assert slots(3, 5, 4) == 1 and slots(3, 5, 7) == 0 and slots(3, 5, 0) == 3


def _settings(settings: Settings, **given: int) -> Settings:
    return settings.model_copy(update=given)


def _process(store, crm, clock, worker, eid: str, minutes: float, record: str, **fields):
    ev = event(eid, minutes, record_id=record, **fields)
    if (ev.object, record) in crm.records:
        crm.edit(ev.object, record, ev.occurred_at, **fields)
    else:
        crm.seed(ev.object, record, ev.occurred_at, **fields)
    ((inbox_id, _),) = store.add([ev])
    clock.advance(minutes=1)
    return worker.process_event(inbox_id)


def test_a_record_shows_its_best_ranked_prompts_and_holds_the_rest(
    store, crm, clock, make_worker, settings
):
    rules = load_text(RULES, "budget.yaml")
    worker = make_worker(rules, settings=_settings(settings, max_prompts_per_record=2))
    _process(store, crm, clock, worker, "e1", 0, opp(1), OwnerId=PERSON, **PROPOSAL)
    assert crm.fields("Opportunity", opp(1))[PF] == "Fill in the amount.\nWrite the notes."
    snap = store.snapshot("Opportunity", opp(1))
    assert snap.held == {"close-date": "Fill in the close date."}
    held = [o for o in store.observations() if o.suppressed]
    assert [o.rule for o in held] == ["close-date"]
    # The amount is filled in: its prompt goes and the held one takes its place.
    _process(
        store, crm, clock, worker, "e2", 5, opp(1), OwnerId=PERSON, **{**PROPOSAL, "Amount": 10}
    )
    assert crm.fields("Opportunity", opp(1))[PF] == "Write the notes.\nFill in the close date."
    assert store.snapshot("Opportunity", opp(1)).held == {}


def test_a_person_has_a_budget_across_records_and_held_prompts_show_when_room_frees(
    store, crm, clock, make_worker, settings, tmp_path
):
    rules = load_text(RULES, "budget.yaml")
    tight = _settings(settings, max_prompts_per_person=4, max_prompts_per_record=3)
    worker = make_worker(rules, settings=tight)
    _process(store, crm, clock, worker, "a1", 0, opp(1), OwnerId=PERSON, **PROPOSAL)
    _process(store, crm, clock, worker, "b1", 1, opp(2), OwnerId=PERSON, **PROPOSAL)
    # Someone else's record is not in this person's budget.
    _process(store, crm, clock, worker, "c1", 2, opp(3), OwnerId=OTHER_PERSON, **PROPOSAL)
    assert crm.fields("Opportunity", opp(1))[PF].count("\n") == 2  # three prompts
    assert crm.fields("Opportunity", opp(2))[PF] == "Fill in the amount."  # one left of four
    assert crm.fields("Opportunity", opp(3))[PF].count("\n") == 2
    assert store.snapshot("Opportunity", opp(2)).held == {
        "notes": "Write the notes.",
        "close-date": "Fill in the close date.",
    }
    now = clock.at
    figures = indicators(store, rules, tight, now)
    assert {r["rule"]: r["suppressed"] for r in figures["rules"]} == {
        "notes": 1,
        "amount": 0,
        "close-date": 1,
    }
    # Nothing frees up: a deadline run releases nothing and writes nothing.
    applies = len(crm.applies)
    assert run_deadlines(store, rules, crm, tight, now)["prompts_released"] == 0
    assert len(crm.applies) == applies

    # On the first record the person fills in the notes and the amount: two prompts go.
    done = {**PROPOSAL, "Description": "talked", "Amount": 10}
    _process(store, crm, clock, worker, "a2", 10, opp(1), OwnerId=PERSON, **done)
    assert crm.fields("Opportunity", opp(1))[PF] == "Fill in the close date."
    # The next deadline run shows the held prompts of the second record, in rank order.
    assert run_deadlines(store, rules, crm, tight, clock.at)["prompts_released"] == 2
    assert crm.fields("Opportunity", opp(2))[PF] == (
        "Fill in the amount.\nWrite the notes.\nFill in the close date."
    )
    snap = store.snapshot("Opportunity", opp(2))
    assert snap.held == {} and len(snap.prompts) == 3
    # Released, the occasions stay counted as suppressed: the prompt came late.
    figures = indicators(store, rules, tight, clock.at)
    assert sum(r["suppressed"] for r in figures["rules"]) == 2
    assert run_deadlines(store, rules, crm, tight, clock.at)["prompts_released"] == 0


def test_a_held_prompt_whose_occasion_closed_is_dropped_not_shown(
    store, crm, clock, make_worker, settings
):
    rules = load_text(RULES, "budget.yaml")
    tight = _settings(settings, max_prompts_per_person=1, max_prompts_per_record=3)
    worker = make_worker(rules, settings=tight)
    one = {**PROPOSAL, "Description": "x", "CloseDate": "2026-04-01"}  # amount only
    _process(store, crm, clock, worker, "a1", 0, opp(1), OwnerId=PERSON, **one)
    _process(store, crm, clock, worker, "b1", 1, opp(2), OwnerId=PERSON, **one)
    assert crm.fields("Opportunity", opp(2)).get(PF) is None
    assert store.snapshot("Opportunity", opp(2)).held == {"amount": "Fill in the amount."}
    # The second record's amount is filled in while its prompt waits: met, no prompt needed.
    _process(store, crm, clock, worker, "b2", 2, opp(2), OwnerId=PERSON, **{**one, "Amount": 5})
    assert store.snapshot("Opportunity", opp(2)).held == {}
    # The first record leaves the Proposal stage: room, but nothing held is still wanted.
    _process(
        store, crm, clock, worker, "a2", 3, opp(1), OwnerId=PERSON, **{**one, "StageName": "Won"}
    )
    applies = len(crm.applies)
    assert (
        run_deadlines(store, rules, crm, tight, clock.at + timedelta(minutes=1))["prompts_released"]
        == 0
    )
    assert len(crm.applies) == applies


TIMED = RULES.replace(
    'then: {require: [Amount], prompt: "Fill in the amount."}',
    'then: {require: [Amount], prompt: "Fill in the amount.", within: 1h}',
)


def test_a_held_prompt_whose_deadline_passed_never_shows(store, crm, clock, make_worker, settings):
    rules = load_text(TIMED, "budget.yaml")
    tight = _settings(settings, max_prompts_per_person=1, max_prompts_per_record=3)
    worker = make_worker(rules, settings=tight)
    one = {**PROPOSAL, "Description": "x", "CloseDate": "2026-04-01"}  # amount only
    _process(store, crm, clock, worker, "a1", 0, opp(1), OwnerId=PERSON, **one)
    _process(store, crm, clock, worker, "b1", 1, opp(2), OwnerId=PERSON, **one)
    assert store.snapshot("Opportunity", opp(2)).held == {"amount": "Fill in the amount."}
    # Two hours on, both deadlines passed: the shown prompt is cleared, the held one dropped;
    # the room that frees up is not given to a prompt whose occasion is missed.
    counts = run_deadlines(store, rules, crm, tight, clock.at + timedelta(hours=2))
    assert counts["prompts_cleared"] == 1 and counts["prompts_released"] == 0
    assert crm.fields("Opportunity", opp(1))[PF] is None
    assert crm.fields("Opportunity", opp(2)).get(PF) is None
    snap = store.snapshot("Opportunity", opp(2))
    assert snap.held == {} and snap.prompts == {}
