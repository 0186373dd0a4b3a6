"""Durations (`4h`, `2d`, `2 business days`) and text templates (`{Field}`, `{missing}`)."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from .records import Fields

_DURATION = re.compile(
    r"^\s*(?P<n>\d+)\s*(?P<unit>m|min|mins|minutes?|h|hours?|d|days?|w|weeks?|"
    r"business\s+days?|bd)\s*$",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


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
        return cls(int(match["n"]), key, str(text).strip())

    def after(self, start: datetime) -> datetime:
        if self.unit != "bd":
            return start + timedelta(seconds=self.amount * _UNIT_SECONDS[self.unit])
        moment, left = start, self.amount
        # A start on a weekend counts from the next Monday, as people read "2 business days".
        while moment.weekday() >= 5:
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
    """"A, B and C" in the pack's language."""
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


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def render(template: str, fields: Fields, record_id: str, missing: str = "") -> str:
    """Fill a template; an empty or absent field renders as nothing."""
    values = _Values({k: "" if v is None else _text(v) for k, v in fields.items()})
    if not values.get("Id"):
        values["Id"] = record_id
    values["missing"] = missing
    return template.format_map(values)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
