"""evaluate(): defaults, missing fields and prompts, tasks, `changed`, cleared prompts, traces."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from lastmile.rules import Decision, RecordEvent, evaluate, load_text
from lastmile.rules.ruleset import RuleSet

# 2026-11-24 is a Tuesday, 2026-11-27 a Friday, 2026-11-28 a Saturday.
TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
FRIDAY = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

CALLS = """\
pack: calls
locale: nl
labels:
  Outcome__c: {nl: Uitkomst, en: Outcome}
  Next_Step__c: Volgende stap
  Description: {en: Description}
rules:
  - id: call-essentials
    object: Task
    if: {all: [{Type: Call}, {Status: Completed}, {changed: Status}]}
    then:
      require: [Outcome__c, Next_Step__c]
      prompt: {nl: "Leg meteen vast: {missing} ({Subject}).", en: "Record now: {missing}."}
  - id: call-description
    object: Task
    if: {all: [{Type: Call}, {Status: Completed}]}
    then: {require: [Description]}
  - id: follow-up
    object: Task
    if: {all: [{Type: Call}, {Status: Completed}, {changed: Status}]}
    then:
      task: {subject: "Follow-up: {Subject}", due_in: 2 business days, priority: High}
  - id: switched-off
    object: Task
    enabled: false
    if: {all: [{Type: Call}]}
    then: {require: [Whatever__c], task: {subject: Never, due_in: 1d}}
  - id: lead-rule
    object: Lead
    if: {all: [{Type: Call}]}
    then: {require: [Outcome__c]}
"""

OPPORTUNITIES = """\
pack: opportunities
rules:
  - id: new-opportunity-defaults
    object: Opportunity
    then: {default: {LeadSource: Phone, Probability: 10}}
  - id: more-defaults
    object: Opportunity
    then: {default: {LeadSource: Web, Type: New Business}}
  - id: won-defaults
    object: Opportunity
    if: {on: [updated], all: [{StageName: Closed Won}]}
    then: {default: {NextStep: Kick-off}}
  - id: always-defaults
    object: Opportunity
    if: {on: [created, updated]}
    then: {default: {CurrencyIsoCode: EUR}}
  - id: kick-off
    object: Opportunity
    if: {all: [{StageName: Closed Won}, {changed: StageName}]}
    then:
      task: {subject: "Kick-off {Name}", due_in: 4h}
  - id: approval
    object: Opportunity
    if: {all: [{Amount: {gte: 100000}}]}
    then:
      task: {subject: "Approve {Name} ({Amount})", due_in: 1d, owner: "{ApproverId__c}",
             related_to: "{AccountId}"}
"""


@pytest.fixture(scope="module")
def calls() -> RuleSet:
    return load_text(CALLS, "calls.yaml")


@pytest.fixture(scope="module")
def opportunities() -> RuleSet:
    return load_text(OPPORTUNITIES, "opportunities.yaml")


def event(
    obj: str = "Task",
    kind: str = "updated",
    fields: dict[str, Any] | None = None,
    changed: tuple[str, ...] | None = None,
    at: datetime = TUESDAY,
    record_id: str = "00T000000000001AAA",
) -> RecordEvent:
    return RecordEvent(
        id="evt-1",
        object=obj,
        record_id=record_id,
        kind=kind,
        occurred_at=at,
        fields=fields or {},
        changed=changed,
    )


COMPLETED_CALL = {
    "Type": "Call",
    "Status": "Completed",
    "Subject": "Acme",
    "Description": "talked",
    "Outcome__c": None,
    "Next_Step__c": None,
    "OwnerId": "005A",
    "WhatId": "006W",
}


# --- Defaults -----------------------------------------------------------------------------------


def test_defaults_fill_empty_fields_on_created(opportunities: RuleSet) -> None:
    d = evaluate(
        opportunities,
        event("Opportunity", "created", {"Name": "Acme", "Probability": "  ", "Type": ""}),
    )
    assert d.defaults == {
        "LeadSource": "Phone",
        "Probability": 10,
        "Type": "New Business",
        "CurrencyIsoCode": "EUR",
    }
    assert d.matched == ["new-opportunity-defaults", "more-defaults", "always-defaults"]


def test_defaults_never_overwrite_what_a_person_typed(opportunities: RuleSet) -> None:
    d = evaluate(
        opportunities,
        event(
            "Opportunity",
            "created",
            {
                "LeadSource": "Partner",
                "Probability": 0,
                "Type": "Renewal",
                "CurrencyIsoCode": False,
            },
        ),
    )
    assert d.defaults == {}  # 0 and false are values, not empty


def test_first_rule_wins_for_the_same_field(opportunities: RuleSet) -> None:
    d = evaluate(opportunities, event("Opportunity", "created", {}))
    assert (
        d.defaults["LeadSource"] == "Phone"
    )  # new-opportunity-defaults comes before more-defaults


def test_defaults_apply_on_created_only_unless_on_says_otherwise(opportunities: RuleSet) -> None:
    d = evaluate(opportunities, event("Opportunity", "updated", {"Name": "Acme"}))
    # The default rules without `on` match on updated (their `on` defaults to both kinds), but
    # their defaults are for created records only; `always-defaults` names updated itself.
    assert d.matched == ["new-opportunity-defaults", "more-defaults", "always-defaults"]
    assert d.defaults == {"CurrencyIsoCode": "EUR"}


def test_defaults_of_a_rule_that_names_updated(opportunities: RuleSet) -> None:
    won = {"Name": "Acme", "StageName": "Closed Won"}
    assert evaluate(opportunities, event("Opportunity", "updated", won)).defaults == {
        "NextStep": "Kick-off",
        "CurrencyIsoCode": "EUR",
    }
    # on: [updated] — so not on created, even though the condition holds.
    d = evaluate(opportunities, event("Opportunity", "created", won))
    assert "won-defaults" not in d.matched
    assert "NextStep" not in d.defaults


def test_defaults_only_on_live_events(opportunities: RuleSet) -> None:
    d = evaluate(opportunities, event("Opportunity", "deleted", {}))
    assert d.matched == [] and d.defaults == {}


# --- Missing fields and prompts -----------------------------------------------------------------


def test_missing_fields_and_prompt_in_the_pack_locale(calls: RuleSet) -> None:
    d = evaluate(calls, event(fields=COMPLETED_CALL, changed=("Status",)))
    assert d.matched == ["call-essentials", "call-description", "follow-up"]
    assert d.missing == {"call-essentials": ["Outcome__c", "Next_Step__c"]}
    assert [(p.rule, p.text) for p in d.prompts] == [
        ("call-essentials", "Leg meteen vast: Uitkomst en Volgende stap (Acme)."),
    ]
    assert d.situation == ["call-essentials", "call-description"]


def test_default_prompt_when_a_rule_requires_without_a_prompt(calls: RuleSet) -> None:
    d = evaluate(
        calls,
        event(
            fields={
                **COMPLETED_CALL,
                "Description": " ",
                "Outcome__c": "ok",
                "Next_Step__c": "mail",
            },
            changed=("Description",),
        ),
    )
    assert d.matched == ["call-description"]
    assert d.missing == {"call-description": ["Description"]}
    # nl has no label for Description: the English label, then the API name, stands in.
    assert [(p.rule, p.text) for p in d.prompts] == [
        ("call-description", "Vul nu in: Description.")
    ]


def test_default_prompt_in_english_with_an_unknown_locale() -> None:
    ruleset = load_text("""\
pack: p
locale: sv
rules:
  - id: r
    object: Task
    then: {require: [A, B, C]}
""")
    d = evaluate(ruleset, event(fields={"B": "x"}))
    assert [p.text for p in d.prompts] == ["Please fill in now: A and C."]


def test_a_prompt_in_the_pack_language_of_a_regional_locale() -> None:
    ruleset = load_text("""\
pack: p
locale: nl-BE
labels: {A: {nl: Eerste, en: First}, B: {nl: Tweede}}
rules:
  - id: r
    object: Task
    then: {require: [A, B], prompt: {en: "Fill in {missing}", nl: "Vul {missing} in"}}
""")
    d = evaluate(ruleset, event(fields={}))
    assert [p.text for p in d.prompts] == ["Vul Eerste en Tweede in"]


def test_all_fields_filled_means_no_prompt(calls: RuleSet) -> None:
    filled = {**COMPLETED_CALL, "Outcome__c": "Interested", "Next_Step__c": "Send offer"}
    d = evaluate(calls, event(fields=filled, changed=("Status",)))
    assert d.missing == {}
    assert d.prompts == []
    assert d.situation == ["call-essentials", "call-description"]


def test_a_prompt_only_rule_prompts_when_it_matches() -> None:
    ruleset = load_text("""\
pack: p
rules:
  - id: big-deal
    object: Opportunity
    if: {all: [{Amount: {gte: 100000}}]}
    then: {prompt: "Big deal ({Amount}): check the approval of {Id}."}
""")
    d = evaluate(ruleset, event("Opportunity", fields={"Amount": 250000.0}, record_id="006X"))
    assert [p.text for p in d.prompts] == ["Big deal (250000): check the approval of 006X."]
    assert d.missing == {}
    assert evaluate(ruleset, event("Opportunity", fields={"Amount": 5})).prompts == []
    # Shown once while it holds, cleared when it stops holding.
    big = {"Amount": 250000.0}
    again = evaluate(ruleset, event("Opportunity", fields={"Amount": 300000}), big)
    assert again.matched == ["big-deal"]
    assert again.prompts == [] and again.cleared == []
    assert evaluate(ruleset, event("Opportunity", fields={"Amount": 5}), big).cleared == [
        "big-deal"
    ]


# --- Tasks --------------------------------------------------------------------------------------


def test_task_subject_due_date_owner_priority(calls: RuleSet) -> None:
    d = evaluate(calls, event(fields=COMPLETED_CALL, changed=("Status",)))
    (task,) = d.tasks
    assert task.rule == "follow-up"
    assert task.subject == "Follow-up: Acme"
    assert task.due == date(2026, 11, 26)  # Tuesday + 2 business days
    assert task.owner == "005A"  # owner defaults to {OwnerId}
    assert task.priority == "High"


@pytest.mark.parametrize(
    ("at", "due"), [(FRIDAY, date(2026, 12, 1)), (SATURDAY, date(2026, 12, 1))]
)
def test_task_due_date_in_business_days_from_occurred_at(
    calls: RuleSet, at: datetime, due: date
) -> None:
    (task,) = evaluate(calls, event(fields=COMPLETED_CALL, changed=("Status",), at=at)).tasks
    assert task.due == due


def test_task_related_to_defaults_to_the_record(opportunities: RuleSet) -> None:
    d = evaluate(
        opportunities,
        event(
            "Opportunity",
            "updated",
            {"Name": "Acme", "StageName": "Closed Won", "OwnerId": "005B"},
            changed=("StageName",),
            record_id="006R",
            at=FRIDAY,
        ),
    )
    (task,) = d.tasks
    assert (task.rule, task.subject, task.owner, task.what_id) == (
        "kick-off",
        "Kick-off Acme",
        "005B",
        "006R",
    )
    assert task.due == date(2026, 11, 27)  # 16:00 + 4h is still Friday (UTC)
    assert task.priority is None


def test_task_of_a_task_relates_to_what_the_task_is_about(calls: RuleSet) -> None:
    # A Salesforce Task cannot be related to a Task: the default is then the Task's own WhatId.
    (task,) = evaluate(calls, event(fields=COMPLETED_CALL, changed=("Status",))).tasks
    assert task.what_id == "006W"


def test_task_with_explicit_owner_and_related_to(opportunities: RuleSet) -> None:
    d = evaluate(
        opportunities,
        event(
            "Opportunity",
            "created",
            {
                "Name": "Big",
                "Amount": 100000,
                "ApproverId__c": "005C",
                "AccountId": "001A",
                "LeadSource": "x",
                "Probability": 1,
                "Type": "t",
                "CurrencyIsoCode": "EUR",
            },
        ),
    )
    (task,) = d.tasks
    assert (task.rule, task.subject, task.owner, task.what_id) == (
        "approval",
        "Approve Big (100000)",
        "005C",
        "001A",
    )
    assert task.due == date(2026, 11, 25)


def test_task_owner_empty_when_the_field_is(opportunities: RuleSet) -> None:
    (task,) = evaluate(opportunities, event("Opportunity", fields={"Amount": 100000})).tasks
    assert task.owner is None  # {ApproverId__c} is absent
    assert task.what_id is None  # {AccountId} is absent


# --- changed ------------------------------------------------------------------------------------


def test_changed_as_sent_by_the_event(calls: RuleSet) -> None:
    assert "follow-up" in evaluate(calls, event(fields=COMPLETED_CALL, changed=("Status",))).matched
    assert (
        "follow-up"
        not in evaluate(calls, event(fields=COMPLETED_CALL, changed=("Subject",))).matched
    )
    # An explicit empty list wins over the previous snapshot.
    previous = {**COMPLETED_CALL, "Status": "Open"}
    assert (
        "follow-up"
        not in evaluate(calls, event(fields=COMPLETED_CALL, changed=()), previous).matched
    )


def test_changed_derived_from_the_previous_snapshot(calls: RuleSet) -> None:
    previous = {**COMPLETED_CALL, "Status": "Open"}
    assert "follow-up" in evaluate(calls, event(fields=COMPLETED_CALL), previous).matched
    assert "follow-up" not in evaluate(calls, event(fields=COMPLETED_CALL), COMPLETED_CALL).matched


def test_derived_changes_compare_typed(calls: RuleSet) -> None:
    fields = {**COMPLETED_CALL, "Outcome__c": 5, "Next_Step__c": "x"}
    assert event(fields=fields).changed_fields({**fields, "Outcome__c": 5.0}) == frozenset()
    assert event(fields=fields).changed_fields({**fields, "Outcome__c": "5"}) == {"Outcome__c"}
    assert event(fields={"A": None}).changed_fields({}) == frozenset()  # absent is null
    assert event(fields={"A": True}).changed_fields({"A": 1}) == {"A"}


def test_on_created_every_field_with_a_value_counts_as_changed(calls: RuleSet) -> None:
    e = event(kind="created", fields={**COMPLETED_CALL, "Blank": "  "})
    assert e.changed_fields(None) == {
        "Type",
        "Status",
        "Subject",
        "Description",
        "OwnerId",
        "WhatId",
    }
    assert e.changed_fields(COMPLETED_CALL) == e.changed_fields(None)
    assert "follow-up" in evaluate(calls, e).matched


def test_without_previous_an_update_counts_its_values_as_changed(calls: RuleSet) -> None:
    assert "follow-up" in evaluate(calls, event(fields=COMPLETED_CALL)).matched


# --- Prompts over time: updated, repeated, cleared ---------------------------------------------


def test_prompt_is_not_repeated_while_nothing_changes(calls: RuleSet) -> None:
    previous = dict(COMPLETED_CALL)
    d = evaluate(calls, event(fields={**COMPLETED_CALL, "Subject": "Acme 2"}), previous)
    assert d.matched == ["call-description"]
    assert d.prompts == []
    assert d.cleared == []
    assert d.situation == ["call-essentials", "call-description"]


def test_prompt_is_updated_when_some_missing_fields_get_filled(calls: RuleSet) -> None:
    previous = dict(COMPLETED_CALL)
    d = evaluate(calls, event(fields={**COMPLETED_CALL, "Outcome__c": "Interested"}), previous)
    assert "call-essentials" not in d.matched  # Status did not change now
    assert d.missing == {}
    assert [(p.rule, p.text) for p in d.prompts] == [
        ("call-essentials", "Leg meteen vast: Volgende stap (Acme).")
    ]
    assert d.cleared == []


def test_prompt_is_cleared_when_the_fields_get_filled(calls: RuleSet) -> None:
    previous = dict(COMPLETED_CALL)
    filled = {**COMPLETED_CALL, "Outcome__c": "Interested", "Next_Step__c": "Offer"}
    d = evaluate(calls, event(fields=filled), previous)
    assert d.cleared == ["call-essentials"]
    assert d.prompts == []


def test_prompt_is_cleared_when_the_situation_stops_holding(calls: RuleSet) -> None:
    previous = dict(COMPLETED_CALL)
    reopened = {**COMPLETED_CALL, "Status": "Open"}
    d = evaluate(calls, event(fields=reopened), previous)
    assert d.cleared == ["call-essentials"]
    assert d.situation == []
    assert d.prompts == []


def test_nothing_to_clear_when_nothing_was_prompted(calls: RuleSet) -> None:
    filled = {**COMPLETED_CALL, "Outcome__c": "Interested", "Next_Step__c": "Offer"}
    d = evaluate(calls, event(fields={**filled, "Status": "Open"}), filled)
    assert d.cleared == []
    # Not a Completed call before either: nothing was shown.
    d = evaluate(
        calls,
        event(fields={**COMPLETED_CALL, "Type": "Email"}),
        {**COMPLETED_CALL, "Type": "Email"},
    )
    assert d.cleared == [] and d.prompts == []


def test_a_default_prompt_is_cleared_too(calls: RuleSet) -> None:
    previous = {**COMPLETED_CALL, "Description": None}
    d = evaluate(calls, event(fields={**COMPLETED_CALL, "Description": "done"}), previous)
    assert "call-description" in d.cleared


# --- What never matches -------------------------------------------------------------------------


def test_disabled_rules_never_match(calls: RuleSet) -> None:
    d = evaluate(calls, event(kind="created", fields={"Type": "Call"}))
    assert "switched-off" not in d.matched
    assert "switched-off" not in d.missing
    assert all(p.rule != "switched-off" for p in d.prompts)
    assert all(t.rule != "switched-off" for t in d.tasks)
    assert "switched-off" not in d.situation
    d = evaluate(calls, event(fields={"Type": "Email"}), {"Type": "Call"})
    assert "switched-off" not in d.cleared


def test_rules_for_other_objects_never_match(calls: RuleSet) -> None:
    lead = evaluate(calls, event("Lead", fields={"Type": "Call"}))
    assert lead.matched == ["lead-rule"]
    assert lead.missing == {"lead-rule": ["Outcome__c"]}
    unknown = evaluate(calls, event("Contact", fields=COMPLETED_CALL, changed=("Status",)))
    assert unknown == Decision()


def test_deleted_events_match_only_rules_on_deleted() -> None:
    ruleset = load_text("""\
pack: p
rules:
  - id: on-delete
    object: Task
    if: {on: deleted}
    then: {task: {subject: "Deleted {Subject}", due_in: 1d}}
  - id: live
    object: Task
    then: {require: [A]}
""")
    d = evaluate(ruleset, event(kind="deleted", fields={"Subject": "x"}))
    assert d.matched == ["on-delete"]
    assert [t.subject for t in d.tasks] == ["Deleted x"]
    assert d.prompts == [] and d.missing == {}


# --- Trace --------------------------------------------------------------------------------------


def test_trace_gives_each_rule_and_condition(calls: RuleSet) -> None:
    fields = {**COMPLETED_CALL, "Status": "Open"}
    d = evaluate(calls, event(fields=fields, changed=("Status",)), trace=True)
    assert d.trace is not None
    by_rule = {t.rule: t for t in d.trace}
    assert list(by_rule) == ["call-essentials", "call-description", "follow-up", "switched-off"]
    essentials = by_rule["call-essentials"]
    assert essentials.matched is False
    assert essentials.reason == "a condition does not hold"
    (top,) = essentials.conditions
    assert top.condition == "all of" and top.held is False
    assert [(c.condition, c.held, c.value) for c in top.children] == [
        ("Type = 'Call'", True, "Call"),
        ("Status = 'Completed'", False, "Open"),
        ("changed Status", True, ["Status"]),
    ]
    assert by_rule["switched-off"].reason == "disabled (enabled: false)"
    assert by_rule["switched-off"].matched is False


def test_trace_reasons(calls: RuleSet, opportunities: RuleSet) -> None:
    d = evaluate(calls, event(fields=COMPLETED_CALL, changed=("Status",)), trace=True)
    assert d.trace is not None
    assert {t.rule: t.reason for t in d.trace}["call-essentials"] == "all conditions hold"
    d = evaluate(
        opportunities, event("Opportunity", "created", {"StageName": "Closed Won"}), trace=True
    )
    assert d.trace is not None
    assert {t.rule: t.reason for t in d.trace}[
        "won-defaults"
    ] == "not on created events (on: updated)"


def test_no_trace_unless_asked(calls: RuleSet) -> None:
    d = evaluate(calls, event(fields=COMPLETED_CALL))
    assert d.trace is None
    assert "trace" not in d.to_json()
    assert evaluate(calls, event("Contact"), trace=True).trace == []


# --- The Decision as JSON -----------------------------------------------------------------------


def test_decision_json_has_the_design_md_shape() -> None:
    ruleset = load_text("""\
pack: won
locale: nl
labels: {NextStep: {nl: Volgende stap, en: Next step}}
rules:
  - id: closed-won-essentials
    object: Opportunity
    if: {all: [{StageName: Closed Won}, {changed: StageName}]}
    then: {require: [NextStep]}
  - id: follow-up-after-close
    object: Opportunity
    if: {all: [{StageName: Closed Won}, {changed: StageName}]}
    then: {task: {subject: "Follow-up: {Name}", due_in: 2 business days}}
  - id: lead-source
    object: Opportunity
    if: {on: [created, updated]}
    then: {default: {LeadSource: Phone}}
""")
    e = RecordEvent.model_validate(
        {
            "id": "evt-1",
            "source": "salesforce",
            "object": "Opportunity",
            "record_id": "006000000000001AAA",
            "kind": "updated",
            "occurred_at": "2026-11-24T10:00:00Z",
            "actor": "005000000000001AAA",
            "fields": {
                "StageName": "Closed Won",
                "NextStep": None,
                "OwnerId": "005000000000001AAA",
                "Name": "Acme",
            },
            "changed": ["StageName"],
        }
    )
    out = evaluate(ruleset, e).to_json()
    assert out == {
        "matched": ["closed-won-essentials", "follow-up-after-close", "lead-source"],
        "defaults": {"LeadSource": "Phone"},
        "missing": {"closed-won-essentials": ["NextStep"]},
        "prompts": [{"rule": "closed-won-essentials", "text": "Vul nu in: Volgende stap."}],
        "tasks": [
            {
                "rule": "follow-up-after-close",
                "subject": "Follow-up: Acme",
                "due": "2026-11-26",
                "owner": "005000000000001AAA",
                "what_id": "006000000000001AAA",
                "priority": None,
            }
        ],
        "cleared": [],
        # Beyond DESIGN.md: the rules whose situation holds (occasions are derived from it).
        "situation": ["closed-won-essentials"],
    }
    design_keys = {"matched", "defaults", "missing", "prompts", "tasks", "cleared"}
    assert design_keys <= set(out)
    traced = evaluate(ruleset, e, trace=True).to_json()
    assert traced["trace"][0]["rule"] == "closed-won-essentials"
    assert traced["trace"][0]["conditions"][0]["children"][1] == {
        "condition": "changed StageName",
        "held": True,
        "value": ["StageName"],
        "children": [],
    }


def test_decision_json_round_trips(calls: RuleSet) -> None:
    d = evaluate(calls, event(fields=COMPLETED_CALL, changed=("Status",)))
    assert Decision.model_validate(d.to_json()) == d


def test_big_packs_load_and_evaluate() -> None:
    # Shapes that durable_rules' fixed-size tables refused (or crashed on) in one ruleset: many
    # rules with the same condition, and a long not_in list.
    stages = [f"Stage {i}" for i in range(15)]
    rules = [
        f"  - id: default-{i}\n    object: Opportunity\n    if: {{on: created}}\n"
        f"    then: {{default: {{Field{i}__c: {i}}}}}\n"
        for i in range(300)
    ]
    rules.append(
        "  - id: odd-stage\n    object: Opportunity\n"
        f"    if: {{all: [{{StageName: {{not_in: {stages}}}}}]}}\n"
        "    then: {require: [NextStep]}\n"
    )
    ruleset = load_text("pack: big\nrules:\n" + "".join(rules))
    d = evaluate(ruleset, event("Opportunity", "created", {"StageName": "Other", "Field7__c": 1}))
    assert len(d.matched) == 301
    assert len(d.defaults) == 299 and "Field7__c" not in d.defaults
    assert d.missing == {"odd-stage": ["NextStep"]}
    d = evaluate(ruleset, event("Opportunity", "updated", {"StageName": "Stage 3"}))
    assert d.matched == []
    assert d.missing == {} and d.defaults == {}


def test_fields_lists_what_the_rules_on_an_object_read():
    ruleset = load_text(
        """
pack: p
rules:
  - id: r
    object: Task
    if: {all: [{Status: Completed}, {changed: Status}]}
    then:
      require: [Outcome__c]
      default: {Priority: Normal}
      prompt: "Hi {Subject}: {missing}"
      task: {subject: "Follow up {Account_Name__c}", due_in: 2 days}
  - id: off
    object: Task
    enabled: false
    if: {all: [{Secret__c: x}]}
    then: {require: [Hidden__c]}
"""
    )
    assert ruleset.fields("Task") == {
        "Id",
        "Status",
        "Outcome__c",
        "Priority",
        "Subject",
        "Account_Name__c",
        "OwnerId",
        "WhatId",
    }
    assert ruleset.fields("Lead") == {"Id"}


def test_a_prompt_names_fields_by_the_packs_label_else_the_crms_else_the_api_name() -> None:
    ruleset = load_text(
        """\
pack: labels
locale: en
labels:
  Description: {en: Call notes}
rules:
  - id: call
    object: Task
    if: {all: [{Status: Completed}]}
    then: {require: [Description, Outcome__c, Next_Step__c], prompt: "Record: {missing}."}
"""
    )
    call = RecordEvent(
        id="e",
        object="Task",
        record_id="00T000000000001AAA",
        kind="updated",
        occurred_at=datetime(2026, 11, 24, tzinfo=UTC),
        fields={"Status": "Completed"},
    )
    crm = {"Description": "Comments", "Outcome__c": "Outcome"}
    (prompt,) = evaluate(ruleset, call, labels=crm).prompts
    assert prompt.text == "Record: Call notes, Outcome and Next_Step__c."
    (plain,) = evaluate(ruleset, call).prompts
    assert plain.text == "Record: Call notes, Outcome__c and Next_Step__c."
