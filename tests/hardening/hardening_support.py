"""The whole loop for fault tests: the sandbox CRM over HTTPS with its fault switch, a Runtime
(embedded worker) on a SQLite file, and its receiver over HTTP that the sandbox's Outbound
Messages reach. The Runtime can be stopped and a new one started on the same file and port.

Timings are shortened so a fault heals within seconds: the connector's limit pause, the
worker's backoff, the CRM breaker's waits between probes, and the lease. Everything else is as
`lastmile serve` runs it."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from lastmile.cli.demo import settings_for
from lastmile.connector.salesforce import from_settings
from lastmile.connector.sandbox import Sandbox
from lastmile.runtime import Runtime
from lastmile.serving import ServingThread
from lastmile.settings import Settings

PROMPT = "Lastmile_Prompt__c"
KEY = "Lastmile_Key__c"
TOKEN = "hardening-admin-token-5f1c"


def with_settings(settings: Settings, **changes: Any) -> Settings:
    """A copy of `settings` with `changes`, validated (secrets become SecretStr)."""
    return Settings(**{**settings.model_dump(), **changes})


class Loop:
    """Sandbox + receiver + worker; `restart()` replaces the Runtime, keeping store and port."""

    def __init__(
        self, data_dir: Path, *, max_attempts: int = 8, sandbox_port: int = 0, **settings: Any
    ) -> None:
        self.data_dir = data_dir
        # A fixed port lets a stopped sandbox start again on it (cheroot reuses the address of
        # a port it was given, not of one the system picked).
        self.sandbox = Sandbox(
            data_dir / "sandbox",
            port=sandbox_port,
            outbound_retry_s=0.2,
            outbound_retry_cap_s=1,
        )
        self.sandbox.start()
        self.sandbox.seed_demo()
        base = settings_for(
            self.sandbox,
            None,
            data_dir,
            admin_token=TOKEN,
            max_attempts=max_attempts,
            worker_threads=4,
            # One sales user completes every call: no prompt budget, so each call shows its
            # prompt and the exactly-once checks can ask for it.
            max_prompts_per_person=1_000_000,
        )
        self.settings = with_settings(base, **settings)
        self.runtime: Runtime | None = None
        self.server: ServingThread | None = None
        self.port = 0
        self.start()
        for obj in self.runtime.rules().objects:  # type: ignore[union-attr]
            self.sandbox.outbound(obj, f"{self.url}/webhooks/salesforce")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # a short limit pause and quick backoff: the faults heal within a test's seconds
        connector = from_settings(self.settings, pause=timedelta(seconds=1), base_delay=0.05)
        runtime = Runtime.build(self.settings, connector=connector)
        runtime.worker.backoff_base, runtime.worker.backoff_cap = 0.2, 1.0
        runtime.worker.breaker.wait_base, runtime.worker.breaker.wait_cap = 0.2, 1.0
        runtime.worker.lease = timedelta(seconds=5)
        runtime.start()
        self.runtime = runtime
        self.server = ServingThread(runtime.app(), port=self.port)
        self.port = self.server.port

    def stop_runtime(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime.store.engine.dispose()
            self.runtime = None

    def restart(self) -> None:
        self.stop_runtime()
        self.start()

    def close(self) -> None:
        self.stop_runtime()
        self.sandbox.stop()

    # -- what a test does and looks at --------------------------------------------------------

    @property
    def store(self):
        assert self.runtime is not None
        return self.runtime.store

    def new_call(self, subject: str) -> str:
        """A client call, not yet completed, about the demo opportunity (as the sales user)."""
        sb = self.sandbox
        return sb.save_as(
            sb.sales_user_id,
            "Task",
            {"Subject": subject, "Type": "Call", "Status": "Not Started", "WhatId": self.about},
        )

    @property
    def about(self) -> str:
        return self.sandbox.seed_demo()["opportunity"]

    def complete(self, call_id: str) -> None:
        """The sales user completes the call with an outcome but no notes: the example rules
        answer with a prompt on the call and one follow-up task."""
        self.sandbox.save_as(
            self.sandbox.sales_user_id,
            "Task",
            {"Status": "Completed", "Outcome__c": "Interested"},
            record_id=call_id,
        )

    def settled(self) -> bool:
        """Every Outbound Message acknowledged and every stored event done or dead."""
        counts = self.store.counts()
        return (
            self.sandbox.outbound_pending() == 0
            and not counts.get("pending")
            and not counts.get("running")
        )

    def dead(self) -> list[int]:
        return [row.id for row in self.store.list_events(status="dead", limit=10_000)]

    def replay_over_http(self, inbox_id: int) -> None:
        answer = requests.post(
            f"{self.url}/api/events/{inbox_id}/replay",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        self.runtime.dispatch([inbox_id])  # type: ignore[union-attr]

    def connector_calls(self) -> int:
        """REST calls the running connector attempted (retries included)."""
        assert self.runtime is not None
        usage = self.runtime.connector.usage()
        return usage.calls if usage is not None else 0

    def follow_ups(self) -> Counter[str]:
        """Lastmile's follow-up tasks per key (a key names the rule, record and occasion)."""
        return Counter(task[KEY] for task in self.sandbox.store.records("Task") if task.get(KEY))

    def lastmile_updates(self, record_id: str) -> int:
        """How many times Lastmile updated the record: each update comes back as an Outbound
        Message by the integration user, stored in the inbox as an event of that record."""
        integration = self.settings.integration_user_id
        return sum(
            1
            for row in self.store.list_events(limit=100_000)
            if row.record_id == record_id and row.event.actor == integration
        )

    def assert_applied_exactly_once(self, calls: list[str]) -> None:
        """Per completed call: the prompt is on it, one follow-up task exists, and Lastmile
        updated the call once (the prompt write); no follow-up key was created twice."""
        tasks = self.follow_ups()
        assert all(n == 1 for n in tasks.values()), tasks.most_common(3)
        for call in calls:
            record = self.sandbox.org.get("Task", call)
            assert record.get(PROMPT), f"no prompt on {call}"
            assert sum(1 for key in tasks if f":{call}:" in key) == 1, f"follow-ups of {call}"
            assert self.lastmile_updates(call) == 1, f"updates of {call}"
        counts = self.store.counts()
        assert counts["dead"] == 0 and counts["pending"] == 0, counts
