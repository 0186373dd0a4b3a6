"""Durations (`4h`, `2d`, `2 business days`) and text templates (`{Field}`, `{missing}`)."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from .records import Fields

_UNITS = r"m|min|mins|minutes?|h|hours?|d|days?|w|weeks?|business\s+days?|bd"
_DURATION = re.compile(rf"^\s*(?P<n>\d+)\s*(?P<unit>{_UNITS})\s*$", re.IGNORECASE)
DURATION_PATTERN = rf"^\s*\d+\s*({_UNITS})\s*$"  # the same, for JSON Schema
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


MAX_DAYS = 3650


@dataclass(frozen=True)
class Duration:
    """A span of time as rule authors write it; business days skip Saturday and Sunday."""

    amount: int
    unit: str  # "m", "h", "d", "w" or "bd"
    text: str

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION.match(str(text))
        if not match:
            raise ValueError(
                f"{text!r} is not a duration; write e.g. 30m, 4h, 2d, 1w or 2 business days"
            )
        unit = match["unit"].lower()
        if unit.startswith("business") or unit == "bd":
            key = "bd"
        elif unit.startswith("mi") or unit == "m":
            key = "m"
        else:
            key = unit[0]
        amount = int(match["n"])
        days = amount * (7 / 5 if key == "bd" else _UNIT_SECONDS[key] / 86_400)
        if days > MAX_DAYS:  # no deadline or due date is that far; and it must stay computable
            raise ValueError(f"{text!r} is longer than {MAX_DAYS // 365} years")
        return cls(amount, key, str(text).strip())

    def after(self, start: datetime) -> datetime:
        if self.unit != "bd":
            return start + timedelta(seconds=self.amount * _UNIT_SECONDS[self.unit])
        moment, left = start, self.amount
        # Count weekdays from the start: from Friday or Saturday alike, 1 business day is Monday.
        while not left and moment.weekday() >= 5:
            moment += timedelta(days=1)
        while left:
            moment += timedelta(days=1)
            if moment.weekday() < 5:
                left -= 1
        return moment

    def due_date(self, start: datetime) -> date:
        return self.after(start).date()

    def __str__(self) -> str:
        return self.text


_AND = {"en": "and", "nl": "en", "de": "und", "fr": "et", "es": "y", "it": "e", "pt": "e"}


def join_naturally(items: list[str], locale: str) -> str:
    """ "A, B and C" in the pack's language."""
    if len(items) <= 1:
        return "".join(items)
    word = _AND.get(locale.split("-")[0].lower(), _AND["en"])
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def placeholders(template: str) -> list[str]:
    """The `{name}` placeholders of a template; ValueError if it is malformed."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name or spec or conversion or not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", name):
            raise ValueError(
                f"bad placeholder {{{name}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}} in {template!r}: write {{FieldName}}, "
                "{missing} or {Id}; double the braces for a literal {{ or }}"
            )
        names.append(name)
    return names


class _Values(Mapping[str, str]):
    """The values a template may name, turned into text only when named."""

    def __init__(self, fields: Fields, record_id: str, missing: str) -> None:
        self._fields, self._record_id, self._missing = fields, record_id, missing

    def __getitem__(self, key: str) -> str:
        if key == "missing":
            return self._missing
        value = self._fields.get(key)
        if key == "Id" and value in (None, ""):
            return self._record_id
        return "" if value is None else _text(value)

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


def render(template: str, fields: Fields, record_id: str, missing: str = "") -> str:
    """Fill a template; an empty or absent field renders as nothing."""
    return template.format_map(_Values(fields, record_id, missing))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
