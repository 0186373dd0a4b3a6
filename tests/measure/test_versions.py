"""Before and after: a rule's figures per version, and the change with a paired interval."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from lastmile.measure.versions import versions
from lastmile.rules import RecordEvent, load_text
from lastmile.settings import Settings
from lastmile.store import Store
from lastmile.worker.batch import observe

V1 = """\
pack: calls
rules:
  - id: call-essentials
    object: Task
    if: {all: [{Type: Call}, {Status: Completed}, {changed: Status}]}
    then:
      require: [Description, Outcome__c]
      within: 1d
"""
V2 = V1.replace("require: [Description, Outcome__c]", "require: [Outcome__c]")
START = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
OWNERS = [f"0057Q0000{n:06d}AAA" for n in range(12)]


def _calls(week: int, owner_n: int, owner: str) -> list[RecordEvent]:
    """Four calls an owner a week; the outcome is always filled, the notes only every other
    time: under v1 half are met, under v2 all."""
    found = []
    for c in range(4):
        rid = f"00T7Q{week:02d}{owner_n:03d}{c:03d}AAA"
        notes = "notes" if c % 2 else None
        fields = {"Type": "Call", "Status": "Completed", "OwnerId": owner,
                  "Outcome__c": "Interested", "Description": notes}  # fmt: skip
        at = START + timedelta(weeks=week, hours=c, minutes=owner_n)
        found.append(RecordEvent(id=f"{rid}-1", object="Task", record_id=rid, kind="updated",
                                 occurred_at=at, changed=("Status",), fields=fields))  # fmt: skip
    return found


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("versions")
    kept = Store(f"sqlite:///{folder / 'v.db'}")
    kept.upgrade()
    settings = Settings(_env_file=None)
    for rules, weeks in ((V1, range(0, 3)), (V2, range(3, 6))):
        events = [e for w in weeks for n, o in enumerate(OWNERS) for e in _calls(w, n, o)]
        observe(kept, load_text(rules), settings, events)
    yield kept
    kept.close()


def test_each_version_has_its_own_figures_and_the_change_its_interval(store) -> None:
    v1, v2 = load_text(V1).rules[0].version, load_text(V2).rules[0].version
    history = versions(store, "call-essentials", START + timedelta(weeks=8), ("Outcome__c",))
    assert [v["version"] for v in history["versions"]] == [v1, v2]
    first, second = history["versions"]
    assert first["live_from"] == "2026-10-05T09:00:00Z" and first["week"] == "2026-W41"
    assert second["week"] == "2026-W44"
    assert (first["occasions"], first["met_first_time"], first["missed"]) == (144, 72, 72)
    assert (second["occasions"], second["met_first_time"], second["missed"]) == (144, 144, 0)
    assert first["compliance"] == 0.5 and second["compliance"] == 1.0
    assert first["fields_missing"] == {"Description": 72, "Outcome__c": 0}
    assert first["owners"] == 12 and first["enough_data"] is True
    [change] = history["changes"]
    assert (change["from"], change["to"]) == (v1, v2)
    assert change["difference"] == 0.5 and change["enough_data"] is True
    low, high = change["ci95"]
    assert low <= 0.5 <= high


def test_the_report_prints_versions_on_request(store, tmp_path) -> None:
    from lastmile.cli import main

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "calls.yaml").write_text(V2, encoding="utf-8")
    env = {"LASTMILE_DATABASE_URL": str(store.url), "LASTMILE_RULES": str(rules)}
    at = ["--as-of", (START + timedelta(weeks=8)).isoformat()]
    done = CliRunner().invoke(main, ["report", "--json", "--versions", *at], env=env)
    assert done.exit_code == 0, done.output
    [history] = json.loads(done.output)["versions"]
    assert history["rule"] == "call-essentials" and len(history["versions"]) == 2
    text = CliRunner().invoke(main, ["report", "--versions", *at], env=env)
    assert text.exit_code == 0, text.output
    assert "call-essentials: per version" in text.output and "v1 to v2: +50 points" in text.output


def test_a_placeholder_keeps_the_occasion_open_and_is_counted_in_the_report(tmp_path) -> None:
    from lastmile.measure import indicators

    kept = Store(f"sqlite:///{tmp_path / 'p.db'}")
    kept.upgrade()
    rules = load_text(
        V2.replace("within: 1d\n", "").replace("pack: calls", "pack: calls\nmode: observe")
    )
    owner = OWNERS[0]
    base = {"Type": "Call", "Status": "Completed", "OwnerId": owner}
    events = [
        RecordEvent(id="a1", object="Task", record_id="00T7Q000000000AAAA", kind="updated",
                    occurred_at=START, changed=("Status",), fields={**base, "Outcome__c": "asdf"}),
        RecordEvent(id="b1", object="Task", record_id="00T7Q000000000BAAA", kind="updated",
                    occurred_at=START, changed=("Status",), fields={**base, "Outcome__c": "Yes"}),
    ]  # fmt: skip
    observe(kept, rules, Settings(_env_file=None), events)
    [row] = indicators(kept, rules, Settings(_env_file=None), START + timedelta(days=1))["rules"]
    assert row["mode"] == "observe"
    assert (row["occasions"], row["met_first_time"], row["open"]) == (2, 1, 1)
    assert row["fields_placeholder"] == {"Outcome__c": 1}
    assert row["fields_missing"] == {"Outcome__c": 0}
    kept.close()
