"""The rule-file format (RULES.md) as pydantic models: what a CRM admin may write."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .conditions import All, Any_, Changed, Condition, Not, parse_condition, simplify
from .records import FieldValue, Kind
from .templates import DURATION_PATTERN, Duration, placeholders

SLUG = r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$"


def _slug(value: Any) -> str:
    if not isinstance(value, str) or not re.match(SLUG, value) or len(value) > 80:
        raise ValueError(
            f"{value!r} is not a slug: use lower-case letters, digits and single - or _ "
            "between them, e.g. call-essentials"
        )
    return value


Slug = Annotated[
    str, PlainValidator(_slug), WithJsonSchema({"type": "string", "pattern": SLUG, "maxLength": 80})
]
FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=80)]
Locale = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(?:-[A-Za-z]{2,4})?$")]

_CONDITION_MARK = "lastmile-condition"
_CONDITION_SCHEMA: dict[str, Any] = {
    "description": (
        "Field: value | Field: {operator: value} | changed: Field | all/any: [...] | not: {...}"
    ),
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "all": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Condition"}},
        "any": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Condition"}},
        "not": {"$ref": "#/$defs/Condition"},
        "changed": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ]
        },
    },
    "additionalProperties": {
        "anyOf": [
            {"type": ["string", "number", "boolean", "null"]},
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {
                    **{
                        op: {"type": ["string", "number", "boolean", "null"]}
                        for op in ("equals", "not_equals", "gt", "gte", "lt", "lte")
                    },
                    "in": {"type": "array", "minItems": 1},
                    "not_in": {"type": "array", "minItems": 1},
                    "contains": {"type": "string"},
                    "starts_with": {"type": "string"},
                    "matches": {"type": "string", "format": "regex"},
                    "empty": {"type": "boolean"},
                },
                "additionalProperties": False,
            },
        ]
    },
}

ConditionField = Annotated[
    Condition,
    PlainValidator(parse_condition),
    PlainSerializer(str),
    WithJsonSchema({"title": _CONDITION_MARK}),
]


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError("expected a duration such as 4h, 2d or 2 business days")
    return Duration.parse(str(value))


DurationField = Annotated[
    Duration,
    PlainValidator(_duration),
    PlainSerializer(str),
    WithJsonSchema(
        {
            "type": "string",
            "examples": ["4h", "2d", "1w", "2 business days"],
            "pattern": DURATION_PATTERN,
        }
    ),
]


def _template(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a text")
    placeholders(value)
    return value


Template = Annotated[str, PlainValidator(_template), WithJsonSchema({"type": "string"})]
LocalText = Template | dict[Locale, Template]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _one_or_many_schema(item: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [item, {"type": "array", "items": item, "minItems": 1}]})


class When(_Strict):
    """The `if`: the moment (event kinds) and the conditions that must hold."""

    on: Annotated[
        list[Kind],
        BeforeValidator(_one_or_many),
        _one_or_many_schema({"enum": ["created", "updated", "deleted"]}),
    ] = Field(default_factory=lambda: ["created", "updated"], min_length=1)
    all: list[ConditionField] | None = Field(default=None, min_length=1)
    any: list[ConditionField] | None = Field(default=None, min_length=1)
    not_: ConditionField | None = Field(default=None, alias="not")
    changed: (
        Annotated[
            list[FieldName], BeforeValidator(_one_or_many), _one_or_many_schema({"type": "string"})
        ]
        | None
    ) = Field(default=None, min_length=1)

    def condition(self) -> Condition:
        """The conditions as one tree (the event kinds aside)."""
        parts: list[Condition] = []
        if self.all is not None:
            parts.append(All(tuple(self.all)))
        if self.any is not None:
            parts.append(Any_(tuple(self.any)))
        if self.not_ is not None:
            parts.append(Not(self.not_))
        if self.changed is not None:
            parts.append(Changed(tuple(self.changed)))
        return simplify(All(tuple(parts)))


class TaskAction(_Strict):
    """`task:` a follow-up task, created once per rule, record and occasion."""

    subject: Template = Field(min_length=1)
    due_in: DurationField
    owner: Template = "{OwnerId}"
    related_to: Template = "{Id}"
    priority: Literal["High", "Normal", "Low"] | None = None


class Escalation(_Strict):
    """`escalate:` when the deadline passes unmet, a task for someone who can help."""

    subject: Template = Field(min_length=1)
    owner: Template = "{OwnerId}"
    due_in: DurationField = Field(default_factory=lambda: Duration.parse("0 days"))
    priority: Literal["High", "Normal", "Low"] | None = "High"


class Then(_Strict):
    """The `then`: the expected behaviour and how the system helps."""

    require: list[FieldName] = Field(default_factory=list)
    default: dict[FieldName, FieldValue] = Field(default_factory=dict)
    task: TaskAction | None = None
    prompt: LocalText | None = None
    within: DurationField | None = None
    escalate: Escalation | None = None

    @field_validator("require")
    @classmethod
    def _once_each(cls, require: list[str]) -> list[str]:
        twice = sorted({f for f in require if require.count(f) > 1})
        if twice:
            raise ValueError(f"'require' lists {', '.join(twice)} more than once")
        return require

    @field_validator("within")
    @classmethod
    def _deadline_of_require(cls, within: Duration | None, info: ValidationInfo) -> Duration | None:
        if within is not None and not info.data.get("require"):
            raise ValueError("'within' is the deadline of a 'require'; add the fields to require")
        return within

    @field_validator("escalate")
    @classmethod
    def _escalate_after_within(
        cls, escalate: Escalation | None, info: ValidationInfo
    ) -> Escalation | None:
        if escalate is not None and info.data.get("within") is None:
            raise ValueError("'escalate' acts when the 'within' deadline passes; add 'within'")
        return escalate

    @model_validator(mode="after")
    def _something_to_do(self) -> Then:
        if not (self.require or self.default or self.task or self.prompt):
            raise ValueError("'then' needs at least one of require, default, task or prompt")
        return self


Mode = Literal["live", "observe"]
CONTROL = "control"  # the arm that gets nothing written (measured, as in observe mode)


class Variant(_Strict):
    """What a non-control arm of an experiment changes in the rule's `then`."""

    require: list[FieldName] | None = Field(default=None, min_length=1)
    default: dict[FieldName, FieldValue] | None = None
    task: TaskAction | None = None
    prompt: LocalText | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> Variant:
        if not self.model_fields_set:
            raise ValueError("a variant changes at least one of require, default, task or prompt")
        return self


When_ = Annotated[
    datetime,
    WithJsonSchema(
        {"type": "string", "examples": ["2026-12-01", "2026-12-01T09:00:00Z"]},
    ),
]


class Experiment(_Strict):
    """`experiment:` randomised arms of a rule (DESIGN.md's experiment contract)."""

    id: Slug
    unit: Literal["owner", "record"] = "owner"
    arms: dict[Slug, Annotated[float, Field(gt=0, le=1)]] = Field(min_length=2)
    # An arm's variant; `none`: nothing written. An arm without one gets the rule's own `then`.
    variants: dict[Slug, Variant | Literal["none"]] = Field(default_factory=dict)
    start: When_ | None = None  # outside start..end everyone gets the rule's own `then`
    end: When_ | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _midnight(cls, value: Any) -> Any:
        """A date is its midnight, UTC; a time without a zone is UTC."""
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return f"{value}T00:00:00Z"
        return value

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        total = sum(self.arms.values())
        if abs(total - 1) > 1e-9:
            weights = " + ".join(f"{w:g}" for w in self.arms.values())
            raise ValueError(f"the arms' weights must sum to 1 ({weights} = {total:g})")
        unknown = [name for name in self.variants if name not in self.arms]
        if unknown:
            raise ValueError(f"variant {unknown[0]!r} is not an arm ({', '.join(self.arms)})")
        if CONTROL in self.variants:
            raise ValueError("'control' is the arm that gets nothing written: it has no variant")
        if self.start and self.end and self.start >= self.end:
            raise ValueError("'start' must be before 'end'")
        return self

    def running(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)


class Rule(_Strict):
    id: Slug
    description: str | None = None
    object: FieldName
    com_b: Literal["capability", "opportunity", "motivation"] | None = None
    enabled: bool = True
    # observe: evaluated and measured like a live rule, but nothing is written for it (the
    # baseline). Unset: the pack's mode.
    mode: Mode | None = None
    experiment: Experiment | None = None
    # Which prompts show when a person's or a record's prompt budget is full: higher first;
    # equal ones (and rules without one, 0) in file order.
    priority: int = Field(default=0, ge=-1000, le=1000)
    if_: When = Field(default_factory=When, alias="if")
    then: Then

    @model_validator(mode="after")
    def _experiment_measures(self) -> Rule:
        if self.experiment is not None and not self.then.require:
            raise ValueError(
                "an experiment compares how often 'require' is met: add the fields to require"
            )
        return self


class TestEvent(_Strict):
    """A RecordEvent as a test writes it: everything but the fields may be left out."""

    id: str | None = None
    source: str = "test"
    object: FieldName | None = None
    record_id: str | None = None
    kind: Kind | None = None
    occurred_at: datetime | None = None
    actor: str | None = None
    fields: dict[FieldName, FieldValue] = Field(default_factory=dict)
    changed: list[FieldName] | None = None


class ExpectedTask(_Strict):
    rule: str | None = None
    subject: str | None = None
    owner: str | None = None
    due: str | None = None
    what_id: str | None = None
    priority: str | None = None


Outcome = Literal["met_first_time", "met_after_prompt", "missed", "withdrawn", "open", "none"]


class Expect(_Strict):
    """What a test expects; each key given is compared exactly, keys left out are not checked."""

    matched: list[str] | None = None
    missing: dict[str, list[str]] | None = None
    defaults: dict[str, FieldValue] | None = None
    tasks: list[ExpectedTask] | None = None
    prompts: dict[str, str] | None = None
    cleared: list[str] | None = None
    occasions: dict[str, Outcome] | None = None


class Step(_Strict):
    """One event of a sequence, at a time on the test's virtual clock."""

    at: str | datetime = "0m"
    event: TestEvent = Field(default_factory=TestEvent)
    expect: Expect | None = None


class RuleTest(_Strict):
    name: str = Field(min_length=1)
    todo: bool | str = False
    event: TestEvent | None = None
    events: list[Step] | None = Field(default=None, min_length=1)
    as_of: str | datetime | None = None
    expect: Expect | None = None

    @model_validator(mode="after")
    def _one_form(self) -> RuleTest:
        if (self.event is None) == (self.events is None):
            raise ValueError("a test has either 'event' (one event) or 'events' (a sequence)")
        if self.event is not None and self.as_of is not None:
            raise ValueError("'as_of' belongs to a sequence of 'events'")
        return self


class Pack(_Strict):
    pack: Slug
    crm: Literal["salesforce", "hubspot"] = "salesforce"  # whose objects and fields it names
    locale: Locale = "en"
    description: str | None = None
    labels: dict[FieldName, str | dict[Locale, str]] = Field(default_factory=dict)
    mode: Mode = "live"
    # Values that do not count as filled for `require` (compared without case and surrounding
    # blanks), beside the built-in patterns; and per field, text shorter than this is one too.
    placeholders: list[Annotated[str, StringConstraints(min_length=1, max_length=80)]] = Field(
        default_factory=list
    )
    min_length: dict[FieldName, Annotated[int, Field(ge=1, le=1000)]] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    tests: list[RuleTest] = Field(default_factory=list)

    def label(self, field: str, locale: str | None = None) -> str:
        label = self.labels.get(field)
        if label is None:
            return field
        if isinstance(label, str):
            return label
        return pick_locale(label, locale or self.locale) or field


def pick_locale(texts: dict[str, str], locale: str) -> str | None:
    """The text for `locale`: the exact locale, then its language (nl for nl-BE), then English."""
    for key in (locale, locale.split("-")[0], "en"):
        if texts.get(key):
            return texts[key]
    return next(iter(texts.values()), None)


class TestFile(_Strict):
    """A `*.test.yaml` file: tests run against every rule in its directory."""

    tests: list[RuleTest] = Field(min_length=1)


# Where a test's virtual clock starts when its events give no time: a Monday morning.
VIRTUAL_EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def json_schema() -> dict[str, Any]:
    """JSON Schema of a rule pack, for editors with the YAML language server."""
    schema = _point_to_condition(Pack.model_json_schema(by_alias=True))
    schema.setdefault("$defs", {})["Condition"] = _CONDITION_SCHEMA
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Lastmile rule pack"
    return schema


def _point_to_condition(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("title") == _CONDITION_MARK:
            return {"$ref": "#/$defs/Condition"}
        return {k: _point_to_condition(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_point_to_condition(v) for v in node]
    return node
