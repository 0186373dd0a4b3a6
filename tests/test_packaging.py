"""The wheel as users install it: one top-level import name (`lastmile`), so it lives beside
PyPI's `rules` (django-rules) and a `rules/` folder in the working directory, and its commands
work from the wheel alone."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACK = """\
pack: calls
rules:
  - id: call-outcome
    object: Task
    if: {all: [{Type: Call}, {Status: Completed}]}
    then: {require: [Outcome__c]}
tests:
  - name: a completed call without an outcome asks for it
    event: {object: Task, kind: updated, fields: {Type: Call, Status: Completed}}
    expect: {matched: [call-outcome], missing: {call-outcome: [Outcome__c]}}
"""


def _run(args: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LASTMILE_", "PYTHON"))}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, need_service) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, ROOT], out)
    if done.returncode != 0:
        need_service("PyPI (setuptools for the build)", done.stderr[-500:])
    (built,) = out.glob("crm_lastmile-*.whl")
    return built


def test_the_wheel_has_one_top_level_name_and_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"lastmile"}
    for expected in (
        "lastmile/rules/__init__.py",
        "lastmile/connector/sandbox/schema.yaml",
        "lastmile/data/standard_objects.json",
        "lastmile/connector/sandbox/templates/record.html",
        "lastmile/connector/sandbox/templates/live.html",
        "lastmile/connector/hubspot_sandbox/templates/hubspot_record.html",
        "lastmile/migrations/versions/0007_totals_changes.py",
        "lastmile/examples/hubspot/deals.yaml",
        "lastmile/webhooks/templates/dashboard/base.html",
        "lastmile/webhooks/static/dashboard.css",
        "lastmile/examples/rules/client-calls.yaml",
        "lastmile/migrations/script.py.mako",
        "lastmile/cli/__init__.py",
        "lastmile/__main__.py",
    ):
        assert expected in names, expected


def test_installed_beside_pypis_rules_both_work(wheel: Path, tmp_path: Path, need_service) -> None:
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", venv], tmp_path).returncode == 0
    bin_dir = venv / "bin"
    installed = _run(
        [bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps", wheel, "rules"], tmp_path
    )
    if installed.returncode != 0:
        need_service("PyPI (the `rules` package)", installed.stderr[-500:])
    # Lastmile's dependencies come from the test environment, after the new venv's own packages
    # (a path in a .pth file is searched, but the .pth files inside it are not run: the test
    # environment's editable Lastmile stays out).
    site = next((venv / "lib").glob("python3.*/site-packages"))
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir())
    (site / "zz_test_dependencies.pth").write_text(f"{deps}\n", encoding="utf-8")

    # An admin's folder: a `rules/` directory of rule files, the trap an import name `rules` was.
    work = tmp_path / "admin"
    (work / "rules").mkdir(parents=True)
    (work / "rules" / "calls.yaml").write_text(PACK, encoding="utf-8")

    probe = _run(
        [
            bin_dir / "python",
            "-c",
            "import rules, lastmile, lastmile.rules, lastmile.cli; "
            "print(rules.__file__); print(lastmile.__file__); print(lastmile.rules.__file__)",
        ],
        work,
    )
    assert probe.returncode == 0, probe.stderr
    rules_file, lastmile_file, lastmile_rules_file = probe.stdout.split()
    assert rules_file.startswith(str(site)) and "lastmile" not in rules_file
    assert lastmile_file.startswith(str(site))
    assert lastmile_rules_file == str(site / "lastmile" / "rules" / "__init__.py")

    checked = _run([bin_dir / "lastmile", "rules", "check", "rules"], work)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("ok: 1 rules in 1 packs, 1 tests")
    tested = _run([bin_dir / "lastmile", "rules", "test", "rules"], work)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.splitlines()[-1] == "1 passed, 0 failed"

    demo = _run(
        [
            bin_dir / "lastmile",
            "demo",
            "--exit-after",
            "3",
            "--port",
            "0",
            "--sandbox-port",
            "0",
            "--data",
            "demo",
        ],
        work,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Lastmile wrote back" in demo.stdout
    report = _run(
        [bin_dir / "python", "-m", "lastmile", "report", "--json", "--config", "demo/lastmile.env"],
        work,
    )
    assert report.returncode == 0, report.stderr
    assert '"call-essentials"' in report.stdout
    listed = _run([bin_dir / "lastmile", "events", "list", "--config", "demo/lastmile.env"], work)
    assert listed.returncode == 0, listed.stderr
    assert "applied" in listed.stdout  # the demo's scripted call was written back
