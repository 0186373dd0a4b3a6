"""Reading a CRM schema for `rules check --schema`: a schema file (`lastmile schema pull` writes
one), or an SFDX project directory completed by the built-in standard objects.

SFDX projects hold custom fields (`objects/<Object>/fields/*.field-meta.xml`) and customised
standard picklists, but not the standard fields themselves; `data/standard_objects.json` describes
those of Account, Contact, Lead, Opportunity, Case, Task, Event and User.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from importlib import resources
from pathlib import Path
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from lastmile.rules.crm_schema import CrmField, CrmObject, CrmSchema

# Metadata API field types -> describe's type names.
_TYPES = {
    "Text": "string",
    "EncryptedText": "string",
    "AutoNumber": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Html": "textarea",
    "Picklist": "picklist",
    "MultiselectPicklist": "multipicklist",
    "Number": "double",
    "Currency": "currency",
    "Percent": "percent",
    "Checkbox": "boolean",
    "Date": "date",
    "DateTime": "datetime",
    "Time": "time",
    "Email": "email",
    "Phone": "phone",
    "Url": "url",
    "Lookup": "reference",
    "MasterDetail": "reference",
    "Summary": "double",
    "Location": "location",
}
# Standard value sets (standardValueSets/<Name>.standardValueSet-meta.xml) -> the fields using them.
_STANDARD_VALUE_SETS = {
    "OpportunityStage": [("Opportunity", "StageName")],
    "LeadStatus": [("Lead", "Status")],
    "CaseStatus": [("Case", "Status")],
    "TaskStatus": [("Task", "Status")],
    "TaskPriority": [("Task", "Priority")],
    "TaskType": [("Task", "Type")],
    "EventType": [("Event", "Type")],
    "CasePriority": [("Case", "Priority")],
    "CaseOrigin": [("Case", "Origin")],
    "CaseType": [("Case", "Type")],
    "CaseReason": [("Case", "Reason")],
    "AccountType": [("Account", "Type")],
    "OpportunityType": [("Opportunity", "Type")],
    "LeadSource": [
        ("Lead", "LeadSource"),
        ("Contact", "LeadSource"),
        ("Opportunity", "LeadSource"),
    ],
    "Industry": [("Account", "Industry"), ("Lead", "Industry")],
}
# Fields every custom object has.
_CUSTOM_OBJECT_FIELDS = (
    CrmField("Id", "id", "Record ID", nillable=False, createable=False, updateable=False),
    CrmField("Name", "string", "Name", length=80),
    CrmField("OwnerId", "reference", "Owner ID", nillable=False, references=("User",)),
    *(
        CrmField(name, kind, label, createable=False, updateable=False, references=targets)
        for name, kind, label, targets in (
            ("CreatedDate", "datetime", "Created Date", ()),
            ("CreatedById", "reference", "Created By ID", ("User",)),
            ("LastModifiedDate", "datetime", "Last Modified Date", ()),
            ("LastModifiedById", "reference", "Last Modified By ID", ("User",)),
            ("SystemModstamp", "datetime", "System Modstamp", ()),
        )
    ),
)
_METADATA_SUFFIXES = (
    ".object-meta.xml",
    ".field-meta.xml",
    ".globalValueSet-meta.xml",
    ".standardValueSet-meta.xml",
)
_SKIP_DIRS = {"node_modules", ".git", ".sfdx", ".sf"}


class SchemaError(Exception):
    """A schema file or SFDX project that cannot be read; the message says which and why."""


def load_schema(path: str | Path) -> CrmSchema:
    """The schema in a schema file (JSON) or an SFDX project directory."""
    path = Path(path)
    if path.is_dir():
        return read_sfdx(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemaError(f"cannot read {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path}: not a schema file (JSON): {exc}") from None
    try:
        return CrmSchema.from_json(data)
    except ValueError as exc:
        raise SchemaError(f"{path}: {exc}") from None


def standard_objects() -> CrmSchema:
    """The built-in description of the common standard objects' standard fields."""
    text = resources.files("lastmile").joinpath("data/standard_objects.json").read_text("utf-8")
    return CrmSchema.from_json(json.loads(text))


def read_sfdx(root: Path) -> CrmSchema:
    """The objects of an SFDX project (custom fields, picklist values), over the standard ones."""
    files = list(_metadata_files(root))
    if not files:
        raise SchemaError(
            f"{root}: no *.object-meta.xml or *.field-meta.xml files: not an SFDX project"
        )
    global_sets = {
        _stem(p): _values(_parse(p), "customValue")
        for p in files
        if p.name.endswith(".globalValueSet-meta.xml")
    }
    base = standard_objects()
    objects: dict[str, CrmObject] = {}
    for path in files:
        if path.name.endswith(".object-meta.xml"):
            name = _stem(path)
            label = _text(_parse(path), "label") or name
            obj = objects.get(name) or _new_object(name, base)
            objects[name] = CrmObject(name, label, obj.fields)
        elif path.name.endswith(".field-meta.xml") and path.parent.name == "fields":
            name = path.parent.parent.name
            obj = objects.get(name) or _new_object(name, base)
            found = _field(_parse(path), obj, global_sets)
            if found is not None:
                objects[name] = CrmObject(name, obj.label, {**obj.fields, found.name: found})
    schema = base.merged(CrmSchema(objects))
    for path in files:
        if path.name.endswith(".standardValueSet-meta.xml"):
            schema = _with_standard_values(
                schema, _stem(path), _values(_parse(path), "standardValue")
            )
    return schema


def _metadata_files(root: Path) -> Iterator[Path]:
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(names):
            if name.endswith(_METADATA_SUFFIXES):
                yield Path(folder) / name


def _stem(path: Path) -> str:
    return path.name.split(".", 1)[0]


def _parse(path: Path) -> Element:
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise SchemaError(f"{path}: cannot read: {exc}") from None
    for element in root.iter():  # drop the metadata namespace: {http://soap...}fullName
        element.tag = element.tag.rpartition("}")[2]
    return root


def _text(element: Element, tag: str) -> str | None:
    found = element.find(tag)
    return found.text.strip() if found is not None and found.text else None


def _values(element: Element, tag: str) -> tuple[str, ...]:
    """Active values of a value set: <tag><fullName>...</fullName><isActive>...</isActive></tag>."""
    return tuple(
        name
        for value in element.iter(tag)
        if (name := _text(value, "fullName")) and _text(value, "isActive") != "false"
    )


def _new_object(name: str, base: CrmSchema) -> CrmObject:
    known = base.object(name)
    if known is not None:
        return known
    return CrmObject(name, name, {f.name: f for f in _CUSTOM_OBJECT_FIELDS})


def _field(
    meta: Element, obj: CrmObject, global_sets: dict[str, tuple[str, ...]]
) -> CrmField | None:
    name = _text(meta, "fullName")
    if not name:
        return None
    kind = _text(meta, "type")
    known = obj.fields.get(name)
    if kind is None:
        # A standard field the project customises (history tracking, help text): keep what is
        # known of it; an unknown one is at least a field that exists.
        return known or CrmField(name, "anyType", name)
    computed = meta.find("formula") is not None or kind in ("AutoNumber", "Summary")
    value_set = meta.find("valueSet")
    picklist: tuple[str, ...] = ()
    restricted = False
    if value_set is not None:
        picklist = _values(value_set, "value") or global_sets.get(
            _text(value_set, "valueSetName") or "", ()
        )
        restricted = _text(value_set, "restricted") == "true" or bool(
            _text(value_set, "valueSetName")
        )  # a global value set is always restricted
    length = _text(meta, "length")
    return CrmField(
        name=name,
        type=_TYPES.get(kind, kind.lower()),
        label=_text(meta, "label") or name,
        length=int(length) if length and length.isdigit() else None,
        nillable=_text(meta, "required") != "true" and kind != "Checkbox",
        createable=not computed,
        updateable=not computed,
        picklist=picklist,
        restricted=restricted,
        references=tuple(r.text.strip() for r in meta.iter("referenceTo") if r.text),
    )


def _with_standard_values(schema: CrmSchema, set_name: str, values: tuple[str, ...]) -> CrmSchema:
    objects = dict(schema.objects)
    for object_name, field_name in _STANDARD_VALUE_SETS.get(set_name, ()):
        obj = objects.get(object_name)
        if obj is None or field_name not in obj.fields:
            continue
        new = replace(obj.fields[field_name], picklist=values)
        objects[object_name] = CrmObject(obj.name, obj.label, {**obj.fields, field_name: new})
    return CrmSchema(objects)
