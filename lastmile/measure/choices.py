"""What the friction report knows of a field beyond the figures: its CRM type, and the value
people usually choose (from the records' last seen state, not from any one person)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import sqlalchemy as sa
import structlog

from lastmile.settings import Settings
from lastmile.store import Store
from lastmile.store.tables import snapshots

Types = Callable[[str, Iterable[str]], Mapping[str, str] | None]

log = structlog.get_logger("lastmile.measure")

MIN_RECORDS = 5  # fewer records with a value than this name no usual value


class StoreFacts:
    """`FieldFacts` for `friction`: types from the CRM's schema or describe (`types`, as the
    receiver reads Outbound Messages by), usual values from the store's record snapshots."""

    def __init__(self, store: Store, types: Types | None = None) -> None:
        self._store, self._types = store, types
        self._common: dict[tuple[str, str], tuple[str, float] | None] = {}

    def type_of(self, object_name: str, field: str) -> str | None:
        known = self._types(object_name, (field,)) if self._types is not None else None
        return (known or {}).get(field)

    def most_common(self, object_name: str, field: str) -> tuple[str, float] | None:
        key = (object_name, field)
        if key not in self._common:
            self._common[key] = self._count(object_name, field)
        return self._common[key]

    def _count(self, object_name: str, field: str) -> tuple[str, float] | None:
        value = snapshots.c.fields[field].as_string()
        query = (
            sa.select(value.label("value"), sa.func.count().label("n"))
            .where(snapshots.c.object == object_name, value.is_not(None), value != "")
            .group_by(value)
            .order_by(sa.desc("n"), value)
        )
        with self._store.reading() as conn:
            counts = conn.execute(query).all()
        total = sum(n for _, n in counts)
        if total < MIN_RECORDS:
            return None
        top, n = counts[0]
        return str(top), n / total


def field_facts(store: Store, settings: Settings) -> StoreFacts:
    """Facts for a report run from a terminal: types from `LASTMILE_SCHEMA` when it is set (a
    report never calls the CRM), else none (then hints do not depend on a field's type)."""
    if settings.crm_schema is None:
        return StoreFacts(store)
    from lastmile.field_types import FieldTypes
    from lastmile.schemas import SchemaError, load_schema

    try:
        return StoreFacts(store, FieldTypes(schema=load_schema(settings.crm_schema)))
    except SchemaError as exc:
        log.warning("schema_unreadable", problem=str(exc))
        return StoreFacts(store)
