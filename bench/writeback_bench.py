"""Write-backs in a burst: record events that each need a write, processed by the embedded worker
(real Worker, store, Salesforce connector) against the sandbox CRM over HTTPS, once one by one
(LASTMILE_WRITE_BATCH_MS=0) and once batched; prints the API calls the sandbox served and the
time taken.

Each event moves an opportunity to a stage a rule watches: "Proposal" asks for the amount (a
conditional record update: the prompt field), "Closed Won" also creates a hand-over task. The
events carry every field the rules read, so no read call is needed; the inbox gets them all at
once (a burst), as a Data Loader import or a mass update would send them.

    python bench/writeback_bench.py [--events 1000] [--won-share 0.5] [--size 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from lastmile.connector.salesforce import GivenSession, SalesforceConnector  # noqa: E402
from lastmile.connector.sandbox import Sandbox  # noqa: E402
from lastmile.dispatch import EmbeddedDispatcher  # noqa: E402
from lastmile.logs import configure_logging  # noqa: E402
from lastmile.rules import RecordEvent, load_rules  # noqa: E402
from lastmile.settings import Settings  # noqa: E402
from lastmile.store import Store  # noqa: E402
from lastmile.worker import Worker  # noqa: E402

PROMPT = "Lastmile_Prompt__c"
RULES = """\
pack: burst
rules:
  - id: proposal-amount
    object: Opportunity
    if:
      on: [updated]
      all:
        - StageName: Proposal
        - changed: StageName
    then:
      require: [Amount]
      prompt: "Proposal for {Name}: fill in {missing}."
  - id: won-handover
    object: Opportunity
    if:
      on: [updated]
      all:
        - StageName: Closed Won
        - changed: StageName
    then:
      require: [NextStep]
      prompt: "Won: write the next step."
      task:
        subject: "Hand-over: {Name}"
        due_in: 2 days
"""


@dataclass(frozen=True)
class Burst:
    """What one run left behind."""

    events: int
    calls: int  # REST calls the sandbox served for the burst
    seconds: float
    counts: dict[str, int]
    records: dict[str, str | None]  # record name -> prompt field
    tasks: dict[str, tuple[str, str]]  # task key without the record id -> (subject, record name)
    batches: list[int]  # write-backs per Connector.apply, in order
    threads: int  # the most worker threads at once


def stages(count: int, won_share: float) -> list[str]:
    """Every k-th opportunity won (a task), the others at the proposal stage."""
    won_every = round(1 / won_share) if won_share > 0 else 0
    return ["Closed Won" if won_every and n % won_every == 0 else "Proposal" for n in range(count)]


def seed(sandbox: Sandbox, stages: list[str]) -> list[str]:
    """The opportunities as people left them after moving each to its stage (no API calls)."""
    return [
        sandbox.save_as(
            sandbox.sales_user_id,
            "Opportunity",
            {"Name": f"Deal {n}", "StageName": stage, "CloseDate": "2026-12-31"},
        )
        for n, stage in enumerate(stages)
    ]


def edit_later(sandbox: Sandbox, ids: list[str]) -> None:
    """A person fills in the amount and next step, a while after the events (no API calls)."""
    clock = sandbox.org.clock
    sandbox.org.clock = lambda: clock() + timedelta(seconds=30)
    try:
        for record_id in ids:
            values = {"Amount": 1000, "NextStep": "Call the client"}
            sandbox.save_as(sandbox.sales_user_id, "Opportunity", values, record_id=record_id)
    finally:
        sandbox.org.clock = clock


def burst_events(sandbox: Sandbox, ids: list[str], stages: list[str]) -> list[RecordEvent]:
    """The stage change of each record, as its Outbound Message reports it."""
    at = datetime.now(UTC)
    events = []
    for n, (record_id, stage) in enumerate(zip(ids, stages, strict=True)):
        events.append(
            RecordEvent(
                id=f"burst-{n}",
                source="salesforce",
                object="Opportunity",
                record_id=record_id,
                kind="updated",
                occurred_at=at,
                actor=sandbox.sales_user_id,
                fields={
                    "Name": f"Deal {n}",
                    "StageName": stage,
                    "Amount": None,
                    "NextStep": None,
                    "OwnerId": sandbox.sales_user_id,
                },
                changed=["StageName"],
            )
        )
    return events


def run(
    base: Path,
    count: int,
    *,
    batch_ms: float,
    size: int = 200,
    won_share: float = 0.5,
    edited_every: int = 0,
    timeout: float = 600.0,
) -> Burst:
    """Seed `count` records, put one event each in the inbox at once, process them all. With
    `edited_every` k, every k-th record is saved by a person after its event (the amount and
    next step filled in): its conditional write meets a 412, is re-read and decided again."""
    rules_dir = base / "rules"
    rules_dir.mkdir(parents=True)
    (rules_dir / "burst.yaml").write_text(RULES)
    ruleset = load_rules([rules_dir])
    with Sandbox(base / "crm") as sandbox:
        moved = stages(count, won_share)
        ids = seed(sandbox, moved)
        events = burst_events(sandbox, ids, moved)
        if edited_every:
            edit_later(sandbox, ids[::edited_every])
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite:///{base / 'lastmile.db'}",
            integration_user_id=sandbox.integration_user_id,
            write_batch_ms=batch_ms,
            write_batch_size=size,
            # One owner has every deal: no prompt budget, so that each record's prompt depends
            # on its own events alone and one by one can be compared with batched.
            max_prompts_per_person=count,
        )
        store = Store.from_settings(settings)
        store.upgrade()
        connector = SalesforceConnector(
            GivenSession(sandbox.instance_url, sandbox.session_id), ca_bundle=sandbox.ca_bundle
        )
        connector.check()  # the session is good; not counted below
        batches: list[int] = []  # the size of each batch, seen on its way to the connector
        apply = connector.apply

        def counted(writes):  # type: ignore[no-untyped-def]
            batches.append(len(writes))
            return apply(writes)

        connector.apply = counted  # type: ignore[method-assign]
        worker = Worker(store, lambda: ruleset, connector, settings)
        dispatcher = EmbeddedDispatcher(worker, store, threads=settings.worker_threads)
        inbox = [i for i, new in store.add(events) if new]
        calls = sandbox.api_calls
        started = time.perf_counter()
        dispatcher.start()
        dispatcher.dispatch(inbox)
        drained = dispatcher.drain(timeout)
        seconds = time.perf_counter() - started
        dispatcher.stop()
        if not drained:
            raise RuntimeError(f"the burst was not processed within {timeout:g} s")
        calls = sandbox.api_calls - calls
        # By name, not id: two runs (two sandboxes) compare record by record.
        names = {rid: sandbox.org.get("Opportunity", rid)["Name"] for rid in ids}
        records = {names[rid]: sandbox.org.get("Opportunity", rid).get(PROMPT) for rid in ids}
        tasks = {}
        for t in sandbox.store.records("Task"):
            if t.get("Lastmile_Key__c"):
                rule, _record, event_id = t["Lastmile_Key__c"].split(":")
                tasks[f"{rule}:{event_id}"] = (t["Subject"], names.get(t["WhatId"], "?"))
        counts = store.counts()
        store.close()
    return Burst(count, calls, seconds, counts, records, tasks, batches, dispatcher.peak_threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--won-share", type=float, default=0.5, help="share that needs a task")
    parser.add_argument("--size", type=int, default=200, help="LASTMILE_WRITE_BATCH_SIZE")
    parser.add_argument("--skip-one-by-one", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print every batch's size")
    args = parser.parse_args()
    configure_logging("error")
    modes = [(f"batched (50 ms, size {args.size})", 50.0)]
    if not args.skip_one_by_one:
        modes.insert(0, ("one by one", 0.0))
    print(
        f"{'mode':<28} {'events':>7} {'tasks':>6} {'API calls':>10} {'calls/1000':>11} "
        f"{'batches':>8} {'mean':>6} {'s':>7}"
    )
    for label, batch_ms in modes:
        with tempfile.TemporaryDirectory() as tmp:
            result = run(
                Path(tmp), args.events, batch_ms=batch_ms, size=args.size, won_share=args.won_share
            )
        done = result.counts.get("done", 0)
        if done != args.events:
            print(f"  warning: {done} of {args.events} events done: {result.counts}")
        per = result.calls * 1000 / max(1, args.events)
        mean = sum(result.batches) / max(1, len(result.batches))
        if args.verbose:
            print("  batch sizes:", result.batches)
        print(
            f"{label:<28} {args.events:>7} {len(result.tasks):>6} {result.calls:>10} "
            f"{per:>11.1f} {len(result.batches):>8} {mean:>6.1f} {result.seconds:>7.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
