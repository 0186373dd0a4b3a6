"""A value the CRM quotes back in its error message reaches no log line, no `/api/events` answer
and no `lastmile events` output: over a whole run, the sandbox CRM refuses two write-backs with
messages that quote a person's field value, as Salesforce does (MALFORMED_ID for a task owner
taken from a text field, STRING_TOO_LONG for a task subject built from a long description)."""

from __future__ import annotations

import json
from pathlib import Path

import requests
from click.testing import CliRunner
from hardening_support import TOKEN, Loop
from waiting import wait_for

from lastmile.cli.events import events

MARK = "Vertrouwelijk-Pietersen-6604"  # a field value that must never be logged or shown

RULES = """
pack: quoted-values
rules:
  - id: next-step-owner
    object: Opportunity
    if: {on: updated, changed: NextStep}
    then:
      task: {subject: "Next step for {Name}", owner: "{NextStep}", due_in: 2d}
  - id: description-follow-up
    object: Opportunity
    if: {on: updated, changed: Description}
    then:
      task: {subject: "About {Description}", due_in: 2d}
"""


def test_a_value_the_crm_quotes_back_is_in_no_log_and_no_admin_answer(
    tmp_path: Path, captured
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "quoted.yaml").write_text(RULES, encoding="utf-8")
    loop = Loop(tmp_path, rules=rules, log_level="debug", max_attempts=2)
    try:
        sb = loop.sandbox
        new = {"StageName": "Prospecting", "CloseDate": "2026-12-31"}
        first = sb.save_as(sb.sales_user_id, "Opportunity", {"Name": "Fam. Jansen", **new})
        second = sb.save_as(sb.sales_user_id, "Opportunity", {"Name": "Fam. Visser", **new})
        sb.save_as(sb.sales_user_id, "Opportunity", {"NextStep": MARK}, record_id=first)
        sb.save_as(sb.sales_user_id, "Opportunity", {"Description": MARK * 10}, record_id=second)
        wait_for(lambda: len(loop.dead()) == 2 and loop.settled(), timeout=60)

        admin = {"Authorization": f"Bearer {TOKEN}"}
        answers = [requests.get(f"{loop.url}/api/events?limit=1000", headers=admin, timeout=10)]
        answers += [
            requests.get(f"{loop.url}/api/events/{inbox_id}", headers=admin, timeout=10)
            for inbox_id in loop.dead()
        ]
        assert all(answer.status_code == 200 for answer in answers)
        shown = [answer.text for answer in answers]
        env = {"LASTMILE_DATABASE_URL": loop.settings.database_url}
        for args in (["list"], ["list", "--json"], *(["show", str(i)] for i in loop.dead())):
            result = CliRunner().invoke(events, args, env=env, catch_exceptions=False)
            assert result.exit_code == 0, result.output
            shown.append(result.output)
    finally:
        loop.close()

    # The CRM did refuse both, quoting the value; what Lastmile shows keeps codes and fields.
    details = [json.loads(text) for text in shown[1:3]]
    errors = sorted(detail["last_error"] for detail in details)
    assert errors[0].startswith("MALFORMED_ID: Owner ID: id value of incorrect type: ")
    assert errors[1].startswith("STRING_TOO_LONG: Subject: data value too large: ")
    problems = [p for d in details for w in d["writes"] for p in w["problems"]]
    assert {p["code"] for p in problems} == {"MALFORMED_ID", "STRING_TOO_LONG"}
    assert all("(value withheld)" in p["message"] for p in problems)
    leaked = [text[:300] for text in shown if MARK in text]
    assert not leaked, leaked
    logged = captured.getvalue()
    assert "event parked as dead" in logged and "MALFORMED_ID" in logged
    assert MARK not in logged
