"""evaluate(): from rules, an event and the previous snapshot to a Decision. Pure: no I/O, no clock."""

from __future__ import annotations

from .conditions import trace as trace_condition
from .records import (
    Decision,
    Fields,
    FollowUpTask,
    Prompt,
    RecordEvent,
    RuleTrace,
    is_empty,
)
from .ruleset import SITUATION, LoadedRule, RuleSet
from .templates import join_naturally, render

DEFAULT_PROMPTS = {
    "en": "Please fill in now: {missing}.",
    "nl": "Vul nu in: {missing}.",
    "de": "Bitte jetzt ausfüllen: {missing}.",
    "fr": "À compléter maintenant : {missing}.",
}


def evaluate(
    ruleset: RuleSet, event: RecordEvent, previous: Fields | None = None, *, trace: bool = False
) -> Decision:
    """Decide what the rules ask for this event; `previous` is the record as last seen."""
    rules = ruleset.for_object(event.object)
    if not rules:
        return Decision(trace=[] if trace else None)
    changed = event.changed_fields(previous)
    fired = ruleset.network.match(event.object, event.kind, event.fields, changed)
    before: set[str] = set()
    if previous is not None and any(r.rule.then.require for r in rules):
        before = ruleset.network.match(event.object, "updated", previous, frozenset())

    matched: list[str] = []
    defaults: dict = {}
    missing: dict[str, list[str]] = {}
    prompts: list[Prompt] = []
    tasks: list[FollowUpTask] = []
    cleared: list[str] = []
    situation: list[str] = []
    for item in rules:
        rule, then = item.rule, item.rule.then
        hit = item.id in fired
        holds_now = hit or item.id + SITUATION in fired
        lacking = [f for f in then.require if is_empty(event.fields.get(f))]
        if then.require and holds_now:
            situation.append(item.id)
        if hit:
            matched.append(item.id)
            if lacking:
                missing[item.id] = lacking
            if event.kind in item.default_kinds:
                for name, value in then.default.items():
                    if is_empty(event.fields.get(name)) and name not in defaults:
                        defaults[name] = value
            if then.task is not None:
                tasks.append(_task(item, event))
        prompted_before = previous is not None and item.id + SITUATION in before and any(
            is_empty(previous.get(f)) for f in then.require
        )
        if prompted_before and (not holds_now or not lacking):
            cleared.append(item.id)
        text = _prompt_text(item, event, lacking, hit, holds_now, prompted_before, previous)
        if text is not None:
            prompts.append(Prompt(rule=item.id, text=text))
    return Decision(
        matched=matched,
        defaults=defaults,
        missing=missing,
        prompts=prompts,
        tasks=tasks,
        cleared=cleared,
        situation=situation,
        trace=[_trace(item, event, changed, item.id in fired) for item in rules] if trace else None,
    )


def _prompt_text(
    item: LoadedRule,
    event: RecordEvent,
    lacking: list[str],
    hit: bool,
    holds_now: bool,
    prompted_before: bool,
    previous: Fields | None,
) -> str | None:
    """The prompt to show now, or None: on a match, or when a shown prompt's list has changed."""
    then = item.rule.then
    if not then.require:
        return _render_prompt(item, event, []) if hit and then.prompt is not None else None
    if not lacking or not holds_now:
        return None
    if not hit:
        lacked = [f for f in then.require if is_empty((previous or {}).get(f))]
        if not prompted_before or lacked == lacking:
            return None
    return _render_prompt(item, event, lacking)


def _render_prompt(item: LoadedRule, event: RecordEvent, lacking: list[str]) -> str:
    pack = item.pack
    prompt = item.rule.then.prompt
    if prompt is None:
        template = DEFAULT_PROMPTS.get(pack.locale.split("-")[0], DEFAULT_PROMPTS["en"])
    elif isinstance(prompt, str):
        template = prompt
    else:
        template = prompt.get(pack.locale) or prompt.get("en") or next(iter(prompt.values()))
    labels = [pack.label(f) for f in lacking]
    return render(template, event.fields, event.record_id, join_naturally(labels, pack.locale))


def _task(item: LoadedRule, event: RecordEvent) -> FollowUpTask:
    spec = item.rule.then.task
    assert spec is not None
    fields, rid = event.fields, event.record_id
    return FollowUpTask(
        rule=item.id,
        subject=render(spec.subject, fields, rid),
        due=spec.due_in.due_date(event.occurred_at),
        owner=render(spec.owner, fields, rid) or None,
        what_id=render(spec.related_to, fields, rid) or None,
        priority=spec.priority,
    )


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
