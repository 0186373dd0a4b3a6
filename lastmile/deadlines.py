"""Acting on passed deadlines: an escalation task where the rule asks for one (`then.escalate`),
and clearing the prompt of a missed occasion. Once per occasion, however often it runs.

Indicators do not depend on this: an occasion past its deadline is missed at any `as_of`
whether or not this ran. The embedded `DeadlineScheduler` thread and the Celery beat task both
call `run_deadlines`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from lastmile.connector.base import Connector, ConnectorError, CrmError, TaskWrite, WriteBack
from lastmile.rules import RuleSet
from lastmile.rules.records import FieldValue
from lastmile.rules.templates import render

from .measure.occasions import RecordOccasion, missed_between
from .measure.tally import keep_up
from .prompt_budget import release_held
from .settings import Settings
from .store import Snapshot, Store
from .worker.prompts import prompt_text
from .worker.writeback import describe_problems, task_key

log = structlog.get_logger("lastmile.deadlines")

# A deadline that passed longer ago than this is not acted on: a reminder weeks late (the
# scheduler was down, or `escalate` was just added to a rule with history) is noise. Such
# occasions are counted (`too_old`) as far back as the longest `within` (and a weekend) before
# the lookback; older ones are not even read.
LOOKBACK = timedelta(days=7)


@dataclass(frozen=True)
class _Action:
    """What one missed occasion asks for."""

    found: RecordOccasion
    task: TaskWrite | None
    prompt: _Prompts | None  # the record's prompts without the missed occasion's


@dataclass(frozen=True)
class _Prompts:
    snap: Snapshot  # as read
    shown: dict[str, str]
    held: dict[str, str]
    value: str | None  # the prompt field's new value

    @property
    def write(self) -> bool:
        """The missed occasion's prompt was on the record (not held back): the field changes."""
        return len(self.shown) < len(self.snap.prompts)


def run_deadlines(
    store: Store,
    ruleset: RuleSet,
    connector: Connector,
    settings: Settings,
    now: datetime,
    *,
    lookback: timedelta = LOOKBACK,
) -> dict[str, int]:
    """Act once on each occasion whose `within` deadline passed unmet by `now`; counts of what
    happened. A CRM that cannot be reached leaves the occasion for the next run."""
    now = now.astimezone(UTC)
    timed = [i.id for i in ruleset.rules if i.rule.enabled and i.rule.then.within is not None]
    counts = dict.fromkeys(
        ("missed", "acted", "escalated", "prompts_cleared", "already_done", "too_old"), 0
    )
    counts.update(failed=0, errors=0)
    keep_up(store, now)  # the indicators' totals move on here, not in a page view
    if timed:
        _missed(store, ruleset, connector, settings, now, lookback, timed, counts)
    # Prompts held back by the budget show where there is room now (a cleared one made some).
    released = release_held(store, ruleset, connector, settings, now)
    counts["prompts_released"] = released["released"]
    counts["errors"] += released["errors"]
    counts["failed"] += released["failed"]
    return counts


def _missed(
    store: Store,
    ruleset: RuleSet,
    connector: Connector,
    settings: Settings,
    now: datetime,
    lookback: timedelta,
    timed: list[str],
    counts: dict[str, int],
) -> None:
    # Only occasions missed lately are read, from the occasion rows: not the ledger.
    since = now - lookback - _longest_within(ruleset, timed, now)
    found = missed_between(store, ruleset, timed, since, now)
    done = store.deadline_keys(since=since)
    for occ, is_latest in found:
        counts["missed"] += 1
        key = _key(occ)
        deadline = occ.occasion.deadline
        assert deadline is not None  # missed means a deadline passed
        if key in done:
            counts["already_done"] += 1
            continue
        if deadline < now - lookback:
            counts["too_old"] += 1
            continue
        action = _action(store, ruleset, settings, occ, is_latest)
        outcome = _act(store, connector, settings, action, key, now)
        counts[outcome] += 1
        if outcome == "acted":
            counts["escalated"] += action.task is not None
            counts["prompts_cleared"] += action.prompt is not None and action.prompt.write


def _longest_within(ruleset: RuleSet, rules: list[str], now: datetime) -> timedelta:
    """The longest `within` of `rules`, with room for the weekends of business days."""
    spans = []
    for item in ruleset.rules:
        within = item.rule.then.within
        if item.id in rules and within is not None:
            spans.append(within.after(now) - now)
    return max(spans, default=timedelta()) + timedelta(days=3)


def _key(occ: RecordOccasion) -> str:
    return task_key(occ.occasion.rule, occ.record_id, f"{occ.occasion.opened_by}:deadline")


def _action(
    store: Store, ruleset: RuleSet, settings: Settings, occ: RecordOccasion, is_latest: bool
) -> _Action:
    item = ruleset.get(occ.occasion.rule)
    assert item is not None
    escalate = item.rule.then.escalate
    task = None
    # Nothing is written for a rule in observe mode, nor in an experiment's control arm.
    writes = item.mode == "live" and item.writes_in(occ.occasion.arm)
    if escalate is not None and writes:
        fields = _opening_fields(store, occ)
        deadline = occ.occasion.deadline
        assert deadline is not None
        # A task cannot be related to a task (or event): relate it to what that is about.
        what = fields.get("WhatId") if occ.object in ("Task", "Event") else occ.record_id
        task = TaskWrite(
            key=task_key(occ.occasion.rule, occ.record_id, f"{occ.occasion.opened_by}:escalate"),
            subject=render(escalate.subject, fields, occ.record_id),
            due=escalate.due_in.due_date(deadline),
            owner=render(escalate.owner, fields, occ.record_id) or None,
            what_id=what if isinstance(what, str) and what else None,
            priority=escalate.priority,
        )
    prompt = None
    snap = store.snapshot(occ.object, occ.record_id)
    # The prompt on the record belongs to this occasion only if no later one of the rule opened.
    rule = occ.occasion.rule
    if is_latest and snap is not None and (rule in snap.prompts or rule in snap.held):
        shown = {r: t for r, t in snap.prompts.items() if r != rule}
        held = {r: t for r, t in snap.held.items() if r != rule}
        value = prompt_text(shown, ruleset) if rule in snap.prompts else snap.prompt_value
        prompt = _Prompts(snap, shown, held, value)
    return _Action(occ, task, prompt)


def _opening_fields(store: Store, occ: RecordOccasion) -> dict[str, FieldValue]:
    """The record as the worker saw it in the occasion's opening event."""
    row = store.get(occ.opened_inbox_id)
    if row is None:
        return {}
    return dict(row.fields_seen or row.event.fields)


def _act(
    store: Store,
    connector: Connector,
    settings: Settings,
    action: _Action,
    key: str,
    now: datetime,
) -> str:
    occ = action.found
    bound = log.bind(rule=occ.occasion.rule, object=occ.object, record_id=occ.record_id)
    prompt = action.prompt
    fields = {settings.prompt_field: prompt.value} if prompt is not None and prompt.write else {}
    tasks = (action.task,) if action.task is not None else ()
    status, crm_id, problem = "done", None, None
    if fields or tasks:
        try:
            # Unconditional: the prompt field is Lastmile's own, and a task upsert by key is safe.
            result = connector.apply([WriteBack(occ.object, occ.record_id, fields, tasks)])[0]
        except CrmError as exc:
            status, problem = "failed", describe_problems(exc.problems)
        except ConnectorError as exc:
            bound.warning("deadline action postponed", error=type(exc).__name__)
            return "errors"
        else:
            if result.status == "failed":
                status, problem = "failed", describe_problems(result.problems)
            elif action.task is not None:
                crm_id = result.task_ids.get(action.task.key)
    cleared = status == "done" and prompt is not None and prompt.write
    if status == "done" and prompt is not None:
        snap = prompt.snap
        store.set_prompts(
            occ.object, occ.record_id, snap.inbox_id, prompt.shown, prompt.held, prompt.value
        )
    store.record_deadline_action(
        key=key,
        rule=occ.occasion.rule,
        object=occ.object,
        record_id=occ.record_id,
        event_id=occ.occasion.opened_by,
        deadline=occ.occasion.deadline,
        status=status,
        task_key=action.task.key if action.task is not None else None,
        task_crm_id=crm_id,
        prompt_cleared=cleared,
        problem=problem,
        acted_at=now,
    )
    if status == "failed":
        bound.error("deadline action refused by the CRM", problem=problem)
        return "failed"
    bound.info("deadline acted on", task_key=action.task.key if action.task else None)
    return "acted"


class DeadlineScheduler:
    """Embedded mode: a thread calling `run(now)` at start and then every `every_s` seconds."""

    def __init__(
        self,
        run: Callable[[datetime], object],
        every_s: float,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.run = run
        self.every_s = every_s
        self.clock = clock or (lambda: datetime.now(UTC))
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DeadlineScheduler:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="lastmile-deadlines", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run(self.clock())
            except Exception:  # a scheduler that dies would stop every escalation silently
                log.exception("deadline run failed")
            self.runs += 1
            self._stop.wait(self.every_s)


def scheduler_for(runtime: Any) -> DeadlineScheduler:
    """The embedded scheduler of a `lastmile.runtime.Runtime` (its live rules at each run)."""
    return DeadlineScheduler(
        lambda now: run_deadlines(
            runtime.store, runtime.rules(), runtime.connector, runtime.settings, now
        ),
        runtime.settings.deadline_every_s,
    )
