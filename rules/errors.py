"""The errors of the rules package: one base class, and problems that point into rule files."""

from __future__ import annotations

from dataclasses import dataclass


class RuleError(Exception):
    """Base class of every error the rules package raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a rule file, at a line and column (1-based; 0 when not known)."""

    path: str
    line: int
    column: int
    message: str
    rule: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}" if self.line else self.path
        rule = f"rule '{self.rule}': " if self.rule else ""
        return f"{where}: {rule}{self.message}"


class RuleFileError(RuleError):
    """Rule files that cannot be used; `problems` says what and where, all at once."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems
