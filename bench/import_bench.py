"""How fast `lastmile events import --observe` loads a file of record events: the whole command
as a process (reading and checking every line, evaluating the example rules, writing the inbox,
ledger, occasion and default rows), on a new store for each size.

    python bench/import_bench.py [--events 10000 100000] [--dir /tmp/lastmile-import-bench]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--keep]

The events: calls (Task), opportunities, leads and dossiers (Case) of 200 owners over 26 weeks,
five events a record, each carrying every field the example rules read; one record in 50 has
two events arriving out of order (those records go one event to a transaction), one event in
100 is sent twice. The file is written once per size and kept in --dir. Target (issue 17): at
least 5,000 events/s on SQLite, 100,000 events in under 20 s. The command's CPU seconds are
printed too: on a machine others share, wall-clock time says more about them than about it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 5, 25, 8, 0, tzinfo=UTC)
OWNERS = [f"0057Q0000{n:0>6}QAJ" for n in range(200)]
OBJECTS = ("Task", "Opportunity", "Lead", "Case")
PREFIX = {"Task": "00T", "Opportunity": "006", "Lead": "00Q", "Case": "500"}
STAGES = {
    "Task": ["Not Started", "Completed", "Completed", "Completed", "Completed"],
    "Opportunity": ["Prospecting", "Qualification", "Proposal", "Closed Won", "Closed Won"],
    "Lead": ["Open - Not Contacted", "Working - Contacted", "Working - Contacted",
             "Working - Contacted", "Closed - Converted"],
    "Case": ["New", "Intake", "Intake", "Advice signed", "Advice signed"],
}  # fmt: skip
STATUS_FIELD = {"Opportunity": "StageName"}
CHOICES = {  # a field's possible values; a field not listed: empty or filled in
    "Type": ["Call", "Call", "Call", "Email"],
    "Outcome__c": [None, "Interested", "No answer", "Not interested"],
    "LeadSource": [None, "Web", "Phone"],
    "Country": [None, "Netherlands", "Germany"],
    "Rating": ["Hot", "Warm", "Cold"],
    "Amount": [None, 250_000],
    "Estimated_Mortgage__c": [None, 300_000],
    "Probability": [10, 50, 90],
    "CloseDate": [None, "2026-09-01"],
    "Signed_Date__c": [None, "2026-06-01"],
    "Client_Consent__c": [None, True],
}


def events(count: int, seed: int = 17) -> list[dict]:
    """`count` events (five a record), in the order they arrive."""
    from lastmile.rules import load_rules
    from lastmile.runtime import example_dir

    ruleset = load_rules([example_dir() / "rules"])
    rnd = random.Random(seed)
    out: list[dict] = []
    for n in range(count // 5):
        obj = OBJECTS[n % len(OBJECTS)]
        record_id = f"{PREFIX[obj]}7Q{n:0>13}"
        owner = rnd.choice(OWNERS)
        fields = {name: None for name in ruleset.fields(obj) - {"Id"}}
        fields["OwnerId"] = owner
        when = START + timedelta(seconds=rnd.randrange(26 * 7 * 86_400 - 10 * 86_400))
        record = []
        for step in range(5):
            for name in fields:
                if name in CHOICES and (step == 0 or rnd.random() < 0.3):
                    fields[name] = rnd.choice(CHOICES[name])
                elif name not in CHOICES and name != "OwnerId" and rnd.random() < 0.4:
                    fields[name] = f"{name} {n}"
            fields[STATUS_FIELD.get(obj, "Status")] = STAGES[obj][step]
            record.append({
                "id": f"bench-{n}-{step}", "source": "import-bench", "object": obj,
                "record_id": record_id, "kind": "created" if step == 0 else "updated",
                "occurred_at": when.isoformat().replace("+00:00", "Z"), "actor": owner,
                "fields": dict(fields),
            })  # fmt: skip
            when += timedelta(minutes=rnd.choice([2, 30, 240, 1500, 3000]))
        if n % 50 == 0:
            record[2], record[3] = record[3], record[2]
        out.extend(record)
    for i in rnd.sample(range(len(out)), len(out) // 100):  # redelivered a little later
        out.insert(min(len(out), i + rnd.randrange(1, 50)), out[i])
    return out


def run(count: int, folder: Path, postgres: str | None) -> tuple[float, float, str]:
    """Import `count` events into a new store: seconds, the process's CPU seconds (on a shared
    machine the fairer figure), and the command's summary line."""
    file = folder / f"events-{count}.jsonl"
    if not file.exists():
        with file.open("w") as out:
            out.writelines(json.dumps(e) + "\n" for e in events(count))
    url = _new_store(folder, count, postgres)
    env = {**os.environ, "LASTMILE_DATABASE_URL": url}
    env.pop("LASTMILE_RULES", None)  # the example packs
    lastmile = [sys.executable, "-m", "lastmile"]
    subprocess.run([*lastmile, "db", "upgrade"], env=env, check=True, capture_output=True)
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(
        [*lastmile, "events", "import", str(file), "--observe"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu
    if done.returncode:
        sys.exit(f"import failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds, cpu, done.stdout.strip().splitlines()[-1]


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _new_store(folder: Path, count: int, postgres: str | None) -> str:
    if postgres is None:
        path = folder / f"store-{count}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import sqlalchemy as sa

    name = f"lastmile_import_bench_{count}"
    admin = sa.create_engine(
        postgres.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return postgres.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/lastmile-import-bench"))
    parser.add_argument("--postgres", help="an admin URL: import into PostgreSQL instead")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    kind = "PostgreSQL" if args.postgres else "SQLite"
    print(f"lastmile events import --observe, {kind}, the whole command as a process")
    print(
        f"{'events':>10}  {'seconds':>8}  {'events/s':>9}  {'CPU s':>7}  {'per CPU s':>9}  summary"
    )
    for count in args.events:
        seconds, cpu, summary = run(count, args.dir, args.postgres)
        print(
            f"{count:>10,}  {seconds:8.1f}  {count / seconds:9,.0f}  {cpu:7.1f}  "
            f"{count / cpu:9,.0f}  {summary}"
        )


if __name__ == "__main__":
    main()
