"""The friction report from known figures, and the stand-up digest from the scenario's."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from measure_support import World, row
from widths import columns, fitted

from lastmile.cli.report import digest_cmd
from lastmile.measure import digest, friction
from lastmile.rules import RuleSet, load_rules

ROOT = Path(__file__).resolve().parents[2]
QUOTES = """\
pack: quotes
locale: en
rules:
  - id: quote-notes
    object: Opportunity
    if: {all: [{StageName: Proposal}, {changed: StageName}]}
    then:
      require: [Description]
      prompt: "Add the quote notes."
  - id: quote-defaults
    object: Opportunity
    if: {on: created}
    then:
      default: {LeadSource: Phone}
"""


@pytest.fixture(scope="module")
def two_languages(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """The Dutch client-calls example pack and an English pack."""
    folder = tmp_path_factory.mktemp("packs")
    (folder / "a-client-calls.yaml").write_text(
        (ROOT / "examples" / "rules" / "client-calls.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    (folder / "b-quotes.yaml").write_text(QUOTES, encoding="utf-8")
    return load_rules([folder])


def test_friction_ranks_and_hints_from_the_figures(two_languages: RuleSet) -> None:
    report = {
        "rules": [
            # 4 of 10 closed met (0.4), median wait 5 h: low compliance and slow -> move the
            # moment. Outcome empty 7/10, next step 5/10: make them defaults; notes 2/10: fine.
            row("call-essentials", 10, 2, 2, 6, 0, 0, 0.4, 18000, 30000,
                {"Description": 2, "Outcome__c": 7, "Next_Step__c": 5}),
            # 7 met, 6 of them only after the prompt: the prompt works.
            row("quote-notes", 8, 1, 6, 0, 1, 0, 1.0, 600, 900, {"Description": 3}),
        ],
        "defaults": [
            {"rule": "quote-defaults", "field": "LeadSource", "applied": 20, "overridden": 13,
             "override_rate": 0.65},
        ],
    }  # fmt: skip
    assert friction(report, two_languages) == [
        {"kind": "field", "rule": "call-essentials", "field": "Outcome__c",
         "figure": "Uitkomst leeg bij 7 van 10 gelegenheden (70%)",
         "hint": "Blijft meestal leeg: maak er een standaardwaarde van of laat het vallen.",
         "score": 0.7},
        {"kind": "field", "rule": "quote-defaults", "field": "LeadSource",
         "figure": "default for LeadSource changed by a person in 13 of 20 (65%)",
         "hint": "A bad default: change or drop it.", "score": 0.65},
        {"kind": "rule", "rule": "call-essentials",
         "figure": "naleving 40% (4 van 10 afgesloten gelegenheden), mediane tijd tot invullen 5 u",
         "hint": "Weinigen voldoen en wie het doet, doet er lang over: verplaats het moment naar "
                 "waar de informatie voorhanden is.",
         "score": 0.6},
        {"kind": "field", "rule": "call-essentials", "field": "Next_Step__c",
         "figure": "Volgende stap leeg bij 5 van 10 gelegenheden (50%)",
         "hint": "Blijft meestal leeg: maak er een standaardwaarde van of laat het vallen.",
         "score": 0.5},
        {"kind": "rule", "rule": "quote-notes",
         "figure": "6 of 7 met only after the prompt (86%)",
         "hint": "The prompt works; consider a default so nobody needs asking.",
         "score": 0.4286},  # 6/7 ranked at half weight: it works, it could be lighter
    ]  # fmt: skip


def test_friction_says_nothing_on_too_few_or_good_figures(two_languages: RuleSet) -> None:
    report = {
        "rules": [
            row("call-essentials", 2, 0, 0, 2, 0, 0, 0.0, None, None, {"Outcome__c": 2}),
            row("quote-notes", 10, 9, 1, 0, 0, 0, 1.0, 60, 60, {"Description": 1}),
        ],
        "defaults": [
            {"rule": "quote-defaults", "field": "LeadSource", "applied": 10, "overridden": 2,
             "override_rate": 0.2},
        ],
    }  # fmt: skip
    assert friction(report, two_languages) == []


def test_a_quick_low_compliance_asks_to_reword_the_prompt(two_languages: RuleSet) -> None:
    report = {"rules": [row("quote-notes", 5, 1, 1, 3, 0, 0, 0.4, 600, 600, {"Description": 0})]}
    (item,) = friction(report, two_languages)
    assert item["hint"] == "Low compliance: reword the prompt or ask for fewer fields."
    assert (
        item["figure"] == "compliance 40% (2 of 5 closed occasions), median time to comply 10 min"
    )


def _digest(w: World, team: str, day: str) -> dict:
    return digest(w.runtime.store, w.runtime.rules(), w.settings, team, date.fromisoformat(day))


def test_the_digest_asks_about_yesterdays_figures(scenario: World) -> None:
    # 17 Nov, other (R3: both empty, still open at midnight; R4: notes empty, withdrawn).
    other = _digest(scenario, "other", "2026-11-18")
    assert other["team"] == "other" and other["day"] == "2026-11-18"
    assert other["questions"] == [
        "Call notes was left empty 2 of 2 times (call-notes): what made that hard?",
        "Outcome was left empty 1 of 2 times (call-notes): what made that hard?",
        "call-notes is still open 1 of 2 times: what is needed to finish it today?",
    ]
    assert other["figures"]["from"] == "2026-11-17T00:00:00Z"
    assert other["figures"]["to"] == other["figures"]["as_of"] == "2026-11-18T00:00:00Z"
    assert other["figures"]["rules"][0]["occasions"] == 2
    # 16 Nov, North (R1 met after the prompt, Outcome empty; R2 first time): two from the
    # figures, the third a general one.
    north = _digest(scenario, "Advisers North", "2026-11-17")
    assert north["questions"] == [
        "Outcome was left empty 1 of 2 times (call-notes): what made that hard?",
        "call-notes was done only after the prompt 1 of 2 times: what would make it easier "
        "the first time?",
        "Which field in the CRM cost the most time yesterday?",
    ]
    # 21 Nov (a Saturday): nothing happened.
    quiet = _digest(scenario, "Advisers North", "2026-11-22")
    assert quiet["questions"][0].startswith("Nothing stood out in yesterday's figures")
    assert len(quiet["questions"]) == 3 and quiet["figures"]["rules"][0]["occasions"] == 0


class ChatHook:
    """A chat webhook on localhost that keeps what it is sent and answers `status`."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(
                    {"type": self.headers["Content-Type"], "body": json.loads(body)}
                )
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[ChatHook]:
    h = ChatHook()
    yield h
    h.close()


def test_the_digest_command_posts_to_the_chat_webhook(scenario: World, hook: ChatHook) -> None:
    env = {**scenario.env, "LASTMILE_DIGEST_WEBHOOK_URL": hook.url}
    result = CliRunner().invoke(
        digest_cmd, ["--team", "other", "--day", "2026-11-18", "--post"], env=env
    )
    assert result.exit_code == 0, result.output
    (posted,) = hook.received
    assert posted["type"] == "application/json"
    assert posted["body"] == {
        "text": "Stand-up questions for other, 2026-11-18\n"
        "1. Call notes was left empty 2 of 2 times (call-notes): what made that hard?\n"
        "2. Outcome was left empty 1 of 2 times (call-notes): what made that hard?\n"
        "3. call-notes is still open 1 of 2 times: what is needed to finish it today?"
    }
    assert posted["body"]["text"] in result.output


def test_the_digest_command_reports_a_refused_post(scenario: World) -> None:
    refusing = ChatHook(status=500)
    try:
        env = {**scenario.env, "LASTMILE_DIGEST_WEBHOOK_URL": refusing.url}
        result = CliRunner().invoke(digest_cmd, ["--team", "other", "--post"], env=env)
    finally:
        refusing.close()
    assert result.exit_code == 1 and "answered HTTP 500" in result.output
    unset = CliRunner().invoke(digest_cmd, ["--team", "other", "--post"], env=scenario.env)
    assert unset.exit_code == 1 and "LASTMILE_DIGEST_WEBHOOK_URL" in unset.output
    bad_day = CliRunner().invoke(digest_cmd, ["--team", "other", "--day", "monday"], env=env)
    assert bad_day.exit_code == 2 and "not a date" in bad_day.output


def test_the_digest_is_wrapped_on_screen_and_posted_whole(scenario: World, hook: ChatHook) -> None:
    env = {**scenario.env, **columns(40), "LASTMILE_DIGEST_WEBHOOK_URL": hook.url}
    result = CliRunner().invoke(
        digest_cmd, ["--team", "other", "--day", "2026-11-18", "--post"], env=env
    )
    assert result.exit_code == 0, result.output
    (posted,) = hook.received
    assert len(posted["body"]["text"].splitlines()) == 4  # a title and three questions
    assert len(fitted(result.output, 40)) > 5
    assert result.output.split()[:-5] == posted["body"]["text"].split()  # then "posted to ..."


class Facts:
    """Field facts as a CRM schema and the records would give them."""

    def __init__(self, types: dict[str, str], common: dict[str, tuple[str, float]]) -> None:
        self.types, self.common = types, common

    def type_of(self, object_name: str, field: str) -> str | None:
        return self.types.get(f"{object_name}.{field}")

    def most_common(self, object_name: str, field: str) -> tuple[str, float] | None:
        return self.common.get(f"{object_name}.{field}")


def test_no_hint_from_open_occasions_alone(two_languages: RuleSet) -> None:
    # Twelve occasions, seconds old: all open. Nothing is known yet about how the rule sticks.
    report = {"rules": [row("quote-notes", 12, 0, 0, 0, 0, 12, None, None, None,
                            {"Description": 12})]}  # fmt: skip
    assert friction(report, two_languages) == []
    # Four closed is still below the minimum of five.
    report = {"rules": [row("quote-notes", 12, 0, 0, 4, 0, 8, 0.0, None, None,
                            {"Description": 12})]}  # fmt: skip
    assert friction(report, two_languages) == []


def test_a_field_hint_fits_the_fields_type(two_languages: RuleSet) -> None:
    report = {"rules": [row("call-essentials", 10, 8, 0, 2, 0, 0, 0.8, None, None,
                            {"Description": 6, "Outcome__c": 7, "Next_Step__c": 0})]}  # fmt: skip
    facts = Facts(
        {"Task.Description": "textarea", "Task.Outcome__c": "picklist"},
        {"Task.Outcome__c": ("Interested", 0.7)},
    )
    hints = {i["field"]: i["hint"] for i in friction(report, two_languages, facts)}
    assert hints == {
        "Outcome__c": "Blijft meestal leeg: maak Interested de standaardwaarde (70% van de "
        "records met een waarde kiest die).",
        "Description": "Blijft meestal leeg, en vrije tekst heeft geen standaardwaarde: vraag er "
        "later om of laat het vallen.",
    }
    # Without facts, or with a picklist nobody has filled yet, the general hint stays.
    general = "Blijft meestal leeg: maak er een standaardwaarde van of laat het vallen."
    assert {i["hint"] for i in friction(report, two_languages)} == {general}
    unknown = Facts({"Task.Outcome__c": "picklist"}, {})
    assert {i["hint"] for i in friction(report, two_languages, unknown)} == {general}


def test_fields_filled_with_placeholders_are_named(two_languages: RuleSet) -> None:
    report = {"rules": [{**row("quote-notes", 10, 6, 2, 2, 0, 0, 0.8, 60, 60, {"Description": 1}),
                         "fields_placeholder": {"Description": 4}}]}  # fmt: skip
    (item,) = friction(report, two_languages)
    assert item == {
        "kind": "field",
        "rule": "quote-notes",
        "field": "Description",
        "figure": "Description filled with a placeholder in 4 of 10 occasions (40%)",
        "hint": "People type something to get past the prompt: the answer is not known at "
        "that moment. Ask for it later, or drop it.",
        "score": 0.4,
    }
