"""evaluate(): rules, an event and the previous snapshot to a Decision. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping

from .conditions import trace as trace_condition
from .records import (
    Decision,
    Fields,
    FieldValue,
    FollowUpTask,
    Prompt,
    RecordEvent,
    RuleTrace,
    is_empty,
)
from .ruleset import LoadedRule, RuleSet
from .schema import TaskAction, Then, pick_locale
from .templates import join_naturally, render

DEFAULT_PROMPTS = {
    "en": "Please fill in now: {missing}.",
    "nl": "Vul nu in: {missing}.",
    "de": "Bitte jetzt ausfüllen: {missing}.",
    "fr": "À compléter maintenant : {missing}.",
}


def evaluate(
    ruleset: RuleSet,
    event: RecordEvent,
    previous: Fields | None = None,
    *,
    trace: bool = False,
    labels: Mapping[str, str] | None = None,
    as_live: bool = False,
) -> Decision:
    """Decide what the rules ask for this event; `previous` is the record as last seen, and
    `labels` the CRM's labels of the object's fields (a prompt names a field by its pack's
    label, else the CRM's, else its API name).

    Rules in observe mode are evaluated and measured, but write nothing: no default, task or
    prompt for them (they are listed in `observed`); `as_live` decides as if every rule were
    live, which is what a backtest shows. A rule with an experiment running takes the `then` of
    the arm the event's unit is in (`arms`); its `control` arm writes nothing, as observe mode."""
    rules = ruleset.for_object(event.object)
    if not rules:
        return Decision(trace=[] if trace else None)
    changed = event.changed_fields(previous)
    # The situations (`before`) of the previous snapshot go through the network with the event.
    fired, before = ruleset.network.match_with_previous(
        event.object,
        event.kind,
        event.fields,
        changed,
        previous if ruleset.prompting(event.object) else None,
    )

    matched: list[str] = []
    defaults: dict[str, FieldValue] = {}
    missing: dict[str, list[str]] = {}
    prompts: list[Prompt] = []
    tasks: list[FollowUpTask] = []
    cleared: list[str] = []
    situation: list[str] = []
    observed: list[str] = []
    arms: dict[str, str] = {}
    fields = event.fields
    now_filled: dict[tuple[int, str], bool] = {}
    filled_before: dict[tuple[int, str], bool] = {}
    # Only the rules the network named can act (fired now, or their situation held before).
    for item in ruleset.named(fired | before):
        hit = item.id in fired
        arm = item.arm(event)
        then = item.thens[arm]
        writes = (as_live or item.mode == "live") and item.writes_in(arm)
        if arm is not None:
            arms[item.id] = arm
        if hit:
            matched.append(item.id)
            if not writes:
                observed.append(item.id)
            elif then.default and event.kind in item.default_kinds:
                for name, value in then.default.items():
                    if name not in defaults and is_empty(fields.get(name)):
                        defaults[name] = value
            if writes and then.task is not None:
                tasks.append(_task(item, then.task, event))
        if not item.prompts:
            continue
        holds_now = hit or item.situation_name in fired
        held_before = item.situation_name in before
        if not (holds_now or held_before):
            continue
        # A prompt stays on the record while the rule's situation holds (the `if` with `changed`
        # and `on` set aside): it is written when it appears or its list of fields changes, and
        # cleared when the fields are filled or the situation ends.
        require = then.require
        lacking = (
            [f for f in require if not _filled(item, f, fields, now_filled)] if holds_now else []
        )
        lacked = (
            [f for f in require if not _filled(item, f, previous, filled_before)]
            if held_before
            else []
        )
        shown_before = held_before and bool(lacked or not require)
        shown_now = holds_now and bool(lacking or not require)
        if require and holds_now:
            situation.append(item.id)
        if hit and lacking:
            missing[item.id] = lacking
        if not writes:
            continue
        if shown_before and not shown_now:
            cleared.append(item.id)
        elif shown_now and (hit or shown_before) and (not shown_before or lacked != lacking):
            text = _render_prompt(item, then, event, lacking, labels or {})
            prompts.append(Prompt(rule=item.id, text=text))
    return Decision(
        matched=matched,
        defaults=defaults,
        missing=missing,
        prompts=prompts,
        tasks=tasks,
        cleared=cleared,
        situation=situation,
        observed=observed,
        arms=arms,
        trace=[_trace(item, event, changed, item.id in fired) for item in rules] if trace else None,
    )


def _filled(item: LoadedRule, name: str, fields: Fields, seen: dict[tuple[int, str], bool]) -> bool:
    """`item.filled` of one field, worked out once per event for all the rules of a pack (the
    pack's placeholders decide it)."""
    key = (id(item.pack), name)
    known = seen.get(key)
    if known is None:
        known = seen[key] = item.filled(name, fields.get(name))
    return known


def _render_prompt(
    item: LoadedRule,
    then: Then,
    event: RecordEvent,
    lacking: list[str],
    crm_labels: Mapping[str, str],
) -> str:
    pack = item.pack
    prompt = then.prompt
    if prompt is None:
        template = pick_locale(DEFAULT_PROMPTS, pack.locale) or DEFAULT_PROMPTS["en"]
    elif isinstance(prompt, str):
        template = prompt
    else:
        template = pick_locale(prompt, pack.locale) or ""
    labels = [pack.label(f) if f in pack.labels else crm_labels.get(f, f) for f in lacking]
    return render(template, event.fields, event.record_id, join_naturally(labels, pack.locale))


def _task(item: LoadedRule, spec: TaskAction, event: RecordEvent) -> FollowUpTask:
    fields, rid = event.fields, event.record_id
    return FollowUpTask(
        rule=item.id,
        subject=render(spec.subject, fields, rid),
        due=spec.due_in.due_date(event.occurred_at),
        owner=render(spec.owner, fields, rid) or None,
        what_id=render(_related_to(item, spec), fields, rid) or None,
        priority=spec.priority,
    )


def _related_to(item: LoadedRule, spec: TaskAction) -> str:
    """A task is related to the record, but a Task or Event cannot be: then to what it is about."""
    if "related_to" not in spec.model_fields_set and item.rule.object in ("Task", "Event"):
        return "{WhatId}"
    return spec.related_to


def _trace(item: LoadedRule, event: RecordEvent, changed: frozenset[str], fired: bool) -> RuleTrace:
    rule = item.rule
    conditions = [trace_condition(item.condition, event.fields, changed)]
    if not rule.enabled:
        reason = "disabled (enabled: false)"
    elif event.kind not in rule.if_.on:
        reason = f"not on {event.kind} events (on: {', '.join(rule.if_.on)})"
    elif fired:
        reason = "all conditions hold"
    else:
        reason = "a condition does not hold"
    return RuleTrace(rule=rule.id, matched=fired, reason=reason, conditions=conditions)
