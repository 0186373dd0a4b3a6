"""The `lastmile` command line: one module per command group, each imported only when its
command runs, so `lastmile --help` and `lastmile rules check` do not pay for Flask, SQLAlchemy or
the sandbox CRM."""

from __future__ import annotations

import importlib

import click

from lastmile import __version__

# name -> (module, attribute, the one line `lastmile --help` shows). The line is kept here so
# that listing the commands imports none of them; a test checks it matches the command's help.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": (
        "lastmile.cli.demo",
        "demo",
        "Everything on one machine: sandbox CRM, receiver, worker and the example rules.",
    ),
    "rules": ("lastmile.cli.rules", "rules", "Write, test and understand rule files."),
    "schema": (
        "lastmile.cli.schema",
        "schema",
        "The CRM's schema (objects, fields, picklist values), to check rules against.",
    ),
    "serve": (
        "lastmile.cli.serve",
        "serve",
        "Run the webhook receiver with its embedded worker.",
    ),
    "report": (
        "lastmile.cli.report",
        "report",
        "Adoption indicators: per rule, team, week and default, and the friction report.",
    ),
    "digest": (
        "lastmile.cli.report",
        "digest_cmd",
        "Three stand-up questions for a team, from yesterday's figures.",
    ),
    "deadlines": (
        "lastmile.cli.report",
        "deadlines",
        "Act once on passed deadlines; show held-back prompts where there is room.",
    ),
    "ledger": ("lastmile.cli.report", "ledger", "The adoption ledger: retention."),
    "experiments": (
        "lastmile.cli.experiments",
        "experiments",
        "Experiments: per arm compliance with a 95 % interval, and each arm against control.",
    ),
    "backtest": (
        "lastmile.cli.backtest",
        "backtest",
        "Replay stored events through draft rules: what they would have done, with no CRM call.",
    ),
    "backfill": (
        "lastmile.cli.backfill",
        "backfill",
        "History from the CRM for a fresh install: past changes as observe-only events.",
    ),
    "events": (
        "lastmile.cli.events",
        "events",
        "The inbox: what happened to each event; replay what failed.",
    ),
    "db": ("lastmile.cli.events", "db", "The database behind the inbox and the ledger."),
    "sandbox": (
        "lastmile.cli.sandbox",
        "sandbox",
        "Run a sandbox CRM: a local HTTPS server speaking Salesforce's or HubSpot's API.",
    ),
    "hubspot": (
        "lastmile.cli.hubspot",
        "hubspot",
        "HubSpot: create the properties Lastmile writes (prompt, task key).",
    ),
    "worker": (
        "lastmile.cli.worker",
        "worker",
        "Run a Celery worker: takes events off the broker and processes them (scale-out).",
    ),
    "beat": (
        "lastmile.cli.worker",
        "beat",
        "Run the schedule (exactly one): the inbox sweeper and the deadlines, as Celery tasks.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use; `--help` lists them from COMMANDS."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="lastmile")
def main() -> None:
    """Lastmile: CRM rules that land a rollout in daily behaviour, and measure it."""
