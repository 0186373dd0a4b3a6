"""Occasions kept as rows give the indicators the whole-ledger derivation gives, for random
event histories (duplicates, late and reordered deliveries, deleted records) and random `as_of`
times, the instants of events and deadlines included."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from fakes import INTEGRATION, Clock, FakeCrm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from postgres import postgres_database, postgres_problem

from lastmile.measure.indicators import figures, indicators, iso, iso_week
from lastmile.measure.occasions import occasions
from lastmile.measure.teams import Teams
from lastmile.rules import RuleSet, load_rules
from lastmile.rules.records import RecordEvent, same_value
from lastmile.settings import Settings
from lastmile.store import Store, totals
from lastmile.store.occasions import within_of
from lastmile.store.tables import default_totals, occasion_checkpoint, occasion_totals
from lastmile.store.tables import defaults_applied as defaults_table
from lastmile.store.tables import occasions as occasions_table
from lastmile.users import same_user
from lastmile.worker import Worker

RULES = """\
pack: rows
rules:
  - id: call-notes
    object: Task
    if:
      all: [{Type: Call}, {Status: Completed}, {changed: Status}]
    then:
      require: [Description, Outcome__c]
      within: 1d
  - id: call-next
    object: Task
    if:
      all: [{Type: Call}, {Status: Completed}]
    then:
      require: [Next_Step__c]
  - id: call-priority
    object: Task
    if: {on: created}
    then:
      default: {Priority: Normal}
"""
OWNERS = [f"0057Q0000{n:0>6}QAJ" for n in ("A1", "A2", "A3", "A4", "A5", "B1")]
TEAMS = "teams:\n  Big: [" + ", ".join(OWNERS[:5]) + "]\n"
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FIELDS = (
    "Type", "Status", "Subject", "Description", "Outcome__c", "Next_Step__c", "OwnerId",
    "Priority",
)  # fmt: skip
ACTORS = [OWNERS[0], OWNERS[5], INTEGRATION, None]

step = st.fixed_dictionaries(
    {
        "gap": st.sampled_from([0, 30, 240, 1440, 2000]),  # minutes; 1440 = the deadline
        "status": st.sampled_from(["Completed", "Completed", "In Progress"]),
        "description": st.sampled_from([None, "", "talked"]),
        "outcome": st.sampled_from([None, "Interested"]),
        "next": st.sampled_from([None, "Offer"]),
        "owner": st.sampled_from(OWNERS),
        "priority": st.sampled_from([None, "Normal", "High"]),
        "actor": st.sampled_from(ACTORS),
    }
)
record = st.tuples(st.lists(step, min_size=1, max_size=6), st.booleans())  # deleted at the end
history = st.lists(record, min_size=1, max_size=4)


def _events(records: list[tuple[list[dict], bool]]) -> list[RecordEvent]:
    events = []
    for r, (steps, deleted) in enumerate(records):
        when, rid = START, f"00T7Q00000Lm{r:0>3}UAR"
        for n, s in enumerate(steps):
            when += timedelta(minutes=s["gap"])
            fields = {
                "Type": "Call",
                "Status": s["status"],
                "Subject": "Call",
                "Description": s["description"],
                "Outcome__c": s["outcome"],
                "Next_Step__c": s["next"],
                "OwnerId": s["owner"],
                "Priority": s.get("priority"),
            }
            kind = "created" if n == 0 else "updated"
            events.append(_event(f"e{r}-{n}", rid, kind, when, fields, s.get("actor", OWNERS[0])))
        if deleted:
            when += timedelta(minutes=60)
            events.append(_event(f"e{r}-x", rid, "deleted", when, dict.fromkeys(FIELDS)))
    return events


def _event(
    eid: str, rid: str, kind: str, when: datetime, fields: dict, actor: str | None = OWNERS[0]
) -> RecordEvent:
    return RecordEvent(
        id=eid, object="Task", record_id=rid, kind=kind, occurred_at=when, actor=actor,
        fields=fields,
    )  # fmt: skip


def _expected(store: Store, ruleset: RuleSet, teams: Teams, as_of: datetime) -> dict[str, Any]:
    """The contract's rows straight from `rules.occasions.derive` over the whole ledger."""
    found = occasions(store, ruleset, as_of)
    require = {i.id: tuple(i.rule.then.require) for i in ruleset.rules}
    order = [i.id for i in ruleset.rules if i.rule.then.require]

    def rows(key_name: str, key_of) -> list[dict[str, Any]]:
        groups: dict[tuple[str, str], list] = {}
        for o in found:
            groups.setdefault((key_of(o), o.occasion.rule), []).append(o.occasion)
        return [
            {key_name: k, **figures(r, groups[(k, r)], require[r])}
            for k in sorted({k for k, _ in groups})
            for r in order
            if (k, r) in groups
        ]

    return {
        "as_of": iso(as_of),
        "rules": [
            {
                "rule": r,
                "mode": ruleset.get(r).mode,
                **figures(r, [o.occasion for o in found if o.occasion.rule == r], require[r]),
            }
            for r in order
        ],
        "teams": rows("team", lambda o: teams.team_of(o.occasion.owner)),
        "weeks": rows("week", lambda o: iso_week(o.occasion.opened_at)),
        "defaults": _expected_defaults(store, teams, as_of),
        "people": rows("person", lambda o: o.occasion.owner or ""),
    }


def _expected_defaults(store: Store, teams: Teams, as_of: datetime) -> list[dict[str, Any]]:
    """Defaults applied and overridden by `as_of`, replaying each record's history."""
    counts: dict[tuple[str, str], list[int]] = {}
    for d in store.defaults_applied():
        if d.occurred_at > as_of:
            continue
        history = store.history(d.object, d.record_id)
        later = [
            r.event
            for r in history
            if (d.occurred_at, d.inbox_id) < (r.occurred_at, r.id) and r.occurred_at <= as_of
        ]
        changed = any(
            e.actor is not None
            and not same_user(e.actor, INTEGRATION)
            and d.field in e.fields
            and not same_value(e.fields[d.field], d.value)
            for e in later
        )
        tally = counts.setdefault((d.rule, d.field), [0, 0])
        tally[0] += 1
        tally[1] += changed
    return [
        {"rule": r, "field": f, "applied": n, "overridden": c, "override_rate": c / n}
        for (r, f), (n, c) in sorted(counts.items())
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(history=history, seed=st.integers(0, 2**32 - 1))
def test_occasion_rows_give_the_figures_of_the_whole_ledger(history, seed) -> None:
    rnd = random.Random(seed)
    events = _events(history)
    with tempfile.TemporaryDirectory() as tmp:
        pack, teams_file = Path(tmp, "rows.yaml"), Path(tmp, "teams.yaml")
        pack.write_text(RULES)
        teams_file.write_text(TEAMS)
        ruleset = load_rules([pack])
        config = Settings(
            integration_user_id=INTEGRATION, teams=teams_file, person_reports=True,
            _env_file=None,
        )  # fmt: skip
        store = Store(f"sqlite:///{Path(tmp, 'rows.db')}")
        store.upgrade()
        # The totals from a random point of the history on: the worker keeps them as it goes.
        _restart_totals(store, START + timedelta(minutes=rnd.randint(0, 6000)))
        clock = Clock(START + timedelta(days=30))
        crm = FakeCrm(clock)
        for ev in sorted(events, key=lambda e: e.occurred_at):
            crm.seed(ev.object, ev.record_id, ev.occurred_at, **ev.fields)
        worker = Worker(store, lambda: ruleset, crm, config, clock=clock)
        # Arrival: shuffled, some twice, in batches processed as they come.
        arriving = events + rnd.sample(events, k=len(events) // 3)
        rnd.shuffle(arriving)
        while arriving:
            batch, arriving = arriving[: rnd.randint(1, 4)], arriving[rnd.randint(1, 4) :]
            for inbox_id, new in store.add(batch):
                if new:
                    worker.process_event(inbox_id)
        times = [e.occurred_at for e in events]
        moments = [*times, *(t + timedelta(days=1) for t in times)]  # events and deadlines
        moments += [t + timedelta(microseconds=d) for t in moments[:4] for d in (-1, 1)]
        moments += [START + timedelta(minutes=rnd.randint(0, 20_000)) for _ in range(4)]
        teams = Teams.load(teams_file, config.min_group_size)
        # In time order the totals are folded on as `as_of` moves (each a day behind it), and
        # shuffled some come before the checkpoint (counted from the rows alone).
        for as_of in [*sorted(moments), *rnd.sample(moments, k=4)]:
            got = indicators(store, ruleset, config, as_of)
            assert got == _expected(store, ruleset, teams, as_of), as_of
        for team in ("Big", "other"):
            got = indicators(store, ruleset, config, moments[-1], team=team)
            want = _expected(store, ruleset, teams, moments[-1])
            assert got["teams"] == [row for row in want["teams"] if row["team"] == team]
        store.close()


def _restart_totals(store: Store, at: datetime) -> None:
    """Forget the totals and fold them again up to `at` (earlier than a checkpoint may go)."""
    with store.writing() as conn:
        conn.execute(occasion_checkpoint.delete())
        conn.execute(occasion_totals.delete())
        totals.fold(conn, at)


def test_rows_follow_a_change_of_the_rules_deadline(tmp_path) -> None:
    """Rows derived with another `within` are derived again with the rules asked with."""
    pack = tmp_path / "rows.yaml"
    pack.write_text(RULES)
    ruleset = load_rules([pack])
    store = Store(f"sqlite:///{tmp_path / 'rows.db'}")
    store.upgrade()
    clock = Clock(START + timedelta(days=30))
    config = Settings(integration_user_id=INTEGRATION, _env_file=None)
    events = _events([([{"gap": 0, "status": "Completed", "description": None,
                         "outcome": None, "next": None, "owner": OWNERS[0]}], False)])  # fmt: skip
    crm = FakeCrm(clock)
    crm.seed("Task", events[0].record_id, events[0].occurred_at, **events[0].fields)
    worker = Worker(store, lambda: ruleset, crm, config, clock=clock)
    for inbox_id, _ in store.add(events):
        worker.process_event(inbox_id)
    later = START + timedelta(days=3)
    assert indicators(store, ruleset, config, later)["rules"][0]["missed"] == 1
    pack.write_text(RULES.replace("within: 1d", "within: 1w"))
    longer = load_rules([pack])
    assert indicators(store, longer, config, later)["rules"][0]["open"] == 1
    assert set(within_of(longer)) == {"call-notes", "call-next", "call-priority"}
    store.close()


def _processed(
    tmp_path: Path, folded_before: datetime | None = None, url: str | None = None
) -> tuple[Store, RuleSet]:
    """A store (at `url`, else SQLite in `tmp_path`) of two records' histories, processed by
    the worker (the totals standing at `folded_before` as it starts, when given)."""
    pack = tmp_path / "rows.yaml"
    pack.write_text(RULES)
    ruleset = load_rules([pack])
    store = Store(url or f"sqlite:///{tmp_path / 'rows.db'}")
    store.upgrade()
    if folded_before is not None:
        _restart_totals(store, folded_before)
    steps = [
        {"gap": g, "status": "Completed", "description": d, "outcome": o, "next": None,
         "owner": OWNERS[n % 2]}
        for n, (g, d, o) in enumerate([(0, None, None), (30, "x", None), (2000, "x", "y")])
    ]  # fmt: skip
    _process(store, ruleset, _events([(steps, False), (steps[:2], True)]))
    return store, ruleset


def _process(store: Store, ruleset: RuleSet, events: list[RecordEvent]) -> None:
    """The events through the worker, in the order given (the CRM as the events leave it)."""
    clock = Clock(START + timedelta(days=30))
    crm = FakeCrm(clock)
    for ev in sorted(events, key=lambda e: e.occurred_at):
        crm.seed(ev.object, ev.record_id, ev.occurred_at, **ev.fields)
    worker = Worker(store, lambda: ruleset, crm, Settings(_env_file=None), clock=clock)
    for inbox_id, _ in store.add(events):
        worker.process_event(inbox_id)


# What a downgrade below 0005 loses (the ledger kept no rule versions, placeholders or arms).
_SINCE_0005 = ("fields_placeholder", "rule_version", "arm")


def _rows(store: Store, *, without: tuple[str, ...] = ()) -> list[tuple]:
    columns = [c for c in occasions_table.c if c.name != "id" and c.name not in without]
    with store.reading() as conn:
        found = conn.execute(sa.select(*columns).order_by(occasions_table.c.id)).all()
    return sorted(tuple(r) for r in found)


def _totals(store: Store) -> list[tuple]:
    with store.reading() as conn:
        return sorted(
            tuple(r)
            for table in (occasion_totals, default_totals)
            for r in conn.execute(sa.select(table).where(table.c.n != 0))
        )


def test_the_migration_builds_the_rows_the_worker_keeps(tmp_path) -> None:
    store, ruleset = _processed(tmp_path)
    kept, defaults = _rows(store, without=_SINCE_0005), store.defaults_applied()
    folded = _totals(store)
    assert len(kept) >= 4 and defaults
    config = Config()
    config.set_main_option("script_location", str(resources.files("lastmile") / "migrations"))
    with store.writing() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    seen: list[tuple[str, int, int]] = []
    store.upgrade(within=within_of(ruleset), progress=lambda *said: seen.append(said))
    assert _rows(store, without=_SINCE_0005) == kept
    assert store.defaults_applied() == defaults
    assert _totals(store) == folded and folded  # as the worker kept them
    for what in ("ledger observations", "occasion totals"):
        read = [(done, of) for said, done, of in seen if said == what]
        assert read[-1][0] == read[-1][1] > 0
    store.close()


def test_a_purge_leaves_the_rows_and_totals_of_what_is_left(tmp_path) -> None:
    folded_before = START + timedelta(days=3)
    store, ruleset = _processed(tmp_path, folded_before)
    assert _totals(store)  # the worker folded what it derived before the checkpoint
    store.purge(START + timedelta(minutes=10))
    after, kept = _rows(store), _totals(store)
    store.rebuild_occasions(within_of(ruleset))
    assert _rows(store) == after
    _restart_totals(store, folded_before)
    assert _totals(store) == kept
    store.close()


def test_figures_from_the_checkpoint_on_come_from_the_totals(tmp_path) -> None:
    """Deleting the rows folded into the totals leaves the figures from the checkpoint on as
    they were; before it, they are counted from the rows (which are gone)."""
    folded_before = START + timedelta(days=3)
    store, ruleset = _processed(tmp_path, folded_before)
    config = Settings(_env_file=None)
    after, before = folded_before + timedelta(hours=1), START + timedelta(days=1)
    want_after = indicators(store, ruleset, config, after)
    want_before = indicators(store, ruleset, config, before)
    assert want_after["rules"][0]["occasions"] > 0 and want_after["defaults"]
    with store.writing() as conn:
        conn.execute(occasions_table.delete().where(totals.folded_rows(folded_before)))
        conn.execute(defaults_table.delete())
    assert not _rows(store)
    assert indicators(store, ruleset, config, after) == want_after
    assert indicators(store, ruleset, config, before) != want_before
    store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path, need_service) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rows.db'}"
        return
    problem = postgres_problem()
    if problem:
        need_service("PostgreSQL", problem)
    with postgres_database() as made:
        yield made


def test_figures_kept_from_the_totals_follow_a_late_correction(tmp_path, url: str) -> None:
    """What a page read from the totals is kept until they change: a late event that turns a
    folded occasion from missed to met shows on the next page, and the totals' stamp moved."""
    folded_before = START + timedelta(days=3)
    store, ruleset = _processed(tmp_path, folded_before, url)
    config = Settings(_env_file=None, person_reports=True)
    as_of = folded_before + timedelta(hours=1)
    first = indicators(store, ruleset, config, as_of)
    assert indicators(store, ruleset, config, as_of) == first  # kept, and the same
    with store.reading() as conn:
        stamp = totals.stamp(conn)
    _fill_late(store, ruleset)
    with store.reading() as conn:
        assert totals.stamp(conn) != stamp
    second = indicators(store, ruleset, config, as_of)
    row = second["rules"][0]
    assert (row["met_after_prompt"], row["missed"]) == (
        first["rules"][0]["met_after_prompt"] + 1,
        first["rules"][0]["missed"] - 1,
    )
    assert row["time_to_comply_s"]["median"] == 3600
    assert second == _expected(store, ruleset, Teams(), as_of)
    store.close()


def _fill_late(store: Store, ruleset: RuleSet) -> None:
    """The first call's record: both fields filled an hour after it closed, long before the
    checkpoint (that event arrives only now): a folded occasion met after the prompt."""
    filled = {
        "Type": "Call", "Status": "Completed", "Subject": "Call", "Description": "x",
        "Outcome__c": "y", "Next_Step__c": None, "OwnerId": OWNERS[0], "Priority": None,
    }  # fmt: skip
    late = _event("late", "00T7Q00000Lm000UAR", "updated", START + timedelta(hours=1), filled)
    _process(store, ruleset, [late])


def test_figures_kept_from_the_totals_follow_a_change_of_teams(tmp_path) -> None:
    """The totals' times to comply kept per team are worked out again when the teams file
    changes (the totals themselves did not)."""
    folded_before = START + timedelta(days=3)
    store, ruleset = _processed(tmp_path, folded_before)
    _fill_late(store, ruleset)
    teams_file = tmp_path / "teams.yaml"
    config = Settings(_env_file=None, teams=teams_file, min_group_size=1, person_reports=True)
    as_of = folded_before + timedelta(hours=1)
    got = {}
    for name, members in (("A first", OWNERS[:1]), ("B first", OWNERS[1:2])):
        teams_file.write_text(f"teams:\n  Front: [{', '.join(members)}]\n")
        got[name] = indicators(store, ruleset, config, as_of)
        want = _expected(store, ruleset, Teams.load(teams_file, 1), as_of)
        assert got[name]["teams"] == want["teams"] and got[name]["teams"]
    assert got["A first"]["teams"] != got["B first"]["teams"]
    store.close()


def test_rows_carry_the_rules_own_version(tmp_path) -> None:
    store, ruleset = _processed(tmp_path)
    with store.reading() as conn:
        found = conn.execute(sa.select(occasions_table.c.rule, occasions_table.c.rule_version))
        versions = {rule: version for rule, version in found}
    assert versions and all(versions[r] == ruleset.get(r).version for r in versions)
    store.close()
