"""`lastmile serve` in its own process, as an operator runs it, for the end-to-end tests.
Importable as `launch` from every test folder (pytest puts `tests/` on sys.path)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests
from waiting import wait_for

LASTMILE = str(Path(sys.executable).with_name("lastmile"))  # the console script


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict[str, str]:
    """This process's environment without LASTMILE_* settings: a config file says them."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_")}


def write_config(
    base: Path, crm: Mapping[str, str], admin_token: str, extra: Mapping[str, str] | None = None
) -> Path:
    """base/lastmile.env: the CRM sandbox's settings, the rules in base/rules, a SQLite database
    in base, the admin token, then `extra`, one KEY=value a line."""
    settings = {
        **crm,
        "LASTMILE_RULES": str(base / "rules"),
        "LASTMILE_DATABASE_URL": f"sqlite:///{base / 'lastmile.db'}",
        "LASTMILE_ADMIN_TOKEN": admin_token,
        **(extra or {}),
    }
    config = base / "lastmile.env"
    config.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return config


@contextmanager
def lastmile_serve(
    config: Path, port: int, cwd: Path, ready_within: float = 30
) -> Iterator[subprocess.Popen]:
    """`lastmile serve --config config` on `port`, from `cwd`, until it answers /readyz; stopped
    with SIGTERM on leaving, and asserted to exit cleanly."""
    process = subprocess.Popen(
        [LASTMILE, "serve", "--port", str(port), "--config", str(config)],
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200,
            ready_within,
            ignore=(requests.ConnectionError,),
        )
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert process.returncode == 0, process.stdout.read().decode()[-3000:] if process.stdout else ""
