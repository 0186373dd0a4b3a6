"""Budget-aware writes against the sandbox CRM over HTTPS: its Sforce-Limit-Info counts calls
against a daily allowance; past LASTMILE_API_BUDGET prompt-only writes are deferred (recorded,
sent with the record's next write) while tasks still go; past the pause share events wait, as for
an outage, until usage falls."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lastmile.connector.salesforce import GivenSession, SalesforceConnector
from lastmile.connector.sandbox import Sandbox
from lastmile.metrics import REGISTRY
from lastmile.rules import RecordEvent, load_rules
from lastmile.settings import Settings
from lastmile.store import Store
from lastmile.worker import APPLIED, NOTHING, PAUSED, RETRY, Worker

PROMPT = "Lastmile_Prompt__c"
RULES = """\
pack: budget
rules:
  - id: proposal-amount
    object: Opportunity
    if:
      all:
        - StageName: Proposal
        - changed: StageName
    then:
      require: [Amount]
      prompt: "Fill in the amount."
  - id: won-handover
    object: Opportunity
    if:
      all:
        - StageName: Closed Won
        - changed: StageName
    then:
      require: [NextStep]
      prompt: "Write the next step."
      task: {subject: "Hand-over: {Name}", due_in: 2 days}
"""
LIMIT = 200


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(tmp_path: Path, clock: Clock) -> Iterator[Sandbox]:
    sb = Sandbox(tmp_path / "crm", daily_limit=LIMIT, clock=clock).start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def worker(tmp_path: Path, sandbox: Sandbox, clock: Clock) -> Iterator[Worker]:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "budget.yaml").write_text(RULES)
    ruleset = load_rules([tmp_path / "rules"])
    settings = Settings(
        _env_file=None,
        integration_user_id=sandbox.integration_user_id,
        retry_horizon=timedelta(days=3),  # the tests wait a day for usage to fall
    )
    store = Store(f"sqlite:///{tmp_path / 'lastmile.db'}")
    store.upgrade()
    connector = SalesforceConnector(
        GivenSession(sandbox.instance_url, sandbox.session_id),
        ca_bundle=sandbox.ca_bundle,
        sleep=lambda _s: None,
    )
    yield Worker(store, lambda: ruleset, connector, settings, clock=clock)
    store.close()


def use(sandbox: Sandbox, worker: Worker, share: float) -> None:
    """Other integrations used the allowance up to `share`; the connector has seen it."""
    while sandbox.usage_today() < share * LIMIT - 1:
        sandbox.count_call()
    worker.connector.check()  # one call: its answer reports the usage


def opportunity(sandbox: Sandbox, stage: str, n: int) -> str:
    values = {"Name": f"Deal {n}", "StageName": stage, "CloseDate": "2026-12-31"}
    return sandbox.save_as(sandbox.sales_user_id, "Opportunity", values)


def event(sandbox: Sandbox, record_id: str, eid: str, at: datetime, **fields) -> RecordEvent:
    """A person's save of `record_id`, changing `fields`."""
    values = {"Name": "Deal", "Amount": None, "NextStep": None, "OwnerId": sandbox.sales_user_id}
    return RecordEvent(
        id=eid,
        object="Opportunity",
        record_id=record_id,
        kind="updated",
        occurred_at=at,
        actor=sandbox.sales_user_id,
        fields=values | fields,
        changed=sorted(fields),
    )


def add(worker: Worker, new: RecordEvent) -> int:
    [(inbox_id, _)] = worker.store.add([new])
    return inbox_id


def deferred_count() -> float:
    return REGISTRY.get_sample_value("lastmile_writes_deferred_total") or 0.0


def test_past_the_budget_prompts_wait_and_tasks_go(sandbox, worker, clock):
    proposal = opportunity(sandbox, "Proposal", 1)
    won = opportunity(sandbox, "Closed Won", 2)
    use(sandbox, worker, 0.85)
    deferred = deferred_count()
    at = clock() + timedelta(seconds=1)

    first = add(worker, event(sandbox, proposal, "e1", at, StageName="Proposal"))
    assert worker.process_event(first) == NOTHING
    assert sandbox.org.get("Opportunity", proposal)[PROMPT] is None
    assert deferred_count() == deferred + 1 and worker.budget.deferred == 1
    [log] = worker.store.get_event(first).writes
    assert (log.status, sorted(log.fields), log.api_calls) == ("deferred", [PROMPT], 0)

    second = add(worker, event(sandbox, won, "e2", at, StageName="Closed Won"))
    assert worker.process_event(second) == APPLIED  # a task: never deferred
    assert sandbox.org.get("Opportunity", won)[PROMPT] == "Write the next step."
    assert len(sandbox.follow_ups(won)) == 1

    # The next day usage starts again; the record's next write carries the deferred prompt.
    clock.at += timedelta(days=1)
    later = add(worker, event(sandbox, proposal, "e3", clock(), Description="Called"))
    assert worker.process_event(later) == APPLIED
    assert sandbox.org.get("Opportunity", proposal)[PROMPT] == "Fill in the amount."


def test_past_the_pause_share_events_wait_until_usage_falls(sandbox, worker, clock):
    proposal = opportunity(sandbox, "Proposal", 1)
    won = opportunity(sandbox, "Closed Won", 2)
    use(sandbox, worker, 0.96)
    calls = sandbox.api_calls
    at = clock() + timedelta(seconds=1)

    first = add(worker, event(sandbox, proposal, "e1", at, StageName="Proposal"))
    second = add(worker, event(sandbox, won, "e2", at, StageName="Closed Won"))
    assert worker.process_event(first) == RETRY  # met the pause: the breaker opens
    assert worker.breaker.is_open
    assert worker.process_event(second) == PAUSED  # not tried at all
    assert sandbox.api_calls == calls  # nothing was written, nothing asked
    assert {worker.store.get(i).status for i in (first, second)} == {"pending"}
    assert "API usage at 96%" in worker.store.get(first).last_error

    # A probe while usage is still high keeps the pause (one cheap call).
    clock.at += timedelta(minutes=6)
    assert worker.process_event(second) == PAUSED
    assert worker.breaker.is_open

    # The next day usage has fallen: the probe lets the events go, both written.
    clock.at += timedelta(days=1)
    assert worker.process_event(first) == APPLIED
    assert worker.process_event(second) == APPLIED
    assert sandbox.org.get("Opportunity", proposal)[PROMPT] == "Fill in the amount."
    assert len(sandbox.follow_ups(won)) == 1
