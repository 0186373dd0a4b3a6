"""The org: records of the schema's objects, written as a user, with Salesforce's checks and
system fields. REST views, record pages and `Sandbox.save_as` all write through here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from .errors import SalesforceError, invalid_type, no_such_column, not_found
from .faults import Faults
from .ids import make_id, to18
from .schema import FieldSpec, ObjectSpec, Schema, coerce, format_datetime, parse_datetime
from .store import Store

Clock = Callable[[], datetime]
Notify = Callable[[ObjectSpec, dict], None]
Track = Callable[[ObjectSpec, "dict | None", dict, str], None]  # spec, before, after, user id


# The stages Salesforce ships as closed (won or lost); an org may add its own.
CLOSED_STAGES = frozenset({"Closed Won", "Closed Lost"})


class Org:
    """Create, read, update, upsert and delete records; every write is one savepoint."""

    def __init__(self, store: Store, schema: Schema, clock: Clock, faults: Faults) -> None:
        self.store = store
        self.schema = schema
        self.clock = clock
        self.faults = faults
        self.notify: Notify = lambda spec, record: None  # set by the Outbound Message outbox
        self.track: Track = lambda spec, before, after, user_id: None  # set by field history

    def spec(self, object_name: str) -> ObjectSpec:
        spec = self.schema.object(object_name)
        if spec is None:
            raise invalid_type(object_name)
        return spec

    def now(self) -> str:
        return format_datetime(self.clock().replace(microsecond=0))

    def new_id(self, spec: ObjectSpec) -> str:
        # Numbers start high enough to look like a real org's, and differ per object.
        start = 4_000_000 + int(spec.key_prefix, 36) * 1_000
        return make_id(spec.key_prefix, self.store.next_number(f"id:{spec.key_prefix}", start))

    # reading
    def get(self, object_name: str, record_id: str) -> dict:
        """The stored record (every field, nulls included); NOT_FOUND if absent or not this type."""
        spec = self.spec(object_name)
        full = to18(record_id)
        found = self.store.record(full) if full else None
        if found is None or found[0] != spec.name:
            raise not_found()
        return found[1]

    def find_by(self, spec: ObjectSpec, field: FieldSpec, value: str) -> list[str]:
        if field.name == "Id":
            full = to18(value)
            found = self.store.record(full) if full else None
            return [full] if found and found[0] == spec.name else []  # type: ignore[list-item]
        return self.store.find(spec.name, field.name, value)

    # writing
    def create(self, object_name: str, values: Mapping[str, object], user_id: str) -> str:
        spec = self.spec(object_name)
        changes = self._clean(spec, values, creating=True)
        with self.store.transaction():
            self._lock_fault(None)
            record_id = self.new_id(spec)
            now = self.now()
            record: dict[str, object] = {field.name: initial_value(field) for field in spec.fields}
            record.update(changes)
            record.update(
                Id=record_id,
                CreatedDate=now,
                CreatedById=user_id,
                LastModifiedDate=now,
                LastModifiedById=user_id,
                SystemModstamp=now,
            )
            if spec.field("OwnerId") and not record.get("OwnerId"):
                record["OwnerId"] = user_id
            if spec.field("CaseNumber"):
                record["CaseNumber"] = f"{self.store.next_number('case-number', 1001):08d}"
            self._derive(spec, record)
            self._check(spec, record, record_id)
            self.store.insert(spec.name, record_id, record)
            self.track(spec, None, record, user_id)
            self.notify(spec, record)
        return record_id

    def update(
        self,
        object_name: str,
        record_id: str,
        values: Mapping[str, object],
        user_id: str,
        if_unmodified_since: datetime | None = None,
    ) -> None:
        spec = self.spec(object_name)
        with self.store.transaction():
            record = self.get(spec.name, record_id)
            before = dict(record)
            values = {k: v for k, v in values.items() if not _same_id(k, v, record["Id"])}
            changes = self._clean(spec, values, creating=False)
            self._precondition(record, if_unmodified_since)
            self._lock_fault(record["Id"])
            now = self.now()
            record.update(changes)
            record.update(LastModifiedDate=now, LastModifiedById=user_id, SystemModstamp=now)
            self._derive(spec, record)
            self._check(spec, record, record["Id"])
            self.store.replace(record["Id"], record)
            self.track(spec, before, record, user_id)
            self.notify(spec, record)

    def upsert(
        self,
        object_name: str,
        field_name: str,
        value: str,
        values: Mapping[str, object],
        user_id: str,
    ) -> tuple[str, bool]:
        """(id, created): update the one record whose external id is `value`, or create it."""
        spec = self.spec(object_name)
        field = spec.field(field_name)
        if field is None or not (field.external_id or field.name == "Id"):
            raise SalesforceError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field_name}",
            )
        with self.store.transaction():
            matches = self.find_by(spec, field, value)
            if len(matches) > 1:
                raise SalesforceError(
                    300, "MULTIPLE_CHOICES", f"{field.name} {value} matches several records"
                )
            if matches:
                self.update(spec.name, matches[0], values, user_id)
                return matches[0], False
            if field.name == "Id":
                raise not_found()
            return self.create(spec.name, {**values, field.name: value}, user_id), True

    def delete(
        self, object_name: str, record_id: str, if_unmodified_since: datetime | None = None
    ) -> None:
        with self.store.transaction():
            record = self.get(object_name, record_id)
            self._precondition(record, if_unmodified_since)
            self._lock_fault(record["Id"])
            self.store.delete(record["Id"])

    # checks
    def _clean(
        self, spec: ObjectSpec, values: Mapping[str, object], creating: bool
    ) -> dict[str, object]:
        if not isinstance(values, Mapping):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "The request body must be an object")
        changes: dict[str, object] = {}
        for key, value in values.items():
            if key == "attributes":
                continue
            field = spec.field(key)
            if field is None:
                raise no_such_column(spec.name, key)
            if not (field.createable if creating else field.updateable):
                raise SalesforceError(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {field.name}. Please check the security "
                    "settings of this field and verify that it is read/write for your profile "
                    "or permission set.",
                    [field.name],
                )
            changes[field.name] = coerce(field, value)
        return changes

    def _check(self, spec: ObjectSpec, record: dict, record_id: str) -> None:
        missing = [f.name for f in spec.fields if f.required and record.get(f.name) is None]
        if missing:
            raise SalesforceError(
                400,
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        for field in spec.fields:
            value = record.get(field.name)
            if not field.unique or value is None:
                continue
            others = [
                i for i in self.store.find(spec.name, field.name, str(value)) if i != record_id
            ]
            if others:
                raise SalesforceError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {field.name} duplicates value on record with id: "
                    f"{others[0]}",
                    [],
                )

    @staticmethod
    def _derive(spec: ObjectSpec, record: dict) -> None:
        """Fields Salesforce computes: a person's Name from FirstName and LastName; whether an
        opportunity is closed and won, from its stage (Salesforce's default stage settings)."""
        name = spec.field("Name")
        if name is not None and not name.updateable and spec.field("LastName"):
            parts = [record.get("FirstName"), record.get("LastName")]
            record["Name"] = " ".join(str(p) for p in parts if p) or None
        if spec.field("IsWon") is not None and spec.field("StageName") is not None:
            stage = record.get("StageName")
            record["IsClosed"] = stage in CLOSED_STAGES
            record["IsWon"] = stage == "Closed Won"

    @staticmethod
    def _precondition(record: dict, since: datetime | None) -> None:
        if since is None:
            return
        modified = parse_datetime(record["LastModifiedDate"]).replace(microsecond=0)
        if modified > since.replace(microsecond=0):
            raise SalesforceError(
                412,
                "PRECONDITION_FAILED",
                "The record was modified after the time given in If-Unmodified-Since "
                f"(LastModifiedDate {record['LastModifiedDate']}).",
            )

    def _lock_fault(self, record_id: str | None) -> None:
        if self.faults.lock():
            raise SalesforceError(
                400,
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record"
                + (f" or 1 records: {record_id}" if record_id else ""),
            )


def initial_value(field: FieldSpec) -> object:
    """A new record's value before the given ones: the default; false for a checkbox."""
    if field.default is None and field.type == "boolean":
        return False
    return field.default


def _same_id(key: str, value: object, record_id: str) -> bool:
    """An `Id` in an update body that names the record itself is allowed and ignored."""
    return key.lower() == "id" and to18(value) == record_id
