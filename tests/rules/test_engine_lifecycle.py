"""The durable_rules network in a long-running process: threads, many events, many reloads."""

from __future__ import annotations

import gc
import threading
from datetime import UTC, datetime, timedelta

from lastmile.rules import RecordEvent, evaluate, load_text

PACK = """\
pack: calls
rules:
  - id: call-essentials
    object: Task
    if: {all: [{Type: Call}, {Status: Completed}, {changed: Status}]}
    then: {require: [Outcome__c]}
  - id: big-deal
    object: Opportunity
    if: {all: [{Amount: {gte: 100000}}]}
    then: {prompt: "Big deal: check the approval."}
"""
T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)


def event(i: int) -> RecordEvent:
    if i % 2:
        fields = {"Type": "Call" if i % 3 else "Email", "Status": "Completed", "Outcome__c": None}
        return RecordEvent(
            id=f"e{i}",
            object="Task",
            record_id=f"00T{i:015d}",
            kind="updated",
            occurred_at=T0 + timedelta(seconds=i),
            fields=fields,
            changed=("Status",),
        )
    return RecordEvent(
        id=f"e{i}",
        object="Opportunity",
        record_id=f"006{i:015d}",
        kind="updated",
        occurred_at=T0 + timedelta(seconds=i),
        fields={"Amount": i * 1000.0},
    )


def expected(i: int) -> list[str]:
    if i % 2:
        return ["call-essentials"] if i % 3 else []
    return ["big-deal"] if i * 1000 >= 100000 else []


def test_many_events_reuse_one_session():
    # durable_rules refuses a 1,025th session; evaluating far more events than that must work.
    ruleset = load_text(PACK)
    for i in range(3000):
        assert evaluate(ruleset, event(i)).matched == expected(i)


def test_a_dropped_ruleset_frees_its_network():
    # Hot reload builds a new rule set each time; the old network must not stay in the C engine.
    finalizers = []
    for _ in range(20):
        ruleset = load_text(PACK)
        assert evaluate(ruleset, event(1)).matched == ["call-essentials"]
        finalizers.append(ruleset.network._finalizer)
        del ruleset
    gc.collect()
    assert not any(f.alive for f in finalizers)


def test_concurrent_evaluation_gives_the_serial_answers():
    ruleset = load_text(PACK)
    errors: list[str] = []

    def work(offset: int) -> None:
        for i in range(offset, offset + 800):
            got = evaluate(ruleset, event(i)).matched
            if got != expected(i):
                errors.append(f"event {i}: {got} != {expected(i)}")

    threads = [threading.Thread(target=work, args=(n * 800,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_two_rulesets_side_by_side_do_not_mix():
    a = load_text(PACK)
    b = load_text(
        PACK.replace("gte: 100000", "gte: 5000000").replace("call-essentials", "call-facts")
    )
    assert evaluate(a, event(200)).matched == ["big-deal"]
    assert evaluate(b, event(200)).matched == []
    assert evaluate(b, event(1)).matched == ["call-facts"]
