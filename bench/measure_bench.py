"""How long the adoption figures take on a big store: `/api/indicators` and the dashboard overview
through the Flask app, and `lastmile report --json` (in process, through click), on stores of
10,000 and 1,000,000 record events, with the peak memory of the process computing them.

    python bench/measure_bench.py [--events 10000 1000000] [--dir /tmp/lastmile-measure-bench]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

The stores are built directly (cached: SQLite files in --dir; with --postgres, an admin URL,
databases `lastmile_bench_<events>` there): inbox rows, ledger observations and occasion rows
shaped like what the worker writes (the occasion rows through the worker's own
`occasion_rows`), over 26 weeks, 200 owners in 40 teams, five events a record, and a default
applied on every Lead's creation, 15 % of them changed by a person later. Each store is
measured in a fresh process, as the figures stand now (the dashboard's default) and, for
`/api/indicators`, a week before the data ends (before the totals' checkpoint: counted from the
rows); "occasion rows" is the aggregate queries alone, "deadline run" one `lastmile deadlines`
pass (its CRM unreachable: it reads, acts on nothing). What a page reads of the totals is kept
with the store until they change (measure/tally.py): "api, new totals" is `/api/indicators`
right after a correction of the totals committed (read again), and `report --json` opens a store
of its own each time, as the command does (so it always reads them). A store built before
migration 0004 is upgraded first (timed). Targets (issue 17): under 0.5 s at 1,000,000 events and
at most 2x the time at 10,000.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "examples" / "rules"
START = datetime(2026, 5, 25, 8, 0, tzinfo=UTC)
AS_OF = START + timedelta(weeks=26)
OWNERS = [f"0057Q0000{n:0>6}QAJ" for n in range(200)]
TOKEN = "bench-admin-token-0123456789abcdef"
RUNS = 5


def build(url: str, events: int) -> None:
    """A store of `events` record events (five a record)."""
    from lastmile.rules import load_rules
    from lastmile.store import Store
    from lastmile.store import defaults as kept_defaults
    from lastmile.store import occasions as kept
    from lastmile.store.models import ObservationRow
    from lastmile.store.occasions import occasion_rows, within_of
    from lastmile.store.tables import inbox, observations

    ruleset = load_rules([RULES])
    within = within_of(ruleset)
    measured: dict[str, list] = {}
    for item in ruleset.rules:
        if item.rule.then.require and item.rule.enabled:
            measured.setdefault(item.rule.object, []).append(item)
    objects = [*sorted(measured), "Lead"]  # Lead: defaults only
    store = Store(url)
    store.upgrade()
    rnd = random.Random(17)
    batch: dict[str, list[dict]] = {"inbox": [], "obs": [], "occ": [], "def": []}
    started = time.perf_counter()

    def flush() -> None:
        with store.writing() as conn:
            for table, key in ((inbox, "inbox"), (observations, "obs")):
                if batch[key]:
                    conn.execute(table.insert(), batch[key])
                    batch[key] = []
            # As the worker adds them: with the totals.
            kept.add(conn, batch["occ"])
            kept_defaults.add(conn, batch["def"])
            batch["occ"], batch["def"] = [], []

    inbox_id = 0
    for n in range(events // 5):
        obj = objects[n % len(objects)]
        record_id = f"{n:0>15}AAA"
        owner = rnd.choice(OWNERS)
        when = START + timedelta(seconds=rnd.randrange(26 * 7 * 86_400 - 5 * 86_400))
        observed: list[ObservationRow] = []
        changes, overridden = rnd.random() < 0.15, None  # a person changes the default
        defaulted: dict | None = None
        states = {item.id: list(item.rule.then.require) for item in measured.get(obj, [])}
        for step in range(5):
            inbox_id += 1
            event_id = f"bench-{inbox_id}"
            fields = {"OwnerId": owner, "Name": f"Record {n}"}
            if obj == "Lead" and step == 2 and changes:
                fields["LeadSource"] = "Phone"
                overridden = when
            kind = "created" if step == 0 else "updated"
            row = _inbox_row(inbox_id, event_id, obj, record_id, kind, when, fields)
            batch["inbox"].append(row)
            for rule_id, missing in states.items():
                if step and missing and rnd.random() < 0.6:
                    missing.pop()  # someone fills in a field
                situation = rnd.random() > 0.03
                observed.append(
                    ObservationRow(
                        inbox_id=inbox_id, event_id=event_id, occurred_at=when, object=obj,
                        record_id=record_id, rule=rule_id, matched=situation and step == 0,
                        situation=situation, missing=tuple(missing[: rnd.randint(0, 3)]),
                        owner=owner, rules_version="bench",
                    )
                )  # fmt: skip
            if obj == "Lead" and step == 0:
                defaulted = {
                    "inbox_id": inbox_id, "event_id": event_id, "occurred_at": when,
                    "object": obj, "record_id": record_id, "rule": "expat-lead-defaults",
                    "field": "LeadSource", "value": "Web", "owner": owner,
                }  # fmt: skip
            when += timedelta(minutes=rnd.choice([1, 20, 240, 1500, 3000]))
        if defaulted is not None:  # as store/defaults.py keeps it
            batch["def"].append({**defaulted, "overridden_at": overridden})
        batch["obs"].extend({**vars(o), "missing": list(o.missing)} for o in observed)
        batch["occ"].extend(occasion_rows(observed, within))
        if len(batch["inbox"]) >= 20_000:
            flush()
    flush()
    if store.dialect == "postgresql":
        # As autovacuum would soon after a load (it is off on some machines, this one too).
        with store.writing() as conn:
            conn.exec_driver_sql("ANALYZE")
    store.close()
    print(f"built {url}: {inbox_id:,} events in {time.perf_counter() - started:.0f} s")


def _inbox_row(inbox_id, event_id, obj, record_id, kind, when, fields) -> dict:
    event = {
        "id": event_id, "source": "bench", "object": obj, "record_id": record_id,
        "kind": kind, "occurred_at": when.isoformat(), "actor": fields["OwnerId"],
        "fields": fields,
    }  # fmt: skip
    return {
        "id": inbox_id, "source": "bench", "event_id": event_id, "object": obj,
        "record_id": record_id, "kind": kind, "occurred_at": when, "received_at": when,
        "event": json.dumps(event), "status": "done", "attempts": 1, "outcome": "nothing",
        "rules_version": "bench", "processed_at": when, "fields_seen": fields,
        "fields_written": {},
    }  # fmt: skip


def measure(url: str, teams: Path) -> dict[str, float]:
    """In this (fresh) process: the median of RUNS timings of each page, and peak memory."""
    from click.testing import CliRunner
    from flask import Flask

    from lastmile.cli.report import report
    from lastmile.connector.base import ConnectorError
    from lastmile.deadlines import run_deadlines
    from lastmile.measure.tally import tallies
    from lastmile.rules import load_rules
    from lastmile.settings import Settings
    from lastmile.store import Store
    from lastmile.store.tables import totals_changes
    from lastmile.webhooks.api import api_blueprint
    from lastmile.webhooks.dashboard import dashboard_blueprint

    env = {
        "LASTMILE_DATABASE_URL": url,
        "LASTMILE_RULES": str(RULES),
        "LASTMILE_TEAMS": str(teams),
    }
    os.environ.update(env)
    settings = Settings(_env_file=None, admin_token=TOKEN, teams=teams)
    store = Store(env["LASTMILE_DATABASE_URL"])
    ruleset = load_rules([RULES])
    runtime = SimpleNamespace(settings=settings, store=store, rules=lambda: ruleset)
    app = Flask("bench")
    app.register_blueprint(api_blueprint(runtime))
    app.register_blueprint(dashboard_blueprint(runtime), url_prefix="/dashboard")
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    week_back = AS_OF.isoformat().replace("+00:00", "Z")
    runner = CliRunner()

    def api() -> None:
        answer = client.get("/api/indicators", headers=bearer)
        assert answer.status_code == 200, answer.text

    def api_back() -> None:
        answer = client.get(f"/api/indicators?as_of={week_back}", headers=bearer)
        assert answer.status_code == 200, answer.text

    def dashboard() -> None:
        answer = client.get("/dashboard", headers=bearer)
        assert answer.status_code == 200, answer.text[:300]

    def cli() -> None:
        done = runner.invoke(report, ["--json"], catch_exceptions=False)
        assert done.exit_code == 0, done.output

    def rows() -> None:  # the occasion rows' aggregate queries alone (no defaults)
        tallies(store, datetime.now(UTC))

    def unreachable(_writes: object) -> None:
        raise ConnectorError("the bench has no CRM")

    def deadlines() -> None:
        crm = SimpleNamespace(apply=unreachable)
        run_deadlines(store, ruleset, crm, settings, datetime.now(UTC))  # type: ignore[arg-type]

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    api()  # warm: rules, connections, templates
    gc.freeze()  # as `lastmile serve` does once it has started
    result: dict[str, float] = {}

    def correct() -> None:  # what a late event correcting a folded occasion commits
        with store.writing() as conn:
            conn.execute(totals_changes.insert())

    pages = (
        ("api", api, None), ("report", cli, None), ("dashboard", dashboard, None),
        ("rows", rows, None), ("api_changed", api, correct), ("api_back", api_back, None),
        ("deadlines", deadlines, None),
    )  # fmt: skip
    for name, page, setup in pages:
        times = []
        for _ in range(RUNS):
            if setup is not None:
                setup()
            started = time.perf_counter()
            page()
            times.append(time.perf_counter() - started)
        result[name] = sorted(times)[RUNS // 2]
    result["rss_before_mb"] = before
    result["rss_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    store.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/lastmile-measure-bench"))
    parser.add_argument("--postgres", help="an admin URL: measure PostgreSQL instead")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    teams = args.dir / "teams.yaml"
    if args.measure:
        print(json.dumps(measure(args.measure, teams)))
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    teams.write_text(
        "teams:\n"
        + "".join(f"  Team {t}: [{', '.join(OWNERS[t * 5 : t * 5 + 5])}]\n" for t in range(40))
    )
    figures = {}
    for events in args.events:
        url = _store(args, events)
        done = subprocess.run(
            [sys.executable, __file__, "--dir", str(args.dir), "--measure", url],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        figures[events] = json.loads(done.stdout.strip().splitlines()[-1])
    base = figures[args.events[0]]
    kind = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{kind}, median of {RUNS}; ratio to {args.events[0]:,} events")
    print(f"{'events':>10}  {'api/indicators':>16}  {'report --json':>16}  {'dashboard':>16}  "
          f"{'occasion rows':>16}  {'api, new totals':>16}  {'api, week back':>16}  "
          f"{'deadline run':>16}  {'RSS before':>10}  {'RSS peak':>9}")  # fmt: skip
    for events, f in figures.items():
        keys = ("api", "report", "dashboard", "rows", "api_changed", "api_back", "deadlines")
        cells = [f"{f[k]:7.3f} s {f[k] / base[k]:5.1f}x" for k in keys]
        print(f"{events:>10,}  " + "  ".join(f"{c:>16}" for c in cells)
              + f"  {f['rss_before_mb']:7.0f} MB  {f['rss_peak_mb']:6.0f} MB")  # fmt: skip


def _store(args: argparse.Namespace, events: int) -> str:
    """The URL of the store of `events` events, built first if it is not there yet."""
    if not args.postgres:
        path = args.dir / f"store-{events}.db"
        url = f"sqlite:///{path}"
        if not path.exists():
            build(url, events)
        return _upgraded(url)
    import sqlalchemy as sa

    name = f"lastmile_bench_{events}"
    admin = sa.create_engine(
        args.postgres.replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        there = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if there is None:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    if there is None:
        build(url, events)
    return _upgraded(url)


def _upgraded(url: str) -> str:
    """The store at `url` with every migration applied (timed when one was missing)."""
    from lastmile.store import Store

    store = Store(url)
    started = time.perf_counter()
    store.upgrade()
    took = time.perf_counter() - started
    if took > 1:
        print(f"upgraded {url} in {took:.0f} s")
    store.close()
    return url


if __name__ == "__main__":
    main()
