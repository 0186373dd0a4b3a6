"""End-to-end latency: a person saves a record in the sandbox CRM -> Outbound Message -> receiver
-> worker -> rules -> write-back in the sandbox.

Three processes, as in a real set-up: the sandbox CRM (`lastmile sandbox`, standing in for
Salesforce), the receiver (`lastmile serve`) and this driver. The driver saves records
through the sandbox's record pages (as the sales user, like a person), at a fixed rate, and polls
the CRM's REST API for the prompt field to learn when each write-back landed.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

LASTMILE = str(Path(sys.executable).with_name("lastmile"))
PROMPT = "Lastmile_Prompt__c"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def _settings(process: subprocess.Popen, timeout: float = 30) -> dict[str, str]:
    values: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while "LASTMILE_INTEGRATION_USER_ID" not in values and time.monotonic() < deadline:
        line = process.stdout.readline().decode().strip()
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


class SandboxDriver:
    """The driver's view of the sandbox: REST as the integration user, pages as the sales user
    (also used by outage_bench.py)."""

    def __init__(self, settings: dict[str, str]) -> None:
        self.url = settings["LASTMILE_SALESFORCE_INSTANCE_URL"]
        self.api = self.url + "/services/data/v" + settings["LASTMILE_SALESFORCE_API_VERSION"]
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = settings["LASTMILE_SALESFORCE_CA_BUNDLE"]
        self.http.headers["Authorization"] = "Bearer " + settings["LASTMILE_SALESFORCE_SESSION_ID"]

    def create_call(self, subject: str) -> str:
        answer = self.http.post(
            f"{self.api}/sobjects/Task",
            json={"Subject": subject, "Type": "Call", "Status": "Not Started"},
        )
        answer.raise_for_status()
        return answer.json()["id"]

    def save_as_person(self, page: requests.Session, call: str) -> None:
        answer = page.post(
            f"{self.url}/records/Task/{call}/edit",
            data={"Status": "Completed", "Outcome__c": "Interested"},
            allow_redirects=False,
        )
        assert answer.status_code in (200, 302, 303), answer.status_code

    def prompted(self, ids: list[str]) -> set[str]:
        quoted = ",".join(f"'{i}'" for i in ids)
        answer = self.http.get(
            f"{self.api}/query",
            params={"q": f"SELECT Id, {PROMPT} FROM Task WHERE Id IN ({quoted})"},
        )
        answer.raise_for_status()
        return {r["Id"] for r in answer.json()["records"] if r.get(PROMPT)}


def run(rate: float = 100.0, seconds: float = 10.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        receiver_port = _free_port()
        receiver = f"http://127.0.0.1:{receiver_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_")}
        sandbox = subprocess.Popen(
            [LASTMILE, "sandbox", "--port", "0", "--data", str(base / "sandbox"), "--no-demo",
             "--daily-limit", "100000000", "--outbound", f"{receiver}/webhooks/salesforce"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        served = None
        try:
            settings = _settings(sandbox)
            config = base / "lastmile.env"
            config.write_text(
                "\n".join(f"{k}={v}" for k, v in settings.items())
                + f"\nLASTMILE_DATABASE_URL=sqlite:///{base / 'lastmile.db'}"
                + "\nLASTMILE_LOG_LEVEL=warning\n"
            )
            served = subprocess.Popen(
                [LASTMILE, "serve", "--port", str(receiver_port), "--config", str(config)],
                env=env, cwd=base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            crm = SandboxDriver(settings)
            _wait(lambda: requests.get(receiver + "/readyz", timeout=2).ok, 30)
            count = int(rate * seconds)
            calls = [crm.create_call(f"Call {i}") for i in range(count)]
            time.sleep(2)  # their Outbound Messages (the integration user's: no writes) go first
            saved: dict[str, float] = {}
            written: dict[str, float] = {}
            done = threading.Event()

            def poll() -> None:
                while not done.is_set():
                    waiting = [c for c in saved if c not in written]
                    for i in range(0, len(waiting), 200):
                        for landed in crm.prompted(waiting[i : i + 200]):
                            written[landed] = time.monotonic()
                    time.sleep(0.02)

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            page = requests.Session()
            page.trust_env = False
            page.verify = settings["LASTMILE_SALESFORCE_CA_BUNDLE"]
            stored_before = _inbox_rows(base / "lastmile.db")
            start = time.monotonic()
            for i, call in enumerate(calls):
                pause = start + i / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                saved[call] = time.monotonic()
                crm.save_as_person(page, call)
            elapsed = time.monotonic() - start
            achieved = count / elapsed
            _wait(lambda: len(written) >= count, 60, quiet=True)
            done.set()
            time.sleep(1)  # the last write-backs' own Outbound Messages
            # Every record change the sandbox sent: each save, the echo of each write-back, and
            # each follow-up task created.
            events = _inbox_rows(base / "lastmile.db") - stored_before
            latencies = [written[c] - saved[c] for c in calls if c in written]
            return {
                "rate_asked": rate,
                "rate_achieved": round(achieved, 1),
                "saves": count,
                "record_events": events,
                "record_events_per_s": round(events / elapsed, 1),
                "written_back": len(latencies),
                "p50_ms": round(statistics.median(latencies) * 1000, 1),
                "p95_ms": round(_percentile(latencies, 95) * 1000, 1),
                "p99_ms": round(_percentile(latencies, 99) * 1000, 1),
                "max_ms": round(max(latencies) * 1000, 1),
            }
        finally:
            for process in (served, sandbox):
                if process is not None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(30)


def _inbox_rows(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT count(*) FROM inbox").fetchone()[0]


def _wait(what, timeout: float, quiet: bool = False) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if what():
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    if not quiet:
        raise RuntimeError(f"timed out after {timeout} s")
