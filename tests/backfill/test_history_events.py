"""Reading the past through the Salesforce connector from the sandbox over real HTTPS: paging
through nextRecordsUrl, and each record's earlier states rebuilt from its field history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile.backfill import record_events, window_start
from lastmile.connector.base import HistoryRow, RecordHistory

OPPORTUNITY = {"Name": "Acme mortgage", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
SINCE = datetime(2026, 10, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _read(connector, ruleset, obj: str, since: datetime = SINCE, **kw) -> list:
    fields = ruleset.fields(obj)
    return list(connector.changed_since(obj, fields, since, **kw))


def test_records_come_in_batches_through_next_records_url(sandbox, connector, ruleset):
    made = [
        sandbox.save_as(sandbox.sales_user_id, "Opportunity", OPPORTUNITY | {"Name": f"Deal {i}"})
        for i in range(450)
    ]
    calls = sandbox.api_calls
    batches = _read(connector, ruleset, "Opportunity", batch_size=200)
    assert [len(b.records) for b in batches] == [200, 200, 50]
    assert {b.total for b in batches} == {450}
    ids = [r.fields["Id"] for b in batches for r in b.records]
    assert sorted(ids) == sorted(made)
    assert ids == sorted(ids, key=str.lower)  # in id order: the cursor can resume by id
    # three pages of records, and one history query per 200 records
    assert sandbox.api_calls - calls == 3 + 3
    record = batches[0].records[0]
    assert set(record.fields) == {
        "Id", "OwnerId", "StageName", "NextStep", "CreatedDate", "CreatedById",
        "LastModifiedDate", "LastModifiedById", "SystemModstamp",
    }  # fmt: skip
    assert record.tracked and [r.field for r in record.rows] == ["created"]


def test_an_opportunity_moved_through_three_stages_gives_three_events(
    sandbox, connector, ruleset, clock
):
    sales, lastmile = sandbox.sales_user_id, sandbox.integration_user_id
    t0 = clock.now
    opp = sandbox.save_as(sales, "Opportunity", OPPORTUNITY)
    clock.now = t1 = t0 + timedelta(hours=2)
    sandbox.save_as(sales, "Opportunity", {"StageName": "Qualification", "Amount": 900}, opp)
    clock.now = t2 = t0 + timedelta(days=1)
    sandbox.save_as(sales, "Opportunity", {"StageName": "Closed Won", "NextStep": "Sign"}, opp)
    clock.now = t3 = t0 + timedelta(days=2)
    sandbox.save_as(lastmile, "Opportunity", {"OwnerId": lastmile}, opp)
    clock.now = t0 + timedelta(days=3)
    sandbox.save_as(sales, "Opportunity", {"Amount": 1200}, opp)  # no field the rules read

    [batch] = _read(connector, ruleset, "Opportunity")
    [record] = batch.records
    events = record_events(record, ruleset.fields("Opportunity"), SINCE)

    assert [(e.kind, e.occurred_at, e.actor) for e in events] == [
        ("created", t0, sales),
        ("updated", t1, sales),
        ("updated", t2, sales),
        ("updated", t3, lastmile),
    ]
    assert [e.fields for e in events] == [
        {"Id": opp, "OwnerId": sales, "StageName": "Prospecting", "NextStep": None},
        {"Id": opp, "OwnerId": sales, "StageName": "Qualification", "NextStep": None},
        {"Id": opp, "OwnerId": sales, "StageName": "Closed Won", "NextStep": "Sign"},
        {"Id": opp, "OwnerId": lastmile, "StageName": "Closed Won", "NextStep": "Sign"},
    ]
    assert [e.changed for e in events] == [
        None,
        ("StageName",),
        ("NextStep", "StageName"),
        ("OwnerId",),  # from the Owner rows: the ids, not the names
    ]

    def row(at: datetime, field: str, data_type: str | None = None) -> str:
        return next(
            r.id
            for r in record.rows
            if (r.at, r.field) == (at, field) and data_type in (None, r.data_type)
        )

    assert [e.id for e in events] == [
        f"backfill:{opp}:{row(t0, 'created')}",
        f"backfill:{opp}:{row(t1, 'StageName')}",
        f"backfill:{opp}:{row(t2, 'StageName')}",
        f"backfill:{opp}:{row(t3, 'Owner', 'EntityId')}",
    ]
    assert all(e.source == "salesforce" and e.object == "Opportunity" for e in events)
    # the same history read again gives the same events: ids and all
    [again] = _read(connector, ruleset, "Opportunity")[0].records
    assert record_events(again, ruleset.fields("Opportunity"), SINCE) == events


def test_only_the_window_is_emitted(sandbox, connector, ruleset, clock):
    sales = sandbox.sales_user_id
    opp = sandbox.save_as(sales, "Opportunity", OPPORTUNITY)
    clock.now += timedelta(days=10)
    sandbox.save_as(sales, "Opportunity", {"StageName": "Closed Won"}, opp)
    since = clock.now - timedelta(days=1)
    [record] = _read(connector, ruleset, "Opportunity", since)[0].records
    [event] = record_events(record, ruleset.fields("Opportunity"), since)
    assert (event.kind, event.occurred_at, event.changed) == ("updated", clock.now, ("StageName",))
    assert event.fields["StageName"] == "Closed Won"
    # a window that ends at that save sees no change of the record: its state then is unknown
    fields = ruleset.fields("Opportunity")
    assert record_events(record, fields, since, until=clock.now) == []
    later = clock.now + timedelta(seconds=1)
    assert record_events(record, fields, since, until=later) == [event]
    # a record last changed before the window is not read at all
    assert (
        _read(connector, ruleset, "Opportunity", clock.now + timedelta(seconds=1))[0].records == ()
    )


def test_a_task_has_no_history_and_gives_its_current_state(sandbox, connector, ruleset, clock):
    sales = sandbox.sales_user_id
    call = {"Subject": "Call", "Type": "Call", "Status": "Not Started"}
    untouched = sandbox.save_as(sales, "Task", call)
    task = sandbox.save_as(sales, "Task", call)
    clock.now += timedelta(hours=3)
    sandbox.save_as(sales, "Task", {"Status": "Completed", "Outcome__c": "Interested"}, task)
    [batch] = _read(connector, ruleset, "Task")
    assert not any(r.tracked for r in batch.records)
    events = {
        r.fields["Id"]: record_events(r, ruleset.fields("Task"), SINCE) for r in batch.records
    }
    [done] = events[task]
    assert (done.kind, done.occurred_at, done.changed) == ("updated", clock.now, None)
    assert done.fields["Status"] == "Completed" and done.fields["Outcome__c"] == "Interested"
    [new] = events[untouched]
    assert (new.kind, new.occurred_at, new.fields["Status"]) == (
        "created",
        clock.now - timedelta(hours=3),
        "Not Started",
    )


def test_an_object_whose_history_cannot_be_read_gives_current_states(
    sandbox, connector, ruleset, clock
):
    # The sandbox keeps no AccountHistory: Salesforce answers INVALID_TYPE, as it does when
    # tracking is off for an object or the integration user may not read its history.
    account = sandbox.save_as(sandbox.sales_user_id, "Account", {"Name": "Acme"})
    clock.now += timedelta(hours=1)
    sandbox.save_as(sandbox.sales_user_id, "Account", {"Industry": "Banking"}, account)
    [batch] = _read(connector, ruleset, "Account")
    [record] = batch.records
    assert not record.tracked and record.rows == ()
    [event] = record_events(record, {"Industry"}, SINCE)
    assert (event.kind, event.occurred_at, event.fields) == (
        "updated",
        clock.now,
        {"Id": account, "OwnerId": sandbox.sales_user_id},
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", NOW - timedelta(days=90)),
        ("12w", NOW - timedelta(weeks=12)),
        ("36h", NOW - timedelta(hours=36)),
        ("2026-09-01", datetime(2026, 9, 1, tzinfo=UTC)),
        ("2026-09-01T08:00:00+02:00", datetime(2026, 9, 1, 6, tzinfo=UTC)),
    ],
)
def test_the_window_is_a_span_back_or_a_time(text, expected):
    assert window_start(text, NOW) == expected


@pytest.mark.parametrize("text", ["ninety days", "2 business days", "2026-13-01"])
def test_a_window_that_is_neither_is_refused(text):
    with pytest.raises(ValueError, match="90d"):
        window_start(text, NOW)


def test_two_saves_in_one_second_by_one_person_are_one_state_change():
    # Salesforce's history is precise to the second: the two saves cannot be told apart, and
    # walking back through both rows still restores the value before the first.
    at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    rows = (
        HistoryRow("017A", "StageName", "Prospecting", "Qualification", at, "005A", "DynamicEnum"),
        HistoryRow("017B", "StageName", "Qualification", "Closed Won", at, "005A", "DynamicEnum"),
    )
    record = RecordHistory(
        "Opportunity",
        {
            "Id": "006A",
            "OwnerId": "005A",
            "StageName": "Closed Won",
            "CreatedDate": "2026-11-02T09:00:00.000+0000",
            "CreatedById": "005A",
            "LastModifiedDate": "2026-11-02T09:30:00.000+0000",
        },
        rows,
        tracked=True,
    )
    created, updated = record_events(record, {"StageName"}, SINCE)
    assert created.fields["StageName"] == "Prospecting" and created.id == "backfill:006A:created"
    assert (updated.id, updated.fields["StageName"]) == ("backfill:006A:017A", "Closed Won")
