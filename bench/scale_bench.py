"""Processed events per second: Celery workers (1, 2 and 4 processes, PostgreSQL store, Redis
broker) against the sandbox CRM, beside the embedded mode (SQLite, worker threads in the
receiver). Each run POSTs the same signed event stream to a receiver over HTTP (batches of 100,
records' events out of order, 10 % duplicates, a quarter of the leads causing four write-backs)
and times it from the first POST until the inbox is drained.

    .venv/bin/python bench/scale_bench.py [--leads 400] [--workers 1,2,4]

Needs PostgreSQL (trust auth, database `test`) and Redis on 127.0.0.1, as CI starts them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scale"))

from scale_support import (
    REDIS_URL,
    Cluster,
    assert_exactly_once,
    broker_problem,
    postgres_database,
    postgres_problem,
    purge_queues,
)

from lastmile.connector.sandbox import Sandbox
from lastmile.logs import configure_logging


def timed_run(leads: int, work: Path, workers: int | None) -> tuple[int, float]:
    """(events, seconds): with `workers` Celery worker processes on PostgreSQL, or (None)
    embedded mode on SQLite with the receiver's own worker threads."""
    name = f"celery-{workers}" if workers else "embedded"
    queue = f"lastmile-bench-{os.getpid()}-{name}"
    os.environ["LASTMILE_QUEUE"] = queue  # the receiver's dispatcher reads it too
    with ExitStack() as stack:
        sandbox = stack.enter_context(Sandbox(work / f"sandbox-{name}"))
        if workers:
            db = stack.enter_context(postgres_database())
            stack.callback(purge_queues, REDIS_URL, (queue, f"{queue}.schedule"))
        else:
            db = f"sqlite:///{work / 'embedded.db'}"
        cluster = Cluster(
            sandbox, db, REDIS_URL if workers else None, work / f"logs-{name}", leads=leads
        )
        stack.callback(cluster.close)
        if workers:
            cluster.workers.start(workers)
        started = time.monotonic()
        cluster.post_all()
        cluster.drain(1800)
        seconds = time.monotonic() - started
        assert_exactly_once(cluster)
    return cluster.stream.unique, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=400, help="five events each (default 400)")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to run")
    args = parser.parse_args()
    for problem in (postgres_problem(), broker_problem(REDIS_URL)):
        if problem:
            sys.exit(f"scale_bench: needs PostgreSQL and Redis on 127.0.0.1 ({problem})")
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    configure_logging("warning")  # a JSON line per event would be timed too
    rows = []
    with tempfile.TemporaryDirectory(prefix="lastmile-scale-bench-") as tmp:
        work = Path(tmp)
        events, seconds = timed_run(args.leads, work, None)
        rows.append(("embedded (SQLite, 2 threads)", 1, events, seconds))
        for n in counts:
            events, seconds = timed_run(args.leads, work, n)
            rows.append(("Celery + PostgreSQL + Redis", n, events, seconds))
    print(f"\n{os.cpu_count()} CPUs; {args.leads} leads, 5 events each; sandbox CRM over HTTPS\n")
    print(f"{'mode':<32} {'processes':>9} {'events':>7} {'seconds':>8} {'events/s':>9}")
    for mode, procs, events, seconds in rows:
        print(f"{mode:<32} {procs:>9} {events:>7} {seconds:>8.1f} {events / seconds:>9.1f}")


if __name__ == "__main__":
    main()
