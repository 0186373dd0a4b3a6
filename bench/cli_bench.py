"""How long an admin waits for the command line, measured as whole processes (interpreter start,
imports, work, exit), the way an editor or a pre-commit hook runs it.

    python bench/cli_bench.py [--runs 15]

Baselines in the same run: a bare interpreter (`python -c pass`), and importing every command
module up front (what `lastmile --help` did before the commands were loaded lazily). Targets:
`lastmile --help` and `lastmile rules check` of one small pack under 0.3 s (median); `rules
check` of a directory of 500 packs (the example packs copied with new ids) under 3 s.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "examples" / "rules" / "client-calls.yaml"
EVERY_COMMAND = (
    "import lastmile.cli.rules, lastmile.cli.report, lastmile.cli.events, lastmile.cli.demo, "
    "lastmile.cli.serve, lastmile.cli.sandbox, lastmile.cli.worker, lastmile.runtime"
)
TARGET_S = 0.3
MANY_PACKS, MANY_TARGET_S = 500, 3.0


def _many_packs(folder: Path) -> Path:
    """MANY_PACKS rule packs: the example packs over and over, each copy with its own ids."""
    packs = [p.read_text() for p in sorted(PACK.parent.glob("*.yaml")) if ".test." not in p.name]
    out = folder / "many"
    out.mkdir()
    for n in range(MANY_PACKS):
        text = packs[n % len(packs)].split("\ntests:", 1)[0]  # the rules; tests name the ids
        text = re.sub(r"^(pack|  - id): (\S+)", rf"\1: \2-{n}", text, flags=re.M)
        (out / f"pack-{n:03d}.yaml").write_text(text)
    return out


def _lastmile() -> str:
    script = Path(sys.executable).with_name("lastmile")
    if not script.exists():
        sys.exit(f"{script} is missing: pip install -e . into this interpreter's environment")
    return str(script)


def _time(argv: list[str], runs: int, cwd: str) -> list[float]:
    subprocess.run(argv, cwd=cwd, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    lastmile = _lastmile()
    cases = [
        ("python -c pass (interpreter start)", [sys.executable, "-c", "pass"], None),
        ("import every command module (old --help)", [sys.executable, "-c", EVERY_COMMAND], None),
        ("lastmile --help", [lastmile, "--help"], TARGET_S),
        (
            "lastmile rules check client-calls.yaml",
            [lastmile, "rules", "check", str(PACK)],
            TARGET_S,
        ),
        ("lastmile rules test client-calls.yaml", [lastmile, "rules", "test", str(PACK)], None),
    ]
    with tempfile.TemporaryDirectory() as cwd:  # an admin's folder, not the repository
        many = _many_packs(Path(cwd))
        rows = [(name, _time(argv, args.runs, cwd), target) for name, argv, target in cases]
        checked = [lastmile, "rules", "check", str(many)]
        rows.append(
            (f"lastmile rules check {MANY_PACKS} packs", _time(checked, 3, cwd), MANY_TARGET_S)
        )
    base = statistics.median(rows[0][1])
    print(f"{args.runs} runs each, whole processes; Python {sys.version.split()[0]}\n")
    print(f"{'command':44} {'median s':>9} {'p90 s':>7} {'x start':>8}  target")
    for name, times, target in rows:
        median = statistics.median(times)
        p90 = sorted(times)[max(0, round(0.9 * len(times)) - 1)]
        verdict = "" if target is None else ("ok" if median < target else "MISSED") + f" <{target}"
        print(f"{name:44} {median:9.3f} {p90:7.3f} {median / base:8.1f}  {verdict}")


if __name__ == "__main__":
    main()
