"""Rule packs checked against a CRM schema: each kind of problem at its line and column, with its
suggestion; and the schema model's own round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from lastmile.rules import load_catalog
from lastmile.rules.crm_schema import CrmField, CrmObject, CrmSchema
from lastmile.rules.schema_check import check_catalog


def _object(name: str, *fields: CrmField) -> CrmObject:
    return CrmObject(name, name, {f.name: f for f in fields})


SCHEMA = CrmSchema(
    {
        "Opportunity": _object(
            "Opportunity",
            CrmField("Id", "id", "Opportunity ID", createable=False, updateable=False),
            CrmField("Name", "string", "Opportunity Name"),
            CrmField(
                "StageName",
                "picklist",
                "Stage",
                picklist=("Prospecting", "Closed Won", "Closed Lost"),
                restricted=True,
            ),
            CrmField("LeadSource", "picklist", "Lead Source", picklist=("Web",)),
            CrmField("Amount", "currency", "Amount"),
            CrmField("CloseDate", "date", "Close Date"),
            CrmField("NextStep", "string", "Next Step"),
            CrmField("IsWon", "boolean", "Won", createable=False, updateable=False),
            CrmField("CreatedDate", "datetime", "Created Date", updateable=False),
        ),
        "Task": _object(
            "Task",
            CrmField("Subject", "string", "Subject"),
            CrmField("Status", "picklist", "Status", picklist=("Completed",), restricted=True),
            CrmField("Outcome__c", "picklist", "Outcome", picklist=("Interested",)),
        ),
    }
)


def problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "pack.yaml").write_text(text, encoding="utf-8")
    catalog = load_catalog([tmp_path])
    return [str(p).removeprefix(f"{tmp_path}/") for p in check_catalog(catalog, SCHEMA)]


def rule(body: str, object: str = "Opportunity") -> str:
    return f"pack: p\nrules:\n  - id: r\n    object: {object}\n{body}"


def test_a_clean_pack_has_no_problems(tmp_path: Path) -> None:
    text = rule(
        "    if:\n"
        "      all:\n"
        "        - StageName: {in: [Closed Won, Closed Lost]}\n"
        "        - Amount: {gt: 1000}\n"
        "        - CloseDate: {lt: 2026-03-31}\n"
        "        - LeadSource: Not in the list but not restricted\n"
        "        - changed: [StageName, Amount]\n"
        "    then:\n"
        "      require: [NextStep]\n"
        '      prompt: "{Name}: {missing} ({Id})"\n'
        "      default: {LeadSource: Web, Amount: 10}\n"
    )
    assert problems(tmp_path, text) == []


def test_an_unknown_object_is_named_with_a_suggestion(tmp_path: Path) -> None:
    text = rule("    then: {require: [Subject]}\n", object="Taks")
    assert problems(tmp_path, text) == [
        "pack.yaml:4:13: rule 'r': unknown object 'Taks' (not in the CRM schema); "
        "did you mean 'Task'?"
    ]


def test_a_misspelt_field_in_a_condition_points_at_its_key(tmp_path: Path) -> None:
    text = rule("    if:\n      all:\n        - StagName: Closed Won\n    then: {prompt: x}\n")
    assert problems(tmp_path, text) == [
        "pack.yaml:7:11: rule 'r': unknown field 'StagName' on Opportunity; "
        "did you mean 'StageName'?"
    ]


def test_misspelt_fields_in_changed_require_and_default(tmp_path: Path) -> None:
    text = rule(
        "    if: {changed: [StageName, Amout]}\n"
        "    then:\n"
        "      require: [NextStpe]\n"
        "      default: {LeadSorce: Web}\n"
    )
    assert problems(tmp_path, text) == [
        "pack.yaml:5:31: rule 'r': unknown field 'Amout' on Opportunity; did you mean 'Amount'?",
        "pack.yaml:7:17: rule 'r': unknown field 'NextStpe' on Opportunity; "
        "did you mean 'NextStep'?",
        "pack.yaml:8:17: rule 'r': unknown field 'LeadSorce' on Opportunity; "
        "did you mean 'LeadSource'?",
    ]


def test_a_field_is_suggested_by_its_label(tmp_path: Path) -> None:
    text = rule("    if: {changed: Outcome}\n    then: {prompt: x}\n", object="Task")
    assert problems(tmp_path, text) == [
        "pack.yaml:5:19: rule 'r': unknown field 'Outcome' on Task; did you mean 'Outcome__c'?"
    ]


def test_placeholders_in_prompts_and_task_subjects_point_at_the_name(tmp_path: Path) -> None:
    text = rule(
        "    then:\n"
        '      prompt: {en: "Fill in {missing} for {Nmae}."}\n'
        '      task: {subject: "Call {Subjet}", due_in: 1d}\n',
        object="Task",
    )
    assert problems(tmp_path, text) == [
        "pack.yaml:6:44: rule 'r': unknown field 'Nmae' on Task",
        "pack.yaml:7:30: rule 'r': unknown field 'Subjet' on Task; did you mean 'Subject'?",
    ]


def test_a_label_for_an_unknown_field(tmp_path: Path) -> None:
    text = "pack: p\nlabels:\n  NextStpe: Next\n" + rule("    then: {prompt: x}\n")[8:]
    assert problems(tmp_path, text) == [
        "pack.yaml:3:3: unknown field 'NextStpe' on Opportunity; did you mean 'NextStep'?"
    ]


def test_a_value_outside_a_restricted_picklist(tmp_path: Path) -> None:
    text = rule(
        "    if:\n"
        "      all:\n"
        "        - StageName: Closed Wonn\n"
        "        - StageName: {not_in: [Prospecting, Close Lost]}\n"
        "    then: {prompt: x}\n"
    )
    assert problems(tmp_path, text) == [
        "pack.yaml:7:22: rule 'r': 'Closed Wonn' is not a value of the StageName picklist; "
        "did you mean 'Closed Won'?",
        "pack.yaml:8:45: rule 'r': 'Close Lost' is not a value of the StageName picklist; "
        "did you mean 'Closed Lost'?",
    ]


def test_a_value_far_from_any_lists_the_values(tmp_path: Path) -> None:
    text = rule("    if: {all: [{StageName: Zzz}]}\n    then: {prompt: x}\n")
    assert problems(tmp_path, text) == [
        "pack.yaml:5:28: rule 'r': 'Zzz' is not a value of the StageName picklist; "
        "its values are 'Prospecting', 'Closed Won', 'Closed Lost'"
    ]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("Amount: high", "Amount is a currency field: 'high' is not a number"),
        ("CloseDate: tomorrow", "CloseDate is a date: write it as 2026-03-31, not 'tomorrow'"),
        ("CloseDate: {gt: '2026-02-30'}", "CloseDate is a date: write it as 2026-03-31"),
        ("IsWon: 'yes'", "IsWon is a checkbox: write true or false, not 'yes'"),
        ("NextStep: 2026", "NextStep is text: quote the value ('2026')"),
        ("CreatedDate: {lt: soon}", "CreatedDate is a date and time"),
    ],
)
def test_a_value_of_the_wrong_type(tmp_path: Path, condition: str, message: str) -> None:
    text = rule(f"    if:\n      all:\n        - {condition}\n    then: {{prompt: x}}\n")
    (found,) = problems(tmp_path, text)
    assert found.startswith("pack.yaml:7:") and message in found, found


def test_a_default_into_a_read_only_field(tmp_path: Path) -> None:
    text = rule("    then:\n      default: {IsWon: true, Amount: lots}\n")
    assert problems(tmp_path, text) == [
        "pack.yaml:6:17: rule 'r': IsWon cannot be written (it is read-only in the CRM)",
        "pack.yaml:6:38: rule 'r': Amount is a currency field: 'lots' is not a number",
    ]


def test_problems_come_in_file_and_line_order(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(rule("    then: {require: [Zz]}\n"), encoding="utf-8")
    text = "pack: q\nrules:\n  - id: s\n    object: Task\n    then: {require: [Yy, Xx]}\n"
    (tmp_path / "a.yaml").write_text(text, encoding="utf-8")
    found = [
        (p.path.rsplit("/", 1)[1], p.line, p.column)
        for p in check_catalog(load_catalog([tmp_path]), SCHEMA)
    ]
    assert found == [("a.yaml", 5, 22), ("a.yaml", 5, 26), ("b.yaml", 5, 22)]


def test_the_schema_file_round_trips() -> None:
    assert CrmSchema.from_json(SCHEMA.to_json()) == SCHEMA


def test_a_schema_from_describe_answers() -> None:
    answer = {
        "name": "Opportunity",
        "label": "Opportunity",
        "fields": [
            {
                "name": "StageName",
                "label": "Stage",
                "type": "picklist",
                "length": 255,
                "nillable": False,
                "picklistValues": [
                    {"value": "Closed Won", "active": True},
                    {"value": "Old", "active": False},
                ],
                "restrictedPicklist": True,
            },
            {"name": "AccountId", "type": "reference", "referenceTo": ["Account"]},
        ],
    }
    opp = CrmSchema.from_describe([answer]).objects["Opportunity"]
    stage = opp.fields["StageName"]
    assert (stage.picklist, stage.restricted, stage.nillable, stage.length) == (
        ("Closed Won",),
        True,
        False,
        255,
    )
    assert opp.fields["AccountId"].references == ("Account",)


def test_a_file_that_is_no_schema_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Lastmile schema file"):
        CrmSchema.from_json({"pack": "x"})


# --- Rule tests: the fields their events and expectations name ---------------------------------

TESTED_RULE = rule("    if: {all: [{StageName: Closed Won}]}\n    then: {require: [NextStep]}\n")


def test_a_tests_event_fields_and_changed_are_checked(tmp_path: Path) -> None:
    # Types are not: a test may send a number as text, as an untyped Outbound Message does.
    text = TESTED_RULE + (
        "tests:\n"
        "  - name: won\n"
        "    event:\n"
        "      changed: [StagName]\n"
        "      fields: {StageName: Closed Wonn, NextStpe: null, Amount: lots}\n"
        "    expect: {matched: [r]}\n"
    )
    assert problems(tmp_path, text) == [
        "pack.yaml:10:17: unknown field 'StagName' on Opportunity; did you mean 'StageName'?",
        "pack.yaml:11:27: 'Closed Wonn' is not a value of the StageName picklist; "
        "did you mean 'Closed Won'?",
        "pack.yaml:11:40: unknown field 'NextStpe' on Opportunity; did you mean 'NextStep'?",
    ]


def test_a_sequence_and_its_expectations_are_checked(tmp_path: Path) -> None:
    text = TESTED_RULE + (
        "tests:\n"
        "  - name: won, then filled in\n"
        "    events:\n"
        "      - event: {object: Opportunity, fields: {StageName: Closed Won}}\n"
        "        expect: {missing: {r: [NextStpe]}}\n"
        "      - at: 1h\n"
        "        event: {fields: {Nextstep: call back}}\n"
        "    expect: {defaults: {LeadSource: Phone, Amout: 10}}\n"
    )
    assert problems(tmp_path, text) == [
        "pack.yaml:11:32: unknown field 'NextStpe' on Opportunity; did you mean 'NextStep'?",
        "pack.yaml:13:26: unknown field 'Nextstep' on Opportunity; did you mean 'NextStep'?",
        "pack.yaml:14:44: unknown field 'Amout' on Opportunity; did you mean 'Amount'?",
    ]


def test_a_tests_event_for_an_unknown_object(tmp_path: Path) -> None:
    text = TESTED_RULE + (
        "tests:\n  - name: wrong object\n    event: {object: Oportunity, fields: {Nmae: x}}\n"
    )
    assert problems(tmp_path, text) == [
        "pack.yaml:9:21: unknown object 'Oportunity' (not in the CRM schema); "
        "did you mean 'Opportunity'?"
    ]


def test_a_test_file_is_checked_against_the_objects_of_all_rules(tmp_path: Path) -> None:
    (tmp_path / "calls.test.yaml").write_text(
        "tests:\n"
        "  - name: a call\n"
        "    event: {object: Task, fields: {Status: Complete, Subjet: Call}}\n",
        encoding="utf-8",
    )
    text = rule("    then: {require: [Subject]}\n", object="Task")
    assert problems(tmp_path, text) == [
        "calls.test.yaml:3:44: 'Complete' is not a value of the Status picklist; "
        "did you mean 'Completed'?",
        "calls.test.yaml:3:54: unknown field 'Subjet' on Task; did you mean 'Subject'?",
    ]


def test_a_multi_select_picklist_value_is_checked_value_by_value(tmp_path: Path) -> None:
    schema = CrmSchema(
        {
            "Lead": _object(
                "Lead",
                CrmField(
                    "Interests__c",
                    "multipicklist",
                    "Interests",
                    picklist=("Web", "Phone"),
                    restricted=True,
                ),
            )
        }
    )
    text = rule(
        "    if: {all: [{Interests__c: Web;Phone}]}\n    then: {require: [Interests__c]}\n", "Lead"
    )
    (tmp_path / "pack.yaml").write_text(text, encoding="utf-8")
    assert check_catalog(load_catalog([tmp_path]), schema) == []
    (tmp_path / "pack.yaml").write_text(text.replace("Phone}", "Fone}"), encoding="utf-8")
    (problem,) = check_catalog(load_catalog([tmp_path]), schema)
    assert problem.message == (
        "'Fone' is not a value of the Interests__c picklist; did you mean 'Phone'?"
    )


def test_a_field_of_a_related_record_is_checked_on_that_record(tmp_path: Path) -> None:
    schema = CrmSchema(
        {
            "Case": _object(
                "Case",
                CrmField("Status", "picklist", "Status"),
                CrmField("AccountId", "reference", "Account ID", references=("Account",)),
            ),
            "Account": _object("Account", CrmField("ID_Verified__c", "boolean", "ID Verified")),
        }
    )
    text = rule("    then: {require: [Status]}\n", "Case") + (
        "tests:\n"
        "  - name: related\n"
        "    event: {fields: {Status: New}}\n"
        "    expect: {missing: {r: [Account.ID_Verified__c, Account.IDVerified, Acount.Name]}}\n"
    )
    (tmp_path / "pack.yaml").write_text(text, encoding="utf-8")
    found = [p.message for p in check_catalog(load_catalog([tmp_path]), schema)]
    assert found == [
        "unknown field 'IDVerified' on Account; did you mean 'ID_Verified__c'?",
        "unknown relationship 'Acount' on Case; did you mean 'Account'?",
    ]
