"""`lastmile demo --crm hubspot`: the loop on HubSpot on one machine, shown in the terminal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

LASTMILE = str(Path(sys.executable).with_name("lastmile"))


def test_the_demo_shows_the_prompt_and_task_written_back(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_")}
    args = ["--port", "0", "--sandbox-port", "0", "--data", str(tmp_path), "--exit-after", "0.5"]
    done = subprocess.run(
        [LASTMILE, "demo", "--crm", "hubspot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "lastmile_prompt: Deal won: fill in Closed won reason and Next step." in done.stdout
    assert "follow-up task: Schedule the kick-off: Initech expansion" in done.stdout
    # The deal's page in the sandbox, to look at what was written.
    assert re.search(r"https://127\.0\.0\.1:\d+/records/deals/\d+\n", done.stdout), done.stdout
    report = subprocess.run(
        [LASTMILE, "report", "--json", "--config", str(tmp_path / "lastmile-hubspot.env")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    (won,) = [r for r in json.loads(report.stdout)["rules"] if r["rule"] == "closed-won-essentials"]
    assert (won["occasions"], won["open"]) == (1, 1)  # prompted, not yet filled in
