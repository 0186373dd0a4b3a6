"""Benchmark: Lastmile's rule evaluation against a plain Python loop and two PyPI rule engines.

Run from the repository root with the project's virtualenv (`pip install -e .[bench]`):

    python bench/rules_bench.py               # 100,000 records; 10, 100, 1000 rules; minutes
    python bench/rules_bench.py --quick       # 5,000 records; about a minute
    python bench/rules_bench.py --records 20000 --rules 10,100,1000 --crossover --profile

Engines, side by side, in events per second (one process, one core, time.perf_counter):

    evaluate     rules.evaluate(ruleset, event): the durable_rules network and the Decision
    network      ruleset.network.match(...): the durable_rules part alone
    py-loop      per rule of the event's object: kind check + rules.conditions.holds()
    rule-engine  PyPI `rule-engine`: one rule_engine.Rule per rule, rule.matches(record)
    zen          PyPI `zen-engine` (GoRules ZEN): one decision table per object, hit policy
                 "collect", one decision call per event

Two scenarios, both with generated (seeded) rules of about three conditions each:

    A  fixed objects: the rules are spread over 10 objects, so each object's share of the rules,
       and the matches per event, grow with the rule count (DESIGN.md: 100 rules ~1.5 matches,
       1000 rules ~15);
    B  growing objects: 10 rules per object, a big org has many objects, so the matches per
       event stay constant.

Events are built (pydantic RecordEvent) before timing. Before each timing, every engine's
matched-rule sets are compared with `evaluate` on a sample of events; an engine that disagrees
is excluded from the table. Where Lastmile cannot load or run a pack (durable_rules limits), its
columns say FAILS, the reason is printed, and py-loop is the reference for the others.

A second table times evaluate() with the previous snapshot, as the worker calls it: with
snapshots the network never read (cold) and with each record saved twice in a row (warm), beside
`gen`, evaluate() with a plain Python matcher generated per object from the same conditions (the
honest baseline: same Decisions, checked, no rule engine), and `before`, evaluate() of a copy of
rules/ from an earlier commit:

    mkdir -p /tmp/before && git archive 6fe0d1b rules | tar -x -C /tmp/before
    python bench/rules_bench.py --quick --before /tmp/before/rules

The engines take turns on chunks of 500 records, and events/s is the median over the chunks,
so that load from other processes on the machine skews no engine more than another. An engine
that would take longer than --budget seconds is timed on a prefix of the records (marked *).
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import importlib.util
import io
import json
import math
import platform
import pstats
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from lastmile import rules
from lastmile.rules import RecordEvent, RuleSet, evaluate, load_text
from lastmile.rules.conditions import (
    All,
    Any_,
    Changed,
    Compare,
    Condition,
    Not,
    compare,
    holds,
    simplify,
)
from lastmile.rules.engine import Entry
from lastmile.rules.records import as_double
from lastmile.rules.ruleset import SITUATION, LoadedRule, Source, network_entries
from lastmile.rules.schema import Pack

try:
    import rule_engine
except ImportError:  # the bench extra is not installed
    rule_engine = None
try:
    import zen
except ImportError:
    zen = None

# ---------------------------------------------------------------------------------------------
# The records: one field layout for every object, values drawn independently per field.

PICKLISTS: dict[str, tuple[str, ...]] = {
    "Status": ("Open", "In Progress", "Waiting", "Completed", "Deferred"),
    "Type": ("Call", "Email", "Meeting", "Demo"),
    "Priority": ("Normal", "High", "Low"),
    "Region": ("EMEA", "AMER", "APAC", "LATAM"),
    "Segment": ("SMB", "Mid-Market", "Enterprise"),
    "Channel": ("Web", "Phone", "Partner", "Event", "Referral"),
}
NUMBERS = {"Amount": 100_000, "Score": 100}  # uniform integers in [0, top)
TEXTS = ("Description", "NextStep", "Outcome__c")
FLAG = "Escalated__c"
NOT_TEXT = ("", "   ", None, "absent")  # how a text field is empty, equally often
P_NULL = 0.05  # a picklist, number or flag is null
P_FILLED = 0.6  # a text field holds text
P_CREATED = 0.2  # the rest are updates
P_CHANGED = 0.25  # on an update, each field changed
OBJECT_NAMES = (
    "Task",
    "Opportunity",
    "Account",
    "Lead",
    "Contact",
    "Case",
    "Campaign",
    "Quote",
    "Order",
    "Contract",
)
DEFAULTS = {"Priority": "Normal", "Channel": "Web", "NextStep": "Call back"}
EPOCH = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _zipf(values: Sequence[str]) -> dict[str, float]:
    """Picklists are skewed, as in CRMs: the first value is the most common."""
    raw = [1 / (i + 1) for i in range(len(values))]
    return {v: w / sum(raw) for v, w in zip(values, raw, strict=True)}


WEIGHTS = {name: _zipf(values) for name, values in PICKLISTS.items()}


def object_names(count: int) -> list[str]:
    names = list(OBJECT_NAMES[:count])
    names += [f"Custom{i:03d}__c" for i in range(len(names), count)]
    return names


def make_fields(rng: random.Random, index: int) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "Subject": f"Record {index}",
        "OwnerId": f"005{index % 97:015d}",
        "WhatId": f"006{index % 1009:015d}",
    }
    for name, values in PICKLISTS.items():
        draw = rng.choices(values, weights=list(WEIGHTS[name].values()))[0]
        fields[name] = None if rng.random() < P_NULL else draw
    for name, top in NUMBERS.items():
        fields[name] = None if rng.random() < P_NULL else rng.randrange(top)
    for name in TEXTS:
        if rng.random() < P_FILLED:
            fields[name] = f"{name} text {index}"
        elif (empty := rng.choice(NOT_TEXT)) != "absent":
            fields[name] = empty
    fields[FLAG] = None if rng.random() < P_NULL else rng.random() < 0.5
    return fields


def changed_names(rng: random.Random, kind: str, fields: dict[str, Any]) -> tuple[str, ...]:
    """What the event says changed; on `created`, every field with a value (RULES.md)."""

    def filled(v: Any) -> bool:
        return v is not None and not (isinstance(v, str) and not v.strip())

    if kind == "created":
        return tuple(n for n, v in fields.items() if filled(v))
    names = [n for n in fields if rng.random() < P_CHANGED]
    return tuple(names or [rng.choice(list(fields))])


def make_events(count: int, objects: Sequence[str], seed: int) -> list[RecordEvent]:
    rng = random.Random(seed)
    events = []
    for i in range(count):
        kind = "created" if rng.random() < P_CREATED else "updated"
        fields = make_fields(rng, i)
        events.append(
            RecordEvent(
                id=f"evt-{i}",
                source="bench",
                object=rng.choice(objects),
                record_id=f"rec-{i}",
                kind=kind,
                occurred_at=EPOCH + timedelta(seconds=i),
                fields=fields,
                changed=changed_names(rng, kind, fields),
            )
        )
    return events


# ---------------------------------------------------------------------------------------------
# The rules: about three conditions each; the last one (a number threshold) is set so that
# the rule holds for `selectivity` of the records (in expectation, fields being independent).

# A condition as YAML data, and the share of records it holds for.
Part = tuple[dict[str, Any], float]


def p_equals(name: str, value: str) -> float:
    return (1 - P_NULL) * WEIGHTS[name][value]


def p_changed(name: str) -> float:
    filled = P_FILLED if name in TEXTS else 1 - P_NULL
    return P_CREATED * filled + (1 - P_CREATED) * P_CHANGED


def first_condition(rng: random.Random, name: str) -> Part:
    """Mostly `Field: value`; sometimes `any:` of two values, or `not:` a value."""
    values = PICKLISTS[name]
    weights = [w * w for w in WEIGHTS[name].values()]  # rules mostly test the common values
    roll = rng.random()
    if roll < 0.08:
        a, b = rng.sample(values, 2)
        return {"any": [{name: a}, {name: b}]}, p_equals(name, a) + p_equals(name, b)
    value = rng.choices(values, weights=weights)[0]
    if roll < 0.15:
        return {"not": {name: value}}, 1 - p_equals(name, value)
    return {name: value}, p_equals(name, value)


def extra_conditions(rng: random.Random) -> list[Part]:
    """Occasionally `changed:`, `empty:` or a boolean flag."""
    parts: list[Part] = []
    if rng.random() < 0.2:
        name = rng.choice((*PICKLISTS, *TEXTS))
        parts.append(({"changed": name}, p_changed(name)))
    if rng.random() < 0.1:
        name, want = rng.choice(TEXTS), rng.random() < 0.7
        parts.append(({name: {"empty": want}}, (1 - P_FILLED) if want else P_FILLED))
    if rng.random() < 0.05:
        parts.append(({FLAG: True}, (1 - P_NULL) / 2))
    return parts


def in_condition(rng: random.Random, name: str, wanted: float) -> Part:
    """`Field: {in: [...]}` with as few values as reach the share wanted (never all of them)."""
    values = list(PICKLISTS[name])
    rng.shuffle(values)
    chosen, share = [], 0.0
    for value in values[:-1]:
        chosen.append(value)
        share += p_equals(name, value)
        if share >= wanted:
            break
    return {name: {"in": chosen}}, share


def number_condition(rng: random.Random, wanted: float) -> Part:
    """`Amount: {gt: t}` or `Score: {lt: t}` holding for about `wanted` of the records."""
    name = rng.choice(tuple(NUMBERS))
    top = NUMBERS[name]
    share = min(max(wanted / (1 - P_NULL), 0.02), 0.95)
    if rng.random() < 0.5:
        threshold = round(top * (1 - share)) - 1  # holds for threshold+1 .. top-1
        return {name: {"gt": threshold}}, (1 - P_NULL) * (top - 1 - threshold) / top
    threshold = max(1, round(top * share))  # holds for 0 .. threshold-1
    return {name: {"lt": threshold}}, (1 - P_NULL) * threshold / top


def make_then(rng: random.Random) -> dict[str, Any]:
    """Some rules require fields (most with a prompt), some set defaults, a few make tasks."""
    roll = rng.random()
    if roll < 0.45:
        then: dict[str, Any] = {"require": rng.sample(TEXTS, rng.randint(1, 2))}
        if rng.random() < 0.7:
            then["prompt"] = "Please record now: {missing}."
        if rng.random() < 0.3:
            then["within"] = "1d"
        return then
    if roll < 0.70:
        name = rng.choice(tuple(DEFAULTS))
        return {"default": {name: DEFAULTS[name]}}
    if roll < 0.80:
        return {"task": {"subject": "Follow-up: {Subject}", "due_in": "2 business days"}}
    return {"prompt": "Check {Subject} before the next step."}


def make_rule(rng: random.Random, index: int, obj: str, target: float) -> tuple[dict, float]:
    """One rule for `obj` meant to hold for `target` of its records; returns it and its share."""
    created_only = rng.random() < 0.05
    share = P_CREATED if created_only else 1.0
    first, other = rng.sample(tuple(PICKLISTS), 2)
    parts = [first_condition(rng, first), *extra_conditions(rng)]
    share *= math.prod(p for _, p in parts)
    parts.append(in_condition(rng, other, target / share / 0.9))
    share *= parts[-1][1]
    parts.append(number_condition(rng, target / share))
    share *= parts[-1][1]
    rng.shuffle(parts)  # authors do not order conditions by selectivity
    when: dict[str, Any] = {"on": ["created"]} if created_only else {}
    when["all"] = [cond for cond, _ in parts]
    return {"id": f"r{index:04d}", "object": obj, "if": when, "then": make_then(rng)}, share


def make_pack(n_rules: int, objects: Sequence[str], selectivity: float, seed: int) -> str:
    """The YAML text of one pack: rules dealt round-robin over `objects`.

    A rule that cannot reach the selectivity (say `on: created` with a rare value) hands its
    shortfall to the next rule, so the mean share of records a rule holds for is `selectivity`.
    """
    rng = random.Random(seed)
    rules, carry = [], 0.0
    for i in range(n_rules):
        target = min(max(selectivity + carry, 0.001), 0.9)
        rule, share = make_rule(rng, i, objects[i % len(objects)], target)
        carry = target - share
        rules.append(rule)
    pack = {
        "pack": "bench",
        "locale": "en",
        "labels": {"NextStep": "Next step", "Outcome__c": "Outcome"},
        "rules": rules,
    }
    out = io.StringIO()
    YAML().dump(pack, out)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# The engines. Each takes the same events (and the same rows: object, kind, fields, changed).

Row = tuple[str, str, dict[str, Any], frozenset[str]]


def rows_of(events: Sequence[RecordEvent]) -> list[Row]:
    return [(e.object, e.kind, e.fields, e.changed_fields(None)) for e in events]


class Uncompiled:
    """A pack's rules without the durable_rules network, built as RuleSet.build builds them.

    What py-loop and the peers need when `load_text` fails (the network does not compile), so
    that they can still be measured and compared.
    """

    def __init__(self, text: str) -> None:
        pack = Pack.model_validate(YAML(typ="safe").load(text))
        self.rules: list[LoadedRule] = []
        self._by_object: dict[str, list[LoadedRule]] = {}
        for rule in pack.rules:
            cond = rule.if_.condition()
            item = LoadedRule(rule, pack, Source("bench"), cond, simplify(cond, changed_is=True))
            self.rules.append(item)
            self._by_object.setdefault(rule.object, []).append(item)

    def for_object(self, obj: str) -> list[LoadedRule]:
        return self._by_object.get(obj, [])


Rules = RuleSet | Uncompiled


class Engine:
    name = "?"

    def matches(self, event: RecordEvent, row: Row) -> set[str]:
        """The ids of the rules that match: compared with `evaluate` before timing."""
        raise NotImplementedError

    def run(self, events: Sequence[RecordEvent], rows: Sequence[Row]) -> int:
        """The timed loop; returns the number of matches (so nothing is optimised away)."""
        raise NotImplementedError


class Evaluate(Engine):
    name = "evaluate"

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset

    def matches(self, event: RecordEvent, row: Row) -> set[str]:
        return set(evaluate(self.ruleset, event).matched)

    def run(self, events: Sequence[RecordEvent], rows: Sequence[Row]) -> int:
        ruleset, total = self.ruleset, 0
        for event in events:
            total += len(evaluate(ruleset, event).matched)
        return total


class Network(Engine):
    """durable_rules alone: the names it returns include the `~situation` entries."""

    name = "network"

    def __init__(self, ruleset: RuleSet) -> None:
        self.network = ruleset.network

    def matches(self, event: RecordEvent, row: Row) -> set[str]:
        return {n for n in self.network.match(*row) if not n.endswith(SITUATION)}

    def run(self, events: Sequence[RecordEvent], rows: Sequence[Row]) -> int:
        match, total = self.network.match, 0
        for obj, kind, fields, changed in rows:
            total += len(match(obj, kind, fields, changed))
        return total


class PythonLoop(Engine):
    name = "py-loop"

    def __init__(self, ruleset: Rules) -> None:
        self.ruleset = ruleset

    def matches(self, event: RecordEvent, row: Row) -> set[str]:
        obj, kind, fields, changed = row
        return {
            item.id
            for item in self.ruleset.for_object(obj)
            if item.rule.enabled
            and kind in item.rule.if_.on
            and holds(item.condition, fields, changed)
        }

    def run(self, events: Sequence[RecordEvent], rows: Sequence[Row]) -> int:
        for_object, total = self.ruleset.for_object, 0
        for obj, kind, fields, changed in rows:
            for item in for_object(obj):
                rule = item.rule
                if rule.enabled and kind in rule.if_.on and holds(item.condition, fields, changed):
                    total += 1
        return total


# -- rule-engine (https://zeroSteiner.github.io/rule-engine): a Python expression language.
# Semantics as translated below, and where they differ from ours:
#  - null: `F > 5` raises on null, so order tests read `F != null and F > 5`. A text in a
#    field compared with a number raises too (ours: false); the records here have numbers or null.
#  - empty: `F == null or F =~ "^\s*$"`; raises on a number or boolean field (ours: not empty);
#    the rules here test `empty` on text fields only.
#  - equality: numbers compare as decimals (1 == 1.0, as ours); true == 1 is false (as ours), but
#    `in` uses Python's `in`, where true is in [1] (ours: no); the rules here do not mix them.
#  - changed: the record is passed with an extra `_changed` array (field names start with a
#    letter, so no field is hidden); the event kind is checked in Python, as in py-loop.
#  - field names that are rule-engine keywords (`in`, `not`, `null`, ...) would need renaming.


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def translate(cond: Condition, compare: Callable[[Compare], str]) -> str:
    """A condition tree as an expression of a peer engine; `compare` writes its comparisons.

    rule-engine and zen share the combinators, `not (...)` and `in` on the changed list.
    """
    if isinstance(cond, All | Any_):
        if not cond.items:
            return "true" if isinstance(cond, All) else "false"
        joiner = " and " if isinstance(cond, All) else " or "
        return "(" + joiner.join(translate(c, compare) for c in cond.items) + ")"
    if isinstance(cond, Not):
        return f"not ({translate(cond.item, compare)})"
    if isinstance(cond, Changed):
        return "(" + " or ".join(f"{_literal(f)} in _changed" for f in cond.fields) + ")"
    return compare(cond)


def _rule_engine_compare(cond: Compare) -> str:
    f, op, v = cond.field, cond.op, cond.value
    if op in ("equals", "not_equals"):
        return f"({f} {'==' if op == 'equals' else '!='} {_literal(v)})"
    if op in ("in", "not_in"):
        test = f"{f} in [{', '.join(_literal(x) for x in v)}]"
        return f"({test})" if op == "in" else f"not ({test})"
    if op == "empty":
        test = f'({f} == null or {f} =~ "^\\\\s*$")'
        return test if v else f"not {test}"
    symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}.get(op)
    if symbol is not None:
        return f"({f} != null and {f} {symbol} {_literal(v)})"
    pattern = {"contains": re.escape(v), "starts_with": "^" + re.escape(v), "matches": v}[op]
    return f"({f} != null and {f} =~~ {_literal(pattern)})"


class RuleEngine(Engine):
    name = "rule-engine"

    def __init__(self, ruleset: Rules) -> None:
        context = rule_engine.Context(default_value=None)  # absent fields read as null
        self.by_object: dict[str, list[tuple[str, tuple[str, ...], Any]]] = {}
        for item in ruleset.rules:
            if item.rule.enabled:
                text = translate(item.condition, _rule_engine_compare)
                compiled = rule_engine.Rule(text, context=context)
                entry = (item.id, tuple(item.rule.if_.on), compiled)
                self.by_object.setdefault(item.rule.object, []).append(entry)

    def matches(self, event: RecordEvent, row: Row) -> set[str]:
        obj, kind, fields, changed = row
        record = {**fields, "_changed": tuple(changed)}
        return {
            rid
            for rid, kinds, rule in self.by_object.get(obj, ())
            if kind in kinds and rule.matches(record)
        }

    def run(self, events: Sequence[RecordEvent], rows: Sequence[Row]) -> int:
        by_object, total = self.by_object, 0
        for obj, kind, fields, changed in rows:
            record = {**fields, "_changed": tuple(changed)}
            for _, kinds, rule in by_object.get(obj, ()):
                if kind in kinds and rule.matches(record):
                    total += 1
        return total


# -- zen-engine (https://gorules.io): a Rust engine; one decision table per object, one row per
# rule, the row's single input cell a full expression (the input column has no field), output
# the rule id, hit policy "collect". Semantics as translated below:
#  - null and types: `F > 5` raises on null or text, so order tests read
#    `type(F) == "number" and F > 5`, which is ours exactly for number thresholds.
#  - empty: `F == null or (type(F) == "string" and trim(F) == "")`, ours exactly.
#  - contains / starts_with / matches use ZEN's functions; `matches` is Rust's regex dialect,
#    not Python's (no look-around or back references). The rules here use none of them.
#  - changed and the event kind travel in the context as `_changed` and `_kind`.


def _zen_compare(cond: Compare) -> str:
    f, op, v = cond.field, cond.op, cond.value
    if op in ("equals", "not_equals"):
        return f"({f} {'==' if op == 'equals' else '!='} {_literal(v)})"
    if op in ("in", "not_in"):
        test = f"({f} in [{', '.join(_literal(x) for x in v)}])"
        return test if op == "in" else f"not {test}"
    if op == "empty":
        test = f'({f} == null or (type({f}) == "string" and trim({f}) == ""))'
        return test if v else f"not {test}"
    symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}.get(op)
    kind = "string" if isinstance(v, str) else "number"
    if symbol is not None:
        return f'(type({f}) == "{kind}" and {f} {symbol} {_literal(v)})'
    function = {"contains": "contains", "starts_with": "startsWith", "matches": "matches"}[op]
    return f'(type({f}) == "string" and {function}({f}, {_literal(v)}))'


def zen_table(rows: list[tuple[str, str]]) -> dict[str, Any]:
    """A JDM graph: input → decision table (rows of expression → rule id) → output."""
    table = {
        "hitPolicy": "collect",
        "inputs": [{"id": "cond", "name": "condition"}],
        "outputs": [{"id": "rule", "name": "rule", "field": "rule"}],
        "rules": [
            {"_id": f"row{i}", "cond": expr, "rule": json.dumps(rid)}
            for i, (rid, expr) in enumerate(rows)
        ],
    }
    at = {"x": 0, "y": 0}
    return {
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "request", "position": at},
            {
                "id": "table",
                "type": "decisionTableNode",
                "name": "rules",
                "position": at,
                "content": table,
            },
            {"id": "out", "type": "outputNode", "name": "response", "position": at},
        ],
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "table", "type": "edge"},
            {"id": "e2", "sourceId": "table", "targetId": "out", "type": "edge"},
        ],
    }


class Zen(Engine):
    name = "zen"

    def __init__(self, ruleset: Rules) -> None:
        per_object: dict[str, list[tuple[str, str]]] = {}
        for item in ruleset.rules:
            if item.rule.enabled:
                kinds = ", ".join(_literal(k) for k in item.rule.if_.on)
                expr = f"_kind in [{kinds}] and {translate(item.condition, _zen_compare)}"
                per_object.setdefault(item.rule.object, []).append((item.id, expr))
        engine = zen.ZenEngine()
        self.decisions = {
            obj: engine.create_decision(json.dumps(zen_table(rows)))
            for obj, rows in per_object.items()
        }

    def _hits(self, row: Row) -> list[dict[str, str]]:
        obj, kind, fields, changed = row
        decision = self.decisions.get(obj)
        if decision is None:
            return []
        return decision.evaluate({**fields, "_changed": list(changed), "_kind": kind})["result"]

    def matches(self, event: RecordEvent, row: Row) -> set[str]:
        return {hit["rule"] for hit in self._hits(row)}

    def run(self, events: Sequence[RecordEvent], rows: Sequence[Row]) -> int:
        decisions, total = self.decisions, 0
        for obj, kind, fields, changed in rows:
            decision = decisions.get(obj)
            if decision is not None:
                context = {**fields, "_changed": list(changed), "_kind": kind}
                total += len(decision.evaluate(context)["result"])
        return total


def build_engines(loaded: Loaded, only: Sequence[str] | None = None) -> list[Engine]:
    """The engines to compare; the first one is the reference for the agreement check."""
    compiled = loaded.ruleset is not None
    kinds: list[tuple[str, Callable[[Any], Engine], bool]] = [
        ("evaluate", Evaluate, compiled),
        ("network", Network, compiled),
        ("py-loop", PythonLoop, True),
        ("rule-engine", RuleEngine, rule_engine is not None),
        ("zen", Zen, zen is not None),
    ]
    return [make(loaded.rules) for name, make, ok in kinds if ok and (only is None or name in only)]


# ---------------------------------------------------------------------------------------------
# Measuring.

CHUNK = 500  # records timed at a time


@dataclass
class Timing:
    events: int = 0
    seconds: float = 0.0
    matches: int = 0
    chunk_rates: list[float] = field(default_factory=list)
    partial: bool = False  # the time budget ran out before the last record
    error: str = ""  # the engine raised on a record

    @property
    def rate(self) -> float:
        """Events/s: the median over chunks, robust to bursts of load from other processes."""
        return statistics.median(self.chunk_rates) if self.chunk_rates else 0.0

    @property
    def done(self) -> bool:
        return self.partial or bool(self.error)


def _timed_run(engine: Engine, timing: Timing, events: list[RecordEvent], rows: list[Row]) -> None:
    try:
        began = time.perf_counter()
        matches = engine.run(events, rows)
        elapsed = time.perf_counter() - began
    except Exception as exc:
        timing.error = f"{type(exc).__name__} in {events[0].id}..{events[-1].id}: {exc}"
        return
    timing.events += len(events)
    timing.seconds += elapsed
    timing.matches += matches
    timing.chunk_rates.append(len(events) / elapsed)


def measure(
    engines: list[Engine],
    events: list[RecordEvent],
    rows: list[Row],
    budget: float,
    warmup: int = 200,
) -> dict[str, Timing]:
    """Events/s of each engine over all records, or the prefix that fits in `budget` seconds.

    The engines take turns chunk by chunk, so that a burst of load from elsewhere on the
    machine slows them all alike.
    """
    timings = {e.name: Timing() for e in engines}
    for engine in engines:
        _timed_run(engine, Timing(), events[:warmup], rows[:warmup])
    for start in range(0, len(events), CHUNK):
        active = [e for e in engines if not timings[e.name].done]
        if not active:
            break
        chunk_events, chunk_rows = events[start : start + CHUNK], rows[start : start + CHUNK]
        for engine in active:
            timing = timings[engine.name]
            _timed_run(engine, timing, chunk_events, chunk_rows)
            if timing.seconds >= budget and start + CHUNK < len(events):
                timing.partial = True
    return timings


LASTMILE = ("evaluate", "network")


class LastmileFailed(Exception):
    """evaluate raised on a record: the pack compiled, but the network cannot run it."""


@dataclass
class Agreement:
    agreed: int = 0
    checked: int = 0
    example: str = ""

    @property
    def ok(self) -> bool:
        return self.agreed == self.checked


def agreement(
    engines: list[Engine], events: list[RecordEvent], rows: list[Row], sample: int
) -> dict[str, Agreement]:
    """How many of the first `sample` events each engine matches exactly as the first does.

    The first is `evaluate`; when the pack does not compile, py-loop (conditions.holds is the
    reference reading of a condition).
    """
    reference, *others = engines
    result = {e.name: Agreement() for e in others}
    for event, row in zip(events[:sample], rows[:sample], strict=True):
        try:
            want = reference.matches(event, row)
        except Exception as exc:
            if reference.name not in LASTMILE:
                raise
            raise LastmileFailed(
                f"{reference.name} raised on {event.id} (a {event.object} "
                f"record): {type(exc).__name__}: {exc}"
            ) from exc
        for engine in others:
            check = result[engine.name]
            check.checked += 1
            try:
                got = engine.matches(event, row)
            except Exception as exc:  # a peer that cannot read a value disagrees
                got = {f"error: {type(exc).__name__}: {str(exc)[:80]}"}
            if got == want:
                check.agreed += 1
            elif not check.example:
                check.example = f"{event.id}: {reference.name} {sorted(want)} vs {sorted(got)}"
    return result


@dataclass
class Point:
    """One rule count of one scenario: the rate of each engine that agreed with evaluate."""

    rules: int
    objects: int
    rules_per_object: int
    matches_per_event: float
    timings: dict[str, Timing] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    compile_s: float = 0.0
    error: str = ""  # why Lastmile could not load or run the pack, if it could not

    def rate(self, name: str) -> float | None:
        timing = self.timings.get(name)
        return timing.rate if timing and not timing.error else None


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    rules_per_object: Callable[[int], int]

    def layout(self, n_rules: int) -> tuple[int, int]:
        """(objects, rules per object) for a rule count."""
        per = max(1, self.rules_per_object(n_rules))
        return math.ceil(n_rules / per), per


_EVENTS: dict[int, tuple[list[RecordEvent], list[Row]]] = {}


def events_for(n_objects: int, args: argparse.Namespace) -> tuple[list[RecordEvent], list[Row]]:
    """The records for a number of objects; built once, before any timing."""
    if n_objects not in _EVENTS:
        _EVENTS.clear()  # keep one set in memory
        events = make_events(args.records, object_names(n_objects), args.seed + 1)
        _EVENTS[n_objects] = (events, rows_of(events))
    return _EVENTS[n_objects]


@dataclass
class Loaded:
    ruleset: RuleSet | None  # None: the pack did not compile
    rules: Rules
    seconds: float
    error: str = ""


def load(n_rules: int, n_objects: int, args: argparse.Namespace) -> Loaded:
    """The generated pack through `load_text` (YAML, schema, durable_rules network)."""
    text = make_pack(n_rules, object_names(n_objects), args.selectivity, args.seed)
    began = time.perf_counter()
    try:
        ruleset = load_text(text, f"bench-{n_rules}.yaml")
    except Exception as exc:  # durable_rules refuses some networks; report, measure the rest
        return Loaded(
            None, Uncompiled(text), time.perf_counter() - began, f"{type(exc).__name__}: {exc}"
        )
    return Loaded(ruleset, ruleset, time.perf_counter() - began)


def run_point(
    scenario: Scenario,
    n_rules: int,
    args: argparse.Namespace,
    only: Sequence[str] | None = None,
    quiet: bool = False,
) -> Point:
    n_objects, per = scenario.layout(n_rules)
    events, rows = events_for(n_objects, args)
    loaded = load(n_rules, n_objects, args)
    engines = build_engines(loaded, only)
    sample = min(args.check, len(events))
    point = Point(n_rules, n_objects, per, 0.0, compile_s=loaded.seconds, error=loaded.error)
    try:
        checks = agreement(engines, events, rows, sample)
    except LastmileFailed as exc:
        point.error = str(exc)
        engines = [e for e in engines if e.name not in LASTMILE]
        checks = agreement(engines, events, rows, sample)
    if point.error:
        print(
            f"  {scenario.key} {n_rules:>5} rules: LASTMILE FAILS ON THIS PACK: {point.error}",
            flush=True,
        )
    if not quiet:
        said = ", ".join(f"{n} {c.agreed}/{c.checked}" for n, c in checks.items())
        print(
            f"  {scenario.key} {n_rules:>5} rules: loaded in {loaded.seconds:.2f}s; "
            f"agreement with {engines[0].name}: {said}",
            flush=True,
        )
    for name, check in checks.items():
        if not check.ok:
            point.excluded[name] = check.example
            print(f"    {name} EXCLUDED, first disagreement: {check.example}", flush=True)
    engines = [e for e in engines if e.name not in point.excluded]
    point.timings = measure(engines, events, rows, args.budget)
    for name, timing in point.timings.items():
        if timing.error:
            print(f"    {name} FAILED: {timing.error}", flush=True)
    # py-loop counts matched rules too; network also counts `~situation` entries
    timing = point.timings.get("evaluate")
    if timing is None or timing.error:
        timing = point.timings["py-loop"]
    point.matches_per_event = timing.matches / timing.events
    return point


# ---------------------------------------------------------------------------------------------
# evaluate() with the previous snapshot, as the worker calls it, against a generated matcher.
#
# The worker passes every update the record as last seen. Two streams of the same events:
#   cold  each update's snapshot is the record with the fields it changed holding other values:
#         a state this process has never read (a record last saved long ago);
#   warm  every event is followed by a second save of the same record, whose snapshot is the
#         state the first one left: a state the network read just before (saved twice in a row).
# Per stream: `before` is evaluate() of a copy of rules/ from an earlier commit (--before);
# `gen` is evaluate() with the network swapped for plain Python generated per object from the
# same entries (the honest baseline: same Decision code, no rule engine). The Decisions of both
# are compared with evaluate()'s before timing.

Snapshots = dict[str, dict[str, Any] | None]


def snapshot_streams(events: list[RecordEvent], seed: int) -> dict[str, tuple[list, Snapshots]]:
    """The cold and the warm stream: events, and the snapshot passed with each (by event id)."""
    rng = random.Random(seed)
    cold: Snapshots = {}
    warm_events: list[RecordEvent] = []
    warm: Snapshots = {}
    for i, event in enumerate(events):
        other = make_fields(rng, len(events) + i)
        before = {**event.fields, **{n: other.get(n) for n in event.changed or ()}}
        cold[event.id] = None if event.kind == "created" else before
        warm[event.id] = cold[event.id]
        names = [n for n in event.fields if rng.random() < P_CHANGED] or ["Status"]
        again = RecordEvent(
            id=f"{event.id}-again",
            source="bench",
            object=event.object,
            record_id=event.record_id,
            kind="updated",
            occurred_at=event.occurred_at + timedelta(minutes=5),
            fields={**event.fields, **{n: other.get(n) for n in names}},
            changed=tuple(names),
        )
        warm_events += (event, again)
        warm[again.id] = dict(event.fields)
    return {"cold": (events, cold), "warm": (warm_events, warm)}


def _value(value: Any, consts: list[Any]) -> str:
    """A name for a constant in generated code."""
    consts.append(value)
    return f"k{len(consts) - 1}"


def _python(cond: Condition, var: Callable[[str], str], consts: list[Any]) -> str:
    """A condition as a Python expression with holds()' meaning (records.same_value etc.)."""
    if isinstance(cond, All | Any_):
        if not cond.items:
            return "True" if isinstance(cond, All) else "False"
        joiner = " and " if isinstance(cond, All) else " or "
        return "(" + joiner.join(_python(c, var, consts) for c in cond.items) + ")"
    if isinstance(cond, Not):
        return f"(not {_python(cond.item, var, consts)})"
    if isinstance(cond, Changed):
        return "(" + " or ".join(f"{f!r} in changed" for f in cond.fields) + ")"
    x, op, ref = var(cond.field), cond.op, cond.value
    if op in ("equals", "not_equals", "in", "not_in"):
        refs = ref if op in ("in", "not_in") else (ref,)
        if all(type(r) is str for r in refs):
            test = f"(type({x}) is str and {x} in {_value(frozenset(refs), consts)})"
        else:
            test = "(" + " or ".join(_equals(x, r, consts) for r in refs) + ")"
        return test if op in ("equals", "in") else f"(not {test})"
    if op == "empty":
        test = f"({x} is None or (type({x}) is str and not {x}.strip()))"
        return test if ref else f"(not {test})"
    if op in ("gt", "gte", "lt", "lte") and not isinstance(ref, str):
        symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
        return f"(type({x}) in NUMBER and as_double({x}) {symbol} {_value(as_double(ref), consts)})"
    return f"{_value(partial(compare, cond), consts)}({x})"  # text patterns and orderings


def _equals(x: str, ref: Any, consts: list[Any]) -> str:
    if ref is None or isinstance(ref, bool):
        return f"({x} is {ref!r})"
    if isinstance(ref, str):
        return f"(type({x}) is str and {x} == {_value(ref, consts)})"
    return f"(type({x}) in NUMBER and as_double({x}) == {_value(as_double(ref), consts)})"


def _generate(entries: list[Entry]) -> Callable[..., set[str]]:
    """One object's entries as one Python function (kind, fields, changed) -> names."""
    consts: list[Any] = []
    names: dict[str, str] = {}

    def var(name: str) -> str:
        return names.setdefault(name, f"f{len(names)}")

    body = []
    for entry in entries:
        test = _python(simplify(entry.condition), var, consts)
        kinds = _value(frozenset(entry.kinds), consts)
        body.append(f"    if kind in {kinds} and {test}: out.add({entry.name!r})")
    head = ["def match(kind, fields, changed):", "    get = fields.get", "    out = set()"]
    head += [f"    {v} = get({n!r})" for n, v in names.items()]
    namespace: dict[str, Any] = {"NUMBER": (int, float), "as_double": as_double}
    namespace.update((f"k{i}", c) for i, c in enumerate(consts))
    exec("\n".join([*head, *body, "    return out"]), namespace)  # our own text, from conditions
    return namespace["match"]


class GeneratedMatcher:
    """The network's job in plain Python: `match_with_previous` as rules.engine.Network has it."""

    def __init__(self, entries: list[Entry]) -> None:
        by_object: dict[str, list[Entry]] = {}
        for entry in entries:
            by_object.setdefault(entry.object, []).append(entry)
        self.now = {obj: _generate(es) for obj, es in by_object.items()}
        self.before = {
            obj: _generate([e for e in es if e.before and "updated" in e.kinds])
            for obj, es in by_object.items()
        }

    def match_with_previous(
        self, obj: str, kind: str, fields: Any, changed: frozenset[str], previous: Any
    ) -> tuple[set[str], set[str]]:
        now = self.now.get(obj)
        if now is None:
            return set(), set()
        before = set() if previous is None else self.before[obj]("updated", previous, frozenset())
        return now(kind, fields, changed), before


def import_before(path: str) -> Any:
    """A copy of the rules package (say `git archive COMMIT rules`), imported under another name."""
    folder = Path(path)
    spec = importlib.util.spec_from_file_location(
        "rules_before", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rules_before"] = module
    spec.loader.exec_module(module)
    return module


class WithSnapshot(Engine):
    """evaluate(ruleset, event, snapshot) of some rules package, with the stream's snapshots."""

    def __init__(self, name: str, evaluate_: Callable[..., Any], ruleset: Any, snaps: Snapshots):
        self.name, self.evaluate, self.ruleset, self.snaps = name, evaluate_, ruleset, snaps

    def decision(self, event: RecordEvent) -> dict[str, Any]:
        return self.evaluate(self.ruleset, event, self.snaps[event.id]).to_json()

    def matches(self, event: RecordEvent, row: Row) -> set[str]:
        return set(self.decision(event)["matched"])

    def run(self, events: Sequence[RecordEvent], rows: Sequence[Row]) -> int:
        evaluate_, ruleset, snaps, total = self.evaluate, self.ruleset, self.snaps, 0
        for event in events:
            total += len(evaluate_(ruleset, event, snaps[event.id]).matched)
        return total


def _same_decisions(reference: WithSnapshot, other: WithSnapshot, events: list) -> str:
    """'' when `other` decides every event as `reference` does (keys both know), else why not."""
    for event in events:
        want, got = reference.decision(event), other.decision(event)
        keys = want.keys() & got.keys()
        if any(want[k] != got[k] for k in keys):
            diff = sorted(k for k in keys if want[k] != got[k])
            return f"{event.id}: {other.name} differs in {', '.join(diff)}"
    return ""


SNAPSHOT_ENGINES = ("before", "evaluate", "gen")


def snapshot_point(scenario: Scenario, n_rules: int, args: argparse.Namespace) -> dict[str, Any]:
    """Events/s of evaluate() with snapshots, per stream: before, now, the generated baseline."""
    n_objects, _ = scenario.layout(n_rules)
    events, _rows = events_for(n_objects, args)
    loaded = load(n_rules, n_objects, args)
    out: dict[str, Any] = {"rules": n_rules}
    if loaded.ruleset is None:
        print(f"  {scenario.key} {n_rules:>5} rules: LASTMILE FAILS ON THIS PACK", flush=True)
        return out
    ruleset = loaded.ruleset
    generated = replace(ruleset, network=GeneratedMatcher(network_entries(ruleset.rules)))
    old = None
    if args.before:
        module = import_before(args.before)
        text = make_pack(n_rules, object_names(n_objects), args.selectivity, args.seed)
        old = (module.evaluate, module.load_text(text))
    for stream, (stream_events, snaps) in snapshot_streams(events, args.seed + 2).items():
        engines = [
            WithSnapshot("evaluate", evaluate, ruleset, snaps),
            WithSnapshot("gen", evaluate, generated, snaps),
        ]
        if old is not None:
            engines.append(WithSnapshot("before", *old, snaps))
        # In stream order: the warm stream goes through the states the network keeps.
        sample = stream_events[: min(args.check, len(stream_events))]
        for engine in engines[1:]:
            problem = _same_decisions(engines[0], engine, sample)
            if problem:
                print(f"    {stream}: {engine.name} EXCLUDED, first different Decision: {problem}")
                engines.remove(engine)
        timings = measure(engines, stream_events, [], args.budget)
        out[stream] = {name: t.rate for name, t in timings.items() if not t.error}
    return out


def print_snapshot_table(scenario: Scenario, points: list[dict[str, Any]]) -> None:
    print(f"\nevaluate() with the previous snapshot ({scenario.key}), events/s")
    streams = ("cold", "warm")
    print(
        f"{'rules':>6} "
        + " ".join(f"{s + ' ' + e:>15}" for s in streams for e in SNAPSHOT_ENGINES)
        + " ".join(f" {s + ' ÷before':>12} {s + ' ÷gen':>9}" for s in streams)
    )
    for p in points:
        rates = {s: p.get(s, {}) for s in streams}
        cells = " ".join(
            f"{rates[s][e]:>15,.0f}" if rates[s].get(e) else f"{'-':>15}"
            for s in streams
            for e in SNAPSHOT_ENGINES
        )
        ratios = " ".join(
            f" {_ratio(rates[s].get('evaluate'), rates[s].get('before')):>12} "
            f"{_ratio(rates[s].get('evaluate'), rates[s].get('gen')):>9}"
            for s in streams
        )
        print(f"{p['rules']:>6} {cells}{ratios}")
    for p in points:
        for stream in streams:
            rates = p.get(stream, {})
            if rates.get("before") and p["rules"] in (100, 1000):
                speed = (rates.get("evaluate") or 0) / rates["before"]
                print(
                    f"  target: evaluate() with the snapshot >= 2x before at {p['rules']} rules "
                    f"({stream}): {speed:.2f}x  {'MET' if speed >= 2 else 'MISSED'}"
                )
    print(
        "cold: snapshots the network never read; warm: each record saved twice in a row (half "
        "the snapshots are the state just read). before: evaluate() of rules/ from --before; "
        "gen: evaluate() with a plain Python matcher generated from the same conditions instead "
        "of durable_rules. ÷before, ÷gen: evaluate's speed over theirs (compare within a "
        "stream: the warm one has more updates with a snapshot)"
    )


# ---------------------------------------------------------------------------------------------
# Reporting.

ENGINES = ("evaluate", "network", "py-loop", "rule-engine", "zen")
HEADER = (
    f"{'rules':>6} {'objects':>7} {'rules/obj':>9} {'matches/ev':>10} "
    + " ".join(f"{n + ' ev/s':>15}" for n in ENGINES)
    + f" {'eval t/t(100)':>13} {'eval÷loop':>9} {'net÷loop':>8}"
)


def _rate_cell(point: Point, name: str) -> str:
    if point.error and name in LASTMILE:
        return "FAILS"
    if name in point.excluded:
        return "excluded"
    timing = point.timings.get(name)
    if timing is None:
        return "n/a"
    if timing.error:
        return "error"
    return f"{timing.rate:,.0f}{'*' if timing.partial else ' '}"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def print_table(scenario: Scenario, points: list[Point], args: argparse.Namespace) -> None:
    print(f"\n{scenario.title}")
    print(
        f"(selectivity {args.selectivity} a rule; {args.records:,} records; "
        f"matches/ev counted by evaluate, or by py-loop where Lastmile fails)"
    )
    print(HEADER)
    base = next((p for p in points if p.rules == 100), None)
    for p in points:
        cells = " ".join(f"{_rate_cell(p, n):>15}" for n in ENGINES)
        # time per event relative to 100 rules = rate at 100 / rate here
        growth = _ratio(base.rate("evaluate"), p.rate("evaluate")) if base else "-"
        print(
            f"{p.rules:>6} {p.objects:>7} {p.rules_per_object:>9} {p.matches_per_event:>10.2f} "
            f"{cells} {growth:>13} {_ratio(p.rate('evaluate'), p.rate('py-loop')):>9} "
            f"{_ratio(p.rate('network'), p.rate('py-loop')):>8}"
        )
    print(
        "eval t/t(100): evaluate's time per event relative to 100 rules; eval÷loop, net÷loop: "
        "speed-up of evaluate, network over py-loop (above 1: Lastmile is faster)"
    )
    partial = sorted(
        {
            f"{n} at {p.rules}: {p.timings[n].events:,} records"
            for p in points
            for n in p.timings
            if p.timings[n].partial
        }
    )
    if partial:
        print(
            f"* timed on a prefix of the records ({args.budget:.0f}s budget): " + "; ".join(partial)
        )
    for p in points:
        if p.error:
            print(f"FAILS at {p.rules} rules: {p.error}")
        for name, t in p.timings.items():
            if t.error:
                print(f"error: {name} at {p.rules} rules: {t.error}")


def print_targets(scenario: Scenario, points: list[Point]) -> None:
    """The issue's targets: 20,000 events/s at 100 rules, 1000 rules < 2x the time of 100,
    faster than the pure-Python peers at 1000 rules."""
    by_rules = {p.rules: p for p in points}
    at100, at1000 = by_rules.get(100), by_rules.get(1000)
    print(f"Targets ({scenario.key}):")
    for p in (at100, at1000):
        if p and p.error:
            print(f"  MISSED at {p.rules} rules: Lastmile cannot run the pack ({p.error})")
    if at100 and not at100.error:
        rate = at100.rate("evaluate") or 0
        print(
            f"  evaluate >= 20,000 events/s at 100 rules: {rate:,.0f}/s  "
            f"{'MET' if rate >= 20_000 else 'MISSED'}"
        )
    if at100 and at1000 and not (at100.error or at1000.error):
        growth = (at100.rate("evaluate") or 0) / (at1000.rate("evaluate") or 1)
        print(
            f"  time at 1000 rules < 2x time at 100 rules: {growth:.2f}x  "
            f"{'MET' if growth < 2 else 'MISSED'}"
        )
    if at1000 and not at1000.error:
        ours = at1000.rate("evaluate") or 0
        for peer in ("py-loop", "rule-engine"):
            theirs = at1000.rate(peer)
            if theirs:
                print(
                    f"  evaluate faster than {peer} at 1000 rules: {ours:,.0f} vs "
                    f"{theirs:,.0f}/s  {'MET' if ours > theirs else 'MISSED'}"
                )
    if not (at100 or at1000):
        print("  (100 and 1000 rules not measured)")


def crossover(scenario: Scenario, points: list[Point], args: argparse.Namespace) -> None:
    """The smallest rule count from which lastmile stays ahead of the plain Python loop."""
    known = {p.rules: p for p in points}
    counts = sorted(set(known) | {10, 20, 50, 100, 200, 500, 1000})
    print(f"\nCrossover ({scenario.key}): lastmile vs py-loop, events/s")
    print(f"{'rules':>6} {'matches/ev':>10} {'evaluate':>10} {'network':>10} {'py-loop':>10}")
    table = []
    for n in counts:
        point = known.get(n) or run_point(
            scenario, n, args, only=("evaluate", "network", "py-loop"), quiet=True
        )
        ev, net, loop = (point.rate(x) or 0 for x in ("evaluate", "network", "py-loop"))
        table.append((n, ev, net, loop))
        ours = f"{ev:>10,.0f} {net:>10,.0f}" if not point.error else f"{'FAILS':>21}"
        print(f"{n:>6} {point.matches_per_event:>10.2f} {ours} {loop:>10,.0f}", flush=True)
    for label, col in (("evaluate", 1), ("network", 2)):
        ahead = [row[0] for row in table if row[col] > row[3]]
        stays = next((n for n, *_ in table if all(r[col] > r[3] for r in table if r[0] >= n)), None)
        if stays is None:
            print(
                f"  {label}: never stays ahead of py-loop up to {counts[-1]} rules"
                + (f" (ahead at {ahead})" if ahead else "")
            )
        else:
            print(
                f"  {label}: ahead of py-loop from {stays} rules on"
                + (f" (first ahead at {ahead[0]})" if ahead and ahead[0] != stays else "")
            )


def profile(scenario: Scenario, n_rules: int, args: argparse.Namespace) -> None:
    """cProfile of the evaluate path: where the time goes."""
    n_objects, _ = scenario.layout(n_rules)
    events, _rows = events_for(n_objects, args)
    loaded = load(n_rules, n_objects, args)
    if loaded.ruleset is None:
        print(f"\nProfile ({scenario.key}, {n_rules} rules): skipped, the pack does not compile")
        return
    sample = events[: min(len(events), args.profile_records)]
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        for event in sample:
            evaluate(loaded.ruleset, event)
    except Exception as exc:
        print(f"\nProfile ({scenario.key}, {n_rules} rules): skipped, evaluate raised {exc}")
        return
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    # the outermost `match` of engine.py (Network.match; inner helpers may share the name)
    match = max(
        (
            v[3]
            for k, v in stats.stats.items()  # type: ignore[attr-defined]
            if k[2] == "match" and k[0].endswith("engine.py")
        ),
        default=0.0,
    )
    print(
        f"\nProfile ({scenario.key}, {n_rules} rules, {len(sample):,} events, "
        f"{total:.2f}s under cProfile): network.match {100 * match / total:.0f}% of the "
        f"time; the rest is evaluate's loop over the object's rules and the Decision"
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(14)
    print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def code_version() -> str:
    """Which rules/ was measured: the git commit, and a digest of the modules as imported."""
    folder = Path(rules.__file__).parent
    digest = hashlib.sha256()
    for module in sorted(folder.glob("*.py")):
        digest.update(module.name.encode() + module.read_bytes())
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head, dirty = "no git", ""
    changes = " with uncommitted changes" if dirty else ""
    return f"rules/ at {head}{changes}, digest {digest.hexdigest()[:12]} ({folder})"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records (events) per run")
    parser.add_argument("--quick", action="store_true", help="a small run: 5,000 records")
    parser.add_argument("--rules", default="10,100,1000", help="rule counts, comma separated")
    parser.add_argument("--objects", type=int, default=10, help="objects in scenario A")
    parser.add_argument("--rules-per-object", type=int, default=10, help="rules/object in B")
    parser.add_argument(
        "--selectivity",
        type=float,
        default=0.15,
        help="share of an object's records a rule holds for, on average",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=20.0,
        help="seconds at most per engine and rule count (then a prefix)",
    )
    parser.add_argument("--check", type=int, default=3000, help="events in the agreement check")
    parser.add_argument("--scenarios", default="A,B", help="A (fixed objects), B (growing)")
    parser.add_argument("--crossover", action="store_true", help="probe 20, 50, 200, 500 rules")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile evaluate at 100 and 1000 rules (A), 1000 rules (B)",
    )
    parser.add_argument("--profile-records", type=int, default=20_000)
    parser.add_argument(
        "--before",
        help="a copy of rules/ to time as `before` (git archive COMMIT rules | tar -x -C DIR; "
        "then DIR/rules)",
    )
    parser.add_argument("--seed", type=int, default=20261102)
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.budget, args.check = 5_000, 5.0, 1000
        args.profile_records = min(args.profile_records, 5_000)
    args.rule_counts = [int(n) for n in args.rules.split(",") if n.strip()]
    return args


def all_scenarios(args: argparse.Namespace) -> dict[str, Scenario]:
    return {
        "A": Scenario(
            "A",
            f"Scenario A: fixed objects, rules spread over {args.objects} "
            "objects (rules per object and matches/event grow with the rules)",
            lambda n: n // args.objects,
        ),
        "B": Scenario(
            "B",
            f"Scenario B: growing objects, {args.rules_per_object} rules per "
            "object (objects grow with the rules; matches/event constant)",
            lambda n: args.rules_per_object,
        ),
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"durable_rules {package_version('durable-rules')}, "
        f"rule-engine {package_version('rule-engine')}, "
        f"zen-engine {package_version('zen-engine')}, pydantic {package_version('pydantic')}"
    )
    print(
        f"{platform.platform()}, {platform.processor() or platform.machine()}; one process, "
        f"one core; {args.records:,} records; rules {args.rule_counts}; seed {args.seed}"
    )
    print(code_version())
    every = all_scenarios(args)
    for key in (k.strip().upper() for k in args.scenarios.split(",") if k.strip()):
        scenario = every[key]
        print(f"\nRunning scenario {scenario.key} ...", flush=True)
        points = [run_point(scenario, n, args) for n in args.rule_counts]
        print_table(scenario, points, args)
        print_targets(scenario, points)
        print(f"\nRunning evaluate() with snapshots ({scenario.key}) ...", flush=True)
        snapshot_points = [snapshot_point(scenario, n, args) for n in args.rule_counts]
        print_snapshot_table(scenario, snapshot_points)
        if args.crossover:
            crossover(scenario, points, args)
        sys.stdout.flush()
    if args.profile:
        for key, n_rules in (("A", 100), ("A", 1000), ("B", 1000)):
            profile(every[key], n_rules, args)


if __name__ == "__main__":
    main()
