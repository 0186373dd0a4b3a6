"""Hot reload: a changed rules directory goes live whole, a bad one keeps the last good rules."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lastmile.reload import LiveRules

GOOD = """
pack: p
rules:
  - id: {rule}
    object: Task
    if: {{all: [{{Status: Completed}}]}}
    then: {{require: [Description]}}
"""


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    # Two writes within one clock tick must still look different to the watcher.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    _write(tmp_path / "pack.yaml", GOOD.format(rule="first"))
    return tmp_path


def test_a_good_change_goes_live(rules_dir: Path) -> None:
    live = LiveRules(rules_dir)
    assert live.reload() is True
    first = live()
    assert [r.id for r in first.rules] == ["first"]
    assert live.reload() is False  # nothing changed
    _write(rules_dir / "pack.yaml", GOOD.format(rule="second"))
    assert live.reload() is True
    assert [r.id for r in live().rules] == ["second"]
    assert live.status().version == live().version != first.version


def test_a_bad_file_keeps_the_last_good_rules(rules_dir: Path) -> None:
    live = LiveRules(rules_dir)
    live.reload()
    good = live()
    _write(rules_dir / "broken.yaml", "pack: q\nrules:\n  - id: x\n    objekt: Task\n")
    assert live.reload() is False
    assert live() is good
    status = live.status()
    assert status.version == good.version
    assert any(p.startswith(f"{rules_dir / 'broken.yaml'}:4:") for p in status.problems), (
        status.problems
    )
    (rules_dir / "broken.yaml").unlink()
    live.reload()
    assert live.status().problems == ()
    assert live() is good  # the same content: no needless swap


def test_no_rules_at_first_is_reported_not_raised_at_start(tmp_path: Path) -> None:
    live = LiveRules(tmp_path / "absent")
    assert live.reload() is False
    assert live.status().version is None
    assert live.status().problems
    with pytest.raises(RuntimeError, match="no rules loaded"):
        live()


def test_the_watcher_thread_picks_up_a_change(rules_dir: Path) -> None:
    live = LiveRules(rules_dir, poll_every=0.05).start()
    try:
        _write(rules_dir / "pack.yaml", GOOD.format(rule="watched"))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and [r.id for r in live().rules] != ["watched"]:
            time.sleep(0.02)
        assert [r.id for r in live().rules] == ["watched"]
    finally:
        live.stop()


def test_packs_for_another_crm_are_refused(rules_dir: Path) -> None:
    live = LiveRules(rules_dir, crm="hubspot")
    assert live.reload() is False
    with pytest.raises(RuntimeError, match="is for crm: salesforce"):
        live()
    [problem] = live.status().problems
    assert problem.startswith(f"{rules_dir / 'pack.yaml'}:1:1: ")
    assert "this service talks to hubspot" in problem
    hubspot = GOOD.replace("pack: p", "pack: p\ncrm: hubspot").replace("Task", "deals")
    _write(rules_dir / "pack.yaml", hubspot.format(rule="deal-rule"))
    assert live.reload() is True and [r.id for r in live().rules] == ["deal-rule"]
