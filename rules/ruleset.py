"""A loaded, compiled rule set: the rules of one or more packs and their durable_rules network."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .conditions import Condition, simplify
from .engine import Entry, Network
from .schema import Pack, Rule

LIVE_KINDS = ("created", "updated")
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
    rule: Rule
    pack: Pack
    source: Source
    condition: Condition
    situation: Condition

    @property
    def id(self) -> str:
        return self.rule.id

    @property
    def default_kinds(self) -> tuple[str, ...]:
        """Defaults apply on `created` unless the rule's `if.on` says otherwise."""
        when = self.rule.if_
        return tuple(when.on) if "on" in when.model_fields_set else ("created",)


@dataclass
class RuleSet:
    """Rules ready to evaluate. Build with `RuleSet.build` or `load_rules`."""

    packs: list[Pack]
    rules: list[LoadedRule]
    version: str
    network: Network = field(repr=False)
    _by_object: dict[str, list[LoadedRule]] = field(default_factory=dict, repr=False)

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
        entries: list[Entry] = []
        for item in loaded:
            if not item.rule.enabled:
                continue
            entries.append(Entry(item.id, item.rule.object, tuple(item.rule.if_.on), item.condition))
            if item.rule.then.require:
                # The situation: the `if` with `changed` taken as true and the moment (`on`) aside.
                entries.append(Entry(item.id + SITUATION, item.rule.object, LIVE_KINDS, item.situation))
        ruleset = cls([p for p, _ in packs], loaded, version, Network(entries))
        for item in loaded:
            ruleset._by_object.setdefault(item.rule.object, []).append(item)
        return ruleset

    def for_object(self, obj: str) -> list[LoadedRule]:
        return self._by_object.get(obj, [])

    def get(self, rule_id: str) -> LoadedRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    @property
    def objects(self) -> list[str]:
        return sorted(self._by_object)
