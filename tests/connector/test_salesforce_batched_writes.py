"""Several WriteBacks in one `apply` (a burst's batch) against the sandbox over real HTTPS:
conditional record updates share Composite calls (25 a call, each with its own
If-Unmodified-Since), tasks share one upsert collection, and one record's conflict or failure
stays that record's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from lastmile.connector.base import TaskWrite, TransientError, WriteBack

PROMPT = "Lastmile_Prompt__c"


def task(record_id: str, key: str) -> TaskWrite:
    return TaskWrite(key=key, subject=f"Follow-up {key}", due=date(2026, 12, 1), what_id=record_id)


def our_tasks(sandbox) -> dict[str, dict]:
    return {
        t["Lastmile_Key__c"]: t for t in sandbox.store.records("Task") if t.get("Lastmile_Key__c")
    }


@pytest.fixture
def records(opportunity):
    return [opportunity(Name=f"Deal {n}") for n in range(60)]


def test_sixty_conditional_writes_with_tasks_take_three_composites_and_one_upsert(
    connector, sandbox, records
):
    since = datetime.now(UTC) + timedelta(seconds=5)  # a condition that holds
    writes = [
        WriteBack(
            "Opportunity",
            rid,
            {PROMPT: f"prompt {n}"},
            tasks=(task(rid, f"rule:{n}"),) if n % 2 == 0 else (),
            if_unmodified_since=since,
        )
        for n, rid in enumerate(records)
    ]
    calls = sandbox.api_calls

    results = connector.apply(writes)

    assert sandbox.api_calls - calls == 3 + 1  # 25 + 25 + 10 record updates; 30 tasks
    assert [r.status for r in results] == ["applied"] * 60
    assert [r.record_id for r in results] == records
    stored = our_tasks(sandbox)
    assert sorted(stored) == sorted(f"rule:{n}" for n in range(0, 60, 2))
    assert results[0].task_ids == {"rule:0": stored["rule:0"]["Id"]}
    assert stored["rule:58"]["WhatId"] == records[58]
    for n in (0, 24, 25, 59):
        assert sandbox.org.get("Opportunity", records[n])[PROMPT] == f"prompt {n}"

    # the same batch again: the tasks are updated, never doubled
    again = connector.apply(
        [WriteBack(w.object, w.record_id, tasks=w.tasks) for w in writes if w.tasks]
    )
    assert [r.status for r in again] == ["applied"] * 30
    assert len(our_tasks(sandbox)) == 30


def test_a_conflict_refuses_that_record_and_its_task_only(connector, sandbox, records):
    first, changed, third = records[:3]
    seen = datetime.now(UTC)
    # a person saves the second record after the events were seen
    later = sandbox.org.clock
    sandbox.org.clock = lambda: later() + timedelta(seconds=30)
    sandbox.save_as(sandbox.sales_user_id, "Opportunity", {"NextStep": "Call"}, record_id=changed)
    sandbox.org.clock = later
    writes = [
        WriteBack("Opportunity", rid, {PROMPT: "p"}, (task(rid, f"k{n}"),), seen)
        for n, rid in enumerate((first, changed, third))
    ]
    calls = sandbox.api_calls

    results = connector.apply(writes)

    assert [r.status for r in results] == ["applied", "conflict", "applied"]
    assert sandbox.api_calls - calls == 2  # one Composite, one task upsert
    assert sorted(our_tasks(sandbox)) == ["k0", "k2"]
    assert sandbox.org.get("Opportunity", changed)[PROMPT] is None
    assert sandbox.org.get("Opportunity", changed)["NextStep"] == "Call"


def test_a_failing_record_or_task_fails_alone(connector, sandbox, records):
    since = datetime.now(UTC) + timedelta(seconds=5)
    bad_task = TaskWrite(key="bad", subject="x", due=date(2026, 12, 1), owner="not-an-id")
    writes = [
        WriteBack("Opportunity", records[0], {"Nope__c": 1}, (task(records[0], "k0"),), since),
        WriteBack("Opportunity", records[1], {PROMPT: "fine"}, (task(records[1], "k1"),), since),
        WriteBack("Opportunity", records[2], {PROMPT: "fine"}, (bad_task,), since),
        WriteBack("Opportunity", records[3], {PROMPT: "no condition"}),
    ]

    results = connector.apply(writes)

    assert [r.status for r in results] == ["failed", "applied", "failed", "applied"]
    assert results[0].problems[0].code == "INVALID_FIELD"
    assert results[2].problems[0].code == "MALFORMED_ID" and results[2].task_ids == {}
    assert sorted(our_tasks(sandbox)) == ["k1"]  # none for the refused record
    assert sandbox.org.get("Opportunity", records[2])[PROMPT] == "fine"  # not all-or-none
    assert sandbox.org.get("Opportunity", records[3])[PROMPT] == "no condition"


def test_locked_rows_are_sent_again_and_nothing_twice(connector, sandbox, records, sleeps):
    since = datetime.now(UTC) + timedelta(seconds=5)
    writes = [
        WriteBack("Opportunity", rid, {PROMPT: f"p{n}"}, (task(rid, f"k{n}"),), since)
        for n, rid in enumerate(records[:20])
    ]
    sandbox.faults.set(lock_share=0.3, seed=7)
    try:
        results = connector.apply(writes)
    finally:
        sandbox.faults.clear()

    assert [r.status for r in results] == ["applied"] * 20
    assert sleeps  # the locked parts waited before going again
    assert sorted(our_tasks(sandbox)) == sorted(f"k{n}" for n in range(20))
    for n, rid in enumerate(records[:20]):
        assert sandbox.org.get("Opportunity", rid)[PROMPT] == f"p{n}"


def test_rows_that_stay_locked_end_in_a_transient_error(make_connector, sandbox, records):
    connector = make_connector(attempts=2)
    since = datetime.now(UTC) + timedelta(seconds=5)
    writes = [WriteBack("Opportunity", rid, {PROMPT: "p"}, (), since) for rid in records[:3]]
    sandbox.faults.set(lock_share=1.0)
    try:
        with pytest.raises(TransientError, match="locked"):
            connector.apply(writes)
    finally:
        sandbox.faults.clear()
