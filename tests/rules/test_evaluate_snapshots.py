"""evaluate() with the previous snapshot: the network reads the event's state and the snapshot in
one pass and keeps what it read of recent states; the Decisions must be those of the plain
reading, where the snapshot goes through every rule on its own (as before that change)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile.rules import RecordEvent, evaluate, load_text
from lastmile.rules.conditions import holds
from lastmile.rules.engine import Entry
from lastmile.rules.ruleset import network_entries

FIELDS = ("A", "B", "C")
VALUES = [None, "", " ", "x", "y", "n/a", 1, 2.0, True, False]
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


class PlainReading:
    """The network's job done with conditions.holds(), the snapshot read as its own event (an
    update with nothing changed) against every rule, as evaluate() did before the one pass."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries

    def _names(self, obj: str, kind: str, fields: Any, changed: frozenset[str]) -> set[str]:
        return {
            e.name
            for e in self.entries
            if e.object == obj and kind in e.kinds and holds(e.condition, fields, changed)
        }

    def match_with_previous(
        self, obj: str, kind: str, fields: Any, changed: frozenset[str], previous: Any
    ) -> tuple[set[str], set[str]]:
        before = set() if previous is None else self._names(obj, "updated", previous, frozenset())
        return self._names(obj, kind, fields, changed), before


leaves = st.one_of(
    st.builds(lambda f, v: {f: v}, st.sampled_from(FIELDS), st.sampled_from(VALUES)),
    st.builds(
        lambda f, vs: {f: {"in": vs}},
        st.sampled_from(FIELDS),
        st.lists(st.sampled_from(VALUES), min_size=1, max_size=3),
    ),
    st.builds(lambda f, b: {f: {"empty": b}}, st.sampled_from(FIELDS), st.booleans()),
    st.builds(lambda f, n: {f: {"gt": n}}, st.sampled_from(FIELDS), st.sampled_from([0, 1.5])),
    st.builds(lambda f: {f: {"contains": "x"}}, st.sampled_from(FIELDS)),
    st.builds(lambda f: {"changed": f}, st.sampled_from(FIELDS)),
)
conditions = st.one_of(
    leaves,
    st.builds(lambda c: {"not": c}, leaves),
    st.builds(lambda cs: {"all": cs}, st.lists(leaves, min_size=1, max_size=3)),
    st.builds(lambda cs: {"any": cs}, st.lists(leaves, min_size=1, max_size=3)),
)


@st.composite
def rules(draw: st.DrawFn, index: int) -> dict[str, Any]:
    then: dict[str, Any] = {}
    if draw(st.booleans()):
        then["require"] = draw(st.lists(st.sampled_from([*FIELDS, "D"]), min_size=1, unique=True))
    if draw(st.booleans()):
        then["prompt"] = "Fill in {missing}."
    if draw(st.booleans()):
        then["default"] = {draw(st.sampled_from([*FIELDS, "D"])): "filled"}
    if draw(st.booleans()):
        then["task"] = {"subject": "Follow up {A}", "due_in": "1d"}
    when: dict[str, Any] = {"all": draw(st.lists(conditions, min_size=1, max_size=2))}
    if draw(st.booleans()):
        when["on"] = draw(
            st.lists(st.sampled_from(["created", "updated", "deleted"]), min_size=1, unique=True)
        )
    obj = draw(st.sampled_from(["Task", "Task", "Lead"]))
    return {"id": f"r{index}", "object": obj, "if": when, "then": then or {"prompt": "Look."}}


@st.composite
def packs(draw: st.DrawFn) -> str:
    count = draw(st.integers(min_value=1, max_value=6))
    body = {"pack": "p", "placeholders": ["n/a"], "rules": [draw(rules(i)) for i in range(count)]}
    return json.dumps(body)  # JSON is YAML


records = st.dictionaries(st.sampled_from([*FIELDS, "D"]), st.sampled_from(VALUES))
# A record's saves: each is (kind, fields, changed listed or derived, snapshot). The snapshot is
# mostly the state the save before left (a state the network read just before), sometimes one it
# never read, sometimes none.
saves = st.lists(
    st.tuples(
        st.sampled_from(["created", "updated", "updated", "deleted"]),
        st.sampled_from(["Task", "Lead"]),
        records,
        st.one_of(st.none(), st.lists(st.sampled_from(FIELDS), unique=True).map(tuple)),
        st.sampled_from(["last", "last", "other", "none"]),
        records,
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pack=packs(), history=saves)
def test_one_pass_decides_as_the_plain_reading(pack: str, history: list) -> None:
    ruleset = load_text(pack)
    plain = replace(ruleset, network=PlainReading(network_entries(ruleset.rules)))
    last: dict[str, Any] | None = None
    for i, (kind, obj, fields, changed, snapshot, other) in enumerate(history):
        previous = {"last": last, "other": other, "none": None}[snapshot]
        event = RecordEvent(
            id=f"e{i}",
            object=obj,
            record_id="00T1",
            kind=kind,
            occurred_at=T0 + timedelta(minutes=i),
            fields=fields,
            changed=changed,
        )
        for as_live in (False, True):
            got = evaluate(ruleset, event, previous, as_live=as_live)
            want = evaluate(plain, event, previous, as_live=as_live)
            assert got == want, (pack, event, previous)
        last = fields


def test_a_snapshot_read_just_before_is_not_read_again() -> None:
    """The second save's snapshot is the state the first left: its situations are known."""
    ruleset = load_text(
        "pack: p\nrules:\n  - id: r\n    object: Task\n    if: {all: [{A: 1}]}\n"
        "    then: {require: [B]}\n"
    )
    first = RecordEvent(
        id="e1", object="Task", record_id="1", kind="updated", occurred_at=T0, fields={"A": 1}
    )
    assert evaluate(ruleset, first, {"A": 2}).prompts  # the situation begins: prompt
    network = ruleset.network
    reads: list[str] = []
    for chunk in network._chunks["Task"]:
        original = chunk.match

        def counting(facts: list, now: set, before: set, original: Any = original) -> None:
            reads.extend(f.id for f in facts)
            original(facts, now, before)

        chunk.match = counting  # type: ignore[method-assign]
    second = first.model_copy(update={"id": "e2", "fields": {"A": 1, "B": None}})
    decision = evaluate(ruleset, second, {"A": 1})
    assert decision.prompts == [] and decision.situation == ["r"]  # shown before, still shown
    assert reads == ["r"]  # the event's state only; the snapshot's was kept
    third = first.model_copy(update={"id": "e3", "fields": {"A": 3, "B": None}})
    assert evaluate(ruleset, third, {"A": 5}).cleared == []  # never held: nothing to clear
    assert reads == ["r", "r", "p"]  # a state never read goes through the network
