"""`lastmile backfill`: past changes read from the CRM into the store as observe-only events."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from lastmile.cli.common import config_option, load_settings, open_store

DEFAULT_CURSOR = Path(".lastmile") / "backfill-cursor.json"


@click.command()
@click.option(
    "--since",
    default="90d",
    show_default=True,
    help="How far back: a span back from now (90d, 12w) or a date or time (2026-09-01).",
)
@click.option(
    "--until",
    help="Up to this time (default: when the backfill starts). Set it to when the receiver "
    "went live, so no save is counted twice (once live, once from history).",
)
@click.option(
    "--objects",
    help="Comma-separated objects to read (default: every object the rules are about).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(200, 2000),
    default=2000,
    show_default=True,
    help="Records a query answer (Salesforce's Sforce-Query-Options batchSize).",
)
@click.option(
    "--cursor",
    "cursor_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CURSOR,
    show_default=True,
    help="Where the run notes how far it got, so a rerun continues where it stopped.",
)
@click.option("--restart", is_flag=True, help="Ignore a saved cursor: read the whole window.")
@config_option
def backfill(
    since: str,
    until: str | None,
    objects: str | None,
    batch_size: int,
    cursor_file: Path,
    restart: bool,
    config_file: Path | None,
) -> None:
    """History from the CRM for a fresh install: past changes as observe-only events.

    Reads the records changed in the window (only the fields the rules read), rebuilds each
    record's earlier states from the CRM's field history (OpportunityFieldHistory, LeadHistory,
    CaseHistory) and stores one event per state change, processed as `events import --observe`
    does: measured, and nothing written to the CRM. Interrupted, the same command continues
    where it stopped; run again, it stores nothing twice.
    """
    from lastmile import backfill as bf
    from lastmile.cli.events import _progress_bar as progress_bar
    from lastmile.connector.base import ConnectorError, InvalidRequest
    from lastmile.logs import configure_logging
    from lastmile.rules import RuleFileError, load_rules
    from lastmile.runtime import rules_path
    from lastmile.worker.batch import ImportFailed, observe

    configure_logging("warning", stream=sys.stderr)
    settings = load_settings(config_file)
    try:
        ruleset = load_rules([rules_path(settings)], max_file_bytes=settings.max_rule_file_bytes)
    except RuleFileError as exc:
        lines = "\n".join(str(p) for p in exc.problems)
        raise click.ClickException(f"the rules do not load:\n{lines}") from None
    now = datetime.now(UTC)
    try:
        start = bf.window_start(since, now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    try:
        end = bf.window_start(until, now) if until else now
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--until") from None
    if end <= start:
        raise click.BadParameter("the window ends before it starts", param_hint="--until")
    ours = sorted({r.rule.object for r in ruleset.rules if r.pack.crm == "salesforce"})
    names = [o.strip() for o in (objects or "").split(",") if o.strip()] or ours
    if not names:
        raise click.ClickException(
            "no Salesforce rule is about any object: name the objects with --objects"
        )
    crm = _salesforce(settings)
    target = bf.target_of(
        settings.salesforce_instance_url or settings.salesforce_username, settings.database_url
    )
    cursor = bf.Cursor(target=target, since=start, until=end, objects=names)
    if not restart:
        cursor = bf.load_cursor(cursor_file, target, names, start, end)
        if cursor.after or cursor.done:
            click.echo(
                f"continuing the backfill of changes since {cursor.since:%Y-%m-%d %H:%M} UTC "
                "where it stopped (--restart reads the whole window again)",
                err=True,
            )
    with open_store(settings) as store, progress_bar() as bars:
        tasks: dict[str, Any] = {}

        def shown(batch: bf.Batch, records: int) -> None:
            if batch.object not in tasks:
                tasks[batch.object] = bars.add_task(batch.object, total=batch.total)
            bars.update(tasks[batch.object], completed=records)

        def stored(events: list) -> int:
            return observe(store, ruleset, settings, events).imported

        try:
            outcome = bf.run(
                crm,
                ruleset,
                cursor,
                stored,
                lambda c: bf.save_cursor(cursor_file, c),
                batch_size=batch_size,
                progress=shown,
            )
        except (ConnectorError, InvalidRequest, ImportFailed) as exc:
            bars.stop()
            raise click.ClickException(
                f"stopped: {exc}. What is stored stays; run the same command again to "
                f"continue (the cursor is {cursor_file})."
            ) from None
    for obj in sorted(outcome.without_history):
        click.echo(
            f"note: no field history for {obj} (Salesforce keeps none for it, or it is not "
            "tracked or not readable: docs/salesforce.md): one event a record, its current state",
            err=True,
        )
    read = ", ".join(f"{n:,} {o}" for o, n in outcome.records.items()) or "no records"
    click.echo(
        f"read {read} changed since {cursor.since:%Y-%m-%d %H:%M} UTC: {outcome.events:,} "
        f"events, {outcome.imported:,} new ({outcome.events - outcome.imported:,} stored before)"
    )


def _salesforce(settings: Any) -> Any:
    if settings.uses_hubspot:
        raise click.ClickException("backfill reads Salesforce; HubSpot is not supported yet")
    from lastmile.connector.salesforce import from_settings

    try:
        return from_settings(settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
