"""Fuzz the rule-file loader: `load_text` may refuse a file only with `RuleFileError`, whose
every problem points at a line and column inside the file."""

from __future__ import annotations

import _harness
import atheris

with atheris.instrument_imports():
    from lastmile.rules.errors import RuleFileError
    from lastmile.rules.loader import load_text


def target(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        load_text(text, "fuzz.yaml")
    except RuleFileError as exc:
        lines = len(text.splitlines()) + 1  # YAML, like an editor, breaks lines at \r too
        for problem in exc.problems:
            assert problem.path == "fuzz.yaml", problem
            assert 0 <= problem.line <= lines, (problem, lines)


if __name__ == "__main__":
    _harness.run(target)
