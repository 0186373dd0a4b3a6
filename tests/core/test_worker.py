"""The worker against the in-memory CRM: exactly-once effects, conflicts, retries, prompts."""

from __future__ import annotations

from datetime import timedelta

import pytest
import structlog
from fakes import INTEGRATION, OPP, PERSON, event, permanent

from lastmile.connector.base import CrmProblem, LimitExceeded
from lastmile.metrics import REGISTRY
from lastmile.rules import load_text
from lastmile.worker import (
    APPLIED,
    DEAD,
    GONE,
    NOTHING,
    OWN_CHANGE,
    RETRY,
    SKIPPED,
    same_user,
    task_key,
)

PF = "Lastmile_Prompt__c"
WON = {"Name": "Hypotheek fam. Jansen", "StageName": "Closed Won", "NextStep": None}
NEW = {"Name": "Beleggen", "StageName": "Prospecting", "LeadSource": None, "Probability": None}
FULL = {"Amount": 385000, "CloseDate": "2026-03-31", "Product__c": "Investment"}


def stored(store, *events):
    return [inbox_id for inbox_id, _ in store.add(list(events))]


def seeded(crm, ev, **extra):
    """The CRM record as the person saved it in `ev` (plus fields the event did not carry)."""
    crm.seed(ev.object, ev.record_id, ev.occurred_at, **{**extra, **ev.fields})
    return ev


def test_processing_twice_writes_once(store, crm, clock, make_worker):
    ev = seeded(crm, event("e1", kind="created", OwnerId=PERSON, **NEW, **FULL))
    (inbox_id,) = stored(store, ev)
    clock.advance(2)
    worker = make_worker()
    assert worker.process_event(inbox_id) == APPLIED
    assert worker.process_event(inbox_id) == SKIPPED
    assert crm.updates == [("Opportunity", OPP, {"LeadSource": "Phone", "Probability": 10})]
    row = store.get(inbox_id)
    assert (row.status, row.outcome, row.attempts) == ("done", APPLIED, 1)
    assert [(d.rule, d.field, d.value) for d in store.defaults_applied()] == [
        ("new-opportunity-defaults", "LeadSource", "Phone"),
        ("new-opportunity-defaults", "Probability", 10),
    ]


def test_processing_is_counted_in_the_metrics(store, crm, clock, make_worker):
    def count(outcome):
        value = REGISTRY.get_sample_value(
            "lastmile_events_processed_total", {"source": "salesforce", "outcome": outcome}
        )
        return value or 0.0

    def firings(rule):
        return REGISTRY.get_sample_value("lastmile_rule_firings_total", {"rule": rule}) or 0.0

    before = count("applied"), firings("new-opportunity-defaults")
    ev = seeded(crm, event("e1", kind="created", OwnerId=PERSON, **NEW, **FULL))
    make_worker().process_event(stored(store, ev)[0])
    assert (count("applied"), firings("new-opportunity-defaults")) == (before[0] + 1, before[1] + 1)


def test_a_redelivered_event_adds_nothing_and_writes_nothing(store, crm, clock, make_worker):
    ev = seeded(crm, event("e1", kind="created", OwnerId=PERSON, **NEW, **FULL))
    ((first, new),) = store.add([ev])
    assert new
    clock.advance(2)
    worker = make_worker()
    worker.process_event(first)
    assert store.add([ev, ev]) == [(first, False), (first, False)]
    assert worker.process_event(first) == SKIPPED
    assert store.due(clock(), 10) == []
    assert len(crm.updates) == 1 and len(crm.applies) == 1


def test_a_412_rereads_and_reevaluates_on_the_fresh_values(store, crm, clock, make_worker):
    ev = seeded(crm, event("e1", changed=["StageName"], **WON, **FULL))
    edited = clock.advance(1)
    # Before the worker gets to it, the adviser fills the next step.
    crm.edit("Opportunity", OPP, edited, NextStep="Offerte naar de bank")
    (inbox_id,) = stored(store, ev)
    clock.advance(1)
    assert make_worker().process_event(inbox_id) == APPLIED
    assert crm.conflicts == 1
    # The re-read asked for what the rules need, the prompt field and the last-modified time.
    reread = crm.reads[-1][2]
    assert {"NextStep", "StageName", PF} <= set(reread)
    # Re-evaluated on the fresh values: no prompt is needed any more, so none is written; the
    # hand-over task is still created, once.
    assert crm.updates_of(PF) == []
    assert len(crm.tasks) == 1
    first, second = store.get_event(inbox_id).writes
    assert (first.status, second.status) == ("conflict", "applied")
    assert first.if_unmodified_since == ev.occurred_at
    assert second.if_unmodified_since == edited  # conditional on what was re-read
    snap = store.snapshot("Opportunity", OPP)
    assert snap.fields["NextStep"] is None  # the snapshot is the event, not the fresh read


def test_a_412_with_the_prompt_still_needed_writes_it_once(store, crm, clock, make_worker):
    ev = seeded(crm, event("e1", changed=["StageName"], **WON, **FULL))
    clock.advance(1)
    crm.edit("Opportunity", OPP, clock(), Description="unrelated edit")
    (inbox_id,) = stored(store, ev)
    clock.advance(1)
    assert make_worker().process_event(inbox_id) == APPLIED
    assert crm.conflicts == 1
    assert crm.updates_of(PF) == ["Vul nu in: Volgende stap."]


def test_the_integration_users_own_changes_cause_no_writes(store, crm, clock, make_worker):
    # 15-character form of the configured 18-character id
    ev = seeded(crm, event("e1", kind="created", actor=INTEGRATION[:15], **NEW, **FULL))
    (inbox_id,) = stored(store, ev)
    assert make_worker().process_event(inbox_id) == OWN_CHANGE
    assert crm.applies == []
    assert store.snapshot("Opportunity", OPP).fields["StageName"] == "Prospecting"
    assert {o.rule for o in store.observations()} == {"proposal-essentials", "closed-won-handover"}
    assert store.defaults_applied() == []


def test_the_echo_of_our_own_write_reads_nothing_from_the_crm(store, crm, clock, make_worker):
    # A person's save (every rule field on board), then the Outbound Message our write-back
    # causes, which carries only a few fields: what it lacks comes from the snapshot, not a read.
    first = seeded(
        crm, event("e1", kind="created", NextStep=None, Mortgage_Type__c=None, **NEW, **FULL)
    )
    (first_id,) = stored(store, first)
    make_worker().process_event(first_id)
    reads = len(crm.reads)
    echo = event("e2", 1, actor=INTEGRATION, StageName=NEW["StageName"])
    (echo_id,) = stored(store, echo)
    assert make_worker().process_event(echo_id) == OWN_CHANGE
    assert len(crm.reads) == reads
    assert store.snapshot("Opportunity", OPP).fields["StageName"] == NEW["StageName"]


def test_a_transient_failure_is_retried_later_and_then_succeeds(store, crm, clock, make_worker):
    # the event carries every field the rules read: no read, the write meets the failure
    ev = seeded(
        crm, event("e1", kind="created", NextStep=None, Mortgage_Type__c=None, **NEW, **FULL)
    )
    (inbox_id,) = stored(store, ev)
    crm.transient = 1
    worker = make_worker()
    assert worker.process_event(inbox_id) == RETRY
    row = store.get(inbox_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "TransientError" in row.last_error
    assert clock() + timedelta(seconds=1) <= row.next_attempt_at <= clock() + timedelta(seconds=2)
    assert worker.process_event(inbox_id) == SKIPPED  # not due yet
    clock.advance(60)
    assert store.due(clock(), 10) == [inbox_id]
    assert worker.process_event(inbox_id) == APPLIED
    assert len(crm.updates) == 1
    assert [w.status for w in store.get_event(inbox_id).writes] == ["error", "applied"]


def test_a_paused_crm_is_retried_no_sooner_than_it_says(store, crm, clock, make_worker):
    ev = seeded(
        crm, event("e1", kind="created", NextStep=None, Mortgage_Type__c=None, **NEW, **FULL)
    )
    (inbox_id,) = stored(store, ev)
    resume = clock() + timedelta(hours=3)

    def paused(writes):
        raise LimitExceeded("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.", resume)

    crm.apply = paused
    assert make_worker().process_event(inbox_id) == RETRY
    row = store.get(inbox_id)
    assert row.next_attempt_at == resume and row.last_error.startswith("LimitExceeded:")


def failing_rules():
    raise ValueError("an unexpected error, not the CRM's")


def test_backoff_grows_with_each_attempt(store, crm, clock, make_worker, settings):
    settings.max_attempts = 6
    ev = seeded(crm, event("e1", kind="created", **NEW, **FULL))
    (inbox_id,) = stored(store, ev)
    worker = make_worker(backoff_base=10, backoff_cap=60)
    worker.rules = failing_rules  # a CRM outage pauses instead (tests/core/test_outage.py)
    delays = []
    for _ in range(5):
        assert worker.process_event(inbox_id) == RETRY
        row = store.get(inbox_id)
        delays.append((row.next_attempt_at - clock()).total_seconds())
        clock.advance(seconds=delays[-1])
    # base 10 s doubling, capped at 60 s, each with up to half taken off as jitter
    for delay, ceiling in zip(delays, (10, 20, 40, 60, 60), strict=True):
        assert ceiling / 2 <= delay <= ceiling


def test_attempts_used_up_park_the_event_dead_and_replay_brings_it_back(
    store, crm, clock, make_worker
):
    ev = seeded(crm, event("e1", kind="created", **NEW, **FULL))
    (inbox_id,) = stored(store, ev)
    worker = make_worker()
    rules = worker.rules
    worker.rules = failing_rules  # attempts count for unexpected errors, not for CRM outages
    outcomes = []
    for _ in range(3):  # settings.max_attempts == 3
        outcomes.append(worker.process_event(inbox_id))
        clock.advance(3600)
    assert outcomes == [RETRY, RETRY, DEAD]
    row = store.get(inbox_id)
    assert (row.status, row.attempts) == ("dead", 3)
    assert "ValueError" in row.last_error and "after 3 attempts" in row.last_error
    assert worker.process_event(inbox_id) == SKIPPED
    worker.rules = rules
    assert store.replay(inbox_id)
    assert store.get(inbox_id).attempts == 0
    assert worker.process_event(inbox_id) == APPLIED
    assert store.get(inbox_id).status == "done"
    assert len(crm.updates) == 1


def test_a_permanent_crm_error_parks_the_event_dead_with_the_crms_code(
    store, crm, clock, make_worker
):
    ev = seeded(crm, event("e1", kind="created", **NEW, **FULL))
    (inbox_id,) = stored(store, ev)
    crm.refuse = CrmProblem("INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields")
    assert make_worker().process_event(inbox_id) == DEAD
    row = store.get(inbox_id)
    assert row.status == "dead" and row.attempts == 1
    assert row.last_error.startswith("INVALID_FIELD_FOR_INSERT_UPDATE: Unable to create")
    (write,) = store.get_event(inbox_id).writes
    assert (
        write.status == "failed" and write.problems[0]["code"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    )
    # the admin fixes the field's permissions, then replays
    crm.refuse = None
    assert store.replay(inbox_id)
    assert make_worker().process_event(inbox_id) == APPLIED


def test_a_permanent_error_on_the_read_parks_the_event_dead(store, crm, clock, make_worker):
    ev = event("e1", kind="created", **NEW)  # lacks fields: the worker reads them
    (inbox_id,) = stored(store, seeded(crm, ev, **FULL))
    crm.read_error = permanent("INVALID_FIELD", "No such column 'Product__c'")
    assert make_worker().process_event(inbox_id) == DEAD
    assert store.get(inbox_id).last_error.startswith("INVALID_FIELD: No such column")


def test_a_record_deleted_in_the_crm_is_recorded_without_writes(store, crm, clock, make_worker):
    (inbox_id,) = stored(store, event("e1", kind="created", **NEW))  # never seeded: gone
    assert make_worker().process_event(inbox_id) == GONE
    assert crm.applies == [] and store.get(inbox_id).status == "done"


def test_events_of_a_record_are_processed_in_occurred_order(store, crm, clock, make_worker):
    created = event("e1", 0, kind="created", OwnerId=PERSON, **NEW, **FULL)
    won = event("e2", 30, changed=["StageName"], OwnerId=PERSON, **{**NEW, **FULL, **WON})
    crm.seed("Opportunity", OPP, won.occurred_at, **won.fields)
    # the later event arrives first
    later_id, earlier_id = stored(store, won, created)
    clock.advance(minutes=40)
    worker = make_worker()
    assert worker.process_event(later_id) == APPLIED
    assert store.get(earlier_id).status == "done"  # processed first, on the way
    processed = {r.id: r.processed_at for r in store.list_events()}
    assert store.get(earlier_id).outcome != "late"
    assert processed[earlier_id] <= processed[later_id]
    assert store.snapshot("Opportunity", OPP).inbox_id == later_id
    assert worker.process_event(earlier_id) == SKIPPED


def test_a_later_event_waits_while_an_earlier_one_is_backing_off(store, crm, clock, make_worker):
    first = event("e1", 0, kind="created", **NEW, **FULL)
    second = seeded(crm, event("e2", 5, changed=["StageName"], **{**NEW, **FULL, **WON}))
    a, b = stored(store, first, second)
    crm.transient = 1
    worker = make_worker()
    assert worker.process_event(a) == RETRY
    assert worker.process_event(b) == "deferred"
    assert store.get(b).next_attempt_at == store.get(a).next_attempt_at
    clock.advance(3600)
    assert worker.process_event(b) == APPLIED
    assert [store.get(i).status for i in (a, b)] == ["done", "done"]


def test_missing_fields_are_fetched_with_one_read_and_named_in_a_hint(
    store, crm, clock, make_worker
):
    ev = event("e1", changed=["StageName"], Name="Hypotheek", StageName="Proposal")
    crm.seed("Opportunity", OPP, ev.occurred_at, **ev.fields, Amount=None, CloseDate="2026-05-01")
    (inbox_id,) = stored(store, ev)
    with structlog.testing.capture_logs() as logs:
        assert make_worker().process_event(inbox_id) == APPLIED
    assert len(crm.reads) == 1
    _, _, asked = crm.reads[0]
    assert {"Amount", "CloseDate"} <= set(asked) and not {"Name", "StageName"} & set(asked)
    # the fetched values took part: only Amount is missing, so the prompt names only it
    assert crm.updates_of(PF) == ["Offerte voor Hypotheek: vul Bedrag in, dan klopt de pijplijn."]
    hint = next(e for e in logs if "Outbound Message" in e["event"])
    assert "Amount" in hint["fields"]
    text = repr(logs)
    for value in ("Hypotheek", "2026-05-01", "Proposal", "Offerte"):
        assert value not in text  # names and ids in logs, never values


PROMPTS = """
pack: two-prompts
locale: en
rules:
  - id: a-amount
    object: Opportunity
    if: {all: [{StageName: Proposal}]}
    then: {require: [Amount], prompt: "Fill in the amount."}
  - id: b-close-date
    object: Opportunity
    if: {all: [{StageName: Proposal}]}
    then: {require: [CloseDate], prompt: "Fill in the close date."}
"""


def test_the_prompt_field_is_composed_rewritten_on_change_and_cleared(
    store, crm, clock, make_worker
):
    rules = load_text(PROMPTS, "two-prompts.yaml")
    worker = make_worker(rules)
    base = {"StageName": "Proposal", "Amount": None, "CloseDate": None}
    steps = [
        base,
        {**base, "Description": "talked"},  # same prompts: nothing written
        {**base, "CloseDate": "2026-04-01"},  # b met: only a's prompt stays
        {**base, "CloseDate": "2026-04-01", "Amount": 1000},  # both met: cleared
        {**base, "CloseDate": "2026-04-01", "Amount": 1000, "Description": "x"},
    ]
    for n, fields in enumerate(steps):
        ev = event(f"e{n}", n * 10, **fields)
        if n == 0:
            crm.seed("Opportunity", OPP, ev.occurred_at, **fields)
        else:
            crm.edit("Opportunity", OPP, ev.occurred_at, **fields)
        (inbox_id,) = stored(store, ev)
        clock.advance(minutes=10)
        worker.process_event(inbox_id)
    assert crm.updates_of(PF) == [
        "Fill in the amount.\nFill in the close date.",
        "Fill in the amount.",
        None,
    ]
    snap = store.snapshot("Opportunity", OPP)
    assert snap.prompts == {} and snap.prompt_value is None


def test_a_crash_between_write_and_commit_never_writes_twice(
    store, crm, clock, make_worker, monkeypatch
):
    ev = seeded(crm, event("e1", kind="created", OwnerId=PERSON, **{**NEW, **WON, **FULL}))
    (inbox_id,) = stored(store, ev)
    clock.advance(1)
    worker = make_worker()
    real_complete = store.complete

    def crash(*args, **kwargs):
        raise RuntimeError("the process died before its commit")

    monkeypatch.setattr(store, "complete", crash)
    with pytest.raises(RuntimeError):
        worker.process_event(inbox_id)
    assert len(crm.updates) == 1 and len(crm.tasks) == 1
    assert store.get(inbox_id).status == "running"
    monkeypatch.setattr(store, "complete", real_complete)
    assert worker.process_event(inbox_id) == SKIPPED  # still leased
    clock.advance(minutes=5)  # the lease ran out
    assert store.due(clock(), 10) == [inbox_id]
    assert worker.process_event(inbox_id) == APPLIED
    assert len(crm.updates) == 1  # the record was not written a second time
    assert len(crm.tasks) == 1  # the task upsert found its key
    assert {(d.field, d.value) for d in store.defaults_applied()} == {
        ("LeadSource", "Phone"),
        ("Probability", 10),
    }
    assert [t.rule for t in store.tasks()] == ["closed-won-handover"]
    assert store.snapshot("Opportunity", OPP).prompt_value == "Vul nu in: Volgende stap."


def test_a_deleted_record_gets_no_record_update(store, crm, clock, make_worker):
    (inbox_id,) = stored(store, event("e1", kind="deleted", **WON))
    assert make_worker().process_event(inbox_id) == NOTHING
    assert crm.applies == [] and crm.reads == []


def test_an_unexpected_error_is_retried_and_its_text_kept_out_of_the_inbox(
    store, crm, clock, make_worker
):
    def boom():
        raise ValueError("secret value Hypotheek")

    worker = make_worker()
    worker.rules = boom
    (inbox_id,) = stored(store, event("e1", kind="created", **NEW))
    assert worker.process_event(inbox_id) == RETRY
    error = store.get(inbox_id).last_error
    assert "ValueError" in error and "Hypotheek" not in error


def test_task_keys_stay_within_255_characters_and_distinct():
    short = task_key("rule", OPP, "sfom:04l000000000001")
    assert short == f"rule:{OPP}:sfom:04l000000000001"
    a, b = task_key("r" * 200, OPP, "e" * 100 + "1"), task_key("r" * 200, OPP, "e" * 100 + "2")
    assert len(a) == len(b) == 255 and a != b
    assert a == task_key("r" * 200, OPP, "e" * 100 + "1")


def test_15_and_18_character_user_ids_match():
    assert same_user("0057Q00000A1bCd", "0057Q00000A1bCdQAJ")
    assert same_user("0057Q00000A1bCdQAJ", "0057Q00000A1bCdQAJ")
    assert not same_user("0057Q00000A1bCe", "0057Q00000A1bCdQAJ")
    assert not same_user(None, "0057Q00000A1bCdQAJ") and not same_user("x", None)


def test_an_update_in_the_second_of_creation_is_not_a_second_creation(
    store, crm, clock, make_worker
):
    # Salesforce times are whole seconds: CreatedDate == LastModifiedDate on both saves, so
    # both arrive as `created`. The second must not count every field as changed again.
    call = {"Type": "Call", "Status": "Completed", "Outcome__c": "Interested", "Subject": "Renewal"}
    kw = {"object": "Task", "record_id": "00T7Q00000Lm3aBUAR", "kind": "created"}
    first = event("e1", **kw, **call, Description=None, Next_Step__c=None, OwnerId=PERSON)
    second = event("e2", **kw, **call, Description="Quote", Next_Step__c="Send", OwnerId=PERSON)
    crm.seed("Task", "00T7Q00000Lm3aBUAR", first.occurred_at, **second.fields)
    worker = make_worker()
    for inbox_id in stored(store, first, second):
        clock.advance(1)
        worker.process_event(inbox_id)
    assert [t.rule for t in store.tasks()] == ["follow-up-when-interested"]
    assert len(crm.tasks) == 1
    matched = {(o.event_id, o.rule): o.matched for o in store.observations()}
    assert matched[("e1", "call-essentials")] and not matched[("e2", "call-essentials")]
