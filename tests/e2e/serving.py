"""`lastmile serve` as an operator runs it, for the end-to-end tests: its own process,
configured by a file of LASTMILE_* lines, talking to the sandbox CRM over HTTPS, with the
sandbox's Outbound Message for Task pointing at it."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from waiting import wait_for

from lastmile.connector.sandbox import Sandbox

LASTMILE = str(Path(sys.executable).with_name("lastmile"))
TOKEN = "admin-" + secrets.token_hex(8)
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    config = base / "lastmile.env"
    lines = [f"{k}={v}" for k, v in sandbox.settings().items()]
    lines += [
        f"LASTMILE_RULES={rules}",
        f"LASTMILE_DATABASE_URL=sqlite:///{base / 'lastmile.db'}",
        f"LASTMILE_ADMIN_TOKEN={TOKEN}",
        f"LASTMILE_WEBHOOK_SECRET={SECRET}",
        "LASTMILE_MAX_BODY_BYTES=1000000",
        *(f"{k}={v}" for k, v in (settings or {}).items()),
    ]
    config.write_text("\n".join(lines) + "\n")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_")}
    process = subprocess.Popen(
        # The console script, as an operator runs it (from a folder that holds `rules/`).
        [LASTMILE, "serve", "--port", str(port), "--config", str(config)],
        cwd=base,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: requests.get(url + "/readyz", timeout=2).status_code == 200,
            30,
            ignore=(requests.ConnectionError,),
        )
        sandbox.outbound("Task", url + "/webhooks/salesforce")
        yield Served(url, sandbox, rules, process, config)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        finally:
            sandbox.stop()
    assert process.returncode == 0, process.stdout.read().decode()[-3000:] if process.stdout else ""
