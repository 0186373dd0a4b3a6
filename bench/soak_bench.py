"""Soak: a million events through the embedded mode with the process's memory (RSS) sampled.

Each event is a completed client call (the example rules answer with a prompt and a follow-up
task). Events go through `store.add` (the inbox insert the receiver makes, without HTTP) and
the embedded dispatcher's worker threads, against a CRM double that answers in memory and keeps
only counters (so only Lastmile's memory is measured). RSS is read from /proc every `--every`
events; after warm-up (the first 10% of events) it must stay within 10% of its warm-up value.

    python bench/soak_bench.py [--events 1000000] [--every 50000] [--batch 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lastmile.connector.base import ApiUsage, RecordState, WriteBack, WriteResult  # noqa: E402
from lastmile.dispatch import EmbeddedDispatcher  # noqa: E402
from lastmile.rules.records import RecordEvent  # noqa: E402
from lastmile.runtime import Runtime  # noqa: E402
from lastmile.settings import Settings  # noqa: E402

SALES_USER = "0057Q00000A1bCdQAJ"


@dataclass
class CountingCrm:
    """A CRM double that answers at once and remembers nothing but counts."""

    reads: int = 0
    writes: int = 0  # record updates (batched, the tasks follow in WriteBacks of their own)
    tasks: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, object: str, record_id: str, fields: Iterable[str]) -> RecordState:
        with self._lock:
            self.reads += 1
        return RecordState(object, record_id, dict.fromkeys(fields), None)

    def apply(self, writes: Sequence[WriteBack]) -> list[WriteResult]:
        with self._lock:
            self.writes += sum(1 for w in writes if w.fields)
            self.tasks += sum(len(w.tasks) for w in writes)
        return [
            WriteResult(w.record_id, "applied", task_ids={t.key: "00T" for t in w.tasks})
            for w in writes
        ]

    def usage(self) -> ApiUsage | None:
        return ApiUsage(used=self.reads + self.writes, limit=10**9, calls=self.reads + self.writes)

    def check(self) -> None:
        return None


def rss_mb() -> float:
    """Resident set size of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def completed_call(n: int, at: datetime) -> RecordEvent:
    return RecordEvent(
        id=f"soak-{n}",
        source="soak",
        object="Task",
        record_id=f"00T7Q{n:013d}",
        kind="updated",
        occurred_at=at,
        actor=SALES_USER,
        fields={
            "Subject": "Call",
            "Type": "Call",
            "Status": "Completed",
            "Outcome__c": "Interested",
            "OwnerId": SALES_USER,
            "WhatId": "0067Q00000Jk9sPQAR",
            "Description": None,
            "Next_Step__c": None,
        },
        changed=["Status", "Outcome__c"],
    )


@dataclass
class SoakResult:
    events: int
    seconds: float
    samples: list[tuple[int, float]]  # (events stored so far, RSS MB)
    crm: CountingCrm
    counts: dict[str, int]

    @property
    def warm(self) -> float:
        """RSS at the end of warm-up (the first sample past 10% of the events)."""
        after = [mb for n, mb in self.samples if n >= self.events // 10]
        return after[0] if after else self.samples[-1][1]

    @property
    def growth(self) -> float:
        """Largest RSS after warm-up relative to the warm-up value (0.05 = 5% more)."""
        after = [mb for n, mb in self.samples if n >= self.events // 10]
        return max(after) / self.warm - 1 if after else 0.0


def soak(events: int, every: int, batch: int = 100, threads: int = 8) -> SoakResult:
    """Push `events` completed calls through store.add and the embedded worker."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/soak.db",
            integration_user_id="0057Q00000ZZZZZQAJ",
            worker_threads=threads,
            # One sales user makes every call: no prompt budget, so each call gets its prompt
            # written (a write-back per event, as the soak counts them).
            max_prompts_per_person=1_000_000,
        )
        crm = CountingCrm()
        runtime = Runtime.build(settings, connector=crm)
        runtime.rules.start()
        # no sweeper needed: every event is dispatched as it is stored
        dispatcher = EmbeddedDispatcher(runtime.worker, runtime.store, threads, sweep_every=3600)
        dispatcher.start()
        samples = [(0, rss_mb())]
        started = time.monotonic()
        at = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
        try:
            for first in range(0, events, batch):
                stored = runtime.store.add(
                    [
                        completed_call(n, at + timedelta(milliseconds=n))
                        for n in range(first, min(first + batch, events))
                    ]
                )
                dispatcher.dispatch([inbox_id for inbox_id, new in stored if new])
                # keep the queue short, as the receiver's own pace would
                while dispatcher._queue.qsize() > 4 * batch:
                    time.sleep(0.001)
                done = first + batch
                if done % every == 0 or done >= events:
                    samples.append((min(done, events), rss_mb()))
            dispatcher.drain(120)
            seconds = time.monotonic() - started
            counts = runtime.store.counts()
        finally:
            dispatcher.stop()
            runtime.rules.stop()
            runtime.store.engine.dispose()
    return SoakResult(events, seconds, samples, crm, counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    from lastmile.logs import configure_logging

    configure_logging("error")
    result = soak(args.events, args.every, args.batch)
    print(f"{'events':>10} {'RSS MB':>8}")
    for n, mb in result.samples:
        print(f"{n:>10} {mb:>8.1f}")
    rate = result.events / result.seconds
    print(
        f"{result.events} events in {result.seconds:.0f} s ({rate:.0f}/s); inbox {result.counts}; "
        f"CRM writes {result.crm.writes}, tasks {result.crm.tasks}"
    )
    verdict = "flat" if result.growth <= 0.10 else "GROWING"
    print(f"RSS after warm-up: {result.warm:.1f} MB, largest +{result.growth:.1%}: {verdict}")
    sys.exit(0 if result.growth <= 0.10 else 1)


if __name__ == "__main__":
    main()
