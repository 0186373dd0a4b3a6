"""The HubSpot connector: batch reads, conditional writes, tasks upserted on their key and
associated with the record, and the careful call (rate limits, retries, pauses)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hubspot.crm.objects.exceptions import ApiException
from urllib3.exceptions import NewConnectionError

from lastmile.connector.base import (
    AuthError,
    CrmError,
    LimitExceeded,
    NotFound,
    TaskWrite,
    TransientError,
    WriteBack,
)
from lastmile.connector.hubspot import HubSpotConnector
from lastmile.connector.hubspot.client import Client
from lastmile.connector.hubspot.setup import ensure_properties
from lastmile.connector.hubspot_sandbox import HubSpotSandbox
from lastmile.connector.hubspot_sandbox.sandbox import SALES_OWNER_ID


@pytest.fixture(scope="module", autouse=True)
def properties(sandbox: HubSpotSandbox) -> None:
    connector = HubSpotConnector(
        sandbox.access_token, base_url=sandbox.base_url, ca_bundle=sandbox.ca_bundle
    )
    created = ensure_properties(connector, ["deals"])
    assert [(o.object, o.property, o.status) for o in created] == [
        ("deals", "lastmile_prompt", "created"),
        ("tasks", "lastmile_key", "created"),
    ]
    again = ensure_properties(connector, ["deals"])
    assert {o.status for o in again} == {"exists"}
    assert sandbox.portal.definition("tasks", "lastmile_key").unique


def new_deal(sandbox: HubSpotSandbox, **props: str) -> str:
    values = {"dealname": "Acme", "dealstage": "contractsent", "hubspot_owner_id": SALES_OWNER_ID}
    return sandbox.save_as_user("deals", {**values, **props}).id


def test_read_names_the_owner_ownerid_and_misses_nothing(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    deal = new_deal(sandbox, hs_next_step="Call")
    state = connector.read("deals", deal, ["dealstage", "OwnerId", "hs_next_step", "amount"])
    assert state.fields == {
        "dealstage": "contractsent",
        "OwnerId": SALES_OWNER_ID,
        "hs_next_step": "Call",
        "amount": None,
    }
    record = sandbox.portal.get("deals", deal)
    assert state.last_modified == record.updated
    with pytest.raises(NotFound):
        connector.read("deals", "99999999", ["dealstage"])
    many = connector.read_many("deals", [deal, "99999999"], ["dealstage"])
    assert list(many) == [deal]


def test_a_write_back_lands_once(sandbox: HubSpotSandbox, connector: HubSpotConnector) -> None:
    deal = new_deal(sandbox)
    since = sandbox.portal.get("deals", deal).updated
    task = TaskWrite(f"won:{deal}:e1", "Kick-off", date(2026, 12, 2), SALES_OWNER_ID, deal, "High")
    write = WriteBack("deals", deal, {"lastmile_prompt": "Fill in the reason."}, (task,), since)
    (result,) = connector.apply([write])
    assert result.status == "applied"
    assert sandbox.portal.get("deals", deal).properties["lastmile_prompt"] == "Fill in the reason."
    (made,) = sandbox.tasks_of("deals", deal)
    assert result.task_ids == {task.key: made.id}
    assert made.properties["hs_task_subject"] == "Kick-off"
    assert made.properties["hs_task_priority"] == "HIGH"
    assert made.properties["hubspot_owner_id"] == SALES_OWNER_ID
    assert made.properties["hs_timestamp"].startswith("2026-12-02")

    # The same task again (a retry after a crash): the key finds it, no second task.
    (again,) = connector.apply([WriteBack("deals", deal, {}, (task,))])
    assert again.status == "applied" and again.task_ids == result.task_ids
    assert len(sandbox.tasks_of("deals", deal)) == 1


def test_a_record_changed_after_the_event_is_a_conflict(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    deal = new_deal(sandbox)
    since = sandbox.portal.get("deals", deal).updated
    sandbox.save_as_user("deals", {"hs_next_step": "typed meanwhile"}, record_id=deal)
    task = TaskWrite(f"r:{deal}:e2", "Never", date(2026, 12, 2), what_id=deal)
    write = WriteBack("deals", deal, {"hs_next_step": "default"}, (task,), since)
    (result,) = connector.apply([write])
    assert result.status == "conflict"
    assert sandbox.portal.get("deals", deal).properties["hs_next_step"] == "typed meanwhile"
    assert sandbox.tasks_of("deals", deal) == []


def test_refusals_land_on_their_record(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    good, bad = new_deal(sandbox), new_deal(sandbox)
    writes = [
        WriteBack("deals", good, {"hs_next_step": "ok"}),
        WriteBack("deals", bad, {"no_such_property": "x"}),
        WriteBack("deals", "99999999", {"hs_next_step": "x"}, (), datetime.now(UTC)),
        WriteBack("deals", "not-an-id", {"hs_next_step": "x"}),
        WriteBack("deals", good),
        WriteBack("deals", "99999998", {"hs_next_step": "x"}),  # unconditional: 207 from HubSpot
    ]
    results = connector.apply(writes)
    statuses = ["applied", "failed", "failed", "failed", "nothing", "failed"]
    assert [r.status for r in results] == statuses
    assert results[5].problems[0].code == "OBJECT_NOT_FOUND"
    assert sandbox.portal.get("deals", good).properties["hs_next_step"] == "ok"
    assert results[1].problems[0].fields == ("no_such_property",)
    assert results[1].problems[0].code == "VALIDATION_ERROR"
    assert results[2].problems[0].status == 404


def test_usage_comes_from_the_rate_limit_headers(connector: HubSpotConnector) -> None:
    connector.check()
    usage = connector.usage()
    assert usage is not None and usage.limit == 250_000 and usage.used >= 1
    assert usage.calls == connector.client.calls


# -- the careful call, with scripted answers ----------------------------------------------------


def refusal(status: int, body: dict | None = None, **headers: str) -> ApiException:
    error = ApiException(status=status, reason="scripted")
    error.body = json.dumps(body or {"status": "error", "message": "m", "category": "X"})
    error.headers = headers
    return error


class Script:
    """A `*_with_http_info` method answering from a list: an exception is raised, else returned."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, *_args: Any, **_kwargs: Any) -> Any:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


OK = (
    "data",
    200,
    {"X-HubSpot-RateLimit-Daily": "1000", "X-HubSpot-RateLimit-Daily-Remaining": "990"},
)


def scripted_client(**options: Any) -> tuple[Client, list[float]]:
    slept: list[float] = []
    client = Client("token", sleep=slept.append, random=lambda: 1.0, **options)
    return client, slept


def test_429_waits_retry_after_then_succeeds() -> None:
    client, slept = scripted_client()
    method = Script(
        refusal(429, {"policyName": "TEN_SECONDLY_ROLLING"}, **{"Retry-After": "2"}), OK
    )
    assert client.call("read", method) == "data"
    assert method.calls == 2 and slept == [2.0]
    assert client.usage().used == 10


def test_5xx_and_network_failures_are_retried_with_backoff_then_transient() -> None:
    client, slept = scripted_client(attempts=3)
    failures = (refusal(502), NewConnectionError(None, "refused"), refusal(503))
    with pytest.raises(TransientError):
        client.call("read", Script(*failures))
    assert slept == [0.2, 0.4]


def test_a_4xx_is_permanent_and_401_is_auth() -> None:
    client, slept = scripted_client()
    with pytest.raises(CrmError) as refused:
        client.call(
            "update",
            Script(refusal(400, {"category": "VALIDATION_ERROR", "message": "1x is not a number"})),
        )
    assert refused.value.problems[0].code == "VALIDATION_ERROR"
    assert "1x" not in str(refused.value)  # HubSpot's messages quote values: not kept
    with pytest.raises(AuthError):
        client.call("read", Script(refusal(401)))
    assert slept == []


def test_the_daily_limit_pauses_writes() -> None:
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    client, _ = scripted_client(clock=lambda: now, pause=timedelta(minutes=5))
    with pytest.raises(LimitExceeded) as spent:
        client.call("update", Script(refusal(429, {"policyName": "DAILY"})), write=True)
    assert spent.value.retry_after == now + timedelta(minutes=5)
    never = Script(OK)
    with pytest.raises(LimitExceeded):
        client.call("update", never, write=True)
    assert never.calls == 0
    assert client.call("read", Script(OK)) == "data"  # reads are still tried


def test_a_spent_burst_window_is_waited_out_before_the_next_call() -> None:
    client, slept = scripted_client()
    spent = (
        "data",
        200,
        {
            "X-HubSpot-RateLimit-Remaining": "0",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        },
    )
    client.call("read", Script(spent))
    client.call("read", Script(OK))
    assert len(slept) == 1 and 9.0 < slept[0] <= 10.0
