"""Field history, as Salesforce keeps it when Field History Tracking is on: a row in
OpportunityFieldHistory, LeadHistory or CaseHistory for each tracked field a save changed
(Field, OldValue, NewValue, DataType, CreatedDate, CreatedById), and a `created` row when the
record is created. Rows are stored as records of the history object, so SOQL reads them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache

from .ids import make_id
from .schema import FieldSpec, ObjectSpec, Schema
from .store import Store

# tracked object -> (history object, the field naming the record)
HISTORY_OBJECTS = {
    "Opportunity": ("OpportunityFieldHistory", "OpportunityId"),
    "Lead": ("LeadHistory", "LeadId"),
    "Case": ("CaseHistory", "CaseId"),
}
_KEY_PREFIX = "017"  # Salesforce's prefix for field history rows
_DATA_TYPES = {
    "string": "Text",
    "email": "Text",
    "phone": "Text",
    "url": "Text",
    "textarea": "TextArea",
    "picklist": "DynamicEnum",
    "currency": "Currency",
    "percent": "Percent",
    "double": "Double",
    "int": "Double",
    "boolean": "Boolean",
    "date": "Date",
    "datetime": "DateTime",
    "reference": "EntityId",
}


def _spec(name: str, parent: str) -> ObjectSpec:
    def read_only(field: str, kind: str, references: tuple[str, ...] = ()) -> FieldSpec:
        return FieldSpec(
            field, kind, field, createable=False, updateable=False, references=references
        )

    fields = (
        read_only("Id", "id"),
        read_only(parent, "reference", (parent.removesuffix("Id"),)),
        read_only("Field", "picklist"),
        read_only("DataType", "picklist"),
        read_only("OldValue", "string"),
        read_only("NewValue", "string"),
        read_only("IsDeleted", "boolean"),
        read_only("CreatedDate", "datetime"),
        read_only("CreatedById", "reference", ("User",)),
    )
    return ObjectSpec(name, name, _KEY_PREFIX, "Id", fields)


@cache
def queryable(schema: Schema) -> Schema:
    """The org's schema plus the history objects: what SOQL may read. They stay out of the
    org's own schema: nobody creates, updates or describes a history row through REST here."""
    specs = tuple(_spec(name, parent) for name, parent in HISTORY_OBJECTS.values())
    return Schema(schema.objects + specs)


def history_field(field: FieldSpec) -> str:
    """The name a history row gives a field: a standard lookup by its relationship (OwnerId is
    Owner, AccountId is Account), any other field by its API name."""
    if field.type == "reference" and field.name.endswith("Id") and not field.name.endswith("__c"):
        return field.name.removesuffix("Id")
    return field.name


class FieldHistory:
    """Records history rows on every save of a tracked object (`Org.track`)."""

    def __init__(self, store: Store, schema: Schema) -> None:
        self.store = store
        self.schema = schema
        self._tracked: dict[str, frozenset[str]] = {}

    def track(self, object_name: str, fields: Iterable[str] | None) -> None:
        """Track only `fields` of `object_name` (None: every field that can change, the
        default; an empty list: history off for that object)."""
        if fields is None:
            self._tracked.pop(object_name, None)
        else:
            self._tracked[object_name] = frozenset(f.lower() for f in fields)

    def tracks(self, spec: ObjectSpec, field: FieldSpec) -> bool:
        chosen = self._tracked.get(spec.name)
        if chosen is not None:
            return field.name.lower() in chosen
        return field.updateable and field.name != "Id"

    def record(
        self,
        spec: ObjectSpec,
        before: Mapping[str, object] | None,
        after: Mapping[str, object],
        user_id: str,
    ) -> None:
        """The rows one save leaves: `created` for a new record (`before` None), else one per
        tracked field whose value changed (two for a lookup: its ids and its records' names)."""
        found = HISTORY_OBJECTS.get(spec.name)
        if found is None or self._tracked.get(spec.name) == frozenset():
            return
        history, parent = found
        base = {
            parent: after["Id"],
            "IsDeleted": False,
            "CreatedDate": after["LastModifiedDate"],
            "CreatedById": user_id,
        }
        if before is None:
            self._add(
                history,
                {**base, "Field": "created", "DataType": None, "OldValue": None, "NewValue": None},
            )
            return
        for field in spec.fields:
            old, new = before.get(field.name), after.get(field.name)
            if old == new or not self.tracks(spec, field):
                continue
            name = history_field(field)
            if field.type == "textarea":
                # Salesforce records that a long text area changed, not its values
                old = new = None
            elif field.type == "reference":
                self._add(
                    history,
                    {
                        **base,
                        "Field": name,
                        "DataType": "Text",
                        "OldValue": self._name(old),
                        "NewValue": self._name(new),
                    },
                )
            self._add(
                history,
                {
                    **base,
                    "Field": name,
                    "DataType": _DATA_TYPES.get(field.type),
                    "OldValue": old,
                    "NewValue": new,
                },
            )

    def _add(self, history: str, row: dict) -> None:
        row_id = make_id(_KEY_PREFIX, self.store.next_number("id:history", 1_000_000))
        self.store.insert(history, row_id, {"Id": row_id, **row})

    def _name(self, record_id: object) -> object:
        """A referenced record's name, as the history row shows it to people."""
        found = self.store.record(str(record_id)) if record_id else None
        if found is None:
            return record_id
        spec = self.schema.object(found[0])
        return found[1].get(spec.name_field) if spec else record_id
