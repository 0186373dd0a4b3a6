"""The connector under a misbehaving org: injected 503s are retried with capped, jittered backoff;
the API limit pauses writes; Sforce-Limit-Info is read after every call; logs carry no secrets."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from structlog.testing import capture_logs

from lastmile.connector.base import LimitExceeded, TaskWrite, TransientError, WriteBack
from lastmile.connector.salesforce import GivenSession, PasswordLogin, SalesforceConnector
from lastmile.connector.sandbox import Sandbox

PROMPT = "Lastmile_Prompt__c"


def test_injected_503s_are_retried_until_the_write_lands(
    make_connector, opportunity, sandbox, sleeps
):
    connector = make_connector(attempts=8)
    ids = [opportunity() for _ in range(6)]
    sandbox.faults.set(fail_share=0.5, seed=3)

    results = [connector.apply([WriteBack("Opportunity", rid, {PROMPT: "p"})])[0] for rid in ids]

    sandbox.faults.clear()
    assert [result.status for result in results] == ["applied"] * 6
    assert sleeps, "some calls were answered 503 and retried"
    assert connector.usage().calls == 6 + len(sleeps)  # every retry is a call
    assert all(0 <= delay <= 5.0 for delay in sleeps)
    for rid in ids:
        assert connector.read("Opportunity", rid, [PROMPT]).fields[PROMPT] == "p"


def test_locked_rows_are_retried_in_composite_and_collections(
    make_connector, opportunity, sandbox, sleeps, crm
):
    connector = make_connector(attempts=10)
    ids = [opportunity() for _ in range(4)]
    sandbox.faults.set(lock_share=0.4, seed=5)

    with_tasks = [
        connector.apply(
            [
                WriteBack(
                    "Opportunity",
                    rid,
                    {PROMPT: "t"},
                    tasks=(TaskWrite(f"lock-{n}", "Bel terug", date(2026, 11, 26), what_id=rid),),
                )
            ]
        )[0]
        for n, rid in enumerate(ids)
    ]
    batched = connector.apply([WriteBack("Opportunity", rid, {"NextStep": "n"}) for rid in ids])

    sandbox.faults.clear()
    assert [r.status for r in with_tasks + batched] == ["applied"] * 8
    assert sleeps, "some writes met a locked row and were retried"
    for n in range(4):
        soql = f"SELECT Id FROM Task WHERE Lastmile_Key__c = 'lock-{n}'"
        assert crm.query(soql)["totalSize"] == 1


def test_backoff_is_capped_exponential_and_then_gives_up(make_connector, opportunity, sandbox):
    delays: list[float] = []
    connector = make_connector(
        attempts=6, base_delay=0.2, max_delay=1.0, sleep=delays.append, random=lambda: 1.0
    )
    record_id = opportunity()
    sandbox.faults.set(fail_share=1.0, seed=1)

    with pytest.raises(TransientError, match="failed 6 times"):
        connector.apply([WriteBack("Opportunity", record_id, {PROMPT: "p"})])

    assert delays == [0.2, 0.4, 0.8, 1.0, 1.0]  # random()=1.0 shows the caps of full jitter
    assert connector.usage() is None or connector.usage().calls == 6
    sandbox.faults.clear()
    assert connector.read("Opportunity", record_id, [PROMPT]).fields[PROMPT] is None


def test_the_limit_pauses_writes_without_further_calls(connector, opportunity, sandbox, clock):
    record_id = opportunity()
    write = WriteBack("Opportunity", record_id, {PROMPT: "p"})
    sandbox.faults.set(limit_reached=True)

    with pytest.raises(LimitExceeded) as first:
        connector.apply([write])
    calls, served = connector.usage().calls, sandbox.api_calls
    assert first.value.retry_after == clock.now + timedelta(minutes=5)

    sandbox.faults.clear()
    for _ in range(3):
        with pytest.raises(LimitExceeded):
            connector.apply([write])
    assert (connector.usage().calls, sandbox.api_calls) == (calls, served)
    assert connector.read("Opportunity", record_id, [PROMPT]).fields[PROMPT] is None

    # The read showed usage below the limit: writes go again.
    [result] = connector.apply([write])
    assert result.status == "applied"


def test_the_pause_ends_when_its_time_is_up(connector, opportunity, sandbox, clock):
    record_id = opportunity()
    write = WriteBack("Opportunity", record_id, {PROMPT: "p"})
    sandbox.faults.set(limit_reached=True)
    with pytest.raises(LimitExceeded):
        connector.apply([write])
    sandbox.faults.clear()

    clock.now += timedelta(minutes=4)
    with pytest.raises(LimitExceeded):
        connector.apply([write])
    clock.now += timedelta(minutes=2)
    assert connector.apply([write])[0].status == "applied"


def test_a_real_daily_limit_is_met_and_reported(tmp_path):
    tiny = Sandbox(tmp_path / "tiny", port=0, daily_limit=3).start()
    try:
        connector = SalesforceConnector(
            GivenSession(tiny.instance_url, tiny.session_id),
            ca_bundle=tiny.ca_bundle,
            sleep=lambda _: None,
        )
        record_id = tiny.save_as(
            tiny.sales_user_id, "Lead", {"LastName": "Jansen", "Company": "Jansen BV"}
        )
        write = WriteBack("Lead", record_id, {PROMPT: "p"})
        outcomes = []
        with pytest.raises(LimitExceeded):
            for _ in range(5):
                outcomes.append(connector.apply([write])[0].status)
    finally:
        tiny.stop()
    assert outcomes == ["applied"] * 3
    assert (connector.usage().used, connector.usage().limit) == (3, 3)
    assert connector.usage().calls == 4  # the fifth write never left


def test_usage_reflects_sforce_limit_info(connector, opportunity, sandbox):
    record_id = opportunity()
    assert connector.usage() is None  # nothing asked yet

    connector.read("Opportunity", record_id, ["Name"])
    first = connector.usage()
    connector.apply([WriteBack("Opportunity", record_id, {PROMPT: "p"})])
    second = connector.usage()

    assert first.limit == second.limit == 15_000
    assert first.used == sandbox.api_calls - 1
    assert second.used == sandbox.api_calls == first.used + 1
    assert (first.calls, second.calls) == (1, 2)


def test_check_makes_one_cheap_call(connector, sandbox):
    calls = sandbox.api_calls
    connector.check()
    assert sandbox.api_calls - calls == 1
    assert connector.usage().calls == 1


def test_logs_name_calls_but_never_values_or_secrets(make_connector, opportunity, sandbox):
    sandbox.add_login("lastmile@example.com", "s3cret-pw", "TOKEN123")
    connector = make_connector(
        PasswordLogin(sandbox.instance_url, "lastmile@example.com", "s3cret-pw", "TOKEN123")
    )
    record_id = opportunity()

    with capture_logs() as logs:
        connector.apply([WriteBack("Opportunity", record_id, {PROMPT: "Geheim-waarde-42"})])
        sandbox.expire_sessions()
        connector.read("Opportunity", record_id, [PROMPT])

    text = repr(logs)
    assert any(
        entry.get("kind") == "update" and entry.get("record_id") == record_id for entry in logs
    )
    assert any(entry["event"] == "salesforce.session_renewed" for entry in logs)
    for secret in ("Geheim-waarde-42", "s3cret-pw", "TOKEN123", sandbox.session_id):
        assert secret not in text
