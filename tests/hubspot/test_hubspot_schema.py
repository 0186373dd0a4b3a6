"""`rules check` against a HubSpot schema pulled through the properties API: property names and
enumeration options are checked as they are for Salesforce."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lastmile.cli import main
from lastmile.connector.hubspot import HubSpotConnector
from lastmile.connector.hubspot_sandbox import HubSpotSandbox

PACK = Path(__file__).resolve().parents[2] / "examples" / "hubspot" / "deals.yaml"


def test_describe_lists_properties_options_and_the_owner(connector: HubSpotConnector) -> None:
    answer = connector.describe("deals")
    fields = {f["name"]: f for f in answer["fields"]}
    stage = fields["dealstage"]
    assert stage["type"] == "picklist"
    assert "closedwon" in [v["value"] for v in stage["picklistValues"]]
    assert fields["hs_next_step"]["label"] == "Next step"
    assert fields["OwnerId"]["type"] == fields["hubspot_owner_id"]["type"] == "string"
    assert fields["createdate"]["updateable"] is False


def test_rules_check_finds_hubspot_names_and_options(
    sandbox: HubSpotSandbox, tmp_path: Path
) -> None:
    config = tmp_path / "hubspot.env"
    config.write_text("".join(f"{k}={v}\n" for k, v in sandbox.settings().items()))
    schema = tmp_path / "schema.json"
    runner = CliRunner()
    pulled = runner.invoke(
        main, ["schema", "pull", "--objects", "deals", "-o", str(schema), "--config", str(config)]
    )
    assert pulled.exit_code == 0, pulled.output
    good = runner.invoke(main, ["rules", "check", str(PACK), "--schema", str(schema)])
    assert good.exit_code == 0, good.output
    bad = tmp_path / "bad.yaml"
    text = PACK.read_text().replace("require: [closed_won_reason", "require: [closed_won_reasn")
    bad.write_text(text.replace("dealstage: closedwon\n", "dealstage: closed_won\n"))
    checked = runner.invoke(main, ["rules", "check", str(bad), "--schema", str(schema)])
    assert checked.exit_code == 1
    assert "'closed_won' is not a value of the dealstage picklist" in checked.output
    assert "unknown field 'closed_won_reasn' on deals" in checked.output


def test_rules_check_knows_numbers_and_dates(sandbox: HubSpotSandbox, tmp_path: Path) -> None:
    """Values are read by type, so the schema says numbers and dates, not text."""
    config = tmp_path / "hubspot.env"
    config.write_text("".join(f"{k}={v}\n" for k, v in sandbox.settings().items()))
    schema = tmp_path / "schema.json"
    runner = CliRunner()
    pulled = runner.invoke(
        main, ["schema", "pull", "--objects", "deals", "-o", str(schema), "--config", str(config)]
    )
    assert pulled.exit_code == 0, pulled.output
    pack = """pack: large
crm: hubspot
rules:
  - id: large
    object: deals
    if: {all: [{amount: {gt: AMOUNT}}, {closedate: {gte: "2026-12-01"}}]}
    then: {prompt: Large.}
"""
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(pack.replace("AMOUNT", "1000"))
    bad.write_text(pack.replace("AMOUNT", '"1000"'))
    assert (
        runner.invoke(main, ["rules", "check", str(good), "--schema", str(schema)]).exit_code == 0
    )
    checked = runner.invoke(main, ["rules", "check", str(bad), "--schema", str(schema)])
    assert checked.exit_code == 1
    assert "amount is a double field: '1000' is not a number" in checked.output
