"""`lastmile rules check|test|explain|schema` as an admin runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from lastmile.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "rules"

PACK = """\
pack: sales-basics
locale: en
labels:
  NextStep: {en: Next step, nl: Volgende stap}
rules:
  - id: closed-won-essentials
    object: Opportunity
    if:
      all:
        - StageName: Closed Won
        - changed: StageName
    then:
      require: [NextStep]
      prompt: "Record now: {missing}."
      within: 2d
  - id: new-opportunity-defaults
    object: Opportunity
    if: {on: created}
    then:
      default: {LeadSource: Phone}
  - id: follow-up-after-close
    object: Opportunity
    if:
      all: [{StageName: Closed Won}, {changed: StageName}]
    then:
      task: {subject: "Follow-up: {Name}", due_in: 2 business days}
tests:
  - name: closing asks for the next step
    event: {kind: updated, changed: [StageName], fields: {StageName: Closed Won, Name: Acme}}
    expect:
      matched: [closed-won-essentials, follow-up-after-close]
      prompts: {closed-won-essentials: "Record now: Next step."}
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    path = tmp_path / "sales.yaml"
    path.write_text(PACK)
    return path


def test_check_accepts_a_valid_pack(pack: Path):
    result = run("rules", "check", str(pack))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 3 rules in 1 packs, 1 tests")


def test_check_reports_a_misspelt_operator_with_position_and_suggestion(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(PACK.replace("- StageName: Closed Won\n", "- Amount: {gtee: 100}\n", 1))
    result = run("rules", "check", str(bad))
    assert result.exit_code == 1
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "gtee" in text)
    col = bad.read_text().splitlines()[line - 1].index("gtee") + 1
    assert (
        f"{bad}:{line}:{col}: rule 'closed-won-essentials': "
        "unknown operator 'gtee'; did you mean 'gte'?" in result.output
    )


def test_check_reports_duplicate_ids_across_files_naming_both_places(tmp_path: Path, pack: Path):
    other = tmp_path / "zz-more.yaml"
    other.write_text(
        "pack: more\nrules:\n  - id: new-opportunity-defaults\n    object: Lead\n"
        "    then: {default: {LeadSource: Web}}\n"
    )
    result = run("rules", "check", str(tmp_path))
    assert result.exit_code == 1
    assert (
        f"{other}:3:9: rule 'new-opportunity-defaults': duplicate rule id; first defined at {pack}:"
        in result.output
    )


def test_check_reports_every_problem_of_every_file(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(
        "pack: a\nrules:\n  - id: x\n    object: Task\n    then: {requires: [A]}\n"
    )
    (tmp_path / "b.yaml").write_text("pack: b\nrule: []\n")
    result = run("rules", "check", str(tmp_path))
    assert result.exit_code == 1
    assert "a.yaml:5:12: rule 'x': unknown key 'requires'; did you mean 'require'?" in result.output
    assert "b.yaml:2:1: unknown key 'rule'; did you mean 'rules'?" in result.output


def test_check_of_a_missing_path_fails_clearly(tmp_path: Path):
    result = run("rules", "check", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert "no such file or directory" in result.output


def test_test_command_ends_with_the_counts(pack: Path):
    result = run("rules", "test", str(pack))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 passed, 0 failed"


def test_test_command_fails_and_says_why(tmp_path: Path):
    path = tmp_path / "p.yaml"
    path.write_text(PACK.replace('"Record now: Next step."', '"Record now: Volgende stap."'))
    result = run("rules", "test", str(path))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-1] == "0 passed, 1 failed"
    assert any(
        line.startswith("FAIL ") and "closing asks for the next step" in line for line in lines
    )
    assert any("prompts: expected" in line and "Record now: Next step." in line for line in lines)


def test_todo_tests_do_not_fail_the_run(tmp_path: Path):
    path = tmp_path / "p.yaml"
    path.write_text(
        PACK.replace(
            "  - name: closing asks", "  - todo: not built yet\n    name: closing asks"
        ).replace('"Record now: Next step."', '"something else"')
    )
    result = run("rules", "test", str(path))
    assert result.exit_code == 0, result.output
    assert "TODO" in result.output
    assert result.output.splitlines()[-1] == "0 passed, 0 failed"


def test_examples_pass_their_tests():
    result = run("rules", "test", str(EXAMPLES))
    assert result.exit_code == 0, result.output
    last = result.output.splitlines()[-1]
    passed, failed = (int(part.split()[0]) for part in last.split(", "))
    assert passed >= 10 and failed == 0


def write_event(tmp_path: Path, **overrides) -> Path:
    event = {
        "id": "evt-1",
        "source": "salesforce",
        "object": "Opportunity",
        "record_id": "006000000000001AAA",
        "kind": "updated",
        "occurred_at": "2026-11-27T10:00:00Z",
        "actor": "005000000000001AAA",
        "fields": {
            "StageName": "Closed Won",
            "NextStep": None,
            "Name": "Acme",
            "OwnerId": "005000000000001AAA",
        },
        "changed": ["StageName"],
    }
    event.update(overrides)
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return path


def test_explain_json_prints_the_decision(tmp_path: Path, pack: Path):
    result = run("rules", "explain", str(pack), "--event", str(write_event(tmp_path)), "--json")
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert decision["matched"] == ["closed-won-essentials", "follow-up-after-close"]
    assert decision["missing"] == {"closed-won-essentials": ["NextStep"]}
    assert decision["defaults"] == {}
    assert decision["prompts"] == [
        {"rule": "closed-won-essentials", "text": "Record now: Next step."}
    ]
    # Friday 27 November + 2 business days = Tuesday 1 December
    assert decision["tasks"] == [
        {
            "rule": "follow-up-after-close",
            "subject": "Follow-up: Acme",
            "due": "2026-12-01",
            "owner": "005000000000001AAA",
            "what_id": "006000000000001AAA",
            "priority": None,
        }
    ]
    assert "trace" not in decision


def test_explain_derives_changed_from_previous(tmp_path: Path, pack: Path):
    event = write_event(tmp_path, changed=None)
    previous = tmp_path / "prev.json"
    previous.write_text(json.dumps({"StageName": "Closed Won", "NextStep": None, "Name": "Acme"}))
    result = run(
        "rules", "explain", str(pack), "--event", str(event), "--previous", str(previous), "--json"
    )
    assert json.loads(result.output)["matched"] == []


def test_explain_text_shows_which_condition_failed(tmp_path: Path, pack: Path):
    event = write_event(tmp_path, fields={"StageName": "Prospecting", "Name": "Acme"})
    result = run("rules", "explain", str(pack), "--event", str(event))
    assert result.exit_code == 0, result.output
    assert "✗ closed-won-essentials: a condition does not hold" in result.output
    assert "✗ StageName = 'Closed Won'   (value: \"Prospecting\")" in result.output
    assert "✓ changed StageName" in result.output


def test_explain_rejects_a_bad_event_file_clearly(tmp_path: Path, pack: Path):
    event = write_event(tmp_path, kind="modified")
    result = run("rules", "explain", str(pack), "--event", str(event))
    assert result.exit_code == 2
    assert "kind" in result.output and "created" in result.output


def test_schema_accepts_the_examples_and_rejects_a_misspelt_key(tmp_path: Path):
    result = run("rules", "schema")
    assert result.exit_code == 0
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    yaml = YAML(typ="safe")
    packs = [p for p in EXAMPLES.glob("*.yaml") if not p.name.endswith(".test.yaml")]
    assert packs
    for path in [*packs]:
        jsonschema.validate(_jsonable(yaml.load(path.read_text())), schema)
    bad = _jsonable(yaml.load(PACK))
    bad["rules"][0]["then"]["requires"] = bad["rules"][0]["then"].pop("require")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def _jsonable(data):
    return json.loads(json.dumps(data, default=str))


def test_console_script_is_installed():
    exe = shutil.which("lastmile", path=str(Path(sys.executable).parent))
    assert exe, "the lastmile console script is not installed next to this Python"
    done = subprocess.run(
        [exe, "rules", "check", str(EXAMPLES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok: ")


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path, monkeypatch) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(PACK + "#" * 2_000 + "\n")
    assert run("rules", "check", str(big)).exit_code == 0  # the default limit is 1,000,000
    monkeypatch.setenv("LASTMILE_MAX_RULE_FILE_BYTES", "1000")
    result = run("rules", "check", str(big))
    assert result.exit_code == 1
    assert f"{big}:1:1: file is {big.stat().st_size} bytes; the limit is 1000" in result.output
    monkeypatch.delenv("LASTMILE_MAX_RULE_FILE_BYTES")
    assert run("rules", "--max-file-bytes", "1000", "check", str(big)).exit_code == 1


def test_explain_takes_an_event_without_id_or_time_as_rule_tests_do(tmp_path: Path, pack: Path):
    path = write_event(tmp_path)
    event = json.loads(path.read_text())
    del event["id"], event["occurred_at"]
    path.write_text(json.dumps(event))
    before = datetime.now(UTC).date()
    result = run("rules", "explain", str(pack), "--event", str(path), "--json")
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert decision["matched"] == ["closed-won-essentials", "follow-up-after-close"]
    (task,) = decision["tasks"]
    assert date.fromisoformat(task["due"]) > before  # 2 business days from now


BAD_OPERATOR = """\
pack: p
rules:
  - id: x
    object: Task
    if:
      all:
        - Status: {equal: Completed}
    then: {require: [A]}
"""


def test_check_quotes_the_line_with_a_caret_under_the_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_OPERATOR)
    result = run("rules", "check", str(bad))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{bad}:7:20: rule 'x': unknown operator 'equal'; did you mean 'equals'?",
        " 7 |         - Status: {equal: Completed}",
        "   |                    ^",
    ]
    short = run("rules", "check", "--format", "short", str(bad))
    assert short.stdout.splitlines() == [result.stdout.splitlines()[0]]


def test_check_as_json_for_ci_and_editors(tmp_path: Path, pack: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_OPERATOR)
    result = run("rules", "check", "--format", "json", str(bad))
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "problems": [
            {
                "path": str(bad),
                "line": 7,
                "column": 20,
                "rule": "x",
                "message": "unknown operator 'equal'; did you mean 'equals'?",
            }
        ]
    }
    clean = json.loads(run("rules", "check", "--format", "json", str(pack)).stdout)
    assert clean["problems"] == [] and clean["rules"] == 3 and clean["packs"] == 1
