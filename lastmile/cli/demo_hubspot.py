"""`lastmile demo --crm hubspot`: the whole loop on HubSpot, on one machine.

The HubSpot sandbox, the receiver with its embedded worker, and the example HubSpot pack: a deal
saved in the sandbox goes out as a signed webhook, the rules decide, and the prompt and the
follow-up task land on the deal. A scripted deal moving to Closed won shows it in the terminal.
"""

from __future__ import annotations

import secrets
import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import click

from lastmile.connector.hubspot import from_settings
from lastmile.connector.hubspot.setup import ensure_properties
from lastmile.connector.hubspot_sandbox import HubSpotSandbox
from lastmile.connector.hubspot_sandbox.sandbox import SALES_OWNER_ID
from lastmile.rules import load_rules
from lastmile.runtime import Runtime, example_dir
from lastmile.serving import ServingThread
from lastmile.settings import Settings, env_lines

Echo = Callable[[str], None]
SCRIPTED_DEAL = {"dealname": "Initech expansion", "dealstage": "contractsent"}


class HubSpotDemo:
    """HubSpot sandbox + receiver + worker, started together and stopped together. The
    sandbox keeps its records in memory: each run starts with a fresh account."""

    def __init__(
        self, data_dir: Path, *, port: int = 8000, sandbox_port: int = 8443, rules: Path | None
    ) -> None:
        self.data_dir, self.port, self.sandbox_port = data_dir, port, sandbox_port
        self.rules_dir = rules or example_dir() / "hubspot"
        self.admin_token = secrets.token_urlsafe(18)
        self._stack = ExitStack()
        self.sandbox: HubSpotSandbox | None = None
        self.runtime: Runtime | None = None
        self.receiver_url = ""
        self.env_file = data_dir / "lastmile-hubspot.env"

    def start(self) -> HubSpotDemo:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            sandbox = HubSpotSandbox(self.data_dir / "hubspot", port=self.sandbox_port).start()
            self._stack.callback(sandbox.stop)
            values = {k.removeprefix("LASTMILE_").lower(): v for k, v in sandbox.settings().items()}
            # The sandbox starts with an empty account each run, so Lastmile's store does too.
            database = self.data_dir / "lastmile-hubspot.db"
            for stale in self.data_dir.glob("lastmile-hubspot.db*"):
                stale.unlink()
            settings = Settings(
                **values,
                rules=self.rules_dir.resolve(),
                database_url=f"sqlite:///{database.resolve()}",
                admin_token=self.admin_token,
            )
            # As `lastmile demo` writes its own: owner-only, it holds the token and the secret.
            self.env_file.write_text("\n".join(env_lines(settings)) + "\n", encoding="utf-8")
            self.env_file.chmod(0o600)
            objects = load_rules([self.rules_dir]).objects
            ensure_properties(from_settings(settings), [o for o in objects if o != "tasks"])
            runtime = Runtime.build(settings).start()
            self._stack.callback(runtime.stop)
            server = ServingThread(runtime.app(), port=self.port)
            self._stack.callback(server.stop)
            self.receiver_url = server.url
            sandbox.webhooks.url = f"{self.receiver_url}/webhooks/hubspot"
            sandbox.webhooks.start()
            sandbox.seed_demo()
        except BaseException:
            self._stack.close()
            raise
        self.sandbox, self.runtime = sandbox, runtime
        return self

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> HubSpotDemo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def show_one_save(self, echo: Echo, timeout: float = 10.0) -> float | None:
        """Move a new deal to Closed won as the sales person and wait for Lastmile's prompt.

        Returns the seconds from save to write-back, or None if none came within `timeout`."""
        assert self.sandbox is not None and self.runtime is not None
        sandbox, prompt = self.sandbox, self.runtime.settings.prompt_field
        deal = sandbox.save_as_user("deals", {**SCRIPTED_DEAL, "hubspot_owner_id": SALES_OWNER_ID})
        started = time.monotonic()
        sandbox.save_as_user("deals", {"dealstage": "closedwon"}, record_id=deal.id)
        echo(f"Moved deal {deal.id} ({SCRIPTED_DEAL['dealname']}) to Closed won as the sales user:")
        echo(f"  {sandbox.base_url}/records/deals/{deal.id}")
        while time.monotonic() - started < timeout:
            shown = sandbox.portal.get("deals", deal.id).properties.get(prompt)
            tasks = sandbox.tasks_of("deals", deal.id)
            if shown and tasks:
                elapsed = time.monotonic() - started
                echo(f"Within {elapsed:.2f} s Lastmile wrote back:")
                echo(f"  {prompt}: {shown}")
                for task in tasks:
                    echo(f"  follow-up task: {task.properties.get('hs_task_subject')}")
                return elapsed
            time.sleep(0.05)
        echo(f"No write-back within {timeout:.0f} s: see `lastmile events list`.")
        return None


def run(
    port: int, sandbox_port: int, rules: Path | None, data_dir: Path, exit_after: float | None
) -> None:
    """What `lastmile demo --crm hubspot` prints and does, until Ctrl-C or `exit_after`."""
    with HubSpotDemo(data_dir, port=port, sandbox_port=sandbox_port, rules=rules) as demo:
        assert demo.sandbox is not None and demo.runtime is not None
        status = demo.runtime.rules.status()
        click.echo(click.style("Lastmile demo on HubSpot", bold=True))
        click.echo(f"  rules       {status.rules} rules, version {status.version}")
        click.echo(f"  HubSpot API {demo.sandbox.base_url}   (trust {demo.sandbox.ca_bundle})")
        click.echo(
            f"  receiver    {demo.receiver_url}/readyz   {demo.receiver_url}/webhooks/hubspot"
        )
        click.echo(f"  dashboard   {demo.receiver_url}/dashboard   (sign in with the admin token)")
        click.echo(f"  admin token {demo.admin_token}")
        click.echo("")
        demo.show_one_save(click.echo)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        click.echo(
            f"\nThe demo's settings (the sandbox's token for hubspot-api-client or curl too) are "
            f"in {demo.env_file}; the figures:\n  lastmile report --config {demo.env_file}\n"
            "Ctrl-C stops everything."
        )
        stop.wait(exit_after)
        click.echo("stopping")
