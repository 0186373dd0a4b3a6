"""`lastmile experiments`: the readout of the rules' experiments, per arm, with intervals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from lastmile.cli import screen
from lastmile.cli.common import config_option, time_value
from lastmile.measure.language import percent


@click.command()
@click.option(
    "--as-of", "as_of", callback=time_value, help="Figures as they stood then (default now)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON of GET /api/experiments.")
@config_option
def experiments(as_of: datetime | None, as_json: bool, config_file: Path | None) -> None:
    """Experiments: per arm compliance with a 95 % interval, and each arm against control."""
    from lastmile.cli.report import measured
    from lastmile.measure.experiments import experiments as readout

    with measured(config_file) as env:
        answer = readout(env.store, env.ruleset, env.settings, as_of or datetime.now(UTC))
    if as_json:
        click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
        return
    console = screen.console()
    console.print(f"[bold]Experiments as of {answer['as_of']}[/bold]")
    if not answer["experiments"]:
        console.print("No rule has an experiment.")
    for exp in answer["experiments"]:
        _print_experiment(console, exp)


def _print_experiment(console: Any, exp: dict[str, Any]) -> None:
    window = f"{exp['start'] or 'the start'} to {exp['end'] or 'no end'}"
    console.print()
    console.print(f"[bold]{exp['id']}[/bold] on {exp['rule']} (by {exp['unit']}), {window}")
    if exp["enough_data"]:
        console.print("  The planned end has passed and every arm has enough data: a verdict.")
    else:
        low = exp["minimum"]
        console.print(
            f"  Not a verdict yet: every arm needs {low['units']} units and "
            f"{low['closed_occasions']} closed occasions, and the planned end must pass."
        )
        if exp["needed"]:
            need = exp["needed"]
            console.print(
                f"  To detect a difference of {percent(need['difference'])}: about "
                f"{need['units_per_arm']} units and {need['closed_occasions_per_arm']} closed "
                "occasions per arm."
            )
    for arm in exp["arms"]:
        if arm.get("too_few_to_show"):
            console.print(f"  {arm['arm']}: too few to show")
            continue
        console.print(f"  {arm['arm']}: {_share(arm['compliance'], arm['compliance_ci95'])} "
                      f"({arm['units']} units, {arm['occasions']} occasions)")  # fmt: skip
    for effect in exp["effects"]:
        if effect.get("too_few_to_show"):
            console.print(f"  {effect['arm']} vs control: too few to show")
            continue
        console.print(
            f"  {effect['arm']} vs control: {_points(effect['difference'])} "
            f"(95 % interval {_interval(effect['ci95'], points=True)})"
        )


def _share(value: float | None, ci: list[float] | None) -> str:
    if value is None:
        return "no closed occasions"
    return f"{percent(value)} (95 % interval {_interval(ci)})"


def _interval(ci: list[float] | None, *, points: bool = False) -> str:
    if ci is None:
        return "not yet: fewer than two units"
    show = _points if points else percent
    return f"{show(ci[0])} to {show(ci[1])}"


def _points(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.0f} points"
