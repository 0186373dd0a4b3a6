"""A file of RecordEvents, one JSON object a line (JSON Lines), read and checked as
`/webhooks/events` checks a request's events: every problem named by its line number and where
in the event it is, never by the value found there."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from lastmile.rules import RecordEvent
from lastmile.webhooks.errors import InvalidBody, Refused
from lastmile.webhooks.events import parse_events
from lastmile.webhooks.limits import check_json_depth


class Events(Sequence[RecordEvent]):
    """Checked events, kept as their JSON text and read again when asked for: a model takes
    about ten times the memory, and a file may hold millions."""

    def __init__(self) -> None:
        self._texts: list[str] = []

    def append(self, event: RecordEvent) -> None:
        self._texts.append(event.model_dump_json())

    def __len__(self) -> int:
        return len(self._texts)

    @overload
    def __getitem__(self, index: int) -> RecordEvent: ...

    @overload
    def __getitem__(self, index: slice) -> list[RecordEvent]: ...

    def __getitem__(self, index: int | slice) -> RecordEvent | list[RecordEvent]:
        if isinstance(index, slice):
            return [RecordEvent.model_validate_json(t) for t in self._texts[index]]
        return RecordEvent.model_validate_json(self._texts[index])


@dataclass
class EventFile:
    """What a file held: its events in line order, and its problems (`line N: message`)."""

    events: Events = field(default_factory=Events)
    problems: list[str] = field(default_factory=list)
    lines: int = 0


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_events(
    lines: Iterable[bytes],
    *,
    max_line_bytes: int,
    max_depth: int,
    progress: Callable[[int], None] | None = None,
) -> EventFile:
    """Check every line of `lines`; blank lines are skipped."""
    found = EventFile()
    for number, raw in enumerate(lines, 1):
        found.lines = number
        if progress is not None and number % 5_000 == 0:
            progress(number)
        if not raw.strip():
            continue
        problem = None
        if len(raw) > max_line_bytes:
            problem = f"longer than {max_line_bytes:,} bytes (LASTMILE_MAX_BODY_BYTES)"
        else:
            try:
                found.events.append(_event(raw, max_depth))
            except Refused as exc:
                problem = "; ".join(_where(p) for p in exc.problems) or exc.message
        if problem is not None:
            found.problems.append(f"line {number}: {problem}")
    if progress is not None:
        progress(found.lines)
    return found


def _event(raw: bytes, max_depth: int) -> RecordEvent:
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise InvalidBody("not UTF-8") from None
    check_json_depth(text, max_depth)
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:  # a position, never the content
        raise InvalidBody(f"not JSON: {exc.msg} at column {exc.colno}") from None
    except ValueError as exc:
        raise InvalidBody(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidBody("not an event: each line holds one JSON object")
    [event] = parse_events(data)
    return event


def _where(problem: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in problem["loc"])
    return f"{where}: {problem['message']}" if where else problem["message"]
