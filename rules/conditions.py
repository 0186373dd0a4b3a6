"""Conditions of a rule's `if`: parsed from YAML into a small tree, and read in plain Python.

The plain reading is the reference semantics: `rules explain` traces with it, and the
differential test checks the durable_rules network against it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .records import ConditionTrace, Fields, as_double, is_empty, is_number, same_value

Op = Literal[
    "equals",
    "not_equals",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "starts_with",
    "matches",
    "empty",
]
OPERATORS: tuple[str, ...] = get_args(Op)
COMBINATORS = ("all", "any", "not", "changed")
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class ConditionError(ValueError):
    """A condition that cannot be read; `path` leads from the condition to the bad part."""

    def __init__(
        self, message: str, path: tuple[str | int, ...] = (), *, at_key: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.at_key = at_key  # point at the key written (a misspelling), not at its value

    def within(self, *outer: str | int) -> ConditionError:
        return ConditionError(self.message, (*outer, *self.path), at_key=self.at_key)


@dataclass(frozen=True)
class Compare:
    field: str
    op: Op
    value: Any
    pattern: re.Pattern[str] | None = field(default=None, compare=False)

    def __str__(self) -> str:
        if self.op == "equals":
            return f"{self.field} = {self.value!r}"
        return f"{self.field} {self.op} {self.value!r}"


@dataclass(frozen=True)
class Changed:
    fields: tuple[str, ...]

    def __str__(self) -> str:
        return f"changed {', '.join(self.fields)}"


@dataclass(frozen=True)
class All:
    items: tuple[Condition, ...]

    def __str__(self) -> str:
        return "all of"


@dataclass(frozen=True)
class Any_:
    items: tuple[Condition, ...]

    def __str__(self) -> str:
        return "any of"


@dataclass(frozen=True)
class Not:
    item: Condition

    def __str__(self) -> str:
        return "not"


Condition = Compare | Changed | All | Any_ | Not
TRUE: Condition = All(())


def suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """A "did you mean" tail for a misspelt key, or nothing."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _scalar(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, float) and value != value:
            raise ConditionError(f"{where}: NaN is not a value a field can hold")
        return value
    raise ConditionError(f"{where}: expected a text, number, boolean or null, got {_kind(value)}")


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _field_names(value: Any) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names:
        raise ConditionError("changed: expected a field name or a list of field names")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            raise ConditionError(
                f"changed: {name!r} is not a field API name", (i,) if len(names) > 1 else ()
            )
    return tuple(names)


def _operand(field_name: str, op: str, value: Any) -> Compare:
    where = f"{field_name} {op}"
    if op in ("in", "not_in"):
        if not isinstance(value, list | tuple) or not value:
            raise ConditionError(f"{where}: expected a non-empty list of values")
        items = []
        for i, item in enumerate(value):
            try:
                items.append(_scalar(item, where))
            except ConditionError as exc:
                raise exc.within(i) from None
        return Compare(field_name, op, tuple(items))  # type: ignore[arg-type]
    if op == "empty":
        if not isinstance(value, bool):
            raise ConditionError(f"{where}: expected true or false")
        return Compare(field_name, op, value)
    if op in ("contains", "starts_with", "matches"):
        if not isinstance(value, str):
            raise ConditionError(f"{where}: expected a text, got {_kind(value)}")
        pattern = None
        if op == "matches":
            try:
                pattern = re.compile(value)
            except re.error as exc:
                raise ConditionError(f"{where}: not a valid regular expression: {exc}") from None
        return Compare(field_name, op, value, pattern)
    scalar = _scalar(value, where)
    if op in ("gt", "gte", "lt", "lte") and (scalar is None or isinstance(scalar, bool)):
        raise ConditionError(f"{where}: expected a number or a text to compare with")
    return Compare(field_name, op, scalar)  # type: ignore[arg-type]


def parse_condition(raw: Any) -> Condition:
    """Read one condition as written in YAML; raise ConditionError saying what is wrong."""
    if not isinstance(raw, Mapping):
        raise ConditionError(
            "a condition is a mapping like 'Status: Completed' or 'changed: Status', "
            f"got {_kind(raw)}"
        )
    if len(raw) != 1:
        keys = ", ".join(str(k) for k in raw)
        raise ConditionError(
            f"a condition has exactly one key, got {len(raw)} ({keys}); "
            "put several conditions in a list under 'all:' or 'any:'"
        )
    ((key, value),) = raw.items()
    if not isinstance(key, str):
        raise ConditionError(f"{key!r} is not a field name")
    try:
        return _parse_pair(key, value)
    except ConditionError as exc:
        raise exc.within(key) from None


def _parse_pair(key: str, value: Any) -> Condition:
    if key in ("all", "any"):
        if not isinstance(value, list | tuple) or not value:
            raise ConditionError(f"{key}: expected a non-empty list of conditions")
        items = []
        for i, item in enumerate(value):
            try:
                items.append(parse_condition(item))
            except ConditionError as exc:
                raise exc.within(i) from None
        return All(tuple(items)) if key == "all" else Any_(tuple(items))
    if key == "not":
        return Not(parse_condition(value))
    if key == "changed":
        return Changed(_field_names(value))
    if not FIELD_NAME.match(key):
        raise ConditionError(f"{key!r} is not a field API name (letters, digits and _)")
    if isinstance(value, Mapping):
        if len(value) != 1:
            raise ConditionError(
                f"{key}: one operator per condition, got {len(value)}; combine several with 'all:'"
            )
        ((op, operand),) = value.items()
        if op not in OPERATORS and not suggest(str(op), OPERATORS) and suggest(key, COMBINATORS):
            raise ConditionError(
                f"{key!r} looks like a misspelt keyword{suggest(key, COMBINATORS)}", at_key=True
            )
        if op not in OPERATORS:
            raise ConditionError(
                f"unknown operator {op!r}{suggest(str(op), OPERATORS)}", (op,), at_key=True
            )
        try:
            return _operand(key, op, operand)
        except ConditionError as exc:
            raise exc.within(op) from None
    if isinstance(value, list | tuple):
        hint = suggest(key, COMBINATORS)
        raise ConditionError(
            f"{key}: compared with a list{hint or '; use {in: [...]} for one of several values'}"
        )
    return Compare(key, "equals", _scalar(value, key))


def simplify(cond: Condition, changed_is: bool | None = None) -> Condition:
    """Fold constants; with `changed_is` set, every `changed` condition becomes that constant."""
    if isinstance(cond, Changed):
        if changed_is is None:
            return cond
        return TRUE if changed_is else Any_(())
    if isinstance(cond, Not):
        inner = simplify(cond.item, changed_is)
        if inner == TRUE:
            return Any_(())
        if inner == Any_(()):
            return TRUE
        return Not(inner)
    if isinstance(cond, All | Any_):
        kind = type(cond)
        unit, zero = (TRUE, Any_(())) if kind is All else (Any_(()), TRUE)
        items = []
        for item in cond.items:
            s = simplify(item, changed_is)
            if s == zero:
                return zero
            if s != unit:
                items.extend(s.items if type(s) is kind else [s])
        return items[0] if len(items) == 1 else kind(tuple(items))
    return cond


def fields_read(cond: Condition) -> set[str]:
    """The record fields a condition reads (compared or watched for change)."""
    if isinstance(cond, Compare):
        return {cond.field}
    if isinstance(cond, Changed):
        return set(cond.fields)
    if isinstance(cond, Not):
        return fields_read(cond.item)
    if isinstance(cond, All | Any_):
        return set().union(*(fields_read(c) for c in cond.items))
    return set()


def _order(a: Any, b: Any, test: Callable[[Any, Any], bool]) -> bool:
    if is_number(a) and is_number(b):
        return test(as_double(a), as_double(b))
    if isinstance(a, str) and isinstance(b, str):
        return test(a, b)
    return False


def compare(cond: Compare, value: Any) -> bool:
    """Whether `value` (None when absent) satisfies one comparison."""
    op, ref = cond.op, cond.value
    if op == "equals":
        return same_value(value, ref)
    if op == "not_equals":
        return not same_value(value, ref)
    if op == "in":
        return any(same_value(value, r) for r in ref)
    if op == "not_in":
        return not any(same_value(value, r) for r in ref)
    if op == "empty":
        return is_empty(value) == ref
    if op == "gt":
        return _order(value, ref, lambda a, b: a > b)
    if op == "gte":
        return _order(value, ref, lambda a, b: a >= b)
    if op == "lt":
        return _order(value, ref, lambda a, b: a < b)
    if op == "lte":
        return _order(value, ref, lambda a, b: a <= b)
    if not isinstance(value, str):
        return False
    if op == "contains":
        return ref in value
    if op == "starts_with":
        return value.startswith(ref)
    assert cond.pattern is not None
    return cond.pattern.search(value) is not None


def holds(cond: Condition, fields: Fields, changed: frozenset[str]) -> bool:
    """The plain Python reading of a condition."""
    if isinstance(cond, Compare):
        return compare(cond, fields.get(cond.field))
    if isinstance(cond, Changed):
        return any(f in changed for f in cond.fields)
    if isinstance(cond, All):
        return all(holds(c, fields, changed) for c in cond.items)
    if isinstance(cond, Any_):
        return any(holds(c, fields, changed) for c in cond.items)
    return not holds(cond.item, fields, changed)


def trace(cond: Condition, fields: Fields, changed: frozenset[str]) -> ConditionTrace:
    """Like `holds`, but says for each condition whether it held and what value it saw."""
    if isinstance(cond, Compare):
        value = fields.get(cond.field)
        return ConditionTrace(condition=str(cond), held=compare(cond, value), value=value)
    if isinstance(cond, Changed):
        hit = sorted(f for f in cond.fields if f in changed)
        return ConditionTrace(condition=str(cond), held=bool(hit), value=hit)
    items = cond.items if isinstance(cond, All | Any_) else (cond.item,)
    children = [trace(c, fields, changed) for c in items]
    if isinstance(cond, All):
        held = all(c.held for c in children)
    elif isinstance(cond, Any_):
        held = any(c.held for c in children)
    else:
        held = not children[0].held
    return ConditionTrace(condition=str(cond), held=held, children=children)
