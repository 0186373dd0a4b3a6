"""`rules check|test|explain --schema` against a real SFDX project (DreamHouse, Salesforce's sample
app: tests/rules/fixtures/dreamhouse-lwc, kept with its licence) and LASTMILE_SCHEMA."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lastmile.cli import main
from lastmile.schemas import read_sfdx

ROOT = Path(__file__).resolve().parents[2]
DREAMHOUSE = ROOT / "tests" / "rules" / "fixtures" / "dreamhouse-lwc"

PROPERTY_PACK = """\
pack: listings
rules:
  - id: listing-essentials
    object: Property__c
    if:
      all:
        - Status__c: {status}
        - changed: Status__c
    then:
      require: [{require}, Price__c]
      task: {{subject: "Photograph {{Name}} in {{City__c}}", due_in: 2d}}
"""


def run(*args: str, **env: str):
    return CliRunner().invoke(main, list(args), env=env or None)


def write_pack(tmp_path: Path, status: str = "Available", require: str = "Date_Listed__c") -> Path:
    path = tmp_path / "listings.yaml"
    path.write_text(PROPERTY_PACK.format(status=status, require=require), encoding="utf-8")
    return path


def test_rules_on_a_real_sfdx_project_check_clean(tmp_path: Path) -> None:
    result = run("rules", "check", str(write_pack(tmp_path)), "--schema", str(DREAMHOUSE))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: 1 rules in 1 packs")
    assert "not checked" not in result.stderr


def test_a_misspelt_custom_field_and_a_wrong_picklist_value(tmp_path: Path) -> None:
    pack = write_pack(tmp_path, status="Availble", require="Date_Listd__c")
    result = run("rules", "check", "--format", "short", str(pack), "--schema", str(DREAMHOUSE))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{pack}:7:22: rule 'listing-essentials': 'Availble' is not a value of the Status__c "
        "picklist; did you mean 'Available'?",
        f"{pack}:10:17: rule 'listing-essentials': unknown field 'Date_Listd__c' on "
        "Property__c; did you mean 'Date_Listed__c'?",
    ]
    assert "2 problems found" in result.stderr


def test_the_schema_comes_from_lastmile_schema(tmp_path: Path) -> None:
    pack = write_pack(tmp_path, status="Sold")
    result = run("rules", "check", str(pack), LASTMILE_SCHEMA=str(DREAMHOUSE))
    assert result.exit_code == 1
    assert "'Sold' is not a value of the Status__c picklist" in result.stdout


def test_rules_test_and_explain_check_against_the_schema_too(tmp_path: Path) -> None:
    pack = write_pack(tmp_path, require="Bedrooms__c")
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "id": "e1",
                "source": "test",
                "object": "Property__c",
                "record_id": "a0000000000001AAA",
                "kind": "updated",
                "occurred_at": "2026-01-05T09:00:00Z",
                "fields": {"Status__c": "Available"},
            }
        ),
        encoding="utf-8",
    )
    tested = run("rules", "test", str(pack), "--schema", str(DREAMHOUSE))
    explained = run(
        "rules", "explain", str(pack), "--event", str(event), "--schema", str(DREAMHOUSE)
    )
    for result in (tested, explained):
        assert result.exit_code == 1
        assert "unknown field 'Bedrooms__c' on Property__c; did you mean 'Beds__c'?" in (
            result.stdout
        )


def test_without_a_schema_check_says_once_that_names_were_not_checked(tmp_path: Path) -> None:
    result = run("rules", "check", str(write_pack(tmp_path, status="Whatever")))
    assert result.exit_code == 0, result.output
    assert result.stderr.count("not checked against the CRM") == 1


def test_a_path_that_is_no_schema_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "schema.json"
    bad.write_text('{"objects": 3}', encoding="utf-8")
    result = run("rules", "check", str(write_pack(tmp_path)), "--schema", str(bad))
    assert result.exit_code == 2
    assert "not a Lastmile schema file" in result.output


def test_the_sfdx_project_reads_types_labels_and_what_cannot_be_written() -> None:
    prop = read_sfdx(DREAMHOUSE).objects["Property__c"]
    assert prop.label == "Property"
    assert prop.fields["Price__c"].type == "currency"
    assert prop.fields["Price__c"].label == "Asking Price"
    assert prop.fields["Broker__c"].references == ("Broker__c",)
    assert not prop.fields["Days_On_Market__c"].updateable  # a formula
    assert prop.fields["Status__c"].restricted


# Hand-written metadata (not from a real project), in the Metadata API's format: a custom field
# on a standard object, and the org's own opportunity stages.
CUSTOM_FIELD = """<?xml version="1.0" encoding="UTF-8"?>
<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">
    <fullName>Mortgage_Type__c</fullName>
    <label>Mortgage Type</label>
    <type>Picklist</type>
    <valueSet>
        <restricted>true</restricted>
        <valueSetDefinition>
            <value><fullName>Annuity</fullName><label>Annuity</label></value>
            <value><fullName>Linear</fullName><label>Linear</label></value>
        </valueSetDefinition>
    </valueSet>
</CustomField>
"""
STAGES = """<?xml version="1.0" encoding="UTF-8"?>
<StandardValueSet xmlns="http://soap.sforce.com/2006/04/metadata">
    <standardValue><fullName>Intake</fullName><closed>false</closed></standardValue>
    <standardValue><fullName>Signed</fullName><closed>true</closed><won>true</won></standardValue>
    <standardValue><fullName>Retired</fullName><isActive>false</isActive></standardValue>
</StandardValueSet>
"""


def test_an_sfdx_project_completes_the_built_in_standard_objects(tmp_path: Path) -> None:
    fields = tmp_path / "force-app" / "main" / "default" / "objects" / "Opportunity" / "fields"
    fields.mkdir(parents=True)
    (fields / "Mortgage_Type__c.field-meta.xml").write_text(CUSTOM_FIELD, encoding="utf-8")
    sets = tmp_path / "force-app" / "main" / "default" / "standardValueSets"
    sets.mkdir()
    (sets / "OpportunityStage.standardValueSet-meta.xml").write_text(STAGES, encoding="utf-8")
    schema = read_sfdx(tmp_path)
    opp = schema.objects["Opportunity"]
    assert opp.fields["Mortgage_Type__c"].picklist == ("Annuity", "Linear")
    assert opp.fields["StageName"].picklist == ("Intake", "Signed")
    assert opp.fields["StageName"].restricted
    assert {"Amount", "CloseDate", "NextStep", "OwnerId"} <= set(opp.fields)
    assert {"Account", "Contact", "Lead", "Case", "Task", "Event", "User"} <= set(schema.objects)
