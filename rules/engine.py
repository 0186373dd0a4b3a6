"""The durable_rules network: rule conditions compiled into one Rete ruleset per rule set.

This is the only module that knows durable_rules. Record state goes in as a *fact* (assert,
collect every rule that fired, retract), so every matching rule fires, not just the first.
The C engine is not thread safe and its rulesets are process-global, so one lock guards all
calls and each network owns a uniquely named ruleset that is deleted with it. One session
(sid "0") is reused for every fact: durable_rules keeps at most 1,024 sessions per ruleset.

Values enter the network through a typed projection of the record (one key per type), because
durable_rules compares loosely (5 equals "5", true equals 1) and the rules compare strictly.
Text patterns (contains, starts_with, matches) are read with Python's `re` before the fact
goes in, because durable_rules' own regular expressions know no escapes or classes such as
`\\d`; the network joins on their results.
"""

from __future__ import annotations

import itertools
import json
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import durable_rules_engine as _dr

from .conditions import All, Any_, Changed, Compare, Condition, Not, compare
from .records import Fields, is_empty

_LOCK = threading.Lock()
_NAMES = itertools.count(1)
_PATTERN_OPS = ("contains", "starts_with", "matches")
_ORDER = {"gt": ("$gt", "$lte"), "gte": ("$gte", "$lt"), "lt": ("$lt", "$gte"), "lte": ("$lte", "$gt")}


@dataclass(frozen=True)
class Entry:
    """One condition to compile: `name` fires when `condition` holds for a record of `object`."""

    name: str
    object: str
    kinds: tuple[str, ...]
    condition: Condition


class _Projection:
    """Turns a record into the flat, typed fact that one object's entries are compiled against."""

    def __init__(self) -> None:
        self.fields: set[str] = set()
        self.changed: set[str] = set()
        self.patterns: list[tuple[str, Compare]] = []
        self._pattern_keys: dict[Compare, str] = {}

    def pattern_key(self, cond: Compare) -> str:
        key = self._pattern_keys.get(cond)
        if key is None:
            key = self._pattern_keys[cond] = f"p_{len(self.patterns)}"
            self.patterns.append((key, cond))
        return key

    def fact(self, obj: str, kind: str, fields: Fields, changed: frozenset[str]) -> dict[str, Any]:
        fact: dict[str, Any] = {"sid": "0", "id": "r", "o": obj, "k": kind}
        for name in self.fields:
            value = fields.get(name)
            fact["z_" + name] = value is None
            fact["e_" + name] = is_empty(value)
            if isinstance(value, bool):
                fact["b_" + name] = value
            elif isinstance(value, int | float):
                fact["n_" + name] = value
            elif isinstance(value, str):
                fact["s_" + name] = value
        for name in self.changed:
            fact["c_" + name] = name in changed
        for key, cond in self.patterns:
            fact[key] = compare(cond, fields.get(cond.field))
        return fact


def _and(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _or(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {"$or": parts}


def _typed_key(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "b_" + name
    if isinstance(value, int | float):
        return "n_" + name
    return "s_" + name


def _equals(name: str, value: Any, negate: bool) -> dict[str, Any]:
    if value is None:
        return {"z_" + name: not negate}
    key = _typed_key(name, value)
    if not negate:
        return {key: value}
    return {"$or": [{"$nex": {key: 1}}, {"$neq": {key: value}}]}


def _compile(cond: Condition, proj: _Projection, negate: bool = False) -> dict[str, Any]:
    """The durable_rules expression for `cond` (or its negation), with `not` pushed to leaves."""
    if isinstance(cond, All | Any_):
        parts = [_compile(c, proj, negate) for c in cond.items]
        conj = isinstance(cond, All) != negate
        return _and(parts) if conj else _or(parts)
    if isinstance(cond, Not):
        return _compile(cond.item, proj, not negate)
    if isinstance(cond, Changed):
        proj.changed.update(cond.fields)
        parts = [{"c_" + f: not negate} for f in cond.fields]
        return _and(parts) if negate else _or(parts)
    proj.fields.add(cond.field)
    op, name, value = cond.op, cond.field, cond.value
    if op in _PATTERN_OPS:
        return {proj.pattern_key(cond): not negate}
    if op == "empty":
        return {"e_" + name: value != negate}
    if op in ("equals", "not_equals"):
        return _equals(name, value, negate != (op == "not_equals"))
    if op in ("in", "not_in"):
        negate = negate != (op == "not_in")
        parts = [_equals(name, v, negate) for v in value]
        return _and(parts) if negate else _or(parts)
    key = _typed_key(name, value)
    yes, no = _ORDER[op]
    if not negate:
        return {yes: {key: value}}
    return {"$or": [{"$nex": {key: 1}}, {no: {key: value}}]}


def _always(cond: Condition) -> bool | None:
    """True or False for a constant condition (after simplify), else None."""
    if isinstance(cond, All) and not cond.items:
        return True
    if isinstance(cond, Any_) and not cond.items:
        return False
    return None


class Network:
    """A compiled set of entries; `match` says which of them hold for one record."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._projections: dict[str, _Projection] = {}
        definition: dict[str, Any] = {}
        for entry in entries:
            constant = _always(entry.condition)
            if constant is False:
                continue
            proj = self._projections.setdefault(entry.object, _Projection())
            parts = [{"o": entry.object}, _or([{"k": k} for k in entry.kinds])]
            if constant is None:
                parts.append(_compile(entry.condition, proj))
            definition[entry.name] = {"all": [{"m": _and(parts)}]}
        self._handle: int | None = None
        if definition:
            name = f"lastmile-{next(_NAMES)}"
            with _LOCK:
                self._handle = _dr.create_ruleset(name, json.dumps(definition, ensure_ascii=False))
            self._finalizer = weakref.finalize(self, _delete, self._handle)

    def objects(self) -> frozenset[str]:
        return frozenset(self._projections)

    def match(self, obj: str, kind: str, fields: Fields, changed: frozenset[str]) -> set[str]:
        """The names of the entries that hold for this record state."""
        proj = self._projections.get(obj)
        if proj is None or self._handle is None:
            return set()
        fact = json.dumps(proj.fact(obj, kind, fields, changed), ensure_ascii=False)
        names: set[str] = set()
        handle = self._handle
        with _LOCK:
            _dr.assert_fact(handle, fact)
            try:
                result = _dr.start_action(handle)
                while result:
                    message, state = result[1], result[2]
                    while message:
                        # The message is {"<entry name>": {...}}; names are slugs, never escaped.
                        names.add(message[2 : message.index('"', 2)])
                        message = _dr.complete_and_start_action(handle, state)
                    result = _dr.start_action(handle)
            finally:
                _dr.retract_fact(handle, fact)
        return names


def _delete(handle: int) -> None:
    with _LOCK:
        _dr.delete_ruleset(handle)
