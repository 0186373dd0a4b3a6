"""`lastmile sandbox`: the sandbox CRM alone, serving until Ctrl-C."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import click

from lastmile.connector.sandbox import Sandbox
from lastmile.logs import configure_logging

OUTBOUND_OBJECTS = ("Task", "Opportunity", "Lead", "Case")


@click.command("sandbox")
@click.option("--port", default=8443, show_default=True, help="HTTPS port (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--data",
    "data_dir",
    default=Path(".lastmile/sandbox"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the SQLite file and the certificate.",
)
@click.option(
    "--outbound",
    "outbound_url",
    help="Send Outbound Messages for Task, Opportunity, Lead and Case to this URL "
    "(e.g. http://127.0.0.1:8000/webhooks/salesforce).",
)
@click.option("--daily-limit", default=15_000, show_default=True, help="API calls a day.")
@click.option("--demo/--no-demo", default=True, show_default=True, help="Seed demo records once.")
def sandbox(
    port: int, host: str, data_dir: Path, outbound_url: str | None, daily_limit: int, demo: bool
) -> None:
    """Run the sandbox CRM: a local HTTPS server speaking Salesforce's REST API.

    Prints the settings that connect Lastmile to it, one KEY=value a line (on stdout, so
    `lastmile sandbox > sandbox.env` makes a file `lastmile serve --config` reads; logs go to
    stderr).
    """
    configure_logging("warning", stream=sys.stderr)
    sb = Sandbox(data_dir, host=host, port=port, daily_limit=daily_limit)
    try:
        if outbound_url:
            for object_name in OUTBOUND_OBJECTS:
                sb.outbound(object_name, outbound_url)
        sb.start()
    except (OSError, ValueError) as exc:
        sb.stop()
        raise click.ClickException(f"the sandbox could not start: {exc}") from exc
    try:
        if demo:
            sb.seed_demo()
        for key, value in sb.settings().items():
            click.echo(f"{key}={value}")
        click.echo(f"# record pages: {sb.instance_url}/  (Ctrl-C stops)", err=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("# stopped", err=True)
    finally:
        sb.stop()
