"""Nothing is lost when a worker is killed with SIGKILL in the middle of an event (Redis broker),
or when PostgreSQL restarts during a run (RabbitMQ broker)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from scale_support import Cluster, assert_exactly_once, restart_postgres
from waiting import wait_for

from lastmile.connector.sandbox import Sandbox
from lastmile.store.tables import inbox

LEADS = 300  # 1,500 events
FAST_RECOVERY = {
    # A dead worker's lease runs out after 4 s and the sweeper then hands its event out again.
    "LASTMILE_WORKER_LEASE_S": "4",
    "LASTMILE_SWEEP_GRACE_S": "5",
}


def pool_pids(pid: int) -> list[int]:
    """The Celery pool processes of the worker process `pid`."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry))
    return children


def leased_by(cluster: Cluster, pids: list[int]) -> list[int]:
    """Inbox rows in flight in one of `pids` (the lease owner is host:pid:nonce)."""
    owners = sa.or_(*(inbox.c.lease_owner.like(f"%:{pid}:%") for pid in pids))
    query = sa.select(inbox.c.id).where(inbox.c.status == "running", owners)
    with cluster.store.reading() as conn:
        return list(conn.execute(query).scalars())


def stuck_in_crm_call(cluster: Cluster, pids: list[int]) -> set[int]:
    """Rows leased by `pids` now and still 0.3 s later: inside a (slowed down) CRM call."""
    first = set(leased_by(cluster, pids))
    if not first:
        return set()
    time.sleep(0.3)
    return first & set(leased_by(cluster, pids))


def done(cluster: Cluster) -> int:
    return cluster.store.counts()["done"]


@pytest.mark.slow
def test_a_worker_killed_mid_event_loses_nothing(
    sandbox: Sandbox, pg_url: str, redis_url: str, queue: str, tmp_path: Path
) -> None:
    cluster = Cluster(sandbox, pg_url, redis_url, tmp_path / "logs", leads=LEADS, **FAST_RECOVERY)
    try:
        victim, _survivor = cluster.workers.start(2)
        cluster.post_all()
        wait_for(lambda: done(cluster) >= 300, 60)
        # Slow CRM answers keep the victim inside an event (after its write-back went out,
        # before it recorded it) when the kill lands.
        sandbox.faults.set(delay_share=1.0, delay_s=2.0)
        pids = pool_pids(victim.pid)
        in_flight = wait_for(lambda: stuck_in_crm_call(cluster, pids), 30, every=0.05)
        cluster.workers.kill(victim)
        killed_at, done_then = time.monotonic(), done(cluster)
        sandbox.faults.clear()
        assert in_flight <= set(leased_by(cluster, pids))  # left behind, leased by the dead

        cluster.drain(120)
        print(f"\n{done_then} done at the kill; the rest took {time.monotonic() - killed_at:.1f} s")
        assert_exactly_once(cluster, crashed=True)
    finally:
        cluster.close()


@pytest.mark.slow
def test_a_postgres_restart_during_a_run_loses_nothing(
    sandbox: Sandbox, pg_url: str, amqp_url: str, queue: str, tmp_path: Path
) -> None:
    cluster = Cluster(sandbox, pg_url, amqp_url, tmp_path / "logs", leads=LEADS, **FAST_RECOVERY)
    try:
        cluster.workers.start(2)
        cluster.post_all()
        wait_for(lambda: done(cluster) >= 300, 60)
        restart_postgres()
        assert done(cluster) < cluster.stream.unique  # the restart fell in the middle of the run
        cluster.drain(120)
        assert_exactly_once(cluster, crashed=True)
    finally:
        cluster.close()
