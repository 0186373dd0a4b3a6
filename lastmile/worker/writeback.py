"""From a Decision to the CRM: the prompt field, task keys, and the conditional write with its
re-read and re-evaluation when the record changed in between (HTTP 412); writes go through the
process's batcher and mind the API budget."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from lastmile.connector.base import (
    ApiUsage,
    Connector,
    ConnectorError,
    CrmProblem,
    InvalidRequest,
    NotFound,
    TaskWrite,
    TransientError,
    WriteBack,
    WriteResult,
)
from lastmile.rules import Decision, RecordEvent, RuleSet, evaluate
from lastmile.rules.records import FieldValue, FollowUpTask, same_value

from ..metrics import API_BUDGET_PAUSES, EVENTS_PROCESSED, WRITES_DEFERRED
from ..store import DefaultRow, TaskRow, WriteLog
from .batcher import WriteBatcher
from .budget import ApiBudget
from .prompts import allot, prompt_text, wanted_prompts

MAX_REEVALUATIONS = 3  # a record that keeps changing is tried again later, as a transient error
KEY_LIMIT = 255  # Salesforce external id fields hold 255 characters


class PermanentFailure(Exception):
    """The CRM refused a write for good (bad field, no access): the event is parked as dead."""

    def __init__(self, problems: tuple[CrmProblem, ...]) -> None:
        self.problems = problems
        super().__init__(describe_problems(problems))


def describe_problems(problems: tuple[CrmProblem, ...]) -> str:
    """The CRM's codes and messages, and the field names they concern."""
    parts = []
    for p in problems:
        where = f" [{', '.join(p.fields)}]" if p.fields else ""
        status = f" (HTTP {p.status})" if p.status else ""
        parts.append(f"{p.code}: {p.message}{where}{status}")
    return "; ".join(parts) or "the CRM refused the write"


def task_key(rule: str, record_id: str, event_id: str) -> str:
    """The idempotency key of a follow-up task: rule, record and the event that asked for it.
    Longer than 255 characters: the tail becomes a hash, so the key stays unique and stable."""
    key = f"{rule}:{record_id}:{event_id}"
    if len(key) <= KEY_LIMIT:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"{key[: KEY_LIMIT - len(digest) - 1]}~{digest}"


@dataclass(frozen=True)
class Plan:
    """What the worker asks to write for one event, with what it needs to re-evaluate."""

    event: RecordEvent  # as evaluated: the fields seen and `changed` fixed
    previous: Mapping[str, FieldValue] | None
    decision: Decision
    prompts: Mapping[str, str]  # shown before this event
    prompt_value: str | None  # the prompt field as last written
    prompt_field: str
    inbox_id: int
    attempt: int
    labels: Mapping[str, str] = field(default_factory=dict)  # the CRM's, for prompts
    held: Mapping[str, str] = field(default_factory=dict)  # held back by the budget before
    slots: int | None = None  # how many prompts the record may show (None: no budget)


@dataclass(frozen=True)
class Applied:
    """How the write-back ended; `written` is what the CRM now holds because of it."""

    wrote: bool
    gone: bool
    written: dict[str, FieldValue]
    defaults: tuple[DefaultRow, ...]
    tasks: tuple[TaskRow, ...]
    prompts: dict[str, str]
    prompt_value: str | None
    held: dict[str, str] = field(default_factory=dict)  # wanted, but held back by the budget


def apply_plan(
    plan: Plan,
    ruleset: RuleSet,
    connector: Connector,
    clock: Callable[[], datetime],
    writes: list[WriteLog],
    batcher: WriteBatcher | None = None,
    budget: ApiBudget | None = None,
) -> Applied:
    """Write the decision back, conditional on the record not having changed since the event.

    On a conflict: re-read the record, re-evaluate with the same previous snapshot on the fresh
    values, drop what the CRM already holds (a crash after a write never writes twice), retry.
    Past the API budget a prompt-only or default-only write is deferred (logged, not sent);
    past its pause share BudgetPaused is raised (the event waits). Raises PermanentFailure,
    TransientError (also when it kept conflicting), or what the connector raises.
    """
    level = budget.level() if budget is not None else "ok"
    if level == "pause" and budget is not None:
        API_BUDGET_PAUSES.inc()
        budget.check(clock())  # raises BudgetPaused: the event waits, as for an outage
        level = "defer"  # usage fell meanwhile
    event, decision = plan.event, plan.decision
    first = decision
    deleted = event.kind == "deleted"
    since: datetime | None = event.occurred_at
    fresh: dict[str, FieldValue] | None = None
    wrote = False
    task_ids: Mapping[str, str] = {}
    for tries in range(MAX_REEVALUATIONS + 1):
        wanted = wanted_prompts({**plan.held, **plan.prompts}, decision, ruleset)
        shown, held = allot(wanted, ruleset, plan.slots)
        value = prompt_text(shown, ruleset)
        desired: dict[str, FieldValue] = {} if deleted else dict(decision.defaults)
        if not deleted and value != plan.prompt_value:
            desired[plan.prompt_field] = value
        send = {
            k: v
            for k, v in desired.items()
            if fresh is None or k not in fresh or not same_value(fresh[k], v)
        }
        tasks = tuple(_task(t, event) for t in decision.tasks)
        write = WriteBack(event.object, event.record_id, send, tasks, since)
        if write.empty:
            break
        if level == "defer" and fresh is None and _deferrable(write, plan, shown, value):
            WRITES_DEFERRED.inc()
            if budget is not None:
                budget.deferred += 1
            writes.append(_log(write, plan.attempt, clock(), "deferred", {}, 0))
            # Nothing written: the prompt field keeps its last written value, so the record's
            # next write sends the prompts shown now.
            return Applied(False, False, {}, (), (), shown, plan.prompt_value, held)
        result = _apply(connector, write, plan.attempt, clock, writes, batcher)
        if result.status in ("applied", "nothing"):
            wrote, task_ids = result.status == "applied", result.task_ids
            break
        if result.status == "failed":
            raise PermanentFailure(result.problems)
        EVENTS_PROCESSED.labels(event.source, "conflict_retried").inc()
        if tries == MAX_REEVALUATIONS:
            raise TransientError(
                f"the record kept changing: {MAX_REEVALUATIONS + 1} conditional writes refused"
            )
        needed = ruleset.fields(event.object) | set(first.defaults) | {plan.prompt_field}
        try:
            state = connector.read(event.object, event.record_id, sorted(needed - {"Id"}))
        except NotFound:
            return Applied(
                False, True, {}, (), (), dict(plan.prompts), plan.prompt_value, dict(plan.held)
            )
        fresh = dict(state.fields)
        since = state.last_modified
        refreshed = event.model_copy(update={"fields": {**event.fields, **fresh}})
        previous = dict(plan.previous) if plan.previous else None
        decision = evaluate(ruleset, refreshed, previous, labels=plan.labels)

    # Defaults the CRM now holds because of this event: asked for now, or (after a crash that
    # came between a write and its record) asked for the first time and found written.
    applied = dict(decision.defaults) if not deleted else {}
    for name, val in first.defaults.items():
        if fresh is not None and name in fresh and same_value(fresh[name], val):
            applied.setdefault(name, val)
    written = dict(applied)
    if plan.prompt_field in desired:
        written[plan.prompt_field] = value
    return Applied(
        wrote=wrote,
        gone=False,
        written=written,
        defaults=_default_rows(plan, applied, (decision, first), ruleset),
        tasks=tuple(
            TaskRow(
                key=t.key,
                inbox_id=plan.inbox_id,
                event_id=event.id,
                occurred_at=event.occurred_at,
                object=event.object,
                record_id=event.record_id,
                rule=spec.rule,
                crm_id=task_ids.get(t.key),
                due=t.due,
            )
            for spec, t in zip(decision.tasks, tasks, strict=True)
        ),
        prompts=shown,
        prompt_value=value,
        held=held,
    )


def _deferrable(write: WriteBack, plan: Plan, shown: Mapping[str, str], value: str | None) -> bool:
    """A write the budget may put off: no task, and no prompt cleared (a person who did what
    was asked sees the prompt go even on a busy day)."""
    if write.tasks:
        return False
    cleared = any(rule not in shown for rule in plan.prompts)
    return not cleared and not (value is None and plan.prompt_value is not None)


def _apply(
    connector: Connector,
    write: WriteBack,
    attempt: int,
    clock: Callable[[], datetime],
    writes: list[WriteLog],
    batcher: WriteBatcher | None = None,
) -> WriteResult:
    """One write, alone or in the batcher's next batch, logged (field names in logs; the values
    stay in the database). A batched write logs the calls of the batch it went in."""
    before = connector.usage()
    try:
        if batcher is not None:
            sent = batcher.apply(write)
            result, calls = sent.result, sent.calls
        else:
            result = connector.apply([write])[0]
            calls = _calls(connector, before)
    except Exception as exc:
        # A connector's errors say what failed in its own words (CRM messages without values);
        # any other error's text may quote a value, so it stays out of the write log.
        known = isinstance(exc, ConnectorError | InvalidRequest)
        message = str(exc)[:500] if known else "internal error (see the log)"
        problem = {"code": type(exc).__name__, "message": message}
        writes.append(
            _log(write, attempt, clock(), "error", {}, _calls(connector, before), problem)
        )
        raise
    problems = [
        {"code": p.code, "message": p.message, "fields": list(p.fields), "status": p.status}
        for p in result.problems
    ]
    writes.append(_log(write, attempt, clock(), result.status, result.task_ids, calls, *problems))
    return result


def _log(
    write: WriteBack,
    attempt: int,
    at: datetime,
    status: str,
    task_ids: Mapping[str, str],
    calls: int | None,
    *problems: dict,
) -> WriteLog:
    return WriteLog(
        attempt=attempt,
        fields=dict(write.fields),
        task_keys=tuple(t.key for t in write.tasks),
        if_unmodified_since=write.if_unmodified_since,
        status=status,
        task_ids=dict(task_ids),
        api_calls=calls,
        problems=problems,
        at=at,
    )


def _calls(connector: Connector, before: ApiUsage | None) -> int | None:
    after = connector.usage()
    if after is None or before is None:
        return None
    return after.calls - before.calls


def _task(task: FollowUpTask, event: RecordEvent) -> TaskWrite:
    return TaskWrite(
        key=task_key(task.rule, event.record_id, event.id),
        subject=task.subject,
        due=task.due,
        owner=task.owner,
        what_id=task.what_id,
        priority=task.priority,
    )


def _default_rows(
    plan: Plan,
    applied: Mapping[str, FieldValue],
    decisions: tuple[Decision, ...],
    ruleset: RuleSet,
) -> tuple[DefaultRow, ...]:
    event = plan.event
    rows = []
    for name, value in applied.items():
        rule = next(
            (
                rule
                for d in decisions
                for rule in d.matched
                if (item := ruleset.get(rule)) is not None and name in item.rule.then.default
            ),
            "",
        )
        rows.append(
            DefaultRow(
                inbox_id=plan.inbox_id,
                event_id=event.id,
                occurred_at=event.occurred_at,
                object=event.object,
                record_id=event.record_id,
                rule=rule,
                field=name,
                value=value,
            )
        )
    return tuple(rows)
