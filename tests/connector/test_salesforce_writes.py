"""The Salesforce connector reads and writes back against the sandbox CRM over real HTTPS, and
counts its API calls: one per applied Decision with tasks, none when there is nothing to write."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from lastmile.connector.base import NotFound, TaskWrite, WriteBack
from lastmile.connector.salesforce.writer import http_date, task_body

PROMPT = "Lastmile_Prompt__c"


def tasks_with_key(crm, key: str) -> list[dict]:
    answer = crm.query(
        f"SELECT Id, Subject, Status, WhatId FROM Task WHERE Lastmile_Key__c = '{key}'"
    )
    return answer["records"]


def follow_up(record_id: str, key: str = "follow-up-after-close:1", **extra) -> TaskWrite:
    return TaskWrite(
        key=key,
        subject="Follow-up: Acme",
        due=date(2026, 11, 26),
        what_id=record_id,
        priority="High",
        **extra,
    )


def test_read_returns_the_fields_and_when_the_record_last_changed(connector, opportunity, sandbox):
    before = datetime.now(UTC).replace(microsecond=0)
    record_id = opportunity(NextStep="Call back")

    state = connector.read("Opportunity", record_id, ["Name", "StageName", "NextStep", "Amount"])

    assert state.object == "Opportunity"
    assert state.record_id[:15] == record_id[:15]
    assert state.fields == {
        "Name": "Acme mortgage",
        "StageName": "Prospecting",
        "NextStep": "Call back",
        "Amount": None,
    }
    assert state.last_modified is not None and state.last_modified.tzinfo is not None
    assert before <= state.last_modified <= datetime.now(UTC) + timedelta(seconds=1)


def test_read_of_a_missing_record_is_not_found(connector, opportunity):
    record_id = opportunity()
    missing = record_id[:5] + ("1" if record_id[5] != "1" else "2") + record_id[6:15]
    with pytest.raises(NotFound):
        connector.read("Opportunity", missing, ["Name"])


def test_read_refuses_names_that_are_not_salesforce_names(connector, opportunity):
    record_id = opportunity()
    with pytest.raises(ValueError, match="not a Salesforce field name"):
        connector.read("Opportunity", record_id, ["Name,Id FROM User"])
    with pytest.raises(ValueError, match="not a 15 or 18 character"):
        connector.read("Opportunity", "../limits", ["Name"])


def test_conditional_update_is_applied_in_one_call(connector, opportunity, sandbox):
    record_id = opportunity()
    seen = connector.read("Opportunity", record_id, ["Name"]).last_modified
    calls = sandbox.api_calls

    [result] = connector.apply(
        [
            WriteBack(
                "Opportunity",
                record_id,
                {"LeadSource": "Phone", PROMPT: "Vul nu in: Volgende stap."},
                if_unmodified_since=seen,
            )
        ]
    )

    assert result.status == "applied"
    assert sandbox.api_calls - calls == 1
    after = connector.read("Opportunity", record_id, ["LeadSource", PROMPT])
    assert after.fields == {"LeadSource": "Phone", PROMPT: "Vul nu in: Volgende stap."}


def test_a_record_changed_after_the_event_is_a_conflict_and_nothing_is_written(
    connector, opportunity, sandbox, crm
):
    record_id = opportunity()
    # The event saw the record as it was two seconds before its last save.
    saw = connector.read("Opportunity", record_id, []).last_modified - timedelta(seconds=2)
    calls = sandbox.api_calls

    alone, with_task = connector.apply(
        [
            WriteBack("Opportunity", record_id, {PROMPT: "one"}, if_unmodified_since=saw),
            WriteBack(
                "Opportunity",
                record_id,
                {PROMPT: "two"},
                tasks=(follow_up(record_id, key="conflict-key"),),
                if_unmodified_since=saw,
            ),
        ]
    )

    assert (alone.status, with_task.status) == ("conflict", "conflict")
    assert with_task.task_ids == {}
    assert sandbox.api_calls - calls == 2  # a 412 is never retried
    assert connector.read("Opportunity", record_id, [PROMPT]).fields[PROMPT] is None
    assert tasks_with_key(crm, "conflict-key") == []


def test_one_decision_with_tasks_is_exactly_one_call(connector, opportunity, sandbox, crm):
    record_id = opportunity()
    seen = connector.read("Opportunity", record_id, []).last_modified
    calls = sandbox.api_calls

    [result] = connector.apply(
        [
            WriteBack(
                "Opportunity",
                record_id,
                {"Probability": 10, PROMPT: "Vul nu in: Volgende stap."},
                tasks=(
                    follow_up(record_id, key="rule-a:1", owner=sandbox.sales_user_id),
                    follow_up(record_id, key="rule-b:1", description="Bel de klant"),
                ),
                if_unmodified_since=seen,
            )
        ]
    )

    assert result.status == "applied", result.problems
    assert sandbox.api_calls - calls == 1
    assert set(result.task_ids) == {"rule-a:1", "rule-b:1"}
    [task] = tasks_with_key(crm, "rule-a:1")
    assert task["Id"] == result.task_ids["rule-a:1"]
    assert (task["Subject"], task["Status"]) == ("Follow-up: Acme", "Not Started")
    assert task["WhatId"][:15] == record_id[:15]
    written = connector.read("Opportunity", record_id, ["Probability", PROMPT])
    assert written.fields["Probability"] == 10
    assert written.fields[PROMPT] == "Vul nu in: Volgende stap."


def test_nothing_to_write_makes_no_call(connector, opportunity, sandbox):
    record_id = opportunity()
    calls = sandbox.api_calls

    [result] = connector.apply([WriteBack("Opportunity", record_id)])

    assert result.status == "nothing"
    assert sandbox.api_calls == calls
    assert connector.apply([]) == []
    assert sandbox.api_calls == calls


def test_the_same_task_written_ten_times_is_one_task(connector, opportunity, sandbox, crm):
    record_id = opportunity()
    write = WriteBack(
        "Opportunity", record_id, {PROMPT: "Plan de follow-up"}, tasks=(follow_up(record_id),)
    )
    calls = sandbox.api_calls

    results = [connector.apply([write])[0] for _ in range(10)]

    assert {result.status for result in results} == {"applied"}
    assert len({result.task_ids["follow-up-after-close:1"] for result in results}) == 1
    assert sandbox.api_calls - calls == 10
    [task] = tasks_with_key(crm, "follow-up-after-close:1")
    assert task["Id"] == results[0].task_ids["follow-up-after-close:1"]


def test_a_thousand_record_writes_take_five_collection_calls(connector, sandbox):
    ids = [
        sandbox.save_as(
            sandbox.sales_user_id,
            "Opportunity",
            {"Name": f"Deal {n}", "StageName": "Prospecting", "CloseDate": "2026-12-31"},
        )
        for n in range(1000)
    ]
    writes = [WriteBack("Opportunity", rid, {PROMPT: f"prompt {n}"}) for n, rid in enumerate(ids)]
    calls = sandbox.api_calls

    results = connector.apply(writes)

    assert sandbox.api_calls - calls == 5
    assert [result.status for result in results] == ["applied"] * 1000
    assert [result.record_id for result in results] == ids
    for n in (0, 199, 200, 999):
        assert connector.read("Opportunity", ids[n], [PROMPT]).fields[PROMPT] == f"prompt {n}"


def test_a_record_written_twice_in_one_batch_goes_out_in_order(connector, opportunity, sandbox):
    first, second = opportunity(), opportunity()
    calls = sandbox.api_calls

    results = connector.apply(
        [
            WriteBack("Opportunity", first, {PROMPT: "old"}),
            WriteBack("Opportunity", second, {PROMPT: "other"}),
            WriteBack("Opportunity", first, {PROMPT: "new"}),
        ]
    )

    assert [result.status for result in results] == ["applied"] * 3
    assert sandbox.api_calls - calls == 2  # Salesforce refuses one id twice in one call
    assert connector.read("Opportunity", first, [PROMPT]).fields[PROMPT] == "new"


def test_an_unknown_field_fails_with_salesforces_error(connector, opportunity, sandbox, crm):
    record_id = opportunity()
    other = opportunity()

    later = datetime.now(UTC) + timedelta(hours=1)  # a condition that holds: a single PATCH

    alone, batched, ok, with_task = connector.apply(
        [
            WriteBack(
                "Opportunity", record_id, {"No_Such_Field__c": "x"}, if_unmodified_since=later
            ),
            WriteBack("Opportunity", other, {"Nope__c": 1}),
            WriteBack("Opportunity", opportunity(), {PROMPT: "fine"}),
            WriteBack(
                "Opportunity",
                record_id,
                {"Also_Missing__c": "x"},
                tasks=(follow_up(record_id, key="never-written"),),
            ),
        ]
    )

    assert (alone.status, batched.status, ok.status) == ("failed", "failed", "applied")
    assert alone.problems[0].code == "INVALID_FIELD"
    assert "No_Such_Field__c" in alone.problems[0].message + " ".join(alone.problems[0].fields)
    assert batched.problems[0].code == "INVALID_FIELD"
    assert with_task.status == "failed"
    assert [problem.code for problem in with_task.problems] == ["INVALID_FIELD"]
    assert tasks_with_key(crm, "never-written") == []


def test_a_malformed_write_is_refused_without_a_call(connector, sandbox):
    calls = sandbox.api_calls

    record_id = "006000000000001AAA"
    too_many = tuple(follow_up(record_id, key=f"k{n}") for n in range(25))

    bad_id, bad_field, crowded = connector.apply(
        [
            WriteBack("Opportunity", "006/../../limits", {PROMPT: "x"}),
            WriteBack("Opportunity", record_id, {"Bad Field": "x"}),
            WriteBack("Opportunity", record_id, {PROMPT: "x"}, tasks=too_many),
        ]
    )

    assert (bad_id.status, bad_id.problems[0].code) == ("failed", "MALFORMED_ID")
    assert (bad_field.status, bad_field.problems[0].code) == ("failed", "INVALID_FIELD")
    assert (crowded.status, crowded.problems[0].code) == ("failed", "LIMIT_EXCEEDED")
    assert sandbox.api_calls == calls


def test_if_unmodified_since_is_an_http_date_in_gmt():
    moment = datetime(2026, 11, 24, 11, 0, 0, 750_000, tzinfo=timezone(timedelta(hours=1)))
    assert http_date(moment) == "Tue, 24 Nov 2026 10:00:00 GMT"
    with pytest.raises(ValueError, match="time zone"):
        http_date(datetime(2026, 11, 24, 10, 0))


def test_task_body_leaves_out_what_is_not_set():
    task = TaskWrite(key="k", subject="Bel terug", due=date(2026, 11, 26), owner="005000000000001")
    assert task_body(task) == {
        "Subject": "Bel terug",
        "ActivityDate": "2026-11-26",
        "OwnerId": "005000000000001",
    }
