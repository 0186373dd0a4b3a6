"""`lastmile sandbox` (lastmile/sandbox_cli.py): it prints the settings and serves until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests
from simple_salesforce import Salesforce

ROOT = Path(__file__).resolve().parents[3]
RUN = "from lastmile.cli.sandbox import sandbox; sandbox()"


def test_the_command_prints_settings_and_serves_until_interrupted(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", RUN, "--port", "0", "--data", str(tmp_path / "sb")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        settings = {}
        while len(settings) < 6:
            line = process.stdout.readline()
            assert line, process.stderr.read()
            key, _, value = line.strip().partition("=")
            settings[key] = value
        assert settings["LASTMILE_SALESFORCE_INSTANCE_URL"].startswith("https://127.0.0.1:")
        http = requests.Session()
        http.verify = settings["LASTMILE_SALESFORCE_CA_BUNDLE"]
        http.trust_env = False
        sf = Salesforce(
            instance_url=settings["LASTMILE_SALESFORCE_INSTANCE_URL"],
            session_id=settings["LASTMILE_SALESFORCE_SESSION_ID"],
            session=http,
        )
        assert sf.query("SELECT Id FROM Opportunity")["totalSize"] == 1  # the demo records
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_port_in_use_is_a_clear_error(tmp_path, sandbox):
    done = subprocess.run(
        [sys.executable, "-c", RUN, "--port", str(sandbox.port), "--data", str(tmp_path / "sb")],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 1 and "the sandbox could not start" in done.stderr
