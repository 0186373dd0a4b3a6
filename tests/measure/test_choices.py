"""The usual value of a field, from the store's record snapshots (for the friction report)."""

from __future__ import annotations

from datetime import UTC, datetime

from lastmile.measure.choices import StoreFacts
from lastmile.rules import RecordEvent
from lastmile.store import Store
from lastmile.store.tables import snapshots

AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _store_with(tmp_path, values: list[object], obj: str = "Task") -> Store:
    store = Store(f"sqlite:///{tmp_path / 'facts.db'}")
    store.upgrade()
    events = [
        RecordEvent(
            id=f"e{n}",
            object=obj,
            record_id=f"00T{n:03d}",
            kind="created",
            occurred_at=AT,
            fields={"Outcome__c": v},
        )
        for n, v in enumerate(values)
    ]
    added = store.add(events)
    with store.writing() as conn:
        conn.execute(
            snapshots.insert(),
            [
                {
                    "object": e.object,
                    "record_id": e.record_id,
                    "fields": dict(e.fields),
                    "occurred_at": AT,
                    "inbox_id": inbox_id,
                    "prompts": {},
                    "updated_at": AT,
                }
                for e, (inbox_id, _) in zip(events, added, strict=True)
            ],
        )
    return store


def test_the_usual_value_and_its_share_among_records_with_a_value(tmp_path) -> None:
    values = ["Interested"] * 7 + ["Not now"] * 2 + ["Call back"] + [None, ""]
    store = _store_with(tmp_path, values)
    facts = StoreFacts(store, lambda obj, names: {"Outcome__c": "picklist"})
    assert facts.most_common("Task", "Outcome__c") == ("Interested", 0.7)
    assert facts.type_of("Task", "Outcome__c") == "picklist"
    assert facts.most_common("Lead", "Outcome__c") is None  # no records of that object
    store.close()


def test_too_few_records_name_no_usual_value(tmp_path) -> None:
    store = _store_with(tmp_path, ["Interested"] * 4)
    facts = StoreFacts(store)
    assert facts.most_common("Task", "Outcome__c") is None
    assert facts.type_of("Task", "Outcome__c") is None  # no schema, no type
    store.close()
