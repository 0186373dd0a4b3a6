"""Rule-file problems as people and tools read them: `full` quotes the line with a caret under
the column (as rustc and mypy do), `short` is one `path:line:col: message` line each (editors),
`json` is a list of objects (CI and editor integrations)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import click

from lastmile.rules import Problem

FORMATS = ("full", "short", "json")


def format_option(default: str = "full"):
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=default,
        show_default=True,
        help="How problems are printed: quoted with a caret, one line each, or JSON.",
    )


def as_json(problem: Problem) -> dict[str, object]:
    return {
        "path": problem.path,
        "line": problem.line,
        "column": problem.column,
        "rule": problem.rule,
        "message": problem.message,
    }


def print_problems(problems: Sequence[Problem], fmt: str) -> None:
    """The problems on stdout in `fmt`, and how many on stderr (not in JSON)."""
    if fmt == "json":
        click.echo(json.dumps({"problems": [as_json(p) for p in problems]}, indent=2))
        return
    for problem in problems:
        click.echo(str(problem))
        if fmt == "full":
            for line in quoted(problem):
                click.echo(line)
    count = len(problems)
    click.echo(f"{count} problem{'s' if count != 1 else ''} found", err=True)


def quoted(problem: Problem) -> list[str]:
    """The problem's line of its file, and a caret under its column; nothing when unknown."""
    lines = _lines(problem.path)
    if not problem.line or problem.line > len(lines):
        return []
    text = lines[problem.line - 1].rstrip("\n").expandtabs(1)
    number = str(problem.line)
    gutter = " " * len(number)
    caret = " " * max(0, problem.column - 1) + "^"
    return [f" {number} | {text}", f" {gutter} | {caret}"]


@cache
def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
