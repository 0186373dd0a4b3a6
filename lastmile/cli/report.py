"""`lastmile report`, `digest`, `deadlines` and `ledger purge`: adoption measurement from a
terminal, on the store and rules the `LASTMILE_*` settings name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from lastmile.cli import screen
from lastmile.cli.common import config_option, load_settings, open_store, time_value
from lastmile.cli.figures import print_report, print_versions
from lastmile.measure import (
    DigestPostError,
    TeamsError,
    UnknownTeam,
    digest,
    digest_text,
    friction,
    indicators,
    post_digest,
)
from lastmile.measure.choices import field_facts
from lastmile.rules import RuleFileError, RuleSet, load_rules
from lastmile.settings import Settings
from lastmile.store import Store


@dataclass
class Measured:
    settings: Settings
    store: Store
    rules: RuleSet | None  # None when the command needs no rules

    @property
    def ruleset(self) -> RuleSet:
        assert self.rules is not None, "this command was set up without rules"
        return self.rules


@contextmanager
def measured(config_file: Path | None, *, rules: bool = True) -> Iterator[Measured]:
    """Settings, store and (unless not needed) rules, with errors a person can act on."""
    from lastmile.runtime import rules_path

    settings = load_settings(config_file)
    try:
        limit = settings.max_rule_file_bytes
        ruleset = load_rules([rules_path(settings)], max_file_bytes=limit) if rules else None
    except RuleFileError as exc:
        lines = "\n".join(str(p) for p in exc.problems)
        raise click.ClickException(f"the rules do not load:\n{lines}") from None
    with open_store(settings) as store:
        try:
            yield Measured(settings, store, ruleset)
        except TeamsError as exc:
            raise click.ClickException(str(exc)) from None


def _day(_ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; write e.g. 2026-11-24") from None


def _now() -> datetime:
    return datetime.now(UTC)


# -- report -------------------------------------------------------------------------------------


@click.command()
@click.option(
    "--as-of", "as_of", callback=time_value, help="Figures as they stood then (default now)."
)
@click.option("--rule", help="Only this rule.")
@click.option("--team", help="Only this team (`other`: small teams and people in no team).")
@click.option("--from", "since", callback=time_value, help="Occasions opened from this time on.")
@click.option("--to", "until", callback=time_value, help="Occasions opened before this time.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON of GET /api/indicators.")
@click.option(
    "--versions", is_flag=True, help="Also each rule's figures per version (before and after)."
)
@config_option
def report(
    as_of: datetime | None,
    rule: str | None,
    team: str | None,
    since: datetime | None,
    until: datetime | None,
    as_json: bool,
    versions: bool,
    config_file: Path | None,
) -> None:
    """Adoption indicators: per rule, team, week and default, and the friction report."""
    with measured(config_file) as env:
        at = as_of or _now()
        figures = indicators(
            env.store, env.ruleset, env.settings, at, rule=rule, team=team, since=since, until=until
        )
        if versions:
            from lastmile.measure.versions import all_versions

            figures["versions"] = all_versions(env.store, figures, env.ruleset, at)
        if as_json:
            click.echo(json.dumps(figures, indent=2, ensure_ascii=False))
            return
        items = friction(figures, env.ruleset, field_facts(env.store, env.settings))
        console = screen.console()
        print_report(console, figures, items, by_team=team is not None)
        for history in figures.get("versions", []):
            print_versions(console, history)


# -- digest -------------------------------------------------------------------------------------


@click.command("digest")
@click.option("--team", required=True, help="The team (as the report names it, or `other`).")
@click.option("--day", callback=_day, help="The stand-up day (default today, UTC).")
@click.option("--post", is_flag=True, help="Also POST it to LASTMILE_DIGEST_WEBHOOK_URL.")
@click.option("--json", "as_json", is_flag=True, help="Print the digest as JSON.")
@config_option
def digest_cmd(
    team: str, day: date | None, post: bool, as_json: bool, config_file: Path | None
) -> None:
    """Three stand-up questions for a team, from yesterday's figures."""
    with measured(config_file) as env:
        if post and not env.settings.digest_webhook_url:
            raise click.ClickException("--post needs LASTMILE_DIGEST_WEBHOOK_URL")
        try:
            result = digest(env.store, env.ruleset, env.settings, team, day or _now().date())
        except UnknownTeam as exc:
            raise click.ClickException(str(exc)) from None
        text = digest_text(result, env.ruleset)
        if as_json:
            click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            click.echo(_fitted(text, screen.console().width))
        if post:
            assert env.settings.digest_webhook_url is not None
            try:
                post_digest(text, env.settings.digest_webhook_url)
            except DigestPostError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo("posted to the chat webhook", err=True)


def _fitted(text: str, width: int) -> str:
    """The digest's lines wrapped at `width`, a numbered question's next lines under its words."""
    lines = []
    for line in text.splitlines():
        number, dot, question = line.partition(". ")
        lead = number + dot if number.isdigit() else ""
        words = (question if lead else line).split(" ")
        lines += screen.pack(words, width, lead=lead, indent=" " * len(lead))
    return "\n".join(lines)


# -- deadlines ----------------------------------------------------------------------------------


@click.command()
@click.option(
    "--now", "now", callback=time_value, help="Act as if it were this time (default now)."
)
@config_option
@click.pass_context
def deadlines(ctx: click.Context, now: datetime | None, config_file: Path | None) -> None:
    """Act once on passed deadlines; show held-back prompts where there is room.

    A missed occasion gets its rule's escalation task and its stale prompt cleared; then the
    prompts the prompt budget held back show where there is room now."""
    from lastmile.deadlines import run_deadlines
    from lastmile.runtime import connector_from_settings

    with measured(config_file) as env:
        given = ctx.obj.get("connector") if isinstance(ctx.obj, dict) else None
        connector = given or connector_from_settings(env.settings)
        if connector is None:
            raise click.ClickException(
                "no CRM connection: set LASTMILE_SALESFORCE_INSTANCE_URL and a login "
                "(see `lastmile sandbox` for a local one)"
            )
        counts = run_deadlines(env.store, env.ruleset, connector, env.settings, now or _now())
    click.echo(", ".join(f"{name.replace('_', ' ')} {n}" for name, n in counts.items()))
    if counts["failed"] or counts["errors"]:
        ctx.exit(1)


# -- ledger -------------------------------------------------------------------------------------


@click.group()
def ledger() -> None:
    """The adoption ledger: retention."""


@ledger.command()
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=1),
    help="Age in days (default LASTMILE_LEDGER_RETENTION_DAYS, 400).",
)
@config_option
def purge(days: int | None, config_file: Path | None) -> None:
    """Delete ledger rows and processed events older than the retention period."""
    with measured(config_file, rules=False) as env:
        keep = days or env.settings.ledger_retention_days
        before = _now() - timedelta(days=keep)
        counts = env.store.purge(before)
    click.echo(
        f"purged what occurred before {before.date().isoformat()} ({keep} days): "
        + ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in counts.items())
    )
