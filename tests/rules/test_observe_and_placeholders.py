"""`mode: observe` (measured, nothing written) and placeholder values (not compliance)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lastmile.rules import RecordEvent, RuleFileError, evaluate, load_text
from lastmile.rules.fillers import Fillers
from lastmile.rules.occasions import derive, observe

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

PACK = """\
pack: calls
mode: {pack_mode}
placeholders: [n/a, TBD, unknown]
min_length: {{Description: 10}}
rules:
  - id: call-essentials
    object: Task
    {rule_mode}
    if: {{all: [{{Type: Call}}, {{Status: Completed}}, {{changed: Status}}]}}
    then:
      require: [Description, Outcome__c]
      prompt: "Record now: {{missing}}."
      default: {{Priority: Normal}}
      task: {{subject: "Follow-up: {{Subject}}", due_in: 2d}}
      within: 1d
"""


def _rules(pack_mode: str = "live", rule_mode: str = "") -> Any:
    return load_text(PACK.format(pack_mode=pack_mode, rule_mode=rule_mode))


def _call(n: int, at: datetime, changed: list[str] | None = None, **fields: Any) -> RecordEvent:
    base = {"Type": "Call", "Status": "Completed", "Subject": "Renewal", "OwnerId": "005A"}
    return RecordEvent(
        id=f"e{n}",
        object="Task",
        record_id="00T1",
        kind="updated",
        occurred_at=at,
        fields={**base, **fields},
        changed=tuple(changed) if changed is not None else None,
    )


def test_an_observe_rule_is_measured_but_writes_nothing() -> None:
    rules = _rules(rule_mode="mode: observe")
    event = _call(1, T0, ["Status"], Description=None, Outcome__c=None)
    decision = evaluate(rules, event)
    assert decision.matched == ["call-essentials"]
    assert decision.missing == {"call-essentials": ["Description", "Outcome__c"]}
    assert decision.situation == ["call-essentials"]
    assert decision.observed == ["call-essentials"]
    assert (decision.prompts, decision.defaults, decision.tasks) == ([], {}, [])
    assert decision.to_json()["observed"] == ["call-essentials"]
    # What it would do if it were live (a backtest's view): the same as a live rule.
    live = evaluate(_rules(), event)
    as_live = evaluate(rules, event, as_live=True)
    assert as_live.model_dump(exclude={"observed"}) == live.model_dump(exclude={"observed"})
    assert as_live.observed == [] and live.observed == []
    assert [p.text for p in live.prompts] == ["Record now: Description and Outcome__c."]


def test_a_pack_mode_applies_to_its_rules_and_a_rule_can_override_it() -> None:
    event = _call(1, T0, ["Status"], Description=None, Outcome__c=None)
    assert evaluate(_rules(pack_mode="observe"), event).observed == ["call-essentials"]
    overridden = evaluate(_rules(pack_mode="observe", rule_mode="mode: live"), event)
    assert overridden.observed == [] and overridden.prompts


def test_an_observe_rule_never_clears_a_prompt_it_never_wrote() -> None:
    rules = _rules(rule_mode="mode: observe")
    before = {"Type": "Call", "Status": "Completed", "Description": None, "Outcome__c": None}
    event = _call(2, T0, None, Description="Talked about the renewal", Outcome__c="Interested")
    assert evaluate(rules, event, before).cleared == []
    assert evaluate(_rules(), event, before).cleared == ["call-essentials"]


def test_a_mode_other_than_live_or_observe_is_refused() -> None:
    with pytest.raises(RuleFileError) as caught:
        _rules(rule_mode="mode: watch")
    assert str(caught.value).startswith("<text>:8:11: rule 'call-essentials':")
    assert "'live' or 'observe' (got 'watch')" in str(caught.value)


def test_observations_and_occasions_carry_the_mode() -> None:
    rules = _rules(rule_mode="mode: observe")
    event = _call(1, T0, ["Status"], Description=None, Outcome__c=None)
    [obs] = observe(rules, event, evaluate(rules, event))
    assert obs.mode == "observe"
    [occasion] = derive([obs], {"call-essentials": None}, T0)
    assert occasion.mode == "observe" and occasion.outcome == "open"


@pytest.mark.parametrize(
    "value",
    [
        "asdf",
        "ASDF",
        "qwerty",
        "1234",
        "abc",
        "xxx",
        "...",
        "-",
        ".",
        "  --  ",
        "n/a",
        "tbd",
        "Unknown",
        "lkj",
    ],
)
def test_placeholder_values(value: str) -> None:
    fillers = Fillers.of(["n/a", "TBD", "unknown"], {})
    assert fillers.is_placeholder("Outcome__c", value)
    assert not fillers.filled("Outcome__c", value)


@pytest.mark.parametrize(
    "value", ["Interested", "no", "ok", "A", "7", "Call back in two weeks", "asdf jkl"]
)
def test_real_answers_are_not_placeholders(value: str) -> None:
    fillers = Fillers.of(["n/a"], {})
    assert not fillers.is_placeholder("Outcome__c", value)
    assert fillers.filled("Outcome__c", value)


def test_only_text_can_be_a_placeholder_and_empty_is_not_one() -> None:
    fillers = Fillers.of([], {"Amount": 5})
    for value in (None, "", "   ", 1111, 0, True, 1.5):
        assert not fillers.is_placeholder("Amount", value)
    assert not fillers.filled("Amount", None) and fillers.filled("Amount", 1111)


def test_text_shorter_than_the_fields_minimum_is_a_placeholder() -> None:
    fillers = Fillers.of([], {"Description": 10})
    assert fillers.is_placeholder("Description", "called")
    assert not fillers.is_placeholder("Description", "called, wants an offer")
    assert not fillers.is_placeholder("Outcome__c", "called")


def test_a_placeholder_keeps_the_prompt_and_the_occasion_open() -> None:
    rules = _rules()
    events = [
        _call(1, T0, ["Status"], Description="asdf", Outcome__c="Interested"),
        _call(2, T0 + timedelta(hours=1), [], Description="short", Outcome__c="n/a"),
        _call(3, T0 + timedelta(hours=2), [], Description="Wants an offer", Outcome__c="Yes"),
    ]
    first = evaluate(rules, events[0])
    assert first.missing == {"call-essentials": ["Description"]}
    assert [p.text for p in first.prompts] == ["Record now: Description."]
    observations = []
    previous = None
    for event in events:
        decision = evaluate(rules, event, previous)
        observations += observe(rules, event, decision)
        previous = event.fields
    assert [o.placeholder for o in observations] == [
        ("Description",),
        ("Description", "Outcome__c"),
        (),
    ]
    assert [o.missing for o in observations] == [(), (), ()]
    [occasion] = derive(observations, {"call-essentials": None}, T0 + timedelta(days=3))
    assert occasion.outcome == "met_after_prompt"
    assert occasion.closed_at == events[2].occurred_at
    assert occasion.fields_missing == ()
    assert occasion.fields_placeholder == ("Description", "Outcome__c")


def test_an_occasion_left_with_a_placeholder_is_missed_at_its_deadline() -> None:
    rules = _rules()
    event = _call(1, T0, ["Status"], Description="n/a", Outcome__c="xxx")
    observations = observe(rules, event, evaluate(rules, event))
    within = {"call-essentials": rules.rules[0].rule.then.within}
    [occasion] = derive(observations, within, T0 + timedelta(days=2))
    assert occasion.outcome == "missed"
    assert occasion.fields_placeholder == ("Description", "Outcome__c")


def test_a_rule_version_changes_with_what_the_rule_does_not_with_its_description() -> None:
    base = _rules().rules[0].version
    assert len(base) == 12 and base == _rules().rules[0].version
    described = load_text(PACK.format(pack_mode="live", rule_mode="description: Calls.")).rules[0]
    assert described.version == base
    # Its rank among prompts is not what it asks: a priority leaves the version alone.
    ranked = load_text(PACK.format(pack_mode="live", rule_mode="priority: 3")).rules[0]
    assert ranked.rule.priority == 3 and ranked.version == base
    assert _rules(rule_mode="mode: observe").rules[0].version != base
    fewer = load_text(
        PACK.format(pack_mode="live", rule_mode="").replace(
            "require: [Description, Outcome__c]", "require: [Outcome__c]"
        )
    )
    assert fewer.rules[0].version != base
    moved = load_text(
        "# a comment moves every line\n" + PACK.format(pack_mode="live", rule_mode="")
    )
    assert moved.rules[0].version == base
    event = _call(1, T0, ["Status"], Description=None, Outcome__c=None)
    [obs] = observe(fewer, event, evaluate(fewer, event))
    assert obs.rule_version == fewer.rules[0].version
    [occasion] = derive([obs], {"call-essentials": None}, T0)
    assert occasion.rule_version == fewer.rules[0].version
