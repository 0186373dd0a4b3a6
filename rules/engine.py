"""The durable_rules network: rule conditions compiled into durable_rules (Rete) rulesets.

This is the only module that calls durable_rules. Record state goes in as a *fact* (assert,
collect every rule that fired, retract), so every matching rule fires, not just the first.
The C engine is not thread safe and its rulesets are process-global, so one lock guards all
calls and each network owns uniquely named rulesets that are deleted with it: one per object
and set of event kinds, cut smaller where durable_rules' fixed-size tables need it (`_Chunk`).
One session (sid "0") is reused for every fact: durable_rules keeps at most 1,024 sessions per
ruleset.

The work around the C engine is kept small. The C API takes facts as JSON text only, so a
record state is written once for all the rulesets of its object (`_Group`), from texts kept per
field value, with short keys and value codes: the engine reads and hashes every byte of a fact
when it goes in and copies it out again for each rule it fires. A fact is retracted by its id
alone (the engine reads nothing else of it then). The previous snapshot, whose situations
evaluate() needs, goes in with the event's state in one `assert_facts` call, and only through the
rulesets holding entries read against it (`Entry.before`). What those entries gave for a state
is kept for a while (`_KEPT_SITUATIONS`): the snapshot is mostly the state the record's last
event left, which the network has just read.

How a record's values become a fact is in `facts` (`Projection`).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import durable_rules_engine as _dr

from .conditions import All, Any_, Changed, Condition, Not, holds, simplify
from .facts import NOTHING, Projection, reads_changed, to_json
from .records import Fields

# One thread in the C engine at a time. Reentrant: a garbage collection while a network is being
# built can run another network's finalizer (`_delete`) on the same thread, which then takes the
# lock again (with a plain Lock that deadlocked the thread).
_LOCK = threading.RLock()
_NAMES = itertools.count(1)
_PATTERN_OPS = ("contains", "starts_with", "matches")
_ORDER = {
    "gt": ("$gt", "$lte"),
    "gte": ("$gte", "$lt"),
    "lt": ("$lt", "$gte"),
    "lte": ("$lte", "$gt"),
}
# durable_rules keeps at most 31 `$and`/`$or` markers (an opening and an END each) per rule.
_MAX_JUNCTIONS = 15


@dataclass(frozen=True)
class Entry:
    """One condition to compile: `name` fires when `condition` holds for a record of `object`."""

    name: str
    object: str
    kinds: tuple[str, ...]
    condition: Condition
    before: bool = False  # also read against the previous state (`match_with_previous`)


_KEPT_SITUATIONS = 8192  # record states whose `before` names a network keeps
_RETRACT = {i: f'{{"sid":"0","id":"{i}"}}' for i in ("r", "p")}
_RETRACT_BOTH = f"[{_RETRACT['r']},{_RETRACT['p']}]"


def _junctions(expr: Any) -> int:
    """How many `$and`/`$or` an expression has (durable_rules limits them per rule)."""
    if isinstance(expr, dict):
        own = sum(1 for k in expr if k in ("$and", "$or"))
        return own + sum(_junctions(v) for v in expr.values())
    if isinstance(expr, list):
        return sum(_junctions(v) for v in expr)
    return 0


def _and(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _or(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {"$or": parts}


def _equals(name: str, value: Any, negate: bool, proj: Projection) -> dict[str, Any]:
    test = {proj.key("v", name): proj.code(name, value)}
    return {"$neq": test} if negate else test


def _compile(cond: Condition, proj: Projection, negate: bool = False) -> dict[str, Any]:
    """The durable_rules expression for `cond` (or its negation), with `not` pushed to leaves."""
    if isinstance(cond, All | Any_):
        parts = [_compile(c, proj, negate) for c in cond.items]
        conj = isinstance(cond, All) != negate
        return _and(parts) if conj else _or(parts)
    if isinstance(cond, Not):
        return _compile(cond.item, proj, not negate)
    if isinstance(cond, Changed):
        proj.changed.update(cond.fields)
        parts = [{proj.key("c", f): not negate} for f in cond.fields]
        return _and(parts) if negate else _or(parts)
    op, name, value = cond.op, cond.field, cond.value
    if op in _PATTERN_OPS or (op in _ORDER and isinstance(value, str)):
        return {proj.pattern_key(cond): not negate}
    if op == "empty":
        proj.empty.add(name)
        return {proj.key("e", name): value != negate}
    if op in ("equals", "not_equals"):
        proj.tokens.add(name)
        return _equals(name, value, negate != (op == "not_equals"), proj)
    if op in ("in", "not_in"):
        proj.tokens.add(name)
        negate = negate != (op == "not_in")
        parts = [_equals(name, v, negate, proj) for v in value]
        return _and(parts) if negate else _or(parts)
    proj.numbers.add(name)
    key = proj.key("n", name)
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


@dataclass(frozen=True)
class _Cost:
    """What one rule's expression takes of durable_rules' fixed-size tables (upper bounds).

    stack: alpha nodes it may leave waiting at once while a fact goes through (a chain of
    `$and` tests waits one at a time; each branch of an `$or` may wait). links: entries in its
    nodes' lists of `$nex` tests and `$or` joins. leaves: its tests.
    """

    stack: int = 0
    links: int = 0
    leaves: int = 0

    def __add__(self, other: _Cost) -> _Cost:
        return _Cost(self.stack + other.stack, self.links + other.links, self.leaves + other.leaves)

    def within(self, limit: _Cost) -> bool:
        return (
            self.stack <= limit.stack and self.links <= limit.links and self.leaves <= limit.leaves
        )


def _cost(expr: Any) -> _Cost:
    if isinstance(expr, dict) and "$and" in expr:
        return sum((_cost(e) for e in expr["$and"]), _Cost())
    if isinstance(expr, dict) and "$or" in expr:
        branches = expr["$or"]
        if _one_of(branches):
            # `in`: equality tests of one key; a fact has one value there, so at most one
            # branch passes and waits on the stack.
            return _Cost(1, len(branches), len(branches))
        return sum((_cost(e) for e in branches), _Cost(len(branches), len(branches), 0))
    return _Cost(0, 1 if isinstance(expr, dict) and "$nex" in expr else 0, 1)


def _one_of(branches: list[Any]) -> bool:
    """Whether `$or` branches are plain equality tests (`{key: value}`) of one and the same key."""
    keys = set()
    for branch in branches:
        if not isinstance(branch, dict) or len(branch) != 1:
            return False
        ((key, value),) = branch.items()
        if key.startswith("$") or isinstance(value, dict | list):
            return False
        keys.add(key)
    return len(keys) == 1


class _Fact(NamedTuple):
    """One record state of an event as a fact: `id` "r" for the event's own state, "p" for the
    previous snapshot, which goes in with it so that one pass of the network reads both."""

    id: str
    fields: Fields
    changed: frozenset[str]
    text: str


class _Chunk:
    """One durable_rules ruleset: entries of one object and one set of event kinds.

    durable_rules has fixed-size tables and does not always check them: a fact that passes more
    than 64 alpha nodes at once is refused, more than 255 rules on one alpha node or 128 on one
    `$or` are refused or corrupt memory, more than 511 children of one node make
    `create_ruleset` loop forever, and a fact holds at most 254 properties. So a network is cut
    into chunks small enough for all of these, and a chunk the C engine refuses anyway is read
    in Python (the same answers, only slower).
    """

    # durable_rules' stack of alpha nodes holds 64, a node lists 127 `$nex` tests and `$or`
    # joins, 511 other tests and 255 rules.
    MAX_COST = _Cost(stack=56, links=120, leaves=480)
    MAX_ONE_RULE = _Cost(stack=28, links=60, leaves=240)  # a bigger rule is read in Python

    def __init__(self, obj: str, kinds: frozenset[str], proj: Projection) -> None:
        self.obj = obj
        self.kinds = kinds
        self.proj = proj  # shared by the chunks of one `_Group`
        self.rules: dict[str, Any] = {}
        self.conditions: dict[Condition, str] = {}
        self.names: dict[str, list[str]] = {}
        self.before: dict[str, list[str]] = {}  # the names read against the previous state
        self.cost = _Cost(stack=2)  # the root and the object test
        self.handle: int | None = None

    def add(self, entry: Entry, cost: _Cost) -> bool:
        """Take the entry (whose rule costs `cost`) if it fits; False when the chunk is full."""
        rule = self.conditions.get(entry.condition)
        if rule is None:
            if self.rules and not (self.cost + cost).within(self.MAX_COST):
                return False
            rule = f"r{len(self.rules)}"
            self.rules[rule] = {"all": [{"m": _entry_expression(entry, self.proj)}]}
            self.conditions[entry.condition] = rule
            self.names[rule] = []
            self.cost += cost
        # The same condition again: one durable rule, several names.
        self.names[rule].append(entry.name)
        if entry.before and "updated" in self.kinds:
            self.before.setdefault(rule, []).append(entry.name)
        return True

    def create(self) -> None:
        try:
            self.handle = _dr.create_ruleset(f"lastmile-{next(_NAMES)}", to_json(self.rules))
        except _dr.error:
            self.handle = None  # read in Python

    def match(self, facts: list[_Fact], now: set[str], before: set[str]) -> None:
        """Add the names that hold for the event's state to `now`, and the names read against the
        previous state that hold for it to `before`. Call with _LOCK held."""
        if self.handle is None:
            for fact in facts:
                hits, names = (now, self.names) if fact.id == "r" else (before, self.before)
                for cond, rule in self.conditions.items():
                    if rule in names and holds(cond, fact.fields, fact.changed):
                        hits.update(names[rule])
            return
        handle = self.handle
        one = len(facts) == 1
        try:
            if one:
                state = _dr.assert_fact(handle, facts[0].text)[1]
            else:
                state = _dr.assert_facts(handle, "[" + ",".join(f.text for f in facts) + "]")[1]
        except _dr.error:
            # Refused (a limit this chunk still hit): from now on read it in Python.
            _dr.delete_ruleset(handle)
            self.handle = None
            self.match(facts, now, before)
            return
        try:
            # Every fact is in the one session, whose actions are read until none is left.
            result = _dr.start_action_for_state(handle, state)
            message = result[1] if result else None
            while message:
                # The message is {"r<n>": {"m": <the fact as written>}}: the chunk's own rule
                # names and fact ids are never escaped.
                end = message.index('"', 2)
                rule = message[2:end]
                if message[message.index('"id":"', end) + 6] == "r":
                    now.update(self.names[rule])
                else:
                    before.update(self.before.get(rule, ()))
                message = _dr.complete_and_start_action(handle, state)
        finally:
            # A fact is retracted by its session and id alone: nothing else is read of it.
            if one:
                _dr.retract_fact(handle, _RETRACT[facts[0].id])
            else:
                _dr.retract_facts(handle, _RETRACT_BOTH)


class _Group:
    """The chunks of one object whose rules read one projection, so that one fact per record
    state serves them all (a fact holds at most 254 properties: past that, another group)."""

    MAX_KEYS = 240

    def __init__(self, obj: str) -> None:
        self.obj = obj
        self.proj = Projection()
        self.chunks: list[_Chunk] = []
        self.entries: list[Entry] = []
        self._open: dict[frozenset[str], _Chunk] = {}
        self.kept: dict[str, frozenset[str]] = {}  # see `_Kept`

    def add(self, entry: Entry) -> bool:
        """Take the entry if its keys fit in the fact; False when the group is full."""
        trial = Projection()
        cost = _cost(_entry_expression(entry, trial)) + _Cost(stack=1)  # the rule's own chain
        if self.chunks and self.proj.size(trial) > self.MAX_KEYS:
            return False
        kinds = frozenset(entry.kinds)
        chunk = self._open.get(kinds)
        if chunk is None or not chunk.add(entry, cost):
            chunk = self._open[kinds] = _Chunk(self.obj, kinds, self.proj)
            self.chunks.append(chunk)
            chunk.add(entry, cost)
        self.entries.append(entry)
        return True

    def create(self) -> None:
        self.proj.freeze()
        for chunk in self.chunks:
            chunk.create()
        self._head_r = f'{{"sid":"0","id":"r","o":"{self.obj}"'
        self._head_p = f'{{"sid":"0","id":"p","o":"{self.obj}"'
        self.kinds = frozenset().union(*(c.kinds for c in self.chunks))
        before = [c for c in self.chunks if c.before]
        self.before_names = frozenset(
            n for c in before for names in c.before.values() for n in names
        )
        # Which `before` names hold for a record state is kept, so that the previous snapshot,
        # which is mostly a state the network has just read, need not go through it again. The
        # event's own reading gives them when it went through every chunk holding them, they
        # read nothing that changed, and no other entry shares their names.
        self.before_kinds = (
            frozenset.intersection(*(c.kinds for c in before)) if before else NOTHING
        )
        self.keeps = bool(before) and not any(
            reads_changed(e.condition) or not (e.before and "updated" in e.kinds)
            for e in self.entries
            if e.before or e.name in self.before_names
        )

    def match(
        self,
        kind: str,
        fields: Fields,
        changed: frozenset[str],
        previous: Fields | None,
        hits: tuple[set[str], set[str]],
        kept: _Kept,
    ) -> None:
        """Add to `hits` the names that hold now and the `before` names that held for
        `previous`, reading what `kept` knows of it. Call with _LOCK held."""
        proj = self.proj
        current = earlier = None
        state = ""
        if kind in self.kinds:
            state = proj.state(fields)
            text = self._head_r + state + proj.moment(fields, changed) + "}"
            current = _Fact("r", fields, changed, text)
        if previous is not None and self.before_names:
            earlier_state = proj.state(previous)
            known = self.kept.get(earlier_state) if self.keeps else None
            if known is not None:
                hits[1].update(known)
            else:
                text = self._head_p + earlier_state + proj.moment(previous, NOTHING) + "}"
                earlier = _Fact("p", previous, NOTHING, text)
        now: set[str] = set()
        before: set[str] = set()
        for chunk in self.chunks:
            facts = [current] if current is not None and kind in chunk.kinds else []
            if earlier is not None and chunk.before:
                facts.append(earlier)
            if facts:
                chunk.match(facts, now, before)
        hits[0].update(now)
        hits[1].update(before)
        if self.keeps and current is not None and kind in self.before_kinds:
            # The next event's snapshot is this state.
            kept.put(self, state, self.before_names.intersection(now))


class _Kept:
    """What the `before` entries of each group gave for recent record states, within a budget.

    Kept as plain texts mapped to shared sets, so that keeping adds nothing for the garbage
    collector to walk (a tuple or a set a state made it collect often in a big process)."""

    def __init__(self) -> None:
        self.left = _KEPT_SITUATIONS
        self.groups: list[_Group] = []
        self.sets: dict[frozenset[str], frozenset[str]] = {}

    def put(self, group: _Group, state: str, names: frozenset[str]) -> None:
        if self.left <= 0:  # clear all at once: dropping the oldest one by one is slower
            for each in self.groups:
                each.kept.clear()
            self.sets.clear()
            self.left = _KEPT_SITUATIONS
        if state not in group.kept:
            self.left -= 1
        group.kept[state] = self.sets.setdefault(names, names)


def _entry_expression(entry: Entry, proj: Projection) -> dict[str, Any]:
    """The rule's expression. It always starts by testing the object: durable_rules fires a
    `$nex` (does not exist) test placed first under its root for every fact."""
    if _always(entry.condition):
        return {"o": entry.object}
    expr = _compile(entry.condition, proj)
    if _junctions(expr) >= _MAX_JUNCTIONS or not _cost(expr).within(_Chunk.MAX_ONE_RULE):
        # Too big for one durable_rules rule: read the whole condition in Python.
        expr = {proj.pattern_key(entry.condition): True}
    return _and([{"o": entry.object}, expr])


class Network:
    """A compiled set of entries; `match` says which of them hold for one record."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._groups: dict[str, list[_Group]] = {}
        simple = [replace(e, condition=simplify(e.condition)) for e in entries]
        simple = [e for e in simple if _always(e.condition) is not False]
        # The entries read against the snapshot (and those with the same condition) first: they
        # fill the first chunks, and the snapshot need not go through the others.
        early = {(e.object, e.condition) for e in simple if e.before}
        simple.sort(key=lambda e: (e.object, e.condition) not in early)
        for entry in simple:
            groups = self._groups.setdefault(entry.object, [])
            if not groups or not groups[-1].add(entry):
                groups.append(_Group(entry.object))
                groups[-1].add(entry)
        self._chunks = {obj: [c for g in gs for c in g.chunks] for obj, gs in self._groups.items()}
        self._kept = _Kept()
        chunks = [c for cs in self._chunks.values() for c in cs]
        with _LOCK:
            for groups in self._groups.values():
                for group in groups:
                    group.create()
                    self._kept.groups.append(group)
        self._finalizer = weakref.finalize(self, _delete, chunks)

    def objects(self) -> frozenset[str]:
        return frozenset(self._groups)

    def match(self, obj: str, kind: str, fields: Fields, changed: frozenset[str]) -> set[str]:
        """The names of the entries that hold for this record state."""
        return self.match_with_previous(obj, kind, fields, changed, None)[0]

    def match_with_previous(
        self,
        obj: str,
        kind: str,
        fields: Fields,
        changed: frozenset[str],
        previous: Fields | None,
    ) -> tuple[set[str], set[str]]:
        """`match` for the event's state, and the names of the entries marked `before` that hold
        for `previous` read as an update with nothing changed: both in one pass of the network."""
        hits: tuple[set[str], set[str]] = (set(), set())
        groups = self._groups.get(obj)
        if groups:
            with _LOCK:
                for group in groups:
                    group.match(kind, fields, changed, previous, hits, self._kept)
        return hits


def _delete(chunks: list[_Chunk]) -> None:
    with _LOCK:
        for chunk in chunks:
            if chunk.handle is not None:
                _dr.delete_ruleset(chunk.handle)
                chunk.handle = None
