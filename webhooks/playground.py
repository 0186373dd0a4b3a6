"""The dashboard's rule playground: a draft rule pack (YAML text from a form) backtested over a
window of stored events. Nothing is saved or switched on: rules live in git.

The backtest runs in the request, in the process that also receives webhooks, so it is bounded:
one at a time per process, and over at most `MAX_EVENTS` stored events (more is refused before
any is replayed, with a pointer to `lastmile backtest`, which has no such limit).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import structlog

from lastmile import backtest
from lastmile.measure import friction
from lastmile.measure.indicators import parse_time
from lastmile.rules import RecordEvent, RuleFileError, RuleSet, load_text
from lastmile.rules.errors import Problem
from lastmile.rules.records import Decision

log = structlog.get_logger("lastmile.dashboard")

DRAFT_PATH = "draft.yaml"  # the name problems give the draft: draft.yaml:LINE:COLUMN
# About 1-3 s of work on a shared 2-core machine: a webhook waits at most that long for the GIL
# share it needs, never for the backtest to finish.
MAX_EVENTS = 5_000
SAMPLES = 3  # sample events traced
WINDOW = timedelta(weeks=4)  # the default window: the four weeks before its end
_BUSY = threading.Lock()  # one playground backtest at a time in this process
_EXAMPLES = resources.files("lastmile.examples") / "rules"


class Refused(Exception):
    """A draft or window the playground will not run, said in words for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Quoted:
    """A problem of the draft with the line it points at (None when it names no line)."""

    problem: Problem
    text: str | None

    @property
    def where(self) -> str:
        p = self.problem
        return f"{p.path}:{p.line}:{p.column}" if p.line else p.path


@dataclass
class Outcome:
    """What the page shows after a run: problems of the draft, or the backtest's answer."""

    problems: list[Quoted] = field(default_factory=list)
    answer: dict[str, Any] | None = None  # `Backtest.to_json`: the report's keys and `backtest`
    hints: list[dict[str, Any]] = field(default_factory=list)  # friction items of the draft
    samples: list[tuple[RecordEvent, Decision]] = field(default_factory=list)
    seconds: float = 0.0


def examples() -> list[str]:
    """The example packs shipped with Lastmile, by name."""
    names = (f.name for f in _EXAMPLES.iterdir() if f.name.endswith(".yaml"))
    return sorted(n.removesuffix(".yaml") for n in names if not n.endswith(".test.yaml"))


def starting_text(ruleset: RuleSet, start: str, max_bytes: int) -> str:
    """The draft to begin with: `rule:ID` the live pack holding that rule (its file as it reads
    now), `example:NAME` a shipped example; none: the first live rule's pack. Refused(404) for
    a rule or example not in the lists."""
    if not start:
        start = f"rule:{ruleset.rules[0].id}" if ruleset.rules else f"example:{examples()[0]}"
    kind, _, name = start.partition(":")
    if kind == "rule" and (loaded := ruleset.get(name)) is not None:
        return _read(Path(loaded.source.path), max_bytes)
    if kind == "example" and name in examples():  # a name from the list only: never a path
        return (_EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")
    raise Refused(404, "There is no such live rule or example: pick one from the list.")


def window(since: str, until: str, default_until: datetime) -> tuple[datetime, datetime]:
    """The window typed in the form (ISO times or dates, UTC when no zone is given); `To`
    empty is `default_until`, `From` empty four weeks before `To`."""
    try:
        end = parse_time(until) if until.strip() else default_until
        start = parse_time(since) if since.strip() else end - WINDOW
    except ValueError as exc:
        raise Refused(400, str(exc)) from None
    if start >= end:
        raise Refused(400, "The window's From must be before its To.")
    return start, end


def draft_rules(text: str, max_bytes: int) -> RuleSet:
    """The draft compiled, or RuleFileError (its problems point into the draft)."""
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        problem = Problem(DRAFT_PATH, 1, 1, f"the draft is {size} bytes; the limit is {max_bytes}")
        raise RuleFileError([problem])
    return load_text(text, DRAFT_PATH)


def quote(text: str, problems: list[Problem]) -> list[Quoted]:
    lines = text.splitlines()
    return [Quoted(p, lines[p.line - 1] if 0 < p.line <= len(lines) else None) for p in problems]


def run(
    store: Any,
    settings: Any,
    facts: Any,
    text: str,
    since: datetime,
    until: datetime,
) -> Outcome:
    """Backtest the draft `text` over [since, until); Refused when another backtest is running
    or the window holds more than MAX_EVENTS events. Problems of the draft come back quoted."""
    try:
        draft = draft_rules(text, settings.max_rule_file_bytes)
    except RuleFileError as exc:
        log.info("playground_draft_refused", problems=len(exc.problems))
        return Outcome(problems=quote(text, exc.problems))
    if not _BUSY.acquire(blocking=False):
        raise Refused(503, "Another backtest is running here; try again in a moment.")
    began = time.perf_counter()
    try:
        result = backtest.run(
            store, draft, settings, until, since, explain=SAMPLES, max_events=MAX_EVENTS
        )
    except backtest.TooManyEvents:
        raise Refused(
            422,
            f"The window holds more than {MAX_EVENTS:,} stored events, more than this page "
            "replays (it shares the process that receives webhooks). Pick a shorter window, or "
            "run `lastmile backtest` on the rule file from a shell.",
        ) from None
    finally:
        _BUSY.release()
    seconds = time.perf_counter() - began
    # Counts only: never the draft or a field value.
    log.info(
        "playground_backtest", events=result.events, rules=len(draft.rules), s=round(seconds, 3)
    )
    return Outcome(
        answer=result.to_json(since, until),
        hints=friction(result.report, draft, facts),
        samples=result.samples,
        seconds=seconds,
    )


def _read(path: Path, max_bytes: int) -> str:
    try:
        if path.stat().st_size > max_bytes:
            raise Refused(422, "That rule's pack file is larger than a rule file may be.")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise Refused(404, "That rule's pack file cannot be read now; see /readyz.") from None
