"""The durable_rules network: rule conditions compiled into durable_rules (Rete) rulesets.

This is the only module that knows durable_rules. Record state goes in as a *fact* (assert,
collect every rule that fired, retract), so every matching rule fires, not just the first.
The C engine is not thread safe and its rulesets are process-global, so one lock guards all
calls and each network owns uniquely named rulesets that are deleted with it: one per object
and set of event kinds, cut smaller where durable_rules' fixed-size tables need it (`_Chunk`).
One session (sid "0") is reused for every fact: durable_rules keeps at most 1,024 sessions per
ruleset.

Values enter the network through a typed projection of the record, because durable_rules
compares loosely (5 equals "5", true equals 1) and the rules compare strictly:
- equality (equals, in and their negations) compares a *token* per field that names the type and
  the value: a number as a double (5 and 5.0 are one token), a short plain ASCII text as itself,
  any other text as a digest, because durable_rules passes text lengths as 16-bit numbers (a
  text of 64 KiB or more compared as if cut short) and compares texts as their JSON escapes;
- ordering of numbers (gt, gte, lt, lte) compares doubles. durable_rules reads a number without a
  '.' as a 64-bit integer (exact, and saturated beyond 2**63) and stops reading it at an 'e', so
  every number goes in written as a double with a '.' (`_json`);
- text patterns (contains, starts_with, matches) and the ordering of texts are read in Python
  before the fact goes in, because durable_rules' own regular expressions know no escapes or
  classes such as `\\d`, and it orders texts with strncmp over their escaped JSON bytes, reading
  one past the end of the shorter one; the network joins on their results;
- a condition tree with more `$and`/`$or` than durable_rules allows in one rule (it refuses the
  whole ruleset) is read in Python as a whole, and the network joins on its result.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import durable_rules_engine as _dr

from .conditions import All, Any_, Changed, Condition, Not, holds, simplify
from .records import Fields, as_double, is_empty, is_number

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


class _Projection:
    """Turns a record into the flat, typed fact that one object's entries are compiled against."""

    def __init__(self) -> None:
        self.tokens: set[str] = set()  # fields compared for equality: v_<field>
        self.empty: set[str] = set()  # fields tested for emptiness: e_<field>
        self.numbers: set[str] = set()  # fields ordered as numbers: n_<field>
        self.changed: set[str] = set()
        self.patterns: list[tuple[str, Condition]] = []
        self._pattern_keys: dict[Condition, str] = {}

    def pattern_key(self, cond: Condition) -> str:
        """A fact key holding whether `cond` holds, read in Python."""
        key = self._pattern_keys.get(cond)
        if key is None:
            key = self._pattern_keys[cond] = f"p_{len(self.patterns)}"
            self.patterns.append((key, cond))
        return key

    def freeze(self) -> None:
        """Fix the keys once compiling is done: `fact` runs per event and reads only these.

        Every key is `<letter>_<field API name>` and every token is plain printable ASCII without
        quotes or backslashes (see `_token`), so the fact is written without escaping.
        """
        self._token_keys = tuple((n, f',"v_{n}":"') for n in sorted(self.tokens))
        self._empty_keys = tuple((n, f',"e_{n}":') for n in sorted(self.empty))
        self._number_keys = tuple((n, f',"n_{n}":') for n in sorted(self.numbers))
        self._changed_keys = tuple((n, f',"c_{n}":') for n in sorted(self.changed))
        self._pattern_keys_json = tuple((f',"{key}":', cond) for key, cond in self.patterns)

    def fact(
        self, obj: str, fields: Fields, changed: frozenset[str], tokens: dict[str, str]
    ) -> str:
        """The fact as JSON text; `tokens` caches each field's token for the other chunks."""
        get = fields.get
        out = ['{"sid":"0","id":"r","o":"', obj, '"']
        for name, key in self._token_keys:
            token = tokens.get(name)
            if token is None:
                token = tokens[name] = _token(get(name))
            out += (key, token, '"')
        for name, key in self._empty_keys:
            out += (key, "true" if is_empty(get(name)) else "false")
        for name, key in self._number_keys:
            value = get(name)
            if is_number(value) and value == value:  # NaN orders with nothing: no key
                out += (key, _number_text(value))
        for name, key in self._changed_keys:
            out += (key, "true" if name in changed else "false")
        for key, cond in self._pattern_keys_json:
            out += (key, "true" if holds(cond, fields, changed) else "false")
        out.append("}")
        return "".join(out)


_TEXT_TOKENS: dict[str, str] = {}  # picklist values repeat: their tokens are kept


def _token(value: Any) -> str:
    """A text that is the same for two values exactly when `same_value` says they are equal."""
    if type(value) is str:
        token = _TEXT_TOKENS.get(value)
        if token is not None:
            return token
    if value is None:
        return "z"
    if isinstance(value, bool):
        return "b:1" if value else "b:0"
    if is_number(value):
        return f"n:{as_double(value) + 0.0!r}"  # + 0.0 turns -0.0 into 0.0; NaN equals no constant
    text = str(value)
    token = _TEXT_TOKENS.get(text)
    if token is not None:
        return token
    if len(text) <= 200 and text.isascii() and text.isprintable() and not _escapes(text):
        token = "s:" + text  # nothing JSON escapes: durable_rules compares it as it is
    else:
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16)
        token = "h:" + digest.hexdigest()
    if len(text) <= 200:
        if len(_TEXT_TOKENS) >= 50_000:
            _TEXT_TOKENS.clear()
        _TEXT_TOKENS[text] = token
    return token


def _escapes(text: str) -> bool:
    return '"' in text or "\\" in text


def _json(value: Any) -> str:
    """JSON as durable_rules reads it: every number a double written with a '.'."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json(str(k))}:{_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json(v) for v in value) + "]"
    if is_number(value):
        return _number_text(value)
    return json.dumps(value, ensure_ascii=False)


def _number_text(value: int | float) -> str:
    """A number as a double written with a '.', which is how durable_rules reads a double."""
    number = as_double(value)
    if math.isinf(number):
        return "1.0e999" if number > 0 else "-1.0e999"  # read back as +-infinity
    text = repr(number)
    return text if "." in text or "e" not in text else text.replace("e", ".0e", 1)


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


def _equals(name: str, value: Any, negate: bool) -> dict[str, Any]:
    token = _token(value)
    return {"$neq": {"v_" + name: token}} if negate else {"v_" + name: token}


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
    op, name, value = cond.op, cond.field, cond.value
    if op in _PATTERN_OPS or (op in _ORDER and isinstance(value, str)):
        return {proj.pattern_key(cond): not negate}
    if op == "empty":
        proj.empty.add(name)
        return {"e_" + name: value != negate}
    if op in ("equals", "not_equals"):
        proj.tokens.add(name)
        return _equals(name, value, negate != (op == "not_equals"))
    if op in ("in", "not_in"):
        proj.tokens.add(name)
        negate = negate != (op == "not_in")
        parts = [_equals(name, v, negate) for v in value]
        return _and(parts) if negate else _or(parts)
    proj.numbers.add(name)
    key = "n_" + name
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
    # joins, 511 other tests and 255 rules; a fact holds 254 properties.
    MAX_COST = _Cost(stack=56, links=120, leaves=480)
    MAX_KEYS = 240
    MAX_ONE_RULE = _Cost(stack=28, links=60, leaves=240)  # a bigger rule is read in Python

    def __init__(self, obj: str, kinds: frozenset[str]) -> None:
        self.obj = obj
        self.kinds = kinds
        self.proj = _Projection()
        self.rules: dict[str, Any] = {}
        self.conditions: dict[Condition, str] = {}
        self.names: dict[str, list[str]] = {}
        self.cost = _Cost(stack=2)  # the root and the object test
        self.handle: int | None = None

    def keys(self, proj: _Projection | None = None) -> int:
        p = proj or self.proj
        return 3 + len(p.tokens) + len(p.empty) + len(p.numbers) + len(p.changed) + len(p.patterns)

    def add(self, entry: Entry) -> bool:
        """Take the entry if it fits; False when the chunk is full."""
        rule = self.conditions.get(entry.condition)
        if rule is not None:  # the same condition again: one durable rule, several names
            self.names[rule].append(entry.name)
            return True
        trial = _Projection()
        expr = _entry_expression(entry, trial)
        cost = _cost(expr) + _Cost(stack=1)  # the rule's own chain
        full = not (self.cost + cost).within(self.MAX_COST)
        if self.rules and (full or self.keys() + self.keys(trial) > self.MAX_KEYS):
            return False
        rule = f"r{len(self.rules)}"
        self.rules[rule] = {"all": [{"m": _entry_expression(entry, self.proj)}]}
        self.conditions[entry.condition] = rule
        self.names[rule] = [entry.name]
        self.cost += cost
        return True

    def create(self) -> None:
        self.proj.freeze()
        try:
            self.handle = _dr.create_ruleset(f"lastmile-{next(_NAMES)}", _json(self.rules))
        except _dr.error:
            self.handle = None  # read in Python

    def match(self, fields: Fields, changed: frozenset[str], tokens: dict[str, str]) -> set[str]:
        """Call with _LOCK held."""
        if self.handle is None:
            return {
                n
                for cond, rule in self.conditions.items()
                if holds(cond, fields, changed)
                for n in self.names[rule]
            }
        fact = self.proj.fact(self.obj, fields, changed, tokens)
        handle = self.handle
        try:
            _dr.assert_fact(handle, fact)
        except _dr.error:
            # Refused (a limit this chunk still hit): from now on read it in Python.
            _dr.delete_ruleset(handle)
            self.handle = None
            return self.match(fields, changed, tokens)
        names: set[str] = set()
        try:
            result = _dr.start_action(handle)
            while result:
                message, state = result[1], result[2]
                while message:
                    # The message is {"r<n>": {...}}: the chunk's own rule names, never escaped.
                    names.update(self.names[message[2 : message.index('"', 2)]])
                    message = _dr.complete_and_start_action(handle, state)
                result = _dr.start_action(handle)
        finally:
            _dr.retract_fact(handle, fact)
        return names


def _entry_expression(entry: Entry, proj: _Projection) -> dict[str, Any]:
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
        self._chunks: dict[str, list[_Chunk]] = {}
        open_chunks: dict[tuple[str, frozenset[str]], _Chunk] = {}
        for entry in entries:
            entry = replace(entry, condition=simplify(entry.condition))
            if _always(entry.condition) is False:
                continue
            self._chunks.setdefault(entry.object, [])
            group = (entry.object, frozenset(entry.kinds))
            chunk = open_chunks.get(group)
            if chunk is None or not chunk.add(entry):
                chunk = open_chunks[group] = _Chunk(*group)
                self._chunks[entry.object].append(chunk)
                chunk.add(entry)
        chunks = [c for cs in self._chunks.values() for c in cs]
        with _LOCK:
            for chunk in chunks:
                chunk.create()
        self._finalizer = weakref.finalize(self, _delete, chunks)

    def objects(self) -> frozenset[str]:
        return frozenset(self._chunks)

    def match(self, obj: str, kind: str, fields: Fields, changed: frozenset[str]) -> set[str]:
        """The names of the entries that hold for this record state."""
        names: set[str] = set()
        chunks = [c for c in self._chunks.get(obj, ()) if kind in c.kinds]
        tokens: dict[str, str] = {}
        if chunks:
            with _LOCK:
                for chunk in chunks:
                    names |= chunk.match(fields, changed, tokens)
        return names


def _delete(chunks: list[_Chunk]) -> None:
    with _LOCK:
        for chunk in chunks:
            if chunk.handle is not None:
                _dr.delete_ruleset(chunk.handle)
                chunk.handle = None
