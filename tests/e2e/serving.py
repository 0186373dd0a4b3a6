"""`lastmile serve` as an operator runs it, for the end-to-end tests: its own process,
configured by a file of LASTMILE_* lines, talking to the sandbox CRM over HTTPS, with the
sandbox's Outbound Message for Task pointing at it."""

from __future__ import annotations

import base64
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from launch import LASTMILE as LASTMILE  # test_experiment_serve runs other commands with it
from launch import free_port, lastmile_serve, write_config

from lastmile.connector.sandbox import Sandbox

TOKEN = "admin-" + secrets.token_hex(8)
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@dataclass
class Served:
    url: str
    sandbox: Sandbox
    rules: Path
    process: subprocess.Popen
    config: Path  # the LASTMILE_* file it was started with (for other commands)

    def admin(self, path: str) -> requests.Response:
        return requests.get(
            self.url + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )

    def stored(self) -> int:
        return len(self.admin("/api/events?limit=1000").json()["events"])


@contextmanager
def serving(
    base: Path, packs: Mapping[str, str], settings: Mapping[str, str] | None = None
) -> Iterator[Served]:
    """The receiver serving the rule `packs` (file name -> YAML) with extra `settings`."""
    sandbox = Sandbox(base / "sandbox").start()
    rules = base / "rules"
    rules.mkdir()
    for name, text in packs.items():
        (rules / name).write_text(text)
    extra = {
        "LASTMILE_WEBHOOK_SECRET": SECRET,
        "LASTMILE_MAX_BODY_BYTES": "1000000",
        **(settings or {}),
    }
    config = write_config(base, sandbox.settings(), TOKEN, extra)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        # From a folder that holds `rules/`, as an operator runs it.
        with lastmile_serve(config, port, cwd=base) as process:
            sandbox.outbound("Task", url + "/webhooks/salesforce")
            yield Served(url, sandbox, rules, process, config)
    finally:
        sandbox.stop()
