"""Rule tests: events (or sequences of events on a virtual clock) and what the rules must decide."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from .conditions import suggest
from .evaluate import evaluate
from .loader import Catalog
from .occasions import Observation, derive, observe
from .records import Decision, FollowUpTask, RecordEvent, same_value
from .ruleset import RuleSet
from .schema import VIRTUAL_EPOCH, Expect, ExpectedTask, RuleTest, Step, TestEvent
from .templates import Duration

Status = Literal["passed", "failed", "todo", "fixed"]


@dataclass
class TestResult:
    """One test's outcome; `todo` failed as expected, `fixed` is a todo test that now passes."""

    name: str
    where: str
    status: Status
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def run_catalog(catalog: Catalog, name_filter: str | None = None) -> list[TestResult]:
    """Run every test: a pack's own tests against that pack, `*.test.yaml` against everything."""
    results: list[TestResult] = []
    for pf in catalog.packs:
        if not pf.pack.tests:
            continue
        own = RuleSet.build([(pf.pack, pf.sources)], catalog.ruleset.version)
        for test, line in zip(pf.pack.tests, pf.test_lines, strict=True):
            if name_filter is None or name_filter in test.name:
                results.append(run_test(own, test, f"{pf.path}:{line}"))
    for tf in catalog.test_files:
        for test, line in zip(tf.tests, tf.test_lines, strict=True):
            if name_filter is None or name_filter in test.name:
                results.append(run_test(catalog.ruleset, test, f"{tf.path}:{line}"))
    return results


def run_test(ruleset: RuleSet, test: RuleTest, where: str) -> TestResult:
    try:
        failures = list(_check(ruleset, test))
    except (ValueError, ValidationError) as exc:
        failures = [f"cannot build the test's events: {_short(exc)}"]
    if test.todo:
        status: Status = "todo" if failures else "fixed"
    else:
        status = "failed" if failures else "passed"
    return TestResult(test.name, where, status, failures)


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
    return str(exc)


def _moment(value: str | datetime, start: datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=start.tzinfo)
    try:
        return Duration.parse(value).after(start)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a duration after the start (2h, 1d) nor a time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=start.tzinfo)


def _sole_object(ruleset: RuleSet) -> str | None:
    objects = ruleset.objects
    return objects[0] if len(objects) == 1 else None


def _events(ruleset: RuleSet, test: RuleTest) -> Iterator[tuple[RecordEvent, Expect | None]]:
    steps = test.events if test.events is not None else [Step(event=test.event or TestEvent())]
    fields: dict[str, Any] = {}
    obj, record_id = _sole_object(ruleset), "TEST000000000001"
    for i, step in enumerate(steps, 1):
        ev = step.event
        if obj is None or i == 1:
            obj = ev.object or obj
        if obj is None:
            raise ValueError(
                f"event {i} names no object and the rules cover several; add 'object:'"
            )
        if i > 1 and ev.record_id not in (None, record_id):
            raise ValueError(f"event {i} is about another record; a sequence follows one record")
        if i > 1 and ev.object not in (None, obj):
            raise ValueError(f"event {i} is about another object; a sequence follows one record")
        record_id = ev.record_id or record_id
        when = ev.occurred_at or _moment(step.at, VIRTUAL_EPOCH)
        fields = {**fields, **ev.fields} if test.events is not None else dict(ev.fields)
        event = RecordEvent(
            id=ev.id or f"test-{i}",
            source=ev.source,
            object=obj,
            record_id=record_id,
            kind=ev.kind or "updated",
            occurred_at=when,
            actor=ev.actor,
            fields=fields,
            changed=tuple(ev.changed) if ev.changed is not None else None,
        )
        yield event, step.expect if test.events is not None else None


def _check(ruleset: RuleSet, test: RuleTest) -> Iterator[str]:
    yield from _unknown_rules(ruleset, test)
    previous: dict[str, Any] | None = None
    observations: list[Observation] = []
    last: tuple[RecordEvent, Decision] | None = None
    for i, (event, expect) in enumerate(_events(ruleset, test), 1):
        decision = evaluate(ruleset, event, previous)
        observations.extend(observe(ruleset, event, decision))
        if expect is not None:
            for failure in _compare(expect, event, decision):
                yield f"event {i}: {failure}"
            for failure in _compare_occasions(ruleset, expect, observations, event.occurred_at):
                yield f"event {i}: {failure}"
        previous, last = dict(event.fields), (event, decision)
    assert last is not None
    event, decision = last
    if test.expect is None:
        return
    yield from _compare(test.expect, event, decision)
    as_of = _moment(test.as_of, VIRTUAL_EPOCH) if test.as_of is not None else event.occurred_at
    yield from _compare_occasions(ruleset, test.expect, observations, as_of)


def _compare_occasions(
    ruleset: RuleSet, expect: Expect, observations: list[Observation], as_of: datetime
) -> Iterator[str]:
    if expect.occasions is None:
        return
    within = {r.id: r.rule.then.within for r in ruleset.rules}
    latest = {o.rule: o.outcome for o in derive(observations, within, as_of)}
    for rule, want in expect.occasions.items():
        got = latest.get(rule, "none")
        if got != want:
            yield f"occasion of {rule}: expected {want}, got {got}"


def _unknown_rules(ruleset: RuleSet, test: RuleTest) -> Iterator[str]:
    """Rule ids in expectations that no loaded rule has: a typo would otherwise pass silently."""
    known = [r.id for r in ruleset.rules]
    expects = [test.expect] + [s.expect for s in test.events or []]
    named: set[str] = set()
    for e in expects:
        if e is None:
            continue
        named.update(
            e.matched or [], e.missing or {}, e.prompts or {}, e.cleared or [], e.occasions or {}
        )
        named.update(t.rule for t in e.tasks or [] if t.rule)
    for rule in sorted(named - set(known)):
        yield f"expectation names rule '{rule}', which is not loaded{suggest(rule, known)}"


def _compare(expect: Expect, event: RecordEvent, decision: Decision) -> Iterator[str]:
    if expect.matched is not None and sorted(expect.matched) != sorted(decision.matched):
        yield f"matched: expected {sorted(expect.matched)}, got {sorted(decision.matched)}"
    if expect.missing is not None:
        want = {k: sorted(v) for k, v in expect.missing.items()}
        got = {k: sorted(v) for k, v in decision.missing.items()}
        if want != got:
            yield f"missing: expected {want}, got {got}"
    if expect.defaults is not None and not _same_map(expect.defaults, decision.defaults):
        yield f"defaults: expected {expect.defaults}, got {decision.defaults}"
    if expect.prompts is not None:
        got_prompts = {p.rule: p.text for p in decision.prompts}
        if expect.prompts != got_prompts:
            yield f"prompts: expected {expect.prompts}, got {got_prompts}"
    if expect.cleared is not None and sorted(expect.cleared) != sorted(decision.cleared):
        yield f"cleared: expected {sorted(expect.cleared)}, got {sorted(decision.cleared)}"
    if expect.tasks is not None:
        yield from _compare_tasks(expect.tasks, decision.tasks, event)


def _same_map(want: dict[str, Any], got: dict[str, Any]) -> bool:
    return want.keys() == got.keys() and all(same_value(want[k], got[k]) for k in want)


def _compare_tasks(
    want: list[ExpectedTask], got: list[FollowUpTask], event: RecordEvent
) -> Iterator[str]:
    if len(want) != len(got):
        yield f"tasks: expected {len(want)}, got {len(got)}: {[t.subject for t in got]}"
        return
    for i, (w, g) in enumerate(zip(want, got, strict=True), 1):
        actual = g.model_dump(mode="json")
        for key, value in w.model_dump(exclude_none=True).items():
            if key == "due":
                value = _due(value, event)
            if actual.get(key) != value:
                yield f"task {i} {key}: expected {value!r}, got {actual.get(key)!r}"


def _due(value: str, event: RecordEvent) -> str:
    """A task's expected due date: a date, or a duration after the event (`2 business days`)."""
    try:
        return Duration.parse(value).due_date(event.occurred_at).isoformat()
    except ValueError:
        return value
