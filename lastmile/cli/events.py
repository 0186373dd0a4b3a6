"""`lastmile events list|show|replay|import` and `lastmile db upgrade`: the inbox from a
terminal."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

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
    """The inbox: what happened to each event; replay what failed.

    `lastmile events import FILE.jsonl [--observe]` brings in events from a file."""


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


@events.command("import")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--observe",
    is_flag=True,
    help="Write nothing to the CRM and connect to none: ledger, occasions, default rows and "
    "snapshots only, as if the CRM had taken every write (many records a transaction).",
)
@config_option
@click.pass_context
def import_cmd(ctx: click.Context, file: BinaryIO, observe: bool, config_file: Path | None) -> None:
    """Bring in events from a file and process them (`--observe`: no CRM).

    FILE (`-`: standard input) holds RecordEvents, one JSON object a line, as POST
    /webhooks/events takes them.

    Every line is checked first: if any is bad, each problem is printed with its line number
    and nothing is imported (exit 1). An event already in the inbox (same source and id), or
    repeated in the file, is a no-op, as a redelivery is; importing a file again imports
    nothing twice. The events' order in the file is their arrival order.

    Without --observe each event goes through the worker as if it had just arrived, with
    write-backs to the configured CRM. With --observe nothing is sent: the figures
    (`lastmile report`) come out as the worker would leave them with a CRM that took every
    write; no tasks are recorded, and the events end `done` with the outcome `observed`.

    Should processing an event fail, the import stops there, naming it: what came in before
    stays, and the same command continues once the cause is fixed.
    """
    import time

    from lastmile.cli.eventfile import read_events
    from lastmile.logs import configure_logging

    configure_logging("warning", stream=sys.stderr)
    settings = load_settings(config_file)
    started = time.perf_counter()
    with _progress_bar() as bar:
        task = bar.add_task("checking lines", total=None)
        found = read_events(
            file,
            max_line_bytes=settings.max_body_bytes,
            max_depth=settings.max_json_depth,
            progress=lambda n: bar.update(task, completed=n),
        )
        if found.problems:
            bar.stop()
            for line in found.problems[:_SHOWN]:
                click.echo(f"{file.name}:{line.removeprefix('line ')}", err=True)
            if len(found.problems) > _SHOWN:
                click.echo(f"... and {len(found.problems) - _SHOWN:,} more", err=True)
            raise click.ClickException(
                f"{len(found.problems):,} bad line{'s' if len(found.problems) != 1 else ''} "
                f"in {file.name}: nothing imported"
            )
        bar.update(task, description="importing", completed=0, total=len(found.events))
        given = ctx.obj.get("connector") if isinstance(ctx.obj, dict) else None
        result = _import(
            settings, found.events, observe, lambda n: bar.update(task, completed=n), given
        )
    seconds = time.perf_counter() - started
    rate = f"{result.imported / seconds:,.0f} events/s" if seconds > 0 else "-"
    outcomes = ", ".join(f"{n:,} {o}" for o, n in sorted(result.outcomes.items()))
    click.echo(
        f"imported {result.imported:,} of {result.events:,} events "
        f"({result.duplicates:,} already in the inbox or repeated) in {seconds:.1f} s: {rate}"
        + (f"; outcomes: {outcomes}" if outcomes else "")
    )
    unfinished = sum(
        n for o, n in result.outcomes.items() if o in ("retry", "paused", "deferred", "dead")
    )
    if unfinished:
        click.echo(
            f"{unfinished:,} events did not finish: see `lastmile events list` (dead ones can "
            "be replayed; waiting ones are processed by a running receiver or worker)",
            err=True,
        )
        raise SystemExit(1)


_SHOWN = 50  # bad lines printed; the count says how many more


def _import(
    settings: Settings, events: Sequence[Any], observe: bool, progress: Any, connector: Any
) -> Any:
    """`observe` into the store, or `deliver` through the worker of a runtime: with its CRM
    connector (`connector` when a test gives one)."""
    from lastmile.rules import RuleFileError, load_rules
    from lastmile.runtime import ConfigError, Runtime, rules_path
    from lastmile.store.database import missing_sqlite_file
    from lastmile.worker.batch import ImportFailed, deliver
    from lastmile.worker.batch import observe as observe_events

    try:
        ruleset = load_rules([rules_path(settings)], max_file_bytes=settings.max_rule_file_bytes)
        if observe:
            with open_store(settings) as store:
                return observe_events(store, ruleset, settings, events, progress=progress)
        if missing_sqlite_file(settings.database_url) is not None:
            with open_store(settings):  # says what is missing and what to do
                pass
        runtime = Runtime.build(settings, connector=connector)
        try:
            runtime.rules.reload()  # the rules just checked: live for the worker
            return deliver(runtime.store, runtime.worker, events, progress=progress)
        finally:
            runtime.store.close()
    except RuleFileError as exc:
        raise click.ClickException(f"the rules do not load: {exc}") from None
    except ConfigError as exc:
        raise click.ClickException(f"{exc} (or use --observe)") from None
    except ImportFailed as exc:
        raise click.ClickException(
            f"stopped: {exc}. Events imported so far stay; run the import again once it is "
            "fixed (what is in already is skipped)."
        ) from None


@contextmanager
def _progress_bar() -> Iterator[Any]:
    """A progress bar on a terminal (standard error); nothing shown otherwise."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
        redirect_stdout=False,  # what the command prints goes out as it is
        redirect_stderr=False,
    ) as bar:
        yield bar


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
