"""`lastmile demo`: the whole loop on one machine, with no configuration.

The sandbox CRM, the receiver with its embedded worker, and the example rules: a record saved in
the sandbox goes out as an Outbound Message, the rules decide, and the write-back shows on the
record page. A scripted save at the start shows it happen in the terminal too. Before it
serves, the demo imports eight weeks of simulated history (lastmile/demo_history.py), so the
dashboard has figures from the first page view. With the example packs and a history, it runs a
copy of the packs in its data folder, their experiment moved into that history.
"""

from __future__ import annotations

import base64
import secrets
import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lastmile import __version__, demo_history
from lastmile.connector.sandbox import Sandbox
from lastmile.connector.sandbox.demo import SALES_USER_ID
from lastmile.runtime import Runtime, example_dir
from lastmile.serving import ServingThread
from lastmile.settings import Settings, env_lines

if TYPE_CHECKING:
    from lastmile.rules import RuleSet
    from lastmile.simulate import History

Echo = Callable[[str], None]

# The client call `show_one_save` completes: as the sales user creates it, the save that
# completes it (outcome Interested, no notes), and the fields a person may have filled in since.
SCRIPTED_CALL = {"Subject": "Call: mortgage renewal", "Type": "Call", "Status": "Not Started"}
COMPLETED = {"Status": "Completed", "Outcome__c": "Interested"}
NOTES = ("Description", "Outcome__c", "Next_Step__c")


# The demo org's people join the simulated history's two teams (12 and 6 advisers, so both
# show by name at the default minimum group size); the compliance officer is in none (`other`).
DEMO_PEOPLE = (
    ("Advisers North", SALES_USER_ID),
    ("Advisers North", "0057Q00000A1bXyQAJ"),
    ("Advisers South", "0057Q00000A0zZzQAJ"),
)


def settings_for(sandbox: Sandbox, rules: Path | None, data_dir: Path, **more: Any) -> Settings:
    """Settings that connect Lastmile to a sandbox CRM (what `lastmile sandbox` prints)."""
    values = {
        key.removeprefix("LASTMILE_").lower(): value for key, value in sandbox.settings().items()
    }
    return Settings(
        **values,
        rules=rules.resolve() if rules else None,
        database_url=f"sqlite:///{(data_dir / 'lastmile.db').resolve()}",
        **more,
    )


def field_labels(ruleset: RuleSet) -> dict[str, dict[str, str]]:
    """Per object, the labels the rule packs with rules on it give its fields, each in its
    pack's locale (the words the prompts use); where two packs label a field, the first wins."""
    labels: dict[str, dict[str, str]] = {}
    for pack in ruleset.packs:
        for obj in dict.fromkeys(rule.object for rule in pack.rules):
            for field in pack.labels:
                labels.setdefault(obj, {}).setdefault(field, pack.label(field))
    return labels


def write_env_file(settings: Settings, path: Path) -> Path:
    """The demo's settings as a file every command reads with `--config` (owner-only: it holds
    the admin token and the CRM session)."""
    text = "# lastmile demo: `lastmile report --config THIS_FILE` and the like\n"
    path.write_text(text + "\n".join(env_lines(settings)) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


class Demo:
    """Sandbox CRM + receiver + worker, started together and stopped together.

    With `history`, the simulated history is imported before the worker starts (what `lastmile
    demo` does unless `--no-history`; off by default here, so a test starts from a bare store).
    Without `rules` it runs the example packs, then as a copy in `<data>/rules` whose experiment
    ended on this week's Monday after four weeks of the history (`demo_history.demo_rules`).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 8000,
        sandbox_port: int = 8443,
        rules: Path | None = None,
        history: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.port, self.sandbox_port, self.rules_dir = port, sandbox_port, rules
        self.history = history
        # The rules the demo runs: `rules`, else the example packs (None: as shipped).
        self.rules_in_use = data_dir / "rules" if rules is None and history else rules
        self.simulated: History | None = None  # the history `start` imported, if any
        self.seeded: demo_history.Seeded | None = None  # and how that went
        self.admin_token = secrets.token_urlsafe(18)
        # The signed JSON endpoint works in the demo too (a Flow or Apex callout would use it).
        self.webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        self._stack = ExitStack()
        self.sandbox: Sandbox | None = None
        self.runtime: Runtime | None = None
        self.receiver_url = ""
        self.env_file = data_dir / "lastmile.env"
        self._labels_from: RuleSet | None = None
        self._labelled: set[str] = set()

    def start(self) -> Demo:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            sandbox = Sandbox(self.data_dir / "sandbox", port=self.sandbox_port).start()
            self._stack.callback(sandbox.stop)
            sandbox.seed_demo()
            now = datetime.now(UTC)
            history = demo_history.draw(None, now)  # its advisers are the same from any start
            teams = self.data_dir / "teams.yaml"
            teams.write_text(demo_history.teams(history, DEMO_PEOPLE), encoding="utf-8")
            settings = settings_for(
                sandbox,
                self.rules_in_use,
                self.data_dir,
                admin_token=self.admin_token,
                webhook_secret=self.webhook_secret,
                teams=teams.resolve(),
            )
            write_env_file(settings, self.env_file)
            runtime = Runtime.build(settings)  # loads the rules when it starts
            self._stack.callback(runtime.stop)  # a no-op until it has started
            if self.history:
                # A rerun continues the history the store holds: the same start, the same events.
                start = demo_history.started(runtime.store) or demo_history.history_start(now)
                if self.rules_dir is None and self.rules_in_use is not None:
                    demo_history.demo_rules(example_dir() / "rules", self.rules_in_use, start)
                rules = self._history_rules()
                if rules is not None:  # before the worker and the deadlines run
                    history = demo_history.draw(rules, now, start=start)
                    self.seeded = demo_history.seed(
                        runtime.store, settings, rules, history, now=now
                    )
                    self.simulated = history
            runtime.start()
            server = ServingThread(runtime.app(), port=self.port)
            self._stack.callback(server.stop)
            self.receiver_url = server.url
            for obj in runtime.rules().objects:
                sandbox.outbound(obj, f"{self.receiver_url}/webhooks/salesforce")
        except BaseException:
            self._stack.close()
            raise
        self.sandbox, self.runtime = sandbox, runtime
        self.sync_labels()
        return self

    def stop(self) -> None:
        self._stack.close()

    def _history_rules(self) -> RuleSet | None:
        """The rules the history is imported with: the demo's, when it has a history and they
        load (if not, the runtime reports their problems as it always does)."""
        if not self.history:
            return None
        from lastmile.rules import RuleFileError, load_rules

        try:
            return load_rules([self.rules_in_use or example_dir() / "rules"])
        except RuleFileError:
            return None

    def __enter__(self) -> Demo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sync_labels(self) -> None:
        """Show the live rules' field labels on the sandbox's record pages (the words the
        prompts use); after a reload of the rules, the new ones."""
        assert self.sandbox is not None and self.runtime is not None
        ruleset = self.runtime.rules()
        if ruleset is self._labels_from:
            return
        labels = field_labels(ruleset)
        for obj in self._labelled - labels.keys():
            self.sandbox.use_labels({}, object=obj)
        for obj, given in labels.items():
            self.sandbox.use_labels(given, object=obj)
        self._labels_from, self._labelled = ruleset, set(labels)

    def show_one_save(self, echo: Echo, timeout: float = 10.0) -> float | None:
        """Complete a client call as the sales user and wait for Lastmile's write-back.

        Returns the seconds from save to write-back, or None if none came within `timeout`.
        """
        assert self.sandbox is not None and self.runtime is not None
        sandbox, prompt_field = self.sandbox, self.runtime.settings.prompt_field
        call_id = self._open_scripted_call(timeout)
        started = time.monotonic()
        sandbox.save_as(sandbox.sales_user_id, "Task", COMPLETED, record_id=call_id)
        echo("Saved a completed client call (outcome Interested, no notes) as the sales user:")
        echo(f"  {sandbox.instance_url}/records/Task/{call_id}")
        while time.monotonic() - started < timeout:
            record = sandbox.org.get("Task", call_id)
            # Lastmile's write, not a prompt an earlier run left: the integration user saved last.
            if (
                record.get(prompt_field)
                and record["LastModifiedById"] == sandbox.integration_user_id
            ):
                elapsed = time.monotonic() - started
                echo(f"Within {elapsed:.2f} s Lastmile wrote back:")
                echo(f"  {prompt_field}: {record[prompt_field]}")
                for task in sandbox.follow_ups(call_id):
                    echo(f"  follow-up task: {task['Subject']} (due {task['ActivityDate']})")
                return elapsed
            time.sleep(0.05)
        echo(f"No write-back within {timeout:.0f} s: see `lastmile events list`.")
        return None

    def _open_scripted_call(self, timeout: float) -> str:
        """The scripted call, open and without notes: the one an earlier run on this data left
        (reopened, its follow-up tasks and any extra copies deleted), else a new one. So a rerun
        shows the same save again instead of piling up calls and follow-up tasks."""
        assert self.sandbox is not None and self.runtime is not None
        sandbox, prompt_field = self.sandbox, self.runtime.settings.prompt_field
        about = sandbox.seed_demo().get("opportunity")
        earlier = [
            record
            for record in sandbox.store.referring("Task", ("WhatId",), about or "")
            if record.get("Subject") == SCRIPTED_CALL["Subject"]
        ]
        for record in earlier:
            for task in sandbox.follow_ups(record["Id"]):
                sandbox.org.delete("Task", task["Id"])
        for extra in earlier[1:]:
            sandbox.org.delete("Task", extra["Id"])
        if not earlier:
            return sandbox.save_as(
                sandbox.sales_user_id, "Task", {**SCRIPTED_CALL, "WhatId": about}
            )
        call = earlier[0]
        reopen = {**SCRIPTED_CALL, **dict.fromkeys(NOTES)}
        sandbox.save_as(sandbox.sales_user_id, "Task", reopen, record_id=call["Id"])
        if call.get(prompt_field):
            # Lastmile clears the prompt of the reopened call; completing it before then would
            # find the old prompt still there, and Lastmile with nothing new to write.
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not sandbox.org.get("Task", call["Id"]).get(prompt_field):
                    break
                time.sleep(0.05)
        return call["Id"]


@click.command()
@click.option("--port", default=8000, show_default=True, help="Receiver port (0: any free).")
@click.option("--sandbox-port", default=8443, show_default=True, help="Sandbox CRM port.")
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Rules directory (default: the example packs shipped with Lastmile).",
)
@click.option(
    "--data",
    "data_dir",
    default=".lastmile/demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo keeps its files.",
)
@click.option(
    "--exit-after",
    type=float,
    default=None,
    help="Stop after this many seconds (for scripts); default: run until Ctrl-C.",
)
@click.option(
    "--no-history",
    is_flag=True,
    help="Start with an empty store: no eight weeks of simulated history.",
)
@click.option(
    "--crm",
    type=click.Choice(["salesforce", "hubspot"]),
    default="salesforce",
    show_default=True,
    help="The sandbox CRM: Salesforce's, or HubSpot's with the example HubSpot pack.",
)
def demo(
    port: int,
    sandbox_port: int,
    rules_dir: Path | None,
    data_dir: Path,
    exit_after: float | None,
    no_history: bool,
    crm: str,
) -> None:
    """Everything on one machine: sandbox CRM, receiver, worker and the example rules."""
    from lastmile.logs import configure_logging

    configure_logging("warning")
    if crm == "hubspot":
        from lastmile.cli.demo_hubspot import run as run_hubspot

        return run_hubspot(port, sandbox_port, rules_dir, data_dir, exit_after)
    history = not no_history
    with Demo(
        data_dir, port=port, sandbox_port=sandbox_port, rules=rules_dir, history=history
    ) as run:
        assert run.sandbox is not None and run.runtime is not None
        status = run.runtime.rules.status()
        click.echo(click.style(f"Lastmile {__version__} demo", bold=True))
        click.echo(f"  rules       {status.rules} rules, version {status.version}")
        if run.seeded is not None:
            click.echo(f"  history     {run.seeded.line()}")
        click.echo(
            f"  sandbox CRM {run.sandbox.instance_url}/   (record pages; trust "
            f"{run.sandbox.ca_bundle} or accept the warning)"
        )
        click.echo(f"  receiver    {run.receiver_url}/readyz   {run.receiver_url}/metrics")
        click.echo(f"  dashboard   {run.receiver_url}/dashboard   (sign in with the admin token)")
        experiments = [i.rule.experiment for i in run.runtime.rules().rules if i.rule.experiment]
        if experiments:
            click.echo(
                f"  experiments {run.receiver_url}/dashboard/experiments   "
                f"({', '.join(e.id for e in experiments)}: each arm against control)"
            )
        click.echo(f"  admin token {run.admin_token}   (also for {run.receiver_url}/api/events)")
        click.echo("")
        run.show_one_save(click.echo)
        stop = threading.Event()
        # Ctrl-C, or SIGTERM from a process manager: both stop everything cleanly. Set before
        # the last line says so, and explicitly: a shell starts background jobs with SIGINT
        # ignored.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        click.echo(
            "\nEdit a record in the sandbox pages: its page shows the prompt, defaults and "
            "follow-up task within a second. Ctrl-C stops everything."
        )
        click.echo(
            f"The demo's settings are in {run.env_file}; the figures, now or after the demo:\n"
            f"  lastmile report --config {run.env_file}\n"
            f"  lastmile experiments --config {run.env_file}\n"
            f"  lastmile events list --config {run.env_file}"
        )
        # Wake up regularly: a signal may land on another thread, and Python runs its handler
        # only when the main thread runs.
        deadline = None if exit_after is None else time.monotonic() + exit_after
        while not stop.wait(0.2):
            run.sync_labels()
            if deadline is not None and time.monotonic() >= deadline:
                break
        click.echo("stopping")
