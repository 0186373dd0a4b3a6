"""`lastmile demo`: the whole loop on one machine, with no configuration.

The sandbox CRM, the receiver with its embedded worker, and the example rules: a record saved in
the sandbox goes out as an Outbound Message, the rules decide, and the write-back shows on the
record page. A scripted save at the start shows it happen in the terminal too.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from connector.sandbox import Sandbox
from lastmile.runtime import Runtime
from lastmile.serve import ServingThread
from lastmile.settings import Settings

Echo = Callable[[str], None]


def settings_for(sandbox: Sandbox, rules: Path | None, data_dir: Path, **more: Any) -> Settings:
    """Settings that connect Lastmile to a sandbox CRM (what `lastmile sandbox` prints)."""
    values = {
        key.removeprefix("LASTMILE_").lower(): value for key, value in sandbox.settings().items()
    }
    return Settings(
        **values,
        rules=rules,
        database_url=f"sqlite:///{data_dir / 'lastmile.db'}",
        **more,
    )


class Demo:
    """Sandbox CRM + receiver + worker, started together and stopped together."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 8000,
        sandbox_port: int = 8443,
        rules: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port, self.sandbox_port, self.rules_dir = port, sandbox_port, rules
        self.admin_token = secrets.token_urlsafe(18)
        # The signed JSON endpoint works in the demo too (a Flow or Apex callout would use it).
        self.webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        self._stack = ExitStack()
        self.sandbox: Sandbox | None = None
        self.runtime: Runtime | None = None
        self.receiver_url = ""

    def start(self) -> Demo:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            sandbox = Sandbox(self.data_dir / "sandbox", port=self.sandbox_port).start()
            self._stack.callback(sandbox.stop)
            sandbox.seed_demo()
            settings = settings_for(
                sandbox,
                self.rules_dir,
                self.data_dir,
                admin_token=self.admin_token,
                webhook_secret=self.webhook_secret,
            )
            runtime = Runtime.build(settings).start()
            self._stack.callback(runtime.stop)
            server = ServingThread(runtime.app(), port=self.port)
            self._stack.callback(server.stop)
            self.receiver_url = server.url
            for obj in runtime.rules().objects:
                sandbox.outbound(obj, f"{self.receiver_url}/webhooks/salesforce")
        except BaseException:
            self._stack.close()
            raise
        self.sandbox, self.runtime = sandbox, runtime
        return self

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> Demo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def show_one_save(self, echo: Echo, timeout: float = 10.0) -> float | None:
        """Complete a client call as the sales user and wait for Lastmile's write-back.

        Returns the seconds from save to write-back, or None if none came within `timeout`.
        """
        assert self.sandbox is not None and self.runtime is not None
        sandbox, prompt_field = self.sandbox, self.runtime.settings.prompt_field
        about = sandbox.seed_demo().get("opportunity")
        call_id = sandbox.save_as(
            sandbox.sales_user_id,
            "Task",
            {
                "Subject": "Call: mortgage renewal",
                "Type": "Call",
                "Status": "Not Started",
                "WhatId": about,
            },
        )
        started = time.monotonic()
        sandbox.save_as(
            sandbox.sales_user_id,
            "Task",
            {"Status": "Completed", "Outcome__c": "Interested"},
            record_id=call_id,
        )
        echo("Saved a completed client call (outcome Interested, no notes) as the sales user:")
        echo(f"  {sandbox.instance_url}/records/Task/{call_id}")
        while time.monotonic() - started < timeout:
            record = sandbox.org.get("Task", call_id)
            if record.get(prompt_field):
                elapsed = time.monotonic() - started
                echo(f"Within {elapsed:.2f} s Lastmile wrote back:")
                echo(f"  {prompt_field}: {record[prompt_field]}")
                for task in sandbox.store.records("Task"):
                    if f":{call_id}:" in (task.get("Lastmile_Key__c") or ""):
                        echo(f"  follow-up task: {task['Subject']} (due {task['ActivityDate']})")
                return elapsed
            time.sleep(0.05)
        echo(f"No write-back within {timeout:.0f} s: see `lastmile events list`.")
        return None
