"""Load: wrk on loopback against `lastmile serve` (waitress, embedded worker, sandbox CRM) at
increasing load until the p99 acknowledgement passes 50 ms; prints each step and the knee.

wrk is closed-loop (no constant-rate mode), so the load rises by connections: 2, 4, 8, ... Each
request is a distinct Outbound Message (one notification) for the sandbox's organisation, so
every one is stored and processed. The rate limit is switched off (one address sends it all).

    python bench/load_bench.py [--seconds 5] [--max-connections 256] [--target-ms 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from ingest_bench import LUA, SOAP, _free_port, _wait_up, _wrk  # noqa: E402

from lastmile.connector.sandbox import Sandbox  # noqa: E402

LASTMILE = str(Path(sys.executable).with_name("lastmile"))


def serve(base: Path, sandbox: Sandbox, port: int) -> subprocess.Popen:
    """`lastmile serve --config FILE` as an operator runs it."""
    config = base / "lastmile.env"
    lines = [f"{k}={v}" for k, v in sandbox.settings().items()]
    lines += [
        f"LASTMILE_DATABASE_URL=sqlite:///{base / 'lastmile.db'}",
        "LASTMILE_RATE_LIMIT=",
        "LASTMILE_LOG_LEVEL=error",
    ]
    config.write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_")}
    return subprocess.Popen(
        [LASTMILE, "serve", "--port", str(port), "--config", str(config)],
        cwd=base,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def ramp(seconds: int, max_connections: int, target_ms: float) -> list[tuple[int, dict]]:
    """(connections, wrk figures) per step, up to the first step past `target_ms` at p99."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        sandbox = Sandbox(base / "sandbox").start()
        port = _free_port()
        process = serve(base, sandbox, port)
        steps: list[tuple[int, dict]] = []
        try:
            _wait_up(port)
            script = base / "soap.lua"
            body = SOAP.replace("{org}", sandbox.org_id).replace(
                "{session}", sandbox.outbound_session()
            )
            body = body.replace("\n", "\\n").replace('"', '\\"')
            script.write_text(f'BODY = "{body}"\n' + LUA)
            url = f"http://127.0.0.1:{port}/webhooks/salesforce"
            _wrk(url, 2, 4, script)  # warm up
            connections = 2  # wrk runs two threads: at least one connection each
            while connections <= max_connections:
                figures = _wrk(url, seconds, connections, script)
                steps.append((connections, figures))
                print(
                    f"{connections:>6} {figures['rps']:>10.0f} {figures['p50_ms']:>8.2f} "
                    f"{figures['p99_ms']:>8.2f} {figures['non_2xx']:>8.0f}",
                    flush=True,
                )
                if figures["p99_ms"] > target_ms:
                    break
                connections *= 2
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
            sandbox.stop()
    return steps


def knee(steps: list[tuple[int, dict]], target_ms: float) -> tuple[int, dict] | None:
    """The last step whose p99 stayed within `target_ms`."""
    within = [step for step in steps if step[1]["p99_ms"] <= target_ms]
    return within[-1] if within else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--target-ms", type=float, default=50.0)
    args = parser.parse_args()
    print(f"{'conns':>6} {'acks/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    steps = ramp(args.seconds, args.max_connections, args.target_ms)
    best = knee(steps, args.target_ms)
    if best is None:
        print(f"p99 over {args.target_ms} ms from the first step")
    else:
        print(
            f"knee: {best[1]['rps']:.0f} acks/s at {best[0]} connections "
            f"(p99 {best[1]['p99_ms']:.1f} ms); wrk -t2, waitress 1 process x 8 threads, "
            f"{os.cpu_count()} cores"
        )


if __name__ == "__main__":
    main()
