"""`lastmile rules check|test|explain|schema`: write, test and understand rule files."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from lastmile.cli.problems import format_option, print_problems
from lastmile.rules import (
    Catalog,
    Decision,
    RecordEvent,
    RuleFileError,
    evaluate,
    json_schema,
    load_catalog,
)
from lastmile.rules.loader import MAX_FILE_BYTES
from lastmile.rules.records import ConditionTrace
from lastmile.rules.testing import TestResult, run_catalog

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
@click.option(
    "--max-file-bytes",
    type=click.IntRange(min=1),
    default=MAX_FILE_BYTES,
    show_default=True,
    envvar="LASTMILE_MAX_RULE_FILE_BYTES",
    help="Refuse rule files larger than this, unread (also LASTMILE_MAX_RULE_FILE_BYTES).",
)
@click.pass_context
def rules(ctx: click.Context, max_file_bytes: int) -> None:
    """Write, test and understand rule files."""
    ctx.obj = {"max_file_bytes": max_file_bytes}


def schema_option(f: F) -> F:
    """`--schema PATH` (default LASTMILE_SCHEMA), passed to the command as `schema_path`."""
    return click.option(
        "--schema",
        "schema_path",
        type=click.Path(exists=True, path_type=Path),
        envvar="LASTMILE_SCHEMA",
        help="Check object and field names and values against the CRM's schema: a file "
        "`lastmile schema pull` wrote, or an SFDX project directory (also LASTMILE_SCHEMA).",
    )(f)


def _catalog(
    paths: tuple[str, ...], schema_path: Path | None = None, fmt: str = "short"
) -> Catalog:
    limit = click.get_current_context().find_object(dict) or {}
    try:
        catalog = load_catalog(paths, max_file_bytes=limit.get("max_file_bytes", MAX_FILE_BYTES))
        if schema_path is not None:
            _check_schema(catalog, schema_path)
    except RuleFileError as exc:
        problems = sorted(exc.problems, key=lambda p: (p.path, p.line, p.column))
        print_problems(problems, fmt)
        sys.exit(1)
    return catalog


def _check_schema(catalog: Catalog, schema_path: Path) -> None:
    # Imported here: `rules check` without a schema stays as fast as it was.
    from lastmile.rules.schema_check import check_catalog
    from lastmile.schemas import SchemaError, load_schema

    try:
        schema = load_schema(schema_path)
    except SchemaError as exc:
        raise click.BadParameter(str(exc), param_hint="--schema") from None
    problems = check_catalog(catalog, schema)
    if problems:
        raise RuleFileError(problems)


@rules.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@schema_option
@format_option()
def check(paths: tuple[str, ...], schema_path: Path | None, fmt: str) -> None:
    """Validate rule files; print `path:line:col: message` for each problem (exit 1)."""
    catalog = _catalog(paths, schema_path, fmt)
    rs = catalog.ruleset
    tests = sum(len(p.pack.tests) for p in catalog.packs) + sum(
        len(f.tests) for f in catalog.test_files
    )
    if fmt == "json":
        counts = {"rules": len(rs.rules), "packs": len(rs.packs), "tests": tests}
        click.echo(json.dumps({"problems": [], **counts, "version": rs.version}, indent=2))
        return
    click.echo(
        f"ok: {len(rs.rules)} rules in {len(rs.packs)} packs, {tests} tests "
        f"(objects: {', '.join(rs.objects) or 'none'}; version {rs.version})"
    )
    if schema_path is None:
        click.echo(
            "note: object and field names and values were not checked against the CRM "
            "(give --schema or set LASTMILE_SCHEMA)",
            err=True,
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
@schema_option
def test_cmd(
    paths: tuple[str, ...], name_filter: str | None, verbose: bool, schema_path: Path | None
) -> None:
    """Run rule tests (in packs and *.test.yaml files); exit 1 if any fails."""
    results = run_catalog(_catalog(paths, schema_path), name_filter)
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
    """The event in `path`; as in rule tests, `id` may be left out, and `occurred_at` (then
    the event happens now, which due dates count from)."""
    data = _read_json(path, "--event")
    if isinstance(data, dict):
        data.setdefault("id", "explain")
        data.setdefault("occurred_at", datetime.now(UTC).isoformat())
    try:
        return RecordEvent.model_validate(data)
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
@schema_option
def explain(
    paths: tuple[str, ...],
    event_path: str,
    previous_path: str | None,
    as_json: bool,
    schema_path: Path | None,
) -> None:
    """Dry run: what the rules decide for one event, and why."""
    ruleset = _catalog(paths, schema_path).ruleset
    event = _read_event(event_path)
    previous = _read_previous(previous_path) if previous_path else None
    decision = evaluate(ruleset, event, previous, trace=not as_json)
    if as_json:
        click.echo(json.dumps(decision.to_json(), indent=2, ensure_ascii=False))
        return
    explain_text(event, decision, previous is not None)


def explain_text(event: RecordEvent, decision: Decision, has_previous: bool) -> None:
    """A traced Decision as `rules explain` prints it (also `backtest --explain`)."""
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
