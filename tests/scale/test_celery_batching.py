"""Write batching under Celery: one `lastmile worker --pool threads` takes a burst off the broker
with many threads, and their write-backs share API calls (Composite requests) while every effect
still happens exactly once (issue 17)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from scale_support import Cluster, assert_exactly_once

from lastmile.connector.sandbox import Sandbox

LEADS = 400  # every fourth needs four write-backs: 400 writes in a burst of 2,000 events


@pytest.mark.slow
def test_a_threaded_worker_shares_api_calls_across_a_burst(
    sandbox: Sandbox, pg_url: str, redis_url: str, queue: str, tmp_path: Path
) -> None:
    cluster = Cluster(sandbox, pg_url, redis_url, tmp_path / "logs", leads=LEADS)
    try:
        cluster.workers.start(1, concurrency=64, pool="threads")
        started = time.monotonic()
        cluster.post_all()
        cluster.drain(240)
        elapsed = time.monotonic() - started
        assert_exactly_once(cluster, batched=True)
        writes = cluster.stream.expected.writes
        calls = sandbox.api_calls - cluster.calls_before
        print(f"\n{writes} write-backs in {calls} API calls, {elapsed:.1f} s")
        assert writes == 400
        # One by one it is one call a write (test_exactly_once); batched, far fewer.
        assert calls <= writes // 2, calls
    finally:
        cluster.close()
