"""`lastmile events list|show|replay` and `lastmile db upgrade`: the inbox from a terminal."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lastmile.cli import screen
from lastmile.cli.common import config_option, load_settings, open_store
from lastmile.settings import Settings
from lastmile.store import EventDetail, InboxRow, Store
from lastmile.store.tables import STATUSES


@contextmanager
def _store(config_file: Path | None, *, create: bool = False) -> Iterator[Store]:
    """The store named by LASTMILE_DATABASE_URL, with errors a person can act on."""
    with open_store(load_settings(config_file), create=create) as store:
        yield store


def _when(value: str | None) -> str:
    return value.replace("T", " ")[:19] if value else "-"


@click.group()
def events() -> None:
    """The inbox: what happened to each event; replay what failed."""


@events.command("list")
@click.option(
    "--status", type=click.Choice(STATUSES), help="Only events in this state (e.g. dead)."
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per event).")
@config_option
def list_cmd(status: str | None, limit: int, as_json: bool, config_file: Path | None) -> None:
    """The newest events first (field values are never shown)."""
    with _store(config_file) as store:
        rows = store.list_events(status=status, limit=limit)
        counts = store.counts()
    if as_json:
        click.echo(json.dumps([r.summary() for r in rows], indent=2))
        return
    console = screen.console()
    if not rows:
        console.print(f"No {status + ' ' if status else ''}events in the inbox.")
        return
    table = Table(
        title=_counts_line(counts), box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
    for column in _LIST:
        table.add_column(column, no_wrap=column != "object")
    table.add_column("error", overflow="fold", min_width=12)
    for r in rows:
        texts = [Text(cell) for cell in _list_cells(r)]
        texts[1].stylize(_COLORS[r.status])
        table.add_row(*texts)
    if screen.fits(console, table):
        console.print(table)
    else:
        _print_list(console, _counts_line(counts), rows)


_LIST = ("id", "status", "object", "record", "occurred", "tries", "outcome")
_SPARE = tuple(_LIST.index(c) for c in ("tries", "occurred", "object", "outcome"))
_COLORS = {"dead": "red", "running": "yellow", "pending": "cyan", "done": "green"}


def _print_list(console: Console, title: str, rows: list[InboxRow]) -> None:
    """The list when the table does not fit: tries, occurred, object and outcome leave it (in
    that order, as far as needed) for a line under each row; an error is on lines of its own."""
    out = []
    for r in rows:
        *cells, error = _list_cells(r)
        lines = screen.pack(error.split(" "), console.width, lead="  error: ", indent="    ")
        out.append(screen.Row(cells, below=lines if error else []))
    screen.print_grid(console, title, _LIST, out, spare=_SPARE)


def _counts_line(counts: dict[str, int]) -> str:
    return "inbox: " + ", ".join(f"{n} {status}" for status, n in counts.items())


def _list_cells(r: InboxRow) -> list[str]:
    s = r.summary()
    return [
        str(r.id),
        r.status,
        r.object,
        r.record_id,
        _when(s["occurred_at"])[5:16],  # month-day hours:minutes; `show` has the rest
        str(r.attempts),
        r.outcome or "-",
        (r.last_error or "")[:80],
    ]


@events.command("show")
@click.argument("inbox_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@config_option
def show_cmd(inbox_id: int, as_json: bool, config_file: Path | None) -> None:
    """One event: where it came from, how it ended, what was written back."""
    with _store(config_file) as store:
        detail = store.get_event(inbox_id)
    if detail is None:
        raise click.ClickException(f"no event with id {inbox_id} (see `lastmile events list`)")
    if as_json:
        click.echo(json.dumps(detail.to_json(), indent=2))
        return
    _print_detail(screen.console(), detail)


def _print_detail(console: Console, detail: EventDetail) -> None:
    data = detail.to_json()
    labels: dict[str, Callable[[Any], str]] = {
        "id": str,
        "source": str,
        "event_id": str,
        "object": str,
        "record_id": str,
        "kind": str,
        "actor": lambda v: v or "-",
        "occurred_at": _when,
        "received_at": _when,
        "status": str,
        "attempts": str,
        "next_attempt_at": _when,
        "outcome": lambda v: v or "-",
        "last_error": lambda v: v or "-",
        "rules_version": lambda v: v or "-",
        "processed_at": _when,
        "fields": lambda v: ", ".join(v) or "-",
        "changed": lambda v: "derived from the snapshot" if v is None else ", ".join(v) or "-",
    }
    console.print(_facts([(k.replace("_", " "), show(data[k])) for k, show in labels.items()]))
    if not detail.writes:
        console.print("\nNo write-back.")
        return
    rows = [
        (
            str(w["attempt"]),
            _when(w["at"]),
            w["status"],
            ", ".join(w["fields"]) or "-",
            ", ".join(w["task_keys"]) or "-",
            "-" if w["api_calls"] is None else str(w["api_calls"]),
            "; ".join(f"{p['code']}: {p.get('message', '')}" for p in w["problems"]) or "-",
        )
        for w in data["writes"]
    ]
    writes = Table(title="write-backs")
    for column in _WRITES:
        writes.add_column(column, overflow="fold")
    for row in rows:
        writes.add_row(*map(Text, row))
    if screen.fits(console, writes):
        console.print(writes)
        return
    for attempt, *values in rows:  # narrower: one block of facts a write-back
        console.print(Text(f"\nwrite-back, attempt {attempt}", style="bold"))
        console.print(_facts(list(zip(_WRITES[1:], values, strict=True))))


_WRITES = ("attempt", "at", "status", "fields", "tasks", "api calls", "problems")


def _facts(pairs: list[tuple[str, str]]) -> Table:
    """Label and value a line; a long value wraps under itself."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    for label, value in pairs:
        facts.add_row(label, Text(value))
    return facts


@events.command("replay")
@click.argument("inbox_ids", nargs=-1, required=True, type=int)
@config_option
def replay_cmd(inbox_ids: tuple[int, ...], config_file: Path | None) -> None:
    """Send dead or done events through the worker again (a running server picks them up)."""
    failed = False
    with _store(config_file) as store:
        for inbox_id in inbox_ids:
            detail = store.get_event(inbox_id)
            if detail is None:
                click.echo(f"no event with id {inbox_id}", err=True)
                failed = True
            elif store.replay(inbox_id):
                click.echo(f"event {inbox_id} is pending again (was {detail.row.status})")
            else:
                click.echo(
                    f"event {inbox_id} is {detail.row.status}: only dead or done events "
                    "can be replayed",
                    err=True,
                )
                failed = True
    if failed:
        raise SystemExit(1)


@click.group()
def db() -> None:
    """The database behind the inbox and the ledger."""


@db.command("upgrade")
@config_option
def upgrade_cmd(config_file: Path | None) -> None:
    """Create or migrate the tables to the newest schema (safe to run again)."""
    settings = load_settings(config_file)
    with open_store(settings, create=True) as store:
        store.upgrade(
            within=_within(settings),
            integration_user=settings.integration_user_id,
            progress=_progress,
        )
        revision = store.revision()
    click.echo(f"database is at revision {revision}")


def _within(settings: Settings) -> dict[str, Any] | None:
    """The rules' deadlines, for a migration that derives occasions from the ledger (None when
    the rules do not load: the rows are then derived again when indicators are first asked)."""
    from lastmile.rules import RuleFileError, load_rules
    from lastmile.runtime import rules_path
    from lastmile.store.occasions import within_of

    try:
        path = rules_path(settings)
        return within_of(load_rules([path], max_file_bytes=settings.max_rule_file_bytes))
    except (RuleFileError, OSError) as exc:
        click.echo(f"warning: rules not loaded ({type(exc).__name__}); deadlines later", err=True)
        return None


def _progress(what: str, done: int, of: int) -> None:
    share = f"{100 * done // of}%" if of else "100%"
    click.echo(f"building rows: {done:,} of {of:,} {what} ({share})", err=True)
