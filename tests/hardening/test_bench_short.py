"""Short CI versions of bench/soak_bench.py and bench/load_bench.py: they fail on a clear
regression (memory growing with events, acknowledgements slowing by an order of magnitude),
not on a slow machine."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from ingest_bench import SESSION, SOAP  # noqa: E402
from soak_bench import soak  # noqa: E402

from lastmile.settings import Settings  # noqa: E402
from lastmile.store import Store  # noqa: E402
from lastmile.webhooks import create_app  # noqa: E402

ORG = "00D5e000000AbCdEAM"


def test_a_short_soak_applies_every_event_and_memory_stays_flat() -> None:
    result = soak(events=1_500, every=150, batch=50, threads=4)
    assert result.counts["done"] == 1_500 and result.counts["dead"] == 0
    assert result.crm.writes == 1_500 and result.crm.tasks == 1_500  # one write-back each
    assert result.growth < 0.25, result.samples  # generous: the bench holds 10% at 1M events
    # About 260-320/s on the two-core machine since occasion rows and their totals are kept in
    # the event's transaction (520/s before; building their statements per event cost 190/s),
    # but 160-215/s on a slow day of the same machine, the code of the day before alike (a 200/s
    # floor failed CI then): slower than 100/s is a regression, not the machine.
    assert result.events / result.seconds > 100, result.seconds


def test_acknowledgements_under_concurrent_load_stay_fast(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'load.db'}", salesforce_org_ids=[ORG], rate_limit=""
    )
    store = Store.from_settings(settings)
    store.upgrade()
    app = create_app(settings, store, sessions=lambda sid: (ORG, "005000000000001AAA"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/webhooks/salesforce"
    template = SOAP.replace("{org}", ORG).replace("{session}", SESSION)
    latencies: list[float] = []
    statuses: list[int] = []

    def sender(worker: int) -> None:
        with requests.Session() as http:
            for n in range(100):
                unique = f"{worker:03d}{n:06d}"
                body = template % ("04l" + unique.rjust(15, "0"), "00T5e" + unique.rjust(13, "0"))
                started = time.perf_counter()
                answer = http.post(url, data=body, headers={"Content-Type": "text/xml"})
                latencies.append(time.perf_counter() - started)
                statuses.append(answer.status_code)

    try:
        threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.shutdown()
        store.engine.dispose()
    assert statuses.count(200) == 400, set(statuses)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    assert p99 < 0.5, f"p99 {p99 * 1000:.0f} ms"  # ~10-40 ms here; the bench's knee is at 50
    assert store.counts()["pending"] == 400  # each acknowledged one stored (no worker here)
