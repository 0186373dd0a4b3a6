"""`lastmile sandbox`: the sandbox CRM alone, serving until Ctrl-C."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

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
@click.option(
    "--webhook",
    "webhook_url",
    help="With --crm hubspot: send signed webhooks for deals, contacts, companies and tickets "
    "to this URL (e.g. http://127.0.0.1:8000/webhooks/hubspot).",
)
@click.option(
    "--crm",
    type=click.Choice(["salesforce", "hubspot"]),
    default="salesforce",
    show_default=True,
    help="The CRM the sandbox speaks.",
)
@click.option("--daily-limit", type=int, help="API calls a day (15000; HubSpot: 250000).")
@click.option("--demo/--no-demo", default=True, show_default=True, help="Seed demo records once.")
@click.option(
    "--oauth",
    is_flag=True,
    help="With --crm hubspot: print a public app's OAuth settings (client id, client secret, "
    "refresh token) instead of a private app's access token.",
)
@click.option(
    "--token-lifetime",
    type=click.FloatRange(min=1),
    default=1800,
    show_default=True,
    help="With --crm hubspot: seconds an OAuth access token lasts (HubSpot's: 1800).",
)
def sandbox(
    port: int,
    host: str,
    data_dir: Path,
    outbound_url: str | None,
    webhook_url: str | None,
    crm: str,
    daily_limit: int | None,
    demo: bool,
    oauth: bool,
    token_lifetime: float,
) -> None:
    """Run a sandbox CRM: a local HTTPS server speaking Salesforce's or HubSpot's API.

    Prints the settings that connect Lastmile to it, one KEY=value a line (on stdout, so
    `lastmile sandbox > sandbox.env` makes a file `lastmile serve --config` reads; logs go to
    stderr). The HubSpot sandbox keeps its records in memory.
    """
    configure_logging("warning", stream=sys.stderr)
    if crm == "hubspot":
        if outbound_url:
            raise click.UsageError("--outbound is Salesforce's; HubSpot sends --webhook")
        hs = _hubspot(port, host, data_dir, webhook_url, daily_limit or 250_000, token_lifetime)
        _serve(
            hs,
            demo,
            lambda: f"# HubSpot API and record pages: {hs.base_url}/  (Ctrl-C stops)",
            settings=partial(hs.settings, oauth),
        )
        return
    if oauth:
        raise click.UsageError("--oauth is HubSpot's (--crm hubspot)")
    if webhook_url:
        raise click.UsageError("--webhook is HubSpot's (--crm hubspot); Salesforce: --outbound")
    sb = Sandbox(data_dir, host=host, port=port, daily_limit=daily_limit or 15_000)
    _serve(
        sb,
        demo,
        lambda: f"# record pages: {sb.instance_url}/  (Ctrl-C stops)",
        partial(_send_outbound, sb, outbound_url) if outbound_url else None,
    )


def _send_outbound(sb: Sandbox, url: str) -> None:
    for object_name in OUTBOUND_OBJECTS:
        sb.outbound(object_name, url)


def _hubspot(
    port: int,
    host: str,
    data_dir: Path,
    webhook_url: str | None,
    daily_limit: int,
    token_lifetime: float,
) -> Any:
    from lastmile.connector.hubspot_sandbox import HubSpotSandbox

    return HubSpotSandbox(
        data_dir,
        host=host,
        port=port,
        webhook_url=webhook_url,
        daily_limit=daily_limit,
        token_lifetime_s=token_lifetime,
    )


def _serve(
    box: Any,
    demo: bool,
    banner: Callable[[], str],
    prepare: Callable[[], None] | None = None,
    settings: Callable[[], dict[str, str]] | None = None,
) -> None:
    """Start a sandbox (after `prepare`), seed it, print its settings (`settings()`, default
    the box's) and `banner()`, and serve until Ctrl-C."""
    try:
        if prepare is not None:
            prepare()
        box.start()
    except (OSError, ValueError) as exc:
        box.stop()
        raise click.ClickException(f"the sandbox could not start: {exc}") from exc
    try:
        if demo:
            box.seed_demo()
        for key, value in (settings or box.settings)().items():
            click.echo(f"{key}={value}")
        click.echo(banner(), err=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("# stopped", err=True)
    finally:
        box.stop()
