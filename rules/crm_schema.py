"""The CRM's schema as rules see it: objects, their fields, types, labels and picklists.

Pure: built from plain data (a schema file's JSON, Salesforce describe answers, or what
`lastmile.schemas` reads from an SFDX project); reading files happens elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

FORMAT = "lastmile-schema/1"
TEXT_TYPES = frozenset(
    {"string", "textarea", "picklist", "multipicklist", "email", "phone", "url", "combobox"}
)
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})
# Describe types whose values travel as text but are not free text.
OTHER_TYPES = frozenset({"boolean", "date", "datetime", "time", "reference", "id"})


@dataclass(frozen=True)
class CrmField:
    """One field as describe reports it (Salesforce's type names: string, picklist, currency...)."""

    name: str
    type: str
    label: str = ""
    length: int | None = None
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    references: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "label": self.label or self.name}
        if self.length:
            out["length"] = self.length
        for key in ("nillable", "createable", "updateable"):
            if not getattr(self, key):
                out[key] = False
        if self.picklist:
            out["picklist"] = list(self.picklist)
        if self.restricted:
            out["restricted"] = True
        if self.references:
            out["references"] = list(self.references)
        return out

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> CrmField:
        return cls(
            name=name,
            type=str(data["type"]),
            label=str(data.get("label") or name),
            length=data.get("length"),
            nillable=bool(data.get("nillable", True)),
            createable=bool(data.get("createable", True)),
            updateable=bool(data.get("updateable", True)),
            picklist=tuple(str(v) for v in data.get("picklist", ())),
            restricted=bool(data.get("restricted", False)),
            references=tuple(str(v) for v in data.get("references", ())),
        )

    @classmethod
    def from_describe(cls, data: Mapping[str, Any]) -> CrmField:
        """A field from one entry of describe's `fields`."""
        values = [
            str(v["value"])
            for v in data.get("picklistValues") or ()
            if isinstance(v, Mapping) and v.get("active", True)
        ]
        return cls(
            name=str(data["name"]),
            type=str(data.get("type", "string")),
            label=str(data.get("label") or data["name"]),
            length=data.get("length") or None,
            nillable=bool(data.get("nillable", True)),
            createable=bool(data.get("createable", True)),
            updateable=bool(data.get("updateable", True)),
            picklist=tuple(values),
            restricted=bool(data.get("restrictedPicklist", False)),
            references=tuple(str(r) for r in data.get("referenceTo") or ()),
        )


@dataclass(frozen=True)
class CrmObject:
    """One object (Task, Opportunity, My_Object__c) and its fields by API name."""

    name: str
    label: str
    fields: Mapping[str, CrmField] = field(default_factory=dict)

    def merged(self, other: CrmObject) -> CrmObject:
        """This object with `other`'s fields added; `other` wins where both describe a field."""
        return replace(
            self, label=other.label or self.label, fields={**self.fields, **other.fields}
        )


@dataclass(frozen=True)
class CrmSchema:
    """The objects a rule may name, by API name."""

    objects: Mapping[str, CrmObject] = field(default_factory=dict)

    def object(self, name: str) -> CrmObject | None:
        return self.objects.get(name)

    def merged(self, other: CrmSchema) -> CrmSchema:
        """This schema completed by `other` (an SFDX project over the built-in standard objects)."""
        objects = dict(self.objects)
        for name, obj in other.objects.items():
            objects[name] = objects[name].merged(obj) if name in objects else obj
        return CrmSchema(objects)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "objects": {
                name: {
                    "label": obj.label,
                    "fields": {f.name: f.to_json() for f in obj.fields.values()},
                }
                for name, obj in sorted(self.objects.items())
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> CrmSchema:
        """A schema from a schema file's JSON; ValueError says what is wrong with it."""
        if not isinstance(data, Mapping) or not isinstance(data.get("objects"), Mapping):
            raise ValueError('not a Lastmile schema file: expected {"objects": {...}}')
        objects = {}
        try:
            for name, raw in data["objects"].items():
                fields = {n: CrmField.from_json(n, f) for n, f in raw.get("fields", {}).items()}
                objects[name] = CrmObject(name, str(raw.get("label") or name), fields)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a Lastmile schema file: {exc!r} in {name}") from None
        return cls(objects)

    @classmethod
    def from_describe(cls, answers: Iterable[Mapping[str, Any]]) -> CrmSchema:
        """A schema from Salesforce describe answers (`sobjects/<Object>/describe`)."""
        objects = {}
        for answer in answers:
            fields = [CrmField.from_describe(f) for f in answer.get("fields", ())]
            name = str(answer["name"])
            objects[name] = CrmObject(
                name, str(answer.get("label") or name), {f.name: f for f in fields}
            )
        return cls(objects)
