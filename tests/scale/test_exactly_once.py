"""Several real Celery worker processes (Redis broker, PostgreSQL store) consume 10,000 events
delivered in batches with duplicates and each record's events out of order: every effect happens
in the sandbox CRM exactly once, in order."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from scale_support import Cluster, assert_exactly_once

from lastmile.connector.sandbox import Sandbox

LEADS = 2_000  # five events each: 10,000 unique events (and about 1,000 duplicate deliveries)


@pytest.mark.slow
def test_four_workers_apply_ten_thousand_events_exactly_once(
    sandbox: Sandbox, pg_url: str, redis_url: str, queue: str, tmp_path: Path
) -> None:
    cluster = Cluster(sandbox, pg_url, redis_url, tmp_path / "logs", leads=LEADS)
    try:
        assert cluster.stream.unique == 10_000
        assert cluster.stream.deliveries > 10_500  # duplicates on top
        cluster.workers.start(4)
        started = time.monotonic()
        cluster.post_all()
        cluster.drain(240)
        elapsed = time.monotonic() - started
        assert_exactly_once(cluster)
        print(f"\n10,000 events through 4 workers in {elapsed:.1f} s")
    finally:
        cluster.close()
