"""Placeholder values: text typed to get past a prompt (`asdf`, `n/a`, `.`), not a real answer.

A `require` field holding one is not filled: the prompt stays and the occasion stays open, and
measurement counts it apart (people type something when the answer is not known at that moment).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .records import FieldValue, is_empty

# Runs along a keyboard row or an alphabet: three or more of them, as a whole value, are typed to
# fill a field, not to say something ("asdf", "qwerty", "1234", "abc").
_RUNS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890", "abcdefghijklmnopqrstuvwxyz")
# Every part of three or more of a run, either way: read per `require` field of every event.
_RUN_PARTS = frozenset(
    part[i:j]
    for run in _RUNS
    for part in (run, run[::-1])
    for i in range(len(part))
    for j in range(i + 3, len(part) + 1)
)


def _keyboard_run(text: str) -> bool:
    return text in _RUN_PARTS


def _one_character(text: str) -> bool:
    """`xxx`, `...`, `--`; a lone character only when it is not a letter or digit (`.`, `-`)."""
    if not text or text != text[0] * len(text):
        return False
    return len(text) > 1 or not text.isalnum()


@dataclass(frozen=True)
class Fillers:
    """The placeholder values of one pack: its list, its per-field minimum lengths, and the
    built-in patterns (one character repeated, a keyboard run)."""

    values: frozenset[str] = frozenset()
    min_length: Mapping[str, int] | None = None

    @classmethod
    def of(cls, values: Iterable[str], min_length: Mapping[str, int]) -> Fillers:
        return cls(frozenset(v.strip().casefold() for v in values), dict(min_length))

    def is_placeholder(self, field: str, value: FieldValue) -> bool:
        """Whether a non-empty value is a placeholder. Only text can be one."""
        if not isinstance(value, str) or is_empty(value):
            return False
        text = value.strip().casefold()
        if text in self.values or _one_character(text):
            return True
        if _keyboard_run(text.replace(" ", "")):
            return True
        shortest = (self.min_length or {}).get(field)
        return shortest is not None and len(text) < shortest

    def filled(self, field: str, value: FieldValue) -> bool:
        """Filled as `require` means it: not empty and not a placeholder."""
        return not is_empty(value) and not self.is_placeholder(field, value)
