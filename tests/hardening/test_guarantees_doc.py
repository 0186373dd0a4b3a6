"""docs/guarantees.md names a test for each promise; every named test must exist (and so runs
in CI with the rest of the suite)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "guarantees.md"
NAMED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def named_tests() -> set[str]:
    return {f"{path}::{name}" for path, name in NAMED.findall(DOC.read_text())}


def collected(paths: set[str]) -> set[str]:
    """Test ids pytest collects from `paths`, parameters dropped."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *sorted(paths),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return {line.split("[")[0] for line in out.splitlines() if "::" in line}


def test_every_test_the_guarantees_name_exists() -> None:
    named = named_tests()
    assert len(named) >= 30, "the doc names fewer tests than it did"
    files = {name.split("::")[0] for name in named}
    missing_files = sorted(f for f in files if not (ROOT / f).is_file())
    assert not missing_files, missing_files
    missing = sorted(named - collected(files))
    assert not missing, missing


def test_every_table_row_names_a_test() -> None:
    rows = [
        line
        for line in DOC.read_text().splitlines()
        if line.startswith("|") and not line.startswith(("|---", "| promise", "| failure"))
    ]
    assert rows
    bare = [row for row in rows if not NAMED.search(row)]
    assert not bare, bare
