"""The sandbox org's schema (read from schema.yaml) and how field values are checked and stored."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources

from ruamel.yaml import YAML

from .errors import (
    SalesforceError,
    bad_json,
    bad_picklist_value,
    malformed_id,
    string_too_long,
)
from .ids import to18

TEXT_TYPES = {"string", "textarea", "picklist", "email", "phone", "url"}
NUMBER_TYPES = {"double", "currency", "percent"}
MAX_LENGTH = {"string": 255}  # Salesforce's Text field; long text areas are not limited here
TYPES = TEXT_TYPES | NUMBER_TYPES | {"int", "boolean", "date", "datetime", "reference", "id"}
SYSTEM_FIELDS = (
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    label: str
    createable: bool = True
    updateable: bool = True
    required: bool = False
    default: object = None
    external_id: bool = False
    unique: bool = False
    values: tuple[str, ...] = ()  # a picklist's values, in order
    restricted: bool = False  # a restricted picklist refuses other values, as Salesforce does
    references: tuple[str, ...] = ()  # a reference's target objects

    @property
    def nillable(self) -> bool:
        return not self.required and self.type not in ("boolean", "id")


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    label: str
    key_prefix: str
    name_field: str
    fields: tuple[FieldSpec, ...]

    def field(self, name: str) -> FieldSpec | None:
        """The field called `name`, compared case-insensitively as Salesforce does."""
        return self._by_lower().get(name.lower())

    def _by_lower(self) -> dict[str, FieldSpec]:
        return _index(self)


@cache
def _index(spec: ObjectSpec) -> dict[str, FieldSpec]:
    return {field.name.lower(): field for field in spec.fields}


@dataclass(frozen=True)
class Schema:
    objects: tuple[ObjectSpec, ...]

    def object(self, name: str) -> ObjectSpec | None:
        return next((o for o in self.objects if o.name.lower() == name.lower()), None)

    def by_prefix(self, prefix: str) -> ObjectSpec | None:
        return next((o for o in self.objects if o.key_prefix == prefix), None)


def _label(name: str) -> str:
    """'Next_Step__c' -> 'Next Step', 'LeadSource' -> 'Lead Source'."""
    bare = name.removesuffix("__c").replace("_", " ")
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", bare).strip()


def _field(name: str, raw: object) -> FieldSpec:
    spec = {"type": raw} if isinstance(raw, str) else dict(raw)  # type: ignore[arg-type]
    if spec["type"] not in TYPES:
        raise ValueError(f"schema.yaml: {name}: unknown type {spec['type']!r}")
    readonly = bool(spec.get("readonly", False))
    return FieldSpec(
        name=name,
        type=spec["type"],
        label=spec.get("label") or _label(name),
        createable=not readonly,
        updateable=not readonly,
        required=bool(spec.get("required", False)),
        default=spec.get("default"),
        external_id=bool(spec.get("external_id", False)),
        unique=bool(spec.get("unique", False)),
        values=tuple(str(v) for v in spec.get("values", ())),
        restricted=bool(spec.get("restricted", False)),
        references=_targets(name, spec),
    )


def _targets(name: str, spec: dict) -> tuple[str, ...]:
    if spec["type"] != "reference":
        return ()
    if "to" in spec:
        return tuple(spec["to"])
    if name == "OwnerId" or name.endswith("ById"):
        return ("User",)
    return (name.removesuffix("Id"),)


def _system(name: str, kind: str, label: str) -> FieldSpec:
    references = ("User",) if kind == "reference" else ()
    return FieldSpec(name, kind, label, createable=False, updateable=False, references=references)


@cache
def load_schema() -> Schema:
    """The schema shipped with the sandbox, with the system fields every object has."""
    text = resources.files(__package__).joinpath("schema.yaml").read_text(encoding="utf-8")
    data = YAML(typ="safe").load(text)
    objects = []
    for name, raw in data.items():
        fields = [_system("Id", "id", f"{name} ID")]
        fields += [_field(fname, fraw) for fname, fraw in raw["fields"].items()]
        if raw.get("owned", True):
            fields.append(FieldSpec("OwnerId", "reference", "Owner ID", references=("User",)))
        fields += [
            _system("CreatedDate", "datetime", "Created Date"),
            _system("CreatedById", "reference", "Created By ID"),
            _system("LastModifiedDate", "datetime", "Last Modified Date"),
            _system("LastModifiedById", "reference", "Last Modified By ID"),
            _system("SystemModstamp", "datetime", "System Modstamp"),
        ]
        objects.append(
            ObjectSpec(
                name=name,
                label=raw.get("label", _label(name)),
                key_prefix=str(raw["key_prefix"]),
                name_field=raw.get("name_field", "Name"),
                fields=tuple(fields),
            )
        )
    return Schema(tuple(objects))


def format_datetime(moment: datetime) -> str:
    """Salesforce's REST datetime form: 2026-11-24T10:00:00.000+0000 (UTC, milliseconds)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 datetime as Salesforce accepts it (Z, +0000 or +00:00); naive means UTC."""
    cleaned = text.strip().replace("Z", "+00:00")
    cleaned = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", cleaned)
    moment = datetime.fromisoformat(cleaned)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _cannot(kind: str, value: object) -> SalesforceError:
    token = "VALUE_STRING" if isinstance(value, str) else "VALUE_NUMBER"
    if isinstance(value, bool):
        token = "VALUE_TRUE" if value else "VALUE_FALSE"
    elif isinstance(value, (dict, list)):
        token = "START_OBJECT" if isinstance(value, dict) else "START_ARRAY"
    return bad_json(
        f"Cannot deserialize instance of {kind} from {token} value {value} "
        "or request may be missing a required field"
    )


def coerce(field: FieldSpec, value: object) -> object:
    """The value as stored for `field`, or a SalesforceError like Salesforce's for a bad one.

    An empty string is stored as null (Salesforce keeps no empty text); a null boolean is false.
    """
    if value is None or value == "":
        return False if field.type == "boolean" else None
    kind = field.type
    if isinstance(value, (dict, list)):
        raise _cannot(kind, value)
    if kind in TEXT_TYPES:
        if isinstance(value, bool):
            return "true" if value else "false"
        text = str(value)
        limit = MAX_LENGTH.get(kind)
        if limit is not None and len(text) > limit:
            raise string_too_long(field.label, text, field.name, limit)
        if field.restricted and text not in field.values:
            raise bad_picklist_value(text, field.name)
        return text
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _cannot(kind, value)
    if kind in NUMBER_TYPES or kind == "int":
        return _number(kind, value)
    if kind == "date":
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise _cannot(kind, value) from None
    if kind == "datetime":
        try:
            return format_datetime(parse_datetime(str(value)))
        except ValueError:
            raise _cannot(kind, value) from None
    full = to18(value)
    if full is None:
        raise malformed_id(field.label, value, field.name)
    return full


def _number(kind: str, value: object) -> int | float:
    if isinstance(value, bool):
        raise _cannot(kind, value)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _cannot(kind, value) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise _cannot(kind, value)
    if kind == "int":
        if not number.is_integer():
            raise _cannot(kind, value)
        return int(number)
    return number
