"""Record states as the flat, typed facts that durable_rules networks are compiled against.

Values enter the network through a typed projection of the record, because durable_rules
compares loosely (5 equals "5", true equals 1) and the rules compare strictly:
- equality (equals, in and their negations) compares a *code* per field: a number for each
  value the rules compare the field with, and `-` for any other. Values are told apart by a
  *token* that names the type and the value: a number as a double (5 and 5.0 are one token), a
  short plain ASCII text as itself, any other text as a digest, because durable_rules passes
  text lengths as 16-bit numbers (a text of 64 KiB or more compared as if cut short) and
  compares texts as their JSON escapes;
- ordering of numbers (gt, gte, lt, lte) compares doubles. durable_rules reads a number without a
  '.' as a 64-bit integer (exact, and saturated beyond 2**63) and stops reading it at an 'e', so
  every number goes in written as a double with a '.' (`to_json`);
- text patterns (contains, starts_with, matches) and the ordering of texts are read in Python
  before the fact goes in, because durable_rules' own regular expressions know no escapes or
  classes such as `\\d`, and it orders texts with strncmp over their escaped JSON bytes, reading
  one past the end of the shorter one; the network joins on their results;
- a condition tree with more `$and`/`$or` than durable_rules allows in one rule (it refuses the
  whole ruleset) is read in Python as a whole, and the network joins on its result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from typing import Any

from .conditions import Condition, holds, simplify
from .records import Fields, as_double, is_empty, is_number

_TEXT_TOKENS: dict[str, str] = {}  # picklist values repeat: their tokens are kept
_KEPT_VALUES = 1024  # texts of one field's values kept (`Projection.state`)
NOTHING: frozenset[str] = frozenset()
_EXACT_INT = 2**53  # integers a double holds exactly, all written by repr without an exponent


class Projection:
    """Turns a record into the flat, typed fact that one object's entries are compiled against."""

    def __init__(self) -> None:
        self.tokens: set[str] = set()  # fields compared for equality (key `v`)
        self.empty: set[str] = set()  # fields tested for emptiness (key `e`)
        self.numbers: set[str] = set()  # fields ordered as numbers (key `n`)
        self.changed: set[str] = set()
        self.patterns: list[tuple[str, Condition]] = []
        self._pattern_keys: dict[Condition, str] = {}
        self._keys: dict[tuple[str, str], str] = {}
        self._codes: dict[str, dict[str, str]] = {}

    def key(self, how: str, name: str) -> str:
        """The fact's key for a field read one way (v: its value's code, e: empty, n: number,
        c: changed): short, because the C engine reads, hashes and copies every byte of a fact
        (on assert, and again for each rule it fires)."""
        key = self._keys.get((how, name))
        if key is None:
            key = self._keys[how, name] = f"{how}{len(self._keys)}"
        return key

    def code(self, name: str, value: Any) -> str:
        """The text standing for `value` in the field's `v` key: one per value the rules compare
        the field with, and `-` for any other value, which equals none of them."""
        codes = self._codes.setdefault(name, {})
        token = _token(value)
        return codes.setdefault(token, str(len(codes)))

    def pattern_key(self, cond: Condition) -> str:
        """A fact key holding whether `cond` holds, read in Python."""
        key = self._pattern_keys.get(cond)
        if key is None:
            key = self._pattern_keys[cond] = f"p{len(self.patterns)}"
            self.patterns.append((key, cond))
        return key

    def freeze(self) -> None:
        """Fix the keys once compiling is done: `state` and `moment` run per event.

        Every key is a letter and a number, and every value's code is digits or `-`, so the fact
        is written without escaping.
        """
        # Fields compared for equality hold picklist values, ids, flags: values that repeat, so
        # their text is kept per value. Others are written out each time.
        self._kept_fields = tuple((name, {}) for name in sorted(self.tokens))
        for name in self.tokens:
            self._codes.setdefault(name, {})
        self._empty_keys = tuple(
            (n, f',"{self.key("e", n)}":true', f',"{self.key("e", n)}":false')
            for n in sorted(self.empty - self.tokens)
        )
        self._number_keys = tuple(
            (n, f',"{self.key("n", n)}":') for n in sorted(self.numbers - self.tokens)
        )
        self._changed_keys = tuple(
            (n, f',"{self.key("c", n)}":true', f',"{self.key("c", n)}":false')
            for n in sorted(self.changed)
        )
        patterns = [(f',"{key}":', cond) for key, cond in self.patterns]
        self._state_patterns = tuple(p for p in patterns if not reads_changed(p[1]))
        self._moment_patterns = tuple(p for p in patterns if reads_changed(p[1]))

    def state(self, fields: Fields) -> str:
        """The part of the fact that does not depend on what changed (the record's values)."""
        get = fields.get
        out = []
        for name, known in self._kept_fields:
            value = get(name)
            try:
                text = known.get((type(value), value))
            except TypeError:  # not a hashable value: nothing to keep
                text = None
            if text is None:
                text = self._field_text(name, value)
                with contextlib.suppress(TypeError):
                    if len(known) >= _KEPT_VALUES:
                        known.clear()
                    known[type(value), value] = text
            out.append(text)
        for name, yes, no in self._empty_keys:
            out.append(yes if is_empty(get(name)) else no)
        for name, key in self._number_keys:
            value = get(name)
            if is_number(value) and value == value:  # NaN orders with nothing: no key
                out += (key, _number_text(value))
        for key, cond in self._state_patterns:
            out += (key, "true" if holds(cond, fields, NOTHING) else "false")
        return "".join(out)

    def _field_text(self, name: str, value: Any) -> str:
        out = []
        if name in self.tokens:
            code = self._codes[name].get(_token(value), "-")
            out += (f',"{self.key("v", name)}":"', code, '"')
        if name in self.empty:
            out += (f',"{self.key("e", name)}":', "true" if is_empty(value) else "false")
        if name in self.numbers and is_number(value) and value == value:
            out += (f',"{self.key("n", name)}":', _number_text(value))  # NaN: no key
        return "".join(out)

    def moment(self, fields: Fields, changed: frozenset[str]) -> str:
        """The part of the fact that depends on what changed in the event."""
        out = [yes if name in changed else no for name, yes, no in self._changed_keys]
        for key, cond in self._moment_patterns:
            out += (key, "true" if holds(cond, fields, changed) else "false")
        return "".join(out)

    def size(self, other: Projection | None = None) -> int:
        """Properties of the fact (sid, id, o and the keys), with `other`'s keys added."""
        sets = ("tokens", "empty", "numbers", "changed")
        keys = sum(len(getattr(self, a)) for a in sets) + len(self.patterns)
        if other is not None:
            keys += sum(len(getattr(other, a) - getattr(self, a)) for a in sets)
            keys += sum(1 for _, cond in other.patterns if cond not in self._pattern_keys)
        return 3 + keys


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


def reads_changed(cond: Condition) -> bool:
    return simplify(cond, changed_is=True) != cond


def _escapes(text: str) -> bool:
    return '"' in text or "\\" in text


def to_json(value: Any) -> str:
    """JSON as durable_rules reads it: every number a double written with a '.'."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{to_json(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if is_number(value):
        return _number_text(value)
    return json.dumps(value, ensure_ascii=False)


def _number_text(value: int | float) -> str:
    """A number as a double written with a '.', which is how durable_rules reads a double."""
    if type(value) is int and -_EXACT_INT < value < _EXACT_INT:
        return f"{value}.0"  # what repr(float(value)) writes, without the float
    number = as_double(value)
    if math.isinf(number):
        return "1.0e999" if number > 0 else "-1.0e999"  # read back as +-infinity
    text = repr(number)
    return text if "." in text or "e" not in text else text.replace("e", ".0e", 1)
