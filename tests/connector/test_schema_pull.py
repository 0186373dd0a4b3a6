"""`lastmile schema pull` from a running sandbox CRM, and the example packs checked against it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lastmile.cli import main
from lastmile.connector.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "rules"


def run(sandbox: Sandbox, *args: str):
    env = {**sandbox.settings(), "LASTMILE_RULES": str(EXAMPLES), "LASTMILE_SCHEMA": None}
    return CliRunner().invoke(main, list(args), env=env)


def test_describe_answers_with_picklist_values_as_salesforce_does(make_connector) -> None:
    answer = make_connector().describe("Opportunity")
    fields = {f["name"]: f for f in answer["fields"]}
    stage = fields["StageName"]
    assert stage["restrictedPicklist"] is True
    assert {"value": "Closed Won", "label": "Closed Won", "active": True}.items() <= next(
        v for v in stage["picklistValues"] if v["value"] == "Closed Won"
    ).items()
    assert fields["LeadSource"]["restrictedPicklist"] is False
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["OwnerId"]["referenceTo"] == ["User"]
    assert fields["Name"]["length"] == 255 and fields["Amount"]["length"] == 0
    assert fields["Amount"]["picklistValues"] == []


def test_the_example_packs_check_clean_against_the_pulled_schema(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    output = tmp_path / "schema.json"
    pulled = run(sandbox, "schema", "pull", "-o", str(output))
    assert pulled.exit_code == 0, pulled.output
    assert pulled.stdout.startswith(f"wrote {output}: 4 objects (Case, Lead, Opportunity, Task)")
    objects = json.loads(output.read_text(encoding="utf-8"))["objects"]
    assert set(objects) == {"Case", "Lead", "Opportunity", "Task"}
    assert objects["Task"]["fields"]["Outcome__c"]["restricted"] is True

    checked = run(sandbox, "rules", "check", str(EXAMPLES), "--schema", str(output))
    assert checked.exit_code == 0, checked.output
    assert "not checked" not in checked.stderr


def test_named_objects_are_pulled_and_an_unknown_one_is_an_error(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    output = tmp_path / "schema.json"
    pulled = run(sandbox, "schema", "pull", "-o", str(output), "--objects", "Account, User")
    assert pulled.exit_code == 0, pulled.output
    assert set(json.loads(output.read_text(encoding="utf-8"))["objects"]) == {"Account", "User"}

    missing = run(sandbox, "schema", "pull", "-o", str(output), "--objects", "Acount")
    assert missing.exit_code == 1
    assert "describe Acount" in missing.output


def test_a_misspelt_stage_is_caught_with_the_pulled_schema(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    output = tmp_path / "schema.json"
    assert run(sandbox, "schema", "pull", "-o", str(output)).exit_code == 0
    pack = tmp_path / "won.yaml"
    pack.write_text(
        "pack: won\nrules:\n  - id: won\n    object: Opportunity\n"
        "    if: {all: [{StageName: Closed Wonn}]}\n    then: {require: [NextStpe]}\n",
        encoding="utf-8",
    )
    checked = run(
        sandbox, "rules", "check", "--format", "short", str(pack), "--schema", str(output)
    )
    assert checked.exit_code == 1
    assert checked.stdout.splitlines() == [
        f"{pack}:5:28: rule 'won': 'Closed Wonn' is not a value of the StageName picklist; "
        "did you mean 'Closed Won'?",
        f"{pack}:6:22: rule 'won': unknown field 'NextStpe' on Opportunity; "
        "did you mean 'NextStep'?",
    ]


def test_without_a_crm_pull_says_what_to_set(tmp_path: Path) -> None:
    unset = {
        f"LASTMILE_SALESFORCE_{key}": None for key in ("INSTANCE_URL", "USERNAME", "CONSUMER_KEY")
    }
    result = CliRunner().invoke(
        main, ["schema", "pull", "-o", str(tmp_path / "s.json"), "--objects", "Task"], env=unset
    )
    assert result.exit_code == 1
    assert "no CRM configured" in result.output
    assert not (tmp_path / "s.json").exists()
