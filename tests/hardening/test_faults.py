"""Faults in the CRM and in Lastmile itself, on the real loop (sandbox CRM over HTTPS, receiver
and embedded worker on SQLite): after recovery every acknowledged event has been applied exactly
once, or was parked as dead and, replayed, is applied exactly once."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hardening_support import Loop
from waiting import wait_for


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[Loop]:
    running = Loop(tmp_path)
    try:
        yield running
    finally:
        running.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def open_calls(loop: Loop, count: int) -> list[str]:
    calls = [loop.new_call(f"Call {n}") for n in range(count)]
    wait_for(loop.settled)
    return calls


def test_a_fifth_of_crm_calls_failing_or_slow_loses_and_doubles_nothing(loop: Loop) -> None:
    calls = open_calls(loop, 12)
    loop.sandbox.faults.set(fail_share=0.2, delay_share=0.2, delay_s=0.2, seed=7)
    for call in calls:
        loop.complete(call)
    wait_for(loop.settled, timeout=25)
    loop.sandbox.faults.clear()
    for inbox_id in loop.dead():  # none expected: a CRM failure pauses, it kills nothing; if any:
        loop.replay_over_http(inbox_id)
    wait_for(loop.settled)
    loop.assert_applied_exactly_once(calls)
    # the faults did bite: the connector tried more calls than the sandbox served
    assert loop.connector_calls() > loop.sandbox.api_calls


def test_the_api_limit_reached_mid_run_pauses_until_it_lifts(tmp_path: Path) -> None:
    loop = Loop(tmp_path, max_attempts=2)  # attempts no longer count for the CRM's own trouble
    try:
        calls = open_calls(loop, 8)
        for call in calls[:4]:
            loop.complete(call)
        wait_for(loop.settled)
        loop.sandbox.faults.set(limit_reached=True)
        for call in calls[4:]:
            loop.complete(call)
        # refused: processing pauses, the events wait (none dead) while the limit holds
        wait_for(lambda: loop.runtime.worker.breaker.is_open)  # type: ignore[union-attr]
        time.sleep(3)  # many times what two attempts with the old backoff took
        counts = loop.store.counts()
        assert counts["done"] >= 4 and counts["dead"] == 0 and counts["pending"] >= 4
        loop.sandbox.faults.clear()
        wait_for(loop.settled)
        loop.assert_applied_exactly_once(calls)
    finally:
        loop.close()


def test_a_crm_outage_pauses_processing_and_every_event_is_applied_once_after_it(
    tmp_path: Path,
) -> None:
    # attempts no longer count for the CRM's own trouble; a port the sandbox can come back on
    loop = Loop(tmp_path, max_attempts=2, sandbox_port=free_port())
    try:
        calls = open_calls(loop, 10)
        stored = loop.store.counts()
        loop.sandbox.faults.set(fail_share=1.0)  # every REST call answered 503
        for call in calls:
            loop.complete(call)
        # The Outbound Messages still arrive (the CRM's own queue): every event is stored, and
        # the first that meets the 503s opens the breaker.
        wait_for(lambda: loop.sandbox.outbound_pending() == 0)
        assert sum(loop.store.counts().values()) == sum(stored.values()) + len(calls)
        breaker = loop.runtime.worker.breaker  # type: ignore[union-attr]
        wait_for(lambda: breaker.is_open)
        loop.sandbox.stop()  # then the CRM goes away altogether: connections refused
        probes = breaker.probes
        # Several probes (0.2-1 s apart, and the sweeper looks every second), where two
        # attempts used to park an event dead.
        wait_for(lambda: breaker.probes >= probes + 4, timeout=15)
        counts = loop.store.counts()
        assert counts["dead"] == 0 and counts["pending"] + counts["running"] == len(calls)
        waiting = loop.store.list_events(status="pending", limit=100)
        # Not charged per retry: only events in flight when it broke took an attempt.
        assert sum(row.attempts for row in waiting) <= loop.settings.worker_threads
        answer = requests.get(f"{loop.url}/readyz", timeout=5)
        assert answer.status_code == 200 and answer.json()["crm"]["paused"] is True
        assert "lastmile_crm_paused 1.0" in requests.get(f"{loop.url}/metrics", timeout=5).text
        loop.sandbox.faults.clear()
        loop.sandbox.start()  # back, on the same port with the same data
        back = time.monotonic()
        wait_for(loop.settled, timeout=20)
        assert time.monotonic() - back < 10  # the next probe (at most 1 s here) and the work
        loop.assert_applied_exactly_once(calls)
        assert not breaker.is_open
    finally:
        loop.close()


def test_a_restart_mid_run_finishes_what_was_acknowledged(loop: Loop) -> None:
    calls = open_calls(loop, 12)
    loop.sandbox.faults.set(delay_share=1.0, delay_s=0.15)  # keep work in flight
    for call in calls:
        loop.complete(call)
    wait_for(lambda: loop.store.counts()["pending"] + loop.store.counts()["running"] >= 3)
    loop.stop_runtime()  # in-flight events finish; queued ones stay pending in SQLite
    left = loop.settings  # same settings, same SQLite file, same port
    time.sleep(0.5)  # Outbound Messages meanwhile are refused and queued by the sandbox
    loop.start()
    assert loop.settings is left
    wait_for(loop.settled, timeout=25)
    loop.sandbox.faults.clear()
    loop.assert_applied_exactly_once(calls)
