"""Faults in the CRM and in Lastmile itself, on the real loop (sandbox CRM over HTTPS, receiver
and embedded worker on SQLite): after recovery every acknowledged event has been applied exactly
once, or was parked as dead and, replayed, is applied exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hardening_support import Loop
from waiting import wait_for


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[Loop]:
    running = Loop(tmp_path)
    try:
        yield running
    finally:
        running.close()


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
    for inbox_id in loop.dead():  # none expected with 4 connector tries x 8 attempts; if any:
        loop.replay_over_http(inbox_id)
    wait_for(loop.settled)
    loop.assert_applied_exactly_once(calls)
    # the faults did bite: the connector tried more calls than the sandbox served
    assert loop.connector_calls() > loop.sandbox.api_calls


def test_the_api_limit_reached_mid_run_parks_events_that_replay_once(tmp_path: Path) -> None:
    loop = Loop(tmp_path, max_attempts=2)
    try:
        calls = open_calls(loop, 8)
        for call in calls[:4]:
            loop.complete(call)
        wait_for(loop.settled)
        loop.sandbox.faults.set(limit_reached=True)
        for call in calls[4:]:
            loop.complete(call)
        # two attempts a second apart (the limit pause), both refused: parked as dead
        wait_for(lambda: len(loop.dead()) == 4, timeout=15)
        assert loop.store.counts()["done"] >= 4
        loop.sandbox.faults.clear()
        for inbox_id in loop.dead():
            loop.replay_over_http(inbox_id)
        wait_for(loop.settled)
        loop.assert_applied_exactly_once(calls)
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
