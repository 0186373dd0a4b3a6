"""Ingest benchmark: Outbound Messages acknowledged per second, and acknowledgement latency.

Runs, in one go and under the same HTTP server and settings as `lastmile serve`:
  1. a bare Flask endpoint that answers the Ack envelope without reading anything (the baseline);
  2. Lastmile's `/webhooks/salesforce`: parse, verify the org, store in the SQLite inbox, Ack.
The load comes from wrk (Debian package `wrk`) on loopback, each request a distinct notification.
Processing (rules, write-backs) is off here: this measures the acknowledgement path only; see
`--e2e` for save -> write-back latency against the sandbox CRM.

    python bench/ingest_bench.py [--seconds 10] [--connections 16] [--rounds 3] [--e2e [--rate 50]]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORG = "00D5e000000AbCdEAM"
# The session the bench's receiver takes as live (no CRM here: `_ingest_apps` answers for it).
SESSION = "00D5e000000AbCd!AQ4AQBench.Session"

# Each wrk thread numbers its own requests, under a run number taken from the clock: every
# request is a new notification (no two threads, and no warm-up and measured run, share an id).
LUA = r"""
local threads = 0
local run = os.time() % 100000
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
  thread:set("run", run)
end
counter = 0
request = function()
  counter = counter + 1
  local body = string.format(BODY, string.format("04l%d%05d%09d", tid, run, counter),
                             string.format("00T5e%d%012d", tid, counter))
  return wrk.format("POST", nil, {["Content-Type"] = "text/xml; charset=utf-8",
                                  ["SOAPAction"] = '""'}, body)
end
"""

SOAP = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k5e000000AbCdAAK</ActionId>
   <SessionId>{session}</SessionId>
   <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0/00D5e000000AbCd</EnterpriseUrl>
   <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0/00D5e000000AbCd</PartnerUrl>
   <Notification>
    <Id>%s</Id>
    <sObject xsi:type="sf:Task" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>%s</sf:Id>
     <sf:CreatedDate>2026-11-24T10:00:00.000Z</sf:CreatedDate>
     <sf:LastModifiedById>0055e000001AbCdAAK</sf:LastModifiedById>
     <sf:LastModifiedDate>2026-11-24T10:05:00.000Z</sf:LastModifiedDate>
     <sf:OwnerId>0055e000001AbCdAAK</sf:OwnerId>
     <sf:Status>Completed</sf:Status>
     <sf:Subject>Call</sf:Subject>
     <sf:Type>Call</sf:Type>
     <sf:Description xsi:nil="true"/>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def _server(app: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    """`app` (an attribute of `_ingest_apps`) served in its own process exactly as `lastmile
    serve` serves the receiver (lastmile.serving.Server: waitress, 8 threads)."""
    code = (
        "import _ingest_apps\n"
        "from lastmile.serving import Server\n"
        f"Server(getattr(_ingest_apps, {app!r}), port={port}).run()\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=HERE, env=env)


def _wrk(url: str, seconds: int, connections: int, script: Path) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}

    def pct(p: str) -> float:
        m = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * unit[m.group(2)] if m else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
    }


def ingest(seconds: int, connections: int, rounds: int = 3) -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "soap.lua"
        body = SOAP.replace("{org}", ORG).replace("{session}", SESSION)
        body = body.replace("\n", "\\n").replace('"', '\\"')
        script.write_text(f'BODY = "{body}"\n' + LUA)
        env = {
            **os.environ,
            "PYTHONPATH": str(HERE.parent),
            "LASTMILE_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "LASTMILE_SALESFORCE_ORG_IDS": ORG,
            "BENCH_SESSION_ID": SESSION,
            "LASTMILE_LOG_LEVEL": "warning",
            "LASTMILE_RATE_LIMIT": "",  # the load comes from one address
        }
        apps = {"bare Flask Ack": "bare", "Lastmile": "lastmile"}
        procs, urls = [], {}
        try:
            for name, app in apps.items():  # both up at once; an idle one costs nothing
                port = _free_port()
                procs.append(_server(app, port, env))
                _wait_up(port)
                urls[name] = f"http://127.0.0.1:{port}/webhooks/salesforce"
                _wrk(urls[name], 2, connections, script)  # warm up
            # Rounds alternate between the two, so a drift of the machine hits both alike.
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in apps}
            for _ in range(rounds):
                for name in apps:
                    runs[name].append(_wrk(urls[name], seconds, connections, script))
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        rows = [(name, _median_run(r)) for name, r in runs.items()]
        base = rows[0][1]["rps"] or 1.0
        print(
            f"\n{'endpoint':<16} {'events/s':>10} {'vs bare':>8} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'non-2xx':>8}"
        )
        for name, r in rows:
            print(
                f"{name:<16} {r['rps']:>10.0f} {r['rps'] / base:>8.2f} {r['p50_ms']:>8.2f} "
                f"{r['p99_ms']:>8.2f} {r['non_2xx']:>8.0f}"
            )
        pairs = zip(runs["Lastmile"], runs["bare Flask Ack"], strict=True)
        each = ", ".join(f"{a['rps'] / b['rps']:.2f}" for a, b in pairs)
        print(
            f"(the median of {rounds} alternating rounds of {seconds} s; ratio per round: {each}; "
            f"{connections} connections, wrk -t2, waitress 1 process x 8 threads, "
            f"{os.cpu_count()} cores)"
        )


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The round with the median throughput (its latencies with it)."""
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per endpoint")
    parser.add_argument("--e2e", action="store_true", help="also save -> write-back latency")
    parser.add_argument(
        "--rate",
        type=float,
        default=50.0,
        help="e2e saves per second (each makes three record events: the save, the echo of "
        "the write-back and the follow-up task created)",
    )
    args = parser.parse_args()
    ingest(args.seconds, args.connections, args.rounds)
    if args.e2e:
        from _e2e_latency import run

        print(json.dumps(run(rate=args.rate, seconds=args.seconds), indent=2))


if __name__ == "__main__":
    main()
