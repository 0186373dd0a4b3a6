"""A loaded, compiled rule set: the rules of one or more packs and their durable_rules network."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from .conditions import Condition, fields_read, simplify
from .engine import Entry, Network
from .experiments import arm_of
from .fillers import Fillers
from .records import FieldValue, RecordEvent
from .schema import CONTROL, Pack, Rule, Then
from .templates import placeholders

LIVE_KINDS = ("created", "updated")
# What a pack says that changes what its rules do (their version).
_PACK_KEYS_OF_A_RULE = {"locale", "labels", "mode", "placeholders", "min_length"}
SITUATION = "~situation"


@dataclass(frozen=True)
class Source:
    """Where a rule was written, for messages that point the author at it."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}" if self.line else self.path


@dataclass(frozen=True)
class LoadedRule:
    """A rule with what evaluation needs at hand (read per event, so worked out once)."""

    rule: Rule
    pack: Pack
    source: Source
    condition: Condition
    situation: Condition
    id: str = field(init=False)
    situation_name: str = field(init=False)
    default_kinds: tuple[str, ...] = field(init=False)  # `created` unless `if.on` says otherwise
    prompts: bool = field(init=False)  # has `require` or `prompt`: a prompt may show
    mode: str = field(init=False)  # live, or observe: measured, nothing written
    fillers: Fillers = field(init=False)  # the pack's placeholder values

    def __post_init__(self) -> None:
        when, then = self.rule.if_, self.rule.then
        set_ = object.__setattr__
        set_(self, "id", self.rule.id)
        set_(self, "situation_name", self.rule.id + SITUATION)
        set_(
            self, "default_kinds", tuple(when.on) if "on" in when.model_fields_set else ("created",)
        )
        set_(self, "prompts", bool(then.require or then.prompt))
        set_(self, "mode", self.rule.mode or self.pack.mode)
        set_(self, "fillers", Fillers.of(self.pack.placeholders, self.pack.min_length))

    @cached_property
    def version(self) -> str:
        """The rule's own content hash: what it asks and how (with its pack's locale, labels,
        mode and placeholders), not its description, its priority or where it sits. Figures
        are kept per version, so a change to a rule shows as before and after."""
        pack = self.pack.model_dump(mode="json", include=_PACK_KEYS_OF_A_RULE)
        # `priority` ranks the rule's prompt among others when a budget is full: not what it
        # asks (and a rule written before the key existed keeps its version).
        rule = self.rule.model_dump(mode="json", by_alias=True, exclude={"description", "priority"})
        text = json.dumps({"pack": pack, "rule": rule}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def arm(self, event: RecordEvent) -> str | None:
        """The experiment arm the event's unit is in (None: no experiment running for it)."""
        experiment = self.rule.experiment
        if experiment is None:
            return None
        return arm_of(experiment, event.fields, event.record_id, event.occurred_at)

    @cached_property
    def thens(self) -> dict[str | None, Then]:
        """The `then` of each experiment arm (None: no arm, the rule's own); a variant's keys
        replace the rule's, an arm without a variant (`control`, `none` too) keeps them."""
        own = self.rule.then
        found: dict[str | None, Then] = {None: own}
        experiment = self.rule.experiment
        variants = experiment.variants if experiment is not None else {}
        for arm in experiment.arms if experiment is not None else ():
            variant = variants.get(arm)
            if variant is None or variant == "none":
                found[arm] = own
            else:
                changes = {key: getattr(variant, key) for key in variant.model_fields_set}
                found[arm] = own.model_copy(update=changes)
        return found

    def writes_in(self, arm: str | None) -> bool:
        """Whether anything is written for an arm: not for `control`, nor a variant `none`."""
        experiment = self.rule.experiment
        if arm is None or experiment is None:
            return True
        return arm != CONTROL and experiment.variants.get(arm) != "none"

    def filled(self, field: str, value: FieldValue) -> bool:
        """Whether a `require` field is filled: not empty, and not a placeholder value."""
        return self.fillers.filled(field, value)


def network_entries(rules: Iterable[LoadedRule]) -> list[Entry]:
    """What the network matches: each enabled rule's `if`, and the situation of each that may
    prompt (also read against the previous snapshot)."""
    entries: list[Entry] = []
    for item in rules:
        if not item.rule.enabled:
            continue
        entries.append(Entry(item.id, item.rule.object, tuple(item.rule.if_.on), item.condition))
        if item.prompts:
            # The situation: the `if` with `changed` taken as true and the moment (`on`) aside.
            entries.append(
                Entry(item.situation_name, item.rule.object, LIVE_KINDS, item.situation, True)
            )
    return entries


@dataclass
class RuleSet:
    """Rules ready to evaluate. Build with `RuleSet.build` or `load_rules`."""

    packs: list[Pack]
    rules: list[LoadedRule]
    version: str
    network: Network = field(repr=False)
    _by_object: dict[str, list[LoadedRule]] = field(default_factory=dict, repr=False)
    _prompting: set[str] = field(default_factory=set, repr=False)
    _by_name: dict[str, LoadedRule] = field(default_factory=dict, repr=False)
    _order: dict[str, int] = field(default_factory=dict, repr=False)
    _rank: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)
    _fields: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, packs: Iterable[tuple[Pack, Iterable[Source]]], version: str) -> RuleSet:
        """Compile packs (each with the source of each of its rules, in order).

        `version` names what was loaded (a digest of the files), for /readyz and the logs.
        """
        packs = list(packs)
        loaded: list[LoadedRule] = []
        for pack, sources in packs:
            for rule, source in zip(pack.rules, sources, strict=True):
                cond = rule.if_.condition()
                loaded.append(LoadedRule(rule, pack, source, cond, simplify(cond, changed_is=True)))
        ruleset = cls([p for p, _ in packs], loaded, version, Network(network_entries(loaded)))
        for order, item in enumerate(loaded):
            ruleset._order[item.id] = order
            ruleset._rank[item.id] = (-item.rule.priority, order)
            ruleset._by_name[item.id] = ruleset._by_name[item.situation_name] = item
            ruleset._by_object.setdefault(item.rule.object, []).append(item)
            if item.prompts and item.rule.enabled:
                ruleset._prompting.add(item.rule.object)
        return ruleset

    def for_object(self, obj: str) -> list[LoadedRule]:
        return self._by_object.get(obj, [])

    def named(self, names: set[str]) -> list[LoadedRule]:
        """The rules behind network entry names (a rule id or its situation), in rule order."""
        ids = {self._by_name[n].id for n in names}
        return [self._by_name[i] for i in sorted(ids, key=self._order.__getitem__)]

    def prompt_rank(self, rule: str) -> tuple[int, int]:
        """Where a rule's prompt ranks when a prompt budget is full (lower first): higher
        `priority` first, then the order in the files; a rule not loaded last."""
        return self._rank.get(rule, (0, len(self._rank)))

    def prompting(self, obj: str) -> bool:
        """Whether a rule on `obj` may show a prompt (then the previous snapshot matters)."""
        return obj in self._prompting

    def fields(self, obj: str) -> frozenset[str]:
        """Every field the enabled rules on `obj` read: conditions, `require`, defaults, templates.

        The worker fetches those an event did not carry before evaluating it (asked per event,
        so worked out once per object).
        """
        known = self._fields.get(obj)
        if known is not None:
            return known
        names: set[str] = {"Id"}
        for item in self.for_object(obj):
            if not item.rule.enabled:
                continue
            names |= fields_read(item.condition)
            if item.rule.experiment is not None and item.rule.experiment.unit == "owner":
                names.add("OwnerId")
            for then in item.thens.values():  # the rule's own, and each experiment arm's
                names |= set(then.require) | set(then.default)
                texts: list[str] = []
                if then.prompt is not None:
                    prompt = then.prompt
                    texts += [prompt] if isinstance(prompt, str) else prompt.values()
                if then.task is not None:
                    task = then.task
                    texts += [task.subject, task.owner, task.related_to]
                    if obj in ("Task", "Event"):
                        texts.append("{WhatId}")
                if then.escalate is not None:
                    texts += [then.escalate.subject, then.escalate.owner]
                for text in texts:
                    names |= set(placeholders(text))
        names.discard("missing")
        self._fields[obj] = frozenset(names)
        return self._fields[obj]

    def get(self, rule_id: str) -> LoadedRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    @property
    def objects(self) -> list[str]:
        return sorted(self._by_object)
