"""`lastmile hubspot setup`: the properties Lastmile writes, created in the HubSpot account."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lastmile.cli.common import config_option, load_settings


@click.group()
def hubspot() -> None:
    """HubSpot: create the properties Lastmile writes (prompt, task key)."""


@hubspot.command()
@click.option(
    "--objects",
    help="Object types that get the prompt property, comma-separated (default: the object "
    "types the rules use).",
)
@config_option
def setup(objects: str | None, config_file: Path | None) -> None:
    """Create the prompt property on each object type and the unique task key on tasks."""
    from lastmile.connector.base import ConnectorError
    from lastmile.connector.hubspot import from_settings
    from lastmile.connector.hubspot.setup import ensure_properties
    from lastmile.logs import configure_logging
    from lastmile.rules import RuleFileError, load_rules
    from lastmile.runtime import rules_path

    configure_logging("warning", stream=sys.stderr)
    settings = load_settings(config_file)
    if not settings.uses_hubspot:
        raise click.ClickException(
            "no HubSpot account configured: set LASTMILE_HUBSPOT_ACCESS_TOKEN or "
            "LASTMILE_HUBSPOT_REFRESH_TOKEN (or give --config "
            "with the lines `lastmile sandbox --crm hubspot` prints)"
        )
    if objects:
        names = [n.strip() for n in objects.split(",") if n.strip()]
    else:
        try:
            names = [o for o in load_rules([rules_path(settings)]).objects if o != "tasks"]
        except RuleFileError as exc:
            raise click.ClickException(f"the rules do not load, name --objects:\n{exc}") from None
    try:
        outcomes = ensure_properties(from_settings(settings), names)
    except (ConnectorError, ValueError) as exc:
        raise click.ClickException(f"setup failed: {exc}") from None
    wrong = False
    for outcome in outcomes:
        click.echo(f"{outcome.object}.{outcome.property}: {outcome.status}")
        wrong = wrong or outcome.status == "wrong"
    if wrong:
        raise click.ClickException(
            "a property exists but is not a text property (the task key must be unique): "
            "rename it or set LASTMILE_PROMPT_FIELD / LASTMILE_TASK_KEY_FIELD"
        )
