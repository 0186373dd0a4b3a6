"""Occasions (RULES.md): the moments a behaviour was expected of a record, and how each ended.

Pure: derived from a record's observations in `occurred_at` order, whatever order and how many
times they arrived, and an `as_of` time. The same function serves rule tests and indicators.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from .records import Decision, RecordEvent, is_empty
from .ruleset import RuleSet
from .templates import Duration

Outcome = Literal["met_first_time", "met_after_prompt", "missed", "withdrawn", "open"]


@dataclass(frozen=True)
class Observation:
    """What one event showed about one rule with `require`, for one record."""

    event_id: str
    occurred_at: datetime
    rule: str
    matched: bool  # the whole `if` held
    situation: bool  # the `if` held with `changed` and `on` set aside
    missing: tuple[str, ...]  # the `require` fields empty in this event
    owner: str | None = None
    placeholder: tuple[str, ...] = ()  # the `require` fields holding a placeholder value
    mode: str = "live"  # the rule's mode: observe writes nothing (a baseline)
    rule_version: str | None = None  # the rule's own content hash (LoadedRule.version)
    experiment: str | None = None  # the experiment running for the event's unit, if any
    arm: str | None = None  # the arm the event's unit is in
    suppressed: bool = False  # the prompt budget held the rule's prompt back after this event


@dataclass(frozen=True)
class Occasion:
    rule: str
    opened_at: datetime
    opened_by: str
    owner: str | None
    fields_missing: tuple[str, ...]
    deadline: datetime | None
    outcome: Outcome
    closed_at: datetime | None = None
    fields_placeholder: tuple[str, ...] = ()  # `require` fields seen with a placeholder value
    mode: str = "live"  # the rule's mode when the occasion opened
    rule_version: str | None = None  # the rule's version when the occasion opened
    experiment: str | None = None  # the experiment and arm the occasion opened in
    arm: str | None = None
    suppressed: bool = False  # its prompt was held back by the prompt budget while open

    @property
    def time_to_comply_s(self) -> float | None:
        if self.outcome != "met_after_prompt" or self.closed_at is None:
            return None
        return (self.closed_at - self.opened_at).total_seconds()


def observe(ruleset: RuleSet, event: RecordEvent, decision: Decision) -> list[Observation]:
    """The observations an evaluated event gives, one per rule with `require` on its object
    (the `require` of the event's experiment arm, for a rule with an experiment running)."""
    owner = event.fields.get("OwnerId")
    fields = event.fields
    found = []
    for item in ruleset.for_object(event.object):
        if not (item.rule.then.require and item.rule.enabled):
            continue
        arm = decision.arms.get(item.id)
        require = item.thens[arm].require
        found.append(
            Observation(
                event_id=event.id,
                occurred_at=event.occurred_at,
                rule=item.id,
                matched=item.id in decision.matched,
                situation=item.id in decision.situation,
                missing=tuple(f for f in require if is_empty(fields.get(f))),
                owner=owner if isinstance(owner, str) else None,
                placeholder=tuple(
                    f for f in require if item.fillers.is_placeholder(f, fields.get(f))
                ),
                mode=item.mode,
                rule_version=item.version,
                experiment=item.rule.experiment.id if arm is not None else None,
                arm=arm,
            )
        )
    return found


def derive(
    observations: Iterable[Observation],
    within: Mapping[str, Duration | None],
    as_of: datetime,
) -> list[Occasion]:
    """The occasions of one record, in opening order, as they stand at `as_of`."""
    seen: set[tuple[str, str]] = set()
    by_rule: dict[str, list[Observation]] = {}
    for obs in observations:  # arrival order; a redelivered event counts once
        if (obs.event_id, obs.rule) in seen or obs.occurred_at > as_of:
            continue
        seen.add((obs.event_id, obs.rule))
        by_rule.setdefault(obs.rule, []).append(obs)
    result: list[Occasion] = []
    for rule, observed in by_rule.items():
        observed.sort(key=lambda o: o.occurred_at)  # stable: ties keep arrival order
        result.extend(_derive_rule(rule, observed, within.get(rule), as_of))
    result.sort(key=lambda o: (o.opened_at, o.rule))
    return result


def _derive_rule(
    rule: str, observed: list[Observation], within: Duration | None, as_of: datetime
) -> list[Occasion]:
    closed: list[Occasion] = []
    current: Occasion | None = None
    held_before = False
    for obs in observed:
        if (
            current is not None
            and current.deadline is not None
            and obs.occurred_at >= current.deadline
        ):
            closed.append(replace(current, outcome="missed", closed_at=current.deadline))
            current = None
        if current is not None:
            if not obs.situation:
                closed.append(replace(current, outcome="withdrawn", closed_at=obs.occurred_at))
                current = None
            elif not (obs.missing or obs.placeholder):
                closed.append(
                    replace(current, outcome="met_after_prompt", closed_at=obs.occurred_at)
                )
                current = None
            elif obs.placeholder:
                seen = tuple(dict.fromkeys(current.fields_placeholder + obs.placeholder))
                current = replace(current, fields_placeholder=seen)
            if current is not None and obs.suppressed:
                current = replace(current, suppressed=True)
        elif obs.matched and not held_before:
            opened = Occasion(
                rule=rule,
                opened_at=obs.occurred_at,
                opened_by=obs.event_id,
                owner=obs.owner,
                fields_missing=obs.missing,
                deadline=within.after(obs.occurred_at) if within else None,
                outcome="open",
                fields_placeholder=obs.placeholder,
                mode=obs.mode,
                rule_version=obs.rule_version,
                experiment=obs.experiment,
                arm=obs.arm,
                suppressed=obs.suppressed,
            )
            if obs.missing or obs.placeholder:
                current = opened
            else:
                closed.append(replace(opened, outcome="met_first_time", closed_at=obs.occurred_at))
        held_before = obs.matched
    if current is not None:
        if current.deadline is not None and current.deadline < as_of:
            current = replace(current, outcome="missed", closed_at=current.deadline)
        closed.append(current)
    return closed
