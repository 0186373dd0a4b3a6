"""The `lastmile` command line."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from rules import Decision, RecordEvent, RuleFileError, evaluate, json_schema, load_catalog
from rules.records import ConditionTrace
from rules.testing import TestResult, run_catalog

from . import __version__


@click.group()
@click.version_option(__version__, prog_name="lastmile")
def main() -> None:
    """Lastmile: CRM rules that land a rollout in daily behaviour, and measure it."""


@main.group()
def rules() -> None:
    """Write, test and understand rule files."""


def _catalog(paths: tuple[str, ...]):
    try:
        return load_catalog(paths)
    except RuleFileError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        click.echo(
            f"{len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''} found", err=True
        )
        sys.exit(1)


@rules.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def check(paths: tuple[str, ...]) -> None:
    """Validate rule files; print `path:line:col: message` for each problem (exit 1)."""
    catalog = _catalog(paths)
    rs = catalog.ruleset
    tests = sum(len(p.pack.tests) for p in catalog.packs) + sum(
        len(f.tests) for f in catalog.test_files
    )
    click.echo(
        f"ok: {len(rs.rules)} rules in {len(rs.packs)} packs, {tests} tests "
        f"(objects: {', '.join(rs.objects) or 'none'}; version {rs.version})"
    )


def _print_result(result: TestResult, verbose: bool) -> None:
    mark = {"passed": "PASS", "failed": "FAIL", "todo": "TODO", "fixed": "FIXED"}[result.status]
    if result.status == "passed" and not verbose:
        return
    color = {"PASS": "green", "FAIL": "red", "TODO": "yellow", "FIXED": "cyan"}[mark]
    click.echo(f"{click.style(mark, fg=color)} {result.where}: {result.name}")
    if result.status == "fixed":
        click.echo("    this todo test passes now: remove its 'todo'")
    for failure in result.failures:
        click.echo(f"    {failure}")


@rules.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-k", "name_filter", help="Run only the tests whose name contains this text.")
@click.option("-v", "--verbose", is_flag=True, help="List passing tests too.")
def test_cmd(paths: tuple[str, ...], name_filter: str | None, verbose: bool) -> None:
    """Run rule tests (in packs and *.test.yaml files); exit 1 if any fails."""
    results = run_catalog(_catalog(paths), name_filter)
    for result in results:
        _print_result(result, verbose)
    passed = sum(r.status in ("passed", "fixed") for r in results)
    failed = sum(r.status == "failed" for r in results)
    todo = sum(r.status == "todo" for r in results)
    if todo:
        click.echo(f"{todo} todo (known gaps, not counted as failures)")
    click.echo(f"{passed} passed, {failed} failed")
    if failed or not results:
        if not results:
            click.echo("no tests found", err=True)
        sys.exit(1)


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint=what) from None
    except json.JSONDecodeError as exc:
        raise click.BadParameter(
            f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}", param_hint=what
        ) from None


def _read_event(path: str) -> RecordEvent:
    try:
        return RecordEvent.model_validate(_read_json(path, "--event"))
    except ValidationError as exc:
        lines = [
            f"{path}: {'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()
        ]
        raise click.BadParameter("\n".join(lines), param_hint="--event") from None


def _read_previous(path: str) -> dict[str, Any]:
    data = _read_json(path, "--previous")
    if isinstance(data, dict) and isinstance(data.get("fields"), dict):
        data = data["fields"]
    if not isinstance(data, dict):
        raise click.BadParameter(
            f"{path}: expected a JSON object of fields", param_hint="--previous"
        )
    return data


@rules.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--event", "event_path", required=True, type=click.Path(), help="A RecordEvent JSON file."
)
@click.option(
    "--previous",
    "previous_path",
    type=click.Path(),
    help="The record as last seen: a JSON object of fields (or an event whose fields to use).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the Decision as JSON.")
def explain(
    paths: tuple[str, ...], event_path: str, previous_path: str | None, as_json: bool
) -> None:
    """Dry run: what the rules decide for one event, and why."""
    ruleset = _catalog(paths).ruleset
    event = _read_event(event_path)
    previous = _read_previous(previous_path) if previous_path else None
    decision = evaluate(ruleset, event, previous, trace=not as_json)
    if as_json:
        click.echo(json.dumps(decision.to_json(), indent=2, ensure_ascii=False))
        return
    _explain_text(event, decision, previous is not None)


def _explain_text(event: RecordEvent, decision: Decision, has_previous: bool) -> None:
    head = f"{event.object} {event.record_id}, {event.kind} at {event.occurred_at.isoformat()}"
    click.echo(click.style(head, bold=True))
    if event.changed is not None:
        click.echo(f"changed: {', '.join(sorted(event.changed)) or '(none)'}")
    elif not has_previous:
        click.echo("changed: not given and no --previous: every filled field counts as changed")
    if not decision.trace:
        click.echo(f"No rule is written for {event.object}.")
    for rt in decision.trace or []:
        mark = click.style("✓", fg="green") if rt.matched else click.style("✗", fg="red")
        click.echo(f"\n{mark} {rt.rule}: {rt.reason}")
        for cond in rt.conditions:
            _print_condition(cond, 1)
        if rt.rule in decision.missing:
            click.echo(f"    missing: {', '.join(decision.missing[rt.rule])}")
    click.echo("")
    for p in decision.prompts:
        click.echo(f"prompt ({p.rule}): {p.text}")
    for name, value in decision.defaults.items():
        click.echo(f"default: {name} = {value!r}")
    for t in decision.tasks:
        click.echo(
            f"task ({t.rule}): {t.subject!r}, due {t.due}, owner {t.owner}, related to {t.what_id}"
        )
    for rule in decision.cleared:
        click.echo(f"cleared: the prompt of {rule}")
    if not (decision.prompts or decision.defaults or decision.tasks or decision.cleared):
        click.echo("Nothing to write back.")


def _print_condition(cond: ConditionTrace, depth: int) -> None:
    if depth == 1 and cond.condition == "all of":
        if not cond.children:
            click.echo("    (no conditions: the event kind decides)")
        for child in cond.children:
            _print_condition(child, depth)
        return
    mark = "✓" if cond.held else "✗"
    seen = "" if cond.children else f"   (value: {json.dumps(cond.value, ensure_ascii=False)})"
    click.echo(f"{'    ' * depth}{mark} {cond.condition}{seen}")
    for child in cond.children:
        _print_condition(child, depth + 1)


@rules.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of standard output.",
)
def schema(output: str | None) -> None:
    """JSON Schema of the rule-file format, for editor completion."""
    text = json.dumps(json_schema(), indent=2)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of KEY=value lines (LASTMILE_* names, as `lastmile sandbox` prints them); "
    "environment variables take precedence.",
)
def serve(host: str, port: int, config_file: Path | None) -> None:
    """Run the webhook receiver with its embedded worker under gunicorn (LASTMILE_* settings)."""
    from .logs import configure_logging
    from .runtime import ConfigError, Runtime
    from .serve import serve as run
    from .settings import Settings
    from .store.database import DatabaseUrlError

    try:
        settings = Settings(_env_file=config_file)
    except ValidationError as exc:
        raise click.ClickException(f"bad LASTMILE_* setting: {exc}") from None
    configure_logging(settings.log_level, cache=True)
    try:  # fail here, before gunicorn forks, with a message a person can act on
        Runtime.build(settings).store.ping()
    except (ConfigError, DatabaseUrlError) as exc:
        raise click.ClickException(str(exc)) from None
    run(host, port, lambda: Runtime.build(settings), broker=bool(settings.broker_url))


@main.command()
@click.option("--port", default=8000, show_default=True, help="Receiver port (0: any free).")
@click.option("--sandbox-port", default=8443, show_default=True, help="Sandbox CRM port.")
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Rules directory (default: the example packs shipped with Lastmile).",
)
@click.option(
    "--data",
    "data_dir",
    default=".lastmile/demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo keeps its files.",
)
@click.option(
    "--exit-after",
    type=float,
    default=None,
    help="Stop after this many seconds (for scripts); default: run until Ctrl-C.",
)
def demo(
    port: int, sandbox_port: int, rules_dir: Path | None, data_dir: Path, exit_after: float | None
) -> None:
    """Everything on one machine: sandbox CRM, receiver, worker and the example rules."""
    from .demo import Demo
    from .logs import configure_logging

    configure_logging("warning")
    with Demo(data_dir, port=port, sandbox_port=sandbox_port, rules=rules_dir) as run:
        assert run.sandbox is not None and run.runtime is not None
        status = run.runtime.rules.status()
        click.echo(click.style(f"Lastmile {__version__} demo", bold=True))
        click.echo(f"  rules       {status.rules} rules, version {status.version}")
        click.echo(
            f"  sandbox CRM {run.sandbox.instance_url}/   (record pages; trust "
            f"{run.sandbox.ca_bundle} or accept the warning)"
        )
        click.echo(f"  receiver    {run.receiver_url}/readyz   {run.receiver_url}/metrics")
        click.echo(f"  dashboard   {run.receiver_url}/dashboard   (sign in with the admin token)")
        click.echo(f"  admin token {run.admin_token}   (also for {run.receiver_url}/api/events)")
        click.echo("")
        run.show_one_save(click.echo)
        stop = threading.Event()
        # Ctrl-C, or SIGTERM from a process manager: both stop everything cleanly. Set before
        # the last line says so, and explicitly: a shell starts background jobs with SIGINT
        # ignored.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        click.echo(
            "\nEdit a record in the sandbox pages: its page shows the prompt, defaults and "
            "follow-up task within a second. Ctrl-C stops everything."
        )
        # Wake up regularly: a signal may land on another thread, and Python runs its handler
        # only when the main thread runs.
        deadline = None if exit_after is None else time.monotonic() + exit_after
        while not stop.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                break
        click.echo("stopping")


def _add_commands() -> None:
    from .events_cli import db, events
    from .report_cli import COMMANDS
    from .sandbox_cli import sandbox
    from .worker_cli import beat, worker

    for command in (events, db, sandbox, worker, beat, *COMMANDS):
        main.add_command(command)


_add_commands()

if __name__ == "__main__":
    main()
