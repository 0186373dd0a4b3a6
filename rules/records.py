"""The data that crosses the rules boundary: a CRM record event in, a Decision out."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
)

Kind = Literal["created", "updated", "deleted"]

# A record's field value as CRMs send it: text (dates and ids travel as text), a number, a
# boolean, or null. Nested values are not part of a CRM record's flat field list.
FieldValue = StrictBool | StrictInt | StrictFloat | str | None
Fields = dict[str, FieldValue]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("occurred_at needs a time zone, e.g. 2026-11-24T10:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # e.g. 9999-12-31T23:59:59-14:00; pydantic reports a ValueError, not an OverflowError
        raise ValueError("occurred_at is outside the years 1 to 9999 once in UTC") from None


class RecordEvent(BaseModel):
    """One change to one CRM record, normalised from whatever the CRM sent."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str = Field(min_length=1, max_length=255)
    source: str = Field(default="salesforce", min_length=1, max_length=64)
    object: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    record_id: str = Field(min_length=1, max_length=64)
    kind: Kind
    occurred_at: Annotated[datetime, AfterValidator(_utc)]
    actor: str | None = None
    fields: Fields = Field(default_factory=dict)
    changed: tuple[str, ...] | None = None

    def changed_fields(self, previous: Fields | None) -> frozenset[str]:
        """The fields this event changed: as sent, else derived from the previous snapshot."""
        if self.changed is not None:
            return frozenset(self.changed)
        if self.kind == "created" or previous is None:
            return frozenset(name for name, value in self.fields.items() if not is_empty(value))
        return frozenset(
            name for name, value in self.fields.items() if not same_value(value, previous.get(name))
        )


def is_empty(value: Any) -> bool:
    """Null, absent, "" and blank text are empty."""
    return value is None or (isinstance(value, str) and not value.strip())


def same_value(a: Any, b: Any) -> bool:
    """Equality as the rules see it: types matter, except that 1 and 1.0 are the same number."""
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return as_double(a) == as_double(b)
    return type(a) is type(b) and a == b


def is_number(value: Any) -> bool:
    """A number as the rules see one: an int or a float, but not a boolean."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_double(value: int | float) -> float:
    """A number as the rules compare it: a double; integers beyond its range are infinite."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


# The models below are built on first use (`defer_build`), not when the module is imported:
# `lastmile rules check` never needs them, and it is run by editors and pre-commit hooks.


class Prompt(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)
    rule: str
    text: str


class FollowUpTask(BaseModel):
    """A follow-up task a rule asks for; `key` makes creating it idempotent."""

    model_config = ConfigDict(frozen=True, defer_build=True)
    rule: str
    subject: str
    due: date
    owner: str | None = None
    what_id: str | None = None
    priority: str | None = None


class ConditionTrace(BaseModel):
    """Whether one condition held, and the value it saw (for `rules explain`)."""

    model_config = ConfigDict(frozen=True, defer_build=True)
    condition: str
    held: bool
    value: FieldValue | list[str] = None
    children: list[ConditionTrace] = Field(default_factory=list)


class RuleTrace(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)
    rule: str
    matched: bool
    reason: str
    conditions: list[ConditionTrace] = Field(default_factory=list)


class Decision(BaseModel):
    """What the rules decided for one event: the shape `rules explain --json` prints."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    matched: list[str] = Field(default_factory=list)
    defaults: dict[str, FieldValue] = Field(default_factory=dict)
    missing: dict[str, list[str]] = Field(default_factory=dict)
    prompts: list[Prompt] = Field(default_factory=list)
    tasks: list[FollowUpTask] = Field(default_factory=list)
    cleared: list[str] = Field(default_factory=list)
    # Rules (with `require`) whose situation holds: the `if` with `changed` and `on` set aside.
    # Occasions are derived from it; see docs/rules.md.
    situation: list[str] = Field(default_factory=list)
    # Matched rules for which nothing is written (observe mode, an experiment's control arm or a
    # variant `none`): measured like the others.
    observed: list[str] = Field(default_factory=list)
    # The experiment arm of each rule whose experiment runs for this event's unit.
    arms: dict[str, str] = Field(default_factory=dict)
    trace: list[RuleTrace] | None = None

    def to_json(self) -> dict[str, Any]:
        """DESIGN.md's shape; `observed` and `trace` only when there is something in them."""
        exclude = {"trace"} if self.trace is None else set()
        exclude |= {key for key in ("observed", "arms") if not getattr(self, key)}
        return self.model_dump(mode="json", exclude=exclude)
