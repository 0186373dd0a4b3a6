"""A CRM outage end to end: events that arrive while the CRM is away wait, and are applied once
when it is back.

Three processes, as in a real set-up: the sandbox CRM (`lastmile sandbox`, standing in for
Salesforce), the receiver with its embedded worker (`lastmile serve`) and this driver.
The driver opens `--events` client calls in the sandbox, stops the sandbox, sends one signed JSON
event per call (the call completed as Interested, without notes: the example rules answer with a
prompt on the call and a follow-up task) while it is stopped, waits `--minutes`, starts the
sandbox again on the same port and data, and prints how long until every event was applied, how
many were applied, dead or duplicated, and what the receiver showed meanwhile.

    python bench/outage_bench.py [--minutes 4] [--events 50]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from _e2e_latency import SandboxDriver
from standardwebhooks import Webhook

LASTMILE = str(Path(sys.executable).with_name("lastmile"))
PROMPT = "Lastmile_Prompt__c"
KEY = "Lastmile_Key__c"
SECRET = "whsec_" + "b3V0YWdlLWJlbmNoLXNlY3JldC0xMjM0NTY3OA=="  # base64 of 32 bytes of text
SALES_USER = "0057Q00000A1bCdQAJ"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: Callable[[], Any], timeout: float, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = what()
        except requests.ConnectionError:
            value = None
        if value:
            return value
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout} s")


class _Sandbox:
    """`lastmile sandbox` as a process that can be stopped and started again on its port."""

    def __init__(self, base: Path, port: int, outbound: str) -> None:
        self.args = [
            LASTMILE, "sandbox", "--port", str(port), "--data", str(base / "sandbox"),
            "--no-demo", "--daily-limit", "100000000", "--outbound", outbound,
        ]  # fmt: skip
        self.process: subprocess.Popen | None = None
        self.settings: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_")}
        self.process = subprocess.Popen(
            self.args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        values: dict[str, str] = {}
        assert self.process.stdout is not None
        while "LASTMILE_INTEGRATION_USER_ID" not in values:
            line = self.process.stdout.readline().decode()
            if not line:
                raise RuntimeError("the sandbox did not start")
            if "=" in line and not line.startswith("#"):
                key, _, value = line.strip().partition("=")
                values[key] = value
        self.settings = values
        return values

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)  # a clean stop: the queue stays in SQLite
            self.process.wait(30)
            self.process = None


class _Crm(SandboxDriver):
    """The driver's REST view of the sandbox, as the integration user, with the tasks' state."""

    def tasks(self) -> list[dict[str, Any]]:
        query = f"SELECT Id, Subject, {PROMPT}, {KEY} FROM Task"
        answer = self.http.get(f"{self.api}/query", params={"q": query})
        answer.raise_for_status()
        body = answer.json()
        records = list(body["records"])
        while body.get("nextRecordsUrl"):
            body = self.http.get(self.url + body["nextRecordsUrl"]).json()
            records.extend(body["records"])
        return records


class _Receiver:
    """`lastmile serve` and what the driver reads of it: its HTTP answers and its SQLite file."""

    def __init__(self, base: Path, port: int, settings: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.db = base / "lastmile.db"
        config = base / "lastmile.env"
        lines = [f"{k}={v}" for k, v in settings.items()]
        lines += [
            f"LASTMILE_DATABASE_URL=sqlite:///{self.db}",
            f"LASTMILE_WEBHOOK_SECRET={SECRET}",
            "LASTMILE_LOG_LEVEL=warning",
            # One sales user makes every call: no prompt budget, so every call shows its prompt.
            "LASTMILE_MAX_PROMPTS_PER_PERSON=1000000",
        ]
        config.write_text("\n".join(lines) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_")}
        self.log = base / "receiver.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [LASTMILE, "serve", "--port", str(port), "--config", str(config)],
                env=env, cwd=base, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait(lambda: requests.get(self.url + "/readyz", timeout=2).ok, 30)

    def send(self, event: dict[str, Any]) -> None:
        body = json.dumps(event)
        msg_id = f"msg_{uuid.uuid4().hex}"
        at = datetime.now(UTC)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(SECRET).sign(msg_id, at, body),
        }
        answer = requests.post(f"{self.url}/webhooks/events", data=body, headers=headers)
        assert answer.status_code == 202, (answer.status_code, answer.text[:300])

    def rows(self, source: str) -> list[sqlite3.Row]:
        with sqlite3.connect(self.db) as db:
            db.row_factory = sqlite3.Row
            return db.execute(
                "SELECT i.id, i.record_id, i.status, i.outcome, i.attempts, "
                "(SELECT count(*) FROM writebacks w WHERE w.inbox_id = i.id "
                " AND w.status = 'applied') AS applied_writes "
                "FROM inbox i WHERE i.source = ?",
                (source,),
            ).fetchall()

    def settled(self) -> bool:
        with sqlite3.connect(self.db) as db:
            open_rows = db.execute(
                "SELECT count(*) FROM inbox WHERE status IN ('pending', 'running')"
            ).fetchone()[0]
        return open_rows == 0

    def crm_state(self) -> dict[str, Any]:
        ready = requests.get(self.url + "/readyz", timeout=5)
        metrics = requests.get(self.url + "/metrics", timeout=5).text
        return {
            "readyz_status": ready.status_code,
            "readyz_crm": ready.json()["crm"],
            "metric_paused": _metric(metrics, "lastmile_crm_paused"),
            "metric_pauses": _metric(metrics, "lastmile_crm_pauses_total"),
            "metric_api_calls": _metric(metrics, "lastmile_crm_api_calls"),
        }

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def _metric(text: str, name: str) -> float | None:
    found = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def _completed(call: str, n: int) -> dict[str, Any]:
    return {
        "id": f"outage-{n}",
        "source": "outage-bench",
        "object": "Task",
        "record_id": call,
        "kind": "updated",
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "actor": SALES_USER,
        "fields": {
            "Subject": f"Call {n}",
            "Type": "Call",
            "Status": "Completed",
            "Outcome__c": "Interested",
            "OwnerId": SALES_USER,
            "WhatId": None,
            "Description": None,
            "Next_Step__c": None,
        },
        "changed": ["Status", "Outcome__c"],
    }


def run(minutes: float = 4.0, events: int = 50) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        receiver_port, sandbox_port = _free_port(), _free_port()
        sandbox = _Sandbox(
            base, sandbox_port, f"http://127.0.0.1:{receiver_port}/webhooks/salesforce"
        )
        receiver: _Receiver | None = None
        try:
            settings = sandbox.start()
            receiver = _Receiver(base, receiver_port, settings)
            crm = _Crm(settings)
            calls = [crm.create_call(f"Call {n}") for n in range(events)]
            _wait(receiver.settled, 60)  # their Outbound Messages: the integration user's
            time.sleep(2)
            sandbox.stop()
            stopped = time.monotonic()
            for n, call in enumerate(calls):
                receiver.send(_completed(call, n))
            # Half-way through the outage: what the receiver shows.
            time.sleep(max(0.0, minutes * 30 - (time.monotonic() - stopped)))
            during = receiver.crm_state()
            time.sleep(max(0.0, minutes * 60 - (time.monotonic() - stopped)))
            before_return = receiver.crm_state()
            rows = receiver.rows("outage-bench")
            waiting = Counter(row["status"] for row in rows)
            sandbox.start()
            back = time.monotonic()
            outage_s = back - stopped
            _wait(receiver.settled, 600, every=0.1)
            settled_s = time.monotonic() - back
            time.sleep(3)  # the write-backs' own Outbound Messages
            rows = receiver.rows("outage-bench")
            crm = _Crm(sandbox.settings)
            tasks = crm.tasks()
            prompted = {t["Id"] for t in tasks if t.get(PROMPT)}
            follow_ups = Counter(
                call for t in tasks for call in calls if t.get(KEY) and f":{call}:" in t[KEY]
            )
            statuses = Counter(row["status"] for row in rows)
            applied = [r for r in rows if r["status"] == "done" and r["outcome"] == "applied"]
            duplicated = sum(1 for r in rows if r["applied_writes"] > 1) + sum(
                1 for n in follow_ups.values() if n > 1
            )
            after = receiver.crm_state()
            return {
                "events": events,
                "outage_s": round(outage_s, 1),
                "waiting_before_return": dict(waiting),
                "until_all_applied_s": round(settled_s, 1),
                "applied": len(applied),
                "dead": statuses.get("dead", 0),
                "duplicated": duplicated,
                "prompts_on_calls": len(prompted & set(calls)),
                "follow_up_tasks": sum(follow_ups.values()),
                "attempts": dict(sorted(Counter(r["attempts"] for r in rows).items())),
                "during_outage": during,
                "before_return": before_return,
                "after_return": after,
            }
        except BaseException:
            if receiver is not None:  # what the receiver logged says why
                print(receiver.log.read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            if receiver is not None:
                receiver.stop()
            sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="how long the CRM is stopped")
    parser.add_argument("--events", type=int, default=50, help="events sent during the outage")
    args = parser.parse_args()
    result = run(args.minutes, args.events)
    print(
        f"{result['events']} events sent while the sandbox CRM was stopped for "
        f"{result['outage_s']} s; waiting when it returned: {result['waiting_before_return']}"
    )
    print(
        f"all settled {result['until_all_applied_s']} s after its return: "
        f"{result['applied']} applied, {result['dead']} dead, {result['duplicated']} duplicated "
        f"({result['prompts_on_calls']} prompts, {result['follow_up_tasks']} follow-up tasks)"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
