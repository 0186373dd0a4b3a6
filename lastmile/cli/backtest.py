"""`lastmile backtest`: what draft rules would have done over the stored events of a window."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from lastmile.cli import screen
from lastmile.cli.common import config_option, load_settings, open_store, time_value
from lastmile.cli.figures import print_report
from lastmile.cli.rules import explain_text


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--from", "since", callback=time_value, help="Occasions opened from this time on.")
@click.option("--to", "until", callback=time_value, help="Up to this time (default now).")
@click.option("--json", "as_json", is_flag=True, help="The keys of `report --json`, and more.")
@click.option("--explain", "explain", type=click.IntRange(0, 100), default=0,
              help="Show the condition trace of this many sample events.")  # fmt: skip
@config_option
def backtest(
    paths: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    as_json: bool,
    explain: int,
    config_file: Path | None,
) -> None:
    """Replay stored events through draft rules: what they would have done, with no CRM call."""
    from lastmile import backtest as bt
    from lastmile.measure import friction
    from lastmile.rules import RuleFileError, load_rules

    settings = load_settings(config_file)
    try:
        draft = load_rules(list(paths), max_file_bytes=settings.max_rule_file_bytes)
    except RuleFileError as exc:
        lines = "\n".join(str(p) for p in exc.problems)
        raise click.ClickException(f"the draft rules do not load:\n{lines}") from None
    until = until or datetime.now(UTC)
    if since is not None and since >= until:
        raise click.BadParameter("--from must be before --to", param_hint="--from")
    with open_store(settings) as store:
        result = bt.run(store, draft, settings, until, since, explain=explain)
    answer = result.to_json(since, until)
    if as_json:
        click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
        return
    console = screen.console()
    window = f"{answer['backtest']['from'] or 'the start'} to {answer['backtest']['to']}"
    console.print(
        f"[bold]Backtest of {', '.join(paths)}[/bold]: {result.events} stored events of "
        f"{result.records} records, occasions opened from {window}. Nothing was written."
    )
    print_report(console, result.report, friction(result.report, draft), by_team=False)
    console.print()
    console.print("[bold]What the rules would have done in the window[/bold]")
    for row in answer["backtest"]["rules"]:
        console.print(
            f"  {row['rule']}: {row['prompts']} prompts, {row['tasks']} tasks, "
            f"{row['met_later']} occasions met later without a prompt"
        )
    for event, decision in result.samples:
        click.echo("")
        explain_text(event, decision, True)
