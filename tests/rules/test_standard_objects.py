"""The built-in description of Salesforce's standard objects (lastmile/data/standard_objects.json),
which completes an SFDX project: a few facts of Salesforce's object reference, and its shape."""

from __future__ import annotations

import pytest

from lastmile.rules.crm_schema import NUMBER_TYPES, OTHER_TYPES, TEXT_TYPES
from lastmile.schemas import standard_objects

SCHEMA = standard_objects()
OBJECTS = ("Account", "Contact", "Lead", "Opportunity", "Case", "Task", "Event", "User")


def field(name: str):
    object_name, field_name = name.split(".")
    return SCHEMA.objects[object_name].fields[field_name]


def test_the_common_standard_objects_are_described() -> None:
    assert sorted(SCHEMA.objects) == sorted(OBJECTS)


@pytest.mark.parametrize(
    "name",
    [
        "Opportunity.IsWon",
        "Opportunity.IsClosed",
        "Task.IsClosed",
        "Case.IsClosed",
        "Lead.IsConverted",
        "Opportunity.ExpectedRevenue",
        "Opportunity.CreatedDate",
        "Task.LastModifiedDate",
        "Contact.Name",
    ],
)
def test_formula_and_system_fields_cannot_be_written(name: str) -> None:
    assert (field(name).createable, field(name).updateable) == (False, False)


def test_types_of_common_fields() -> None:
    kinds = {
        "Opportunity.IsWon": "boolean",
        "Opportunity.Amount": "currency",
        "Opportunity.Probability": "percent",
        "Opportunity.CloseDate": "date",
        "Opportunity.ExpectedRevenue": "currency",
        "Task.ActivityDate": "date",
        "Task.CallDurationInSeconds": "int",
        "Event.StartDateTime": "datetime",
        "Lead.Email": "email",
        "Account.NumberOfEmployees": "int",
        "User.IsActive": "boolean",
    }
    assert {name: field(name).type for name in kinds} == kinds


def test_restricted_and_open_picklists_with_salesforces_default_values() -> None:
    stage = field("Opportunity.StageName")
    assert stage.restricted and stage.picklist[-2:] == ("Closed Won", "Closed Lost")
    assert field("Opportunity.ForecastCategoryName").restricted
    assert field("Task.Status").restricted and "Completed" in field("Task.Status").picklist
    assert field("Task.CallType").picklist == ("Internal", "Inbound", "Outbound")
    assert field("Lead.Status").restricted
    # Lead Source is an open picklist: an org may send values it does not list.
    assert not field("Opportunity.LeadSource").restricted
    assert "Web" in field("Lead.LeadSource").picklist


def test_a_task_subtype_is_chosen_on_create_and_never_changed() -> None:
    subtype = field("Task.TaskSubtype")
    assert (subtype.createable, subtype.updateable) == (True, False)


def test_references_name_their_objects() -> None:
    assert field("Opportunity.AccountId").references == ("Account",)
    assert field("Account.ParentId").references == ("Account",)
    assert set(field("Task.WhoId").references) == {"Contact", "Lead"}


def test_every_field_is_well_formed() -> None:
    known = TEXT_TYPES | NUMBER_TYPES | OTHER_TYPES
    for obj in SCHEMA.objects.values():
        assert {"Id", "CreatedDate", "LastModifiedDate"} <= set(obj.fields), obj.name
        for f in obj.fields.values():
            assert f.type in known, (obj.name, f.name, f.type)
            assert f.label, (obj.name, f.name)
            assert bool(f.picklist) == (f.type in ("picklist", "multipicklist")), f.name
            assert bool(f.references) == (f.type == "reference"), f.name
