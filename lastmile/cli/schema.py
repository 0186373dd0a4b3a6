"""`lastmile schema pull`: the CRM's schema, written to a file `rules check --schema` reads."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from lastmile.cli.common import config_option, load_settings


@click.group()
def schema() -> None:
    """The CRM's schema (objects, fields, picklist values), to check rules against."""


@schema.command()
@click.option(
    "-o",
    "--output",
    default="schema.json",
    show_default=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The schema file to write.",
)
@click.option(
    "--objects",
    help="Objects to describe, comma-separated (default: the objects the rules use).",
)
@config_option
def pull(output: Path, objects: str | None, config_file: Path | None) -> None:
    """Read describe from the configured CRM and write the schema file."""
    from lastmile.connector.base import ConnectorError
    from lastmile.logs import configure_logging
    from lastmile.rules import RuleFileError, load_rules
    from lastmile.rules.crm_schema import CrmSchema
    from lastmile.runtime import connector_from_settings, rules_path

    configure_logging("warning", stream=sys.stderr)  # stdout says what was written
    settings = load_settings(config_file)
    connector = connector_from_settings(settings)
    describe = getattr(connector, "describe", None)
    if describe is None:
        raise click.ClickException(
            "no CRM configured: set LASTMILE_SALESFORCE_INSTANCE_URL and a session or login "
            "(or give --config with the lines `lastmile sandbox` prints)"
        )
    if objects:
        names = [n.strip() for n in objects.split(",") if n.strip()]
    else:
        try:
            names = list(load_rules([rules_path(settings)]).objects)
        except RuleFileError as exc:
            raise click.ClickException(f"the rules do not load, name --objects:\n{exc}") from None
    answers = []
    for name in names:
        try:
            answers.append(describe(name))
        except ConnectorError as exc:
            raise click.ClickException(f"describe {name}: {exc}") from None
    pulled = CrmSchema.from_describe(answers)
    output.write_text(json.dumps(pulled.to_json(), indent=1, ensure_ascii=False) + "\n", "utf-8")
    fields = sum(len(o.fields) for o in pulled.objects.values())
    click.echo(
        f"wrote {output}: {len(pulled.objects)} objects ({', '.join(names)}), {fields} fields"
    )
