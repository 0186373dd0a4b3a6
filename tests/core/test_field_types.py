"""Where the receiver learns the CRM's field types: a schema file, or describe fetched in the
background (never in a request), again at most once a minute when an unknown field arrives."""

from __future__ import annotations

from typing import Any

from waiting import wait_for

from lastmile.field_types import FieldTypes
from lastmile.rules.crm_schema import CrmField, CrmObject, CrmSchema

TASK = {"fields": [{"name": "Subject", "type": "string"}, {"name": "Duration", "type": "int"}]}


class Describe:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers, self.asked = answers, []

    def __call__(self, object_name: str) -> dict[str, Any]:
        self.asked.append(object_name)
        if object_name not in self.answers:
            raise LookupError(object_name)
        return self.answers[object_name]


def test_the_rules_objects_are_described_at_start_and_values_typed_after() -> None:
    describe = Describe({"Task": TASK})
    types = FieldTypes(describe).start(["Task"])
    try:
        wait_for(lambda: types("Task", ["Subject"]) is not None, 5)
        assert types("Task", ["Subject"]) == {"Subject": "string", "Duration": "int"}
        assert types.state() == {"typed": True, "objects": ["Task"]}
    finally:
        types.stop()


def test_an_unknown_field_asks_again_at_most_once_a_minute() -> None:
    now = [0.0]
    describe = Describe({"Task": TASK})
    types = FieldTypes(describe, clock=lambda: now[0]).start(["Task"])
    try:
        wait_for(lambda: types("Task", []) is not None, 5)
        types("Task", ["New__c"])  # within the minute: not asked again
        now[0] = 61
        types("Task", ["New__c"])
        wait_for(lambda: describe.asked == ["Task", "Task"], 5)
        types("Task", ["New__c"])
        assert describe.asked == ["Task", "Task"]
    finally:
        types.stop()


def test_an_object_the_crm_cannot_describe_stays_untyped() -> None:
    describe = Describe({})
    types = FieldTypes(describe).start(["Nope__c"])
    try:
        wait_for(lambda: describe.asked == ["Nope__c"], 5)
        assert types("Nope__c", ["A"]) is None
        assert types.state()["typed"] is False
    finally:
        types.stop()


def test_a_schema_file_is_the_truth_and_nothing_is_described() -> None:
    describe = Describe({"Task": TASK})
    schema = CrmSchema(
        {"Task": CrmObject("Task", "Task", {"Subject": CrmField("Subject", "textarea", "Subject")})}
    )
    types = FieldTypes(describe, schema).start(["Task"])
    assert types("Task", ["Unknown__c"]) == {"Subject": "textarea"}
    types.stop()
    assert describe.asked == []


def test_labels_come_with_the_types() -> None:
    describe = Describe(
        {"Task": {"fields": [{"name": "Outcome__c", "type": "picklist", "label": "Outcome"}]}}
    )
    types = FieldTypes(describe).start(["Task"])
    try:
        wait_for(lambda: types.labels("Task"), 5)
        assert types.labels("Task") == {"Outcome__c": "Outcome"}
        assert types.labels("Lead") == {}
    finally:
        types.stop()
