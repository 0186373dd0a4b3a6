"""`experiment:` on a rule: each unit's arm by the formula, its `then`; control writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lastmile.rules import RecordEvent, RuleFileError, evaluate, load_text
from lastmile.rules.experiments import assign_arm
from lastmile.rules.occasions import observe

PACK = """\
pack: calls
rules:
  - id: call-essentials
    object: Task
    if: {all: [{Type: Call}, {Status: Completed}, {changed: Status}]}
    then:
      require: [Description, Outcome__c]
      prompt: "Record now: {missing}."
    experiment:
      id: call-prompt-2026-12
      arms: {control: 0.2, short: 0.3, long: 0.3, fewer: 0.2}
      variants:
        short: {prompt: "Notes: {missing}."}
        fewer: {require: [Outcome__c], prompt: "Outcome? ({Subject})"}
      start: 2026-12-01
      end: 2027-01-15
"""
ARMS = {"control": 0.2, "short": 0.3, "long": 0.3, "fewer": 0.2}
IN_DECEMBER = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _owners_by_arm() -> dict[str, str]:
    """One owner id per arm, found with the formula itself."""
    found: dict[str, str] = {}
    n = 0
    while len(found) < len(ARMS):
        owner = f"005{n:012d}AAA"
        found.setdefault(assign_arm("call-prompt-2026-12", owner, ARMS), owner)
        n += 1
    return found


OWNERS = _owners_by_arm()


def _call(owner: str | None, at: datetime = IN_DECEMBER) -> RecordEvent:
    fields = {"Type": "Call", "Status": "Completed", "Subject": "Renewal", "OwnerId": owner}
    return RecordEvent(id="e1", object="Task", record_id="00T1", kind="updated",
                       occurred_at=at, fields=fields, changed=("Status",))  # fmt: skip


@pytest.fixture(scope="module")
def rules():
    return load_text(PACK)


def test_each_arm_gets_its_then_and_control_gets_nothing(rules) -> None:
    decisions = {arm: evaluate(rules, _call(owner)) for arm, owner in OWNERS.items()}
    assert {arm: d.arms for arm, d in decisions.items()} == {
        arm: {"call-essentials": arm} for arm in ARMS
    }
    control = decisions["control"]
    assert control.matched == ["call-essentials"] and control.observed == ["call-essentials"]
    assert control.prompts == [] and control.missing == {
        "call-essentials": ["Description", "Outcome__c"]
    }
    assert [p.text for p in decisions["short"].prompts] == ["Notes: Description and Outcome__c."]
    assert [p.text for p in decisions["long"].prompts] == [
        "Record now: Description and Outcome__c."
    ]
    fewer = decisions["fewer"]
    assert [p.text for p in fewer.prompts] == ["Outcome? (Renewal)"]
    assert fewer.missing == {"call-essentials": ["Outcome__c"]}
    assert all(d.observed == [] for arm, d in decisions.items() if arm != "control")


def test_the_arm_follows_the_owners_first_15_characters(rules) -> None:
    owner = OWNERS["short"]
    assert evaluate(rules, _call(owner[:15])).arms == {"call-essentials": "short"}


def test_outside_the_window_or_without_an_owner_the_rule_is_its_own(rules) -> None:
    for event in (
        _call(OWNERS["control"], datetime(2026, 11, 30, tzinfo=UTC)),
        _call(OWNERS["control"], datetime(2027, 1, 15, tzinfo=UTC)),  # end is exclusive
        _call(None),
    ):
        decision = evaluate(rules, event)
        assert decision.arms == {} and "arms" not in decision.to_json()
        assert [p.text for p in decision.prompts] == ["Record now: Description and Outcome__c."]


def test_observations_carry_the_arm_and_its_require(rules) -> None:
    for arm, owner in OWNERS.items():
        event = _call(owner)
        [obs] = observe(rules, event, evaluate(rules, event))
        assert (obs.experiment, obs.arm) == ("call-prompt-2026-12", arm)
        want = ("Outcome__c",) if arm == "fewer" else ("Description", "Outcome__c")
        assert obs.missing == want


def test_the_rules_read_the_owner_and_every_arms_fields(rules) -> None:
    assert {"OwnerId", "Subject", "Description", "Outcome__c"} <= rules.fields("Task")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("{control: 0.2, short: 0.3, long: 0.3, fewer: 0.3}", "must sum to 1"),
        ("{control: 0.5, short: 0.5}", "variant 'fewer' is not an arm"),
    ],
)
def test_bad_experiments_are_refused(change: str, message: str) -> None:
    text = PACK.replace("{control: 0.2, short: 0.3, long: 0.3, fewer: 0.2}", change)
    with pytest.raises(RuleFileError) as caught:
        load_text(text)
    assert message in str(caught.value)


def test_an_experiment_id_names_one_experiment_in_the_directory(tmp_path) -> None:
    from lastmile.rules import load_rules

    (tmp_path / "a.yaml").write_text(PACK, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        PACK.replace("pack: calls", "pack: more").replace("id: call-essentials", "id: other"),
        encoding="utf-8",
    )
    with pytest.raises(RuleFileError) as caught:
        load_rules([tmp_path])
    [problem] = caught.value.problems
    assert problem.path.endswith("b.yaml") and (problem.line, problem.column) == (10, 11)
    assert problem.message.startswith("duplicate experiment id; first defined at ")
    assert problem.message.endswith("a.yaml:10:11")
