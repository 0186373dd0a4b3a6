"""The demo's history: eight weeks of simulated advisers, imported before the demo serves.

The simulator's events (lastmile/simulate.py), from a Monday eight weeks back up to now, go
through the bulk import (`batch.observe`: nothing sent to a CRM) in three phases, each with its
own rule set: the baseline weeks with every pack in observe mode; the rules live with
`call-essentials` asking for one field more; the rules as loaded. A rerun continues the history
the store holds (same start, same event ids, which the import skips), so nothing doubles.

The example packs' experiment is dated as written (a past pilot); the demo runs a copy of the
packs with its window moved into the history (`demo_rules`), and the simulated advisers behave
per arm (`draw`): the prompted arms fill in more often than control.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from lastmile.deadlines import LOOKBACK, run_deadlines
from lastmile.rules import RuleSet
from lastmile.rules.document import parse_document
from lastmile.rules.loader import rule_files
from lastmile.rules.ruleset import Source
from lastmile.rules.schema import CONTROL, Pack, Rule
from lastmile.settings import Settings
from lastmile.simulate import Experiment, History, Params, simulate
from lastmile.store import Store
from lastmile.store.tables import inbox
from lastmile.worker import batch

SEED = 2026
WEEKS_BACK = 8  # full weeks before the current one
# What the rule that changes halfway (the simulator's `version_rule`) asked for before, too.
DROPPED_FIELD = "Call_Summary__c"
# The week of the history in which an experiment ends (`demo_rules`): the current one, on its
# Monday. It has ended before the demo serves, so the demo's own saves get each rule's `then`.
EXPERIMENT_ENDS = WEEKS_BACK
# The chance a simulated adviser fills the fields in later, per experiment arm: a modest true
# effect of each wording over control (which gets the habit's natural fill, as unprompted
# weeks do). An arm not named here fills in as after the rule's own prompt.
ARM_FILL = {"short": 0.45}


@dataclass(frozen=True)
class Phase:
    """The events of [start, end) imported with `ruleset`."""

    name: str
    start: datetime
    end: datetime
    ruleset: RuleSet


@dataclass(frozen=True)
class Seeded:
    start: datetime
    people: int
    teams: int
    events: int  # in the history
    imported: int  # new in the store (on a rerun, only what came about since the last run)
    seconds: float

    def line(self) -> str:
        """What the demo prints."""
        what = (
            f"simulated since {self.start:%Y-%m-%d}: {self.teams} teams, {self.people} "
            f"advisers, {self.events:,} events"
        )
        if self.imported < self.events:  # a rerun: what came about since the last run is new
            return f"{what}, {self.imported:,} new, the rest already in the store"
        return f"{what}, imported in {self.seconds:.1f} s"


def draw(
    rules: RuleSet | None, now: datetime, *, start: datetime | None = None, seed: int = SEED
) -> History:
    """The simulated history of the `WEEKS_BACK` weeks before `now`'s week and of that week
    (from `start` instead when given: a rerun's), its events cut at `now` when imported.

    Where `rules` has the changed rule, its `require` as loaded is the version after the
    change, and the one before asks for `DROPPED_FIELD` too; else the rule does not change."""
    if start is None:
        start = history_start(now)
    params = replace(Params(), start=_monday(start), weeks=WEEKS_BACK + 1)
    changed = rules.get(params.version_rule) if rules is not None else None
    if changed is None or not changed.rule.then.require:
        params = replace(params, version_week=None)
    else:
        after = tuple(changed.rule.then.require)
        params = replace(params, fields_after=after, fields_before=(*after, DROPPED_FIELD))
    if rules is not None:
        params = replace(params, experiment=_experiment(rules, params))
    return simulate(params, seed)


def history_start(now: datetime) -> datetime:
    """The Monday a history drawn at `now` starts: `WEEKS_BACK` full weeks before its week."""
    return _monday(now) - timedelta(weeks=WEEKS_BACK)


def demo_rules(source: Path, target: Path, start: datetime) -> Path:
    """Copy the rule files under `source` to `target` (replacing the rule files it held), each
    experiment with an `end` moved by whole weeks to end on the Monday `EXPERIMENT_ENDS` weeks
    into the history from `start` (or the one before), its length as written. Test times in an
    experiment's window as written move with it, so the copy's tests pass as the packs' do.

    The text is copied as written (comments and all); only those dates change."""
    end = _monday(start) + timedelta(weeks=EXPERIMENT_ENDS)
    target.mkdir(parents=True, exist_ok=True)
    for old in rule_files([target]):
        old.unlink()
    for path in rule_files([source]):
        name = path.relative_to(source) if source.is_dir() else Path(path.name)
        text = _moved(str(path), path.read_text(encoding="utf-8"), end)
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(text, encoding="utf-8")
    return target


def _moved(path: str, text: str, end: datetime) -> str:
    """`text` with each experiment's window, and the test times inside it, moved to `end`."""
    doc = parse_document(path, text)
    data = doc.data if isinstance(doc.data, dict) else {}
    windows: list[tuple[datetime, datetime, timedelta]] = []
    dates: dict[tuple, datetime] = {}
    for i, rule in enumerate(_listed(data.get("rules"))):
        spec = rule.get("experiment") if isinstance(rule, dict) else None
        written = _when(spec.get("end")) if isinstance(spec, dict) else None
        if written is None:
            continue  # without an end it cannot be moved to end anywhere
        shift = timedelta(weeks=math.floor((end - written) / timedelta(weeks=1)))
        begun = _when(spec.get("start"))
        windows.append((begun or written, written, shift))
        dates[("rules", i, "experiment", "end")] = written + shift
        if begun is not None:
            dates[("rules", i, "experiment", "start")] = begun + shift
    for loc, when in _test_times(data):
        for first, last, shift in windows:
            if first <= when <= last:
                dates[loc] = when + shift
                break
    lines = text.splitlines(keepends=True)
    for loc, when in dates.items():
        if loc not in doc.values:
            continue
        line, column = doc.values[loc]
        head, tail = lines[line - 1][: column - 1], lines[line - 1][column - 1 :]
        midnight = when.replace(hour=0, minute=0, second=0, microsecond=0)
        written = f"{when:%Y-%m-%d}" if when == midnight else _iso(when)
        # The value as written: a plain scalar, up to a comment or the end of a flow mapping.
        lines[line - 1] = head + re.sub(r"^[^\s#,}]+", written, tail, count=1)
    return "".join(lines)


def _test_times(data: dict) -> Iterable[tuple[tuple, datetime]]:
    """The absolute times a file's tests give (`occurred_at`, a step's `at`, `as_of`)."""
    for i, test in enumerate(_listed(data.get("tests"))):
        if not isinstance(test, dict):
            continue
        found = [(("tests", i, "as_of"), test.get("as_of"))]
        if isinstance(test.get("event"), dict):
            found.append((("tests", i, "event", "occurred_at"), test["event"].get("occurred_at")))
        for j, step in enumerate(_listed(test.get("events"))):
            if isinstance(step, dict):
                found.append((("tests", i, "events", j, "at"), step.get("at")))
                event = step.get("event") if isinstance(step.get("event"), dict) else {}
                found.append((("tests", i, "events", j, "event", "occurred_at"),
                              event.get("occurred_at")))  # fmt: skip
        for loc, value in found:
            when = _when(value)
            if when is not None:
                yield loc, when


def _listed(value: object) -> list:
    return value if isinstance(value, list) else []


def _when(value: object) -> datetime | None:
    """A date or time as YAML gives it (a date is its midnight, UTC), else None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return _when(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None  # a duration on the test's virtual clock (`at: 2h`)
    return None


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _experiment(rules: RuleSet, params: Params) -> Experiment | None:
    """The simulator's view of the first experiment by owner on a rule it simulates: arms as
    written, running in the whole weeks its window covers, with `ARM_FILL`'s behaviour per arm
    (an arm whose variant is `none` gets no prompt: it fills in as control does)."""
    habits = {habit.rule: habit for habit in params.habits}
    for item in rules.rules:
        spec = item.rule.experiment
        if spec is None or item.id not in habits or spec.unit != "owner":
            continue
        week = timedelta(weeks=1)
        first = 0 if spec.start is None else math.ceil((spec.start - params.start) / week)
        last = None if spec.end is None else math.ceil((spec.end - params.start) / week)
        fill = {arm: ARM_FILL[arm] for arm in spec.arms if arm in ARM_FILL}
        for arm, variant in spec.variants.items():
            if variant == "none":
                fill[arm] = habits[item.id].natural_fill
        return Experiment(
            id=spec.id,
            rule=item.id,
            arms=tuple(spec.arms.items()),
            fill=tuple((arm, chance) for arm, chance in fill.items() if arm != CONTROL),
            start_week=max(first, 0),
            end_week=None if last is None else max(last, 0),
        )
    return None


def started(store: Store) -> datetime | None:
    """When the history in `store` started (the Monday of its first occasion), or None."""
    first = sa.select(sa.func.min(inbox.c.occurred_at)).where(
        inbox.c.event_id.like("evt-%SIM%-1")  # the simulator's occasion-opening events
    )
    with store.reading() as conn:
        found = conn.execute(first).scalar_one()
    return _monday(found) if found is not None else None


def teams(history: History, also: Iterable[tuple[str, str]] = ()) -> str:
    """The teams file (`LASTMILE_TEAMS`) of the history's advisers, with `also`'s (team,
    user id) pairs: the demo's own people."""
    members: dict[str, list[str]] = {t.name: [] for t in history.params.teams}
    for owner in history.owners:
        members[owner.team].append(owner.id)
    for team, user in also:
        members.setdefault(team, []).append(user)
    lines = [f"  {json.dumps(name)}: [{', '.join(ids)}]" for name, ids in members.items()]
    return "teams:\n" + "\n".join(lines) + "\n"


def phases(history: History, rules: RuleSet) -> list[Phase]:
    """Baseline weeks in observe mode; then live with the changed rule as it was before; then
    the rules as loaded. Phases without weeks are left out."""
    p = history.params
    observed = p.start + timedelta(weeks=p.observe_weeks)
    changed = p.start + timedelta(weeks=p.version_week or 0)
    before = rules
    if p.version_week is not None and p.fields_before:
        before = _variant(rules, require={p.version_rule: p.fields_before})
    found = [
        Phase("baseline (observe)", p.start, observed, _variant(before, mode="observe")),
        Phase("live, before the change", observed, changed, before),
        Phase("live, as shipped", max(observed, changed), history.end, rules),
    ]
    return [phase for phase in found if phase.start < phase.end]


def seed(
    store: Store,
    settings: Settings,
    rules: RuleSet,
    history: History,
    *,
    now: datetime | None = None,
) -> Seeded:
    """Import the history's events up to `now` through each phase's rules (in arrival order),
    then act on its deadlines, to the last one, as the scheduler would, sending nothing."""
    clock = time.perf_counter()
    now = now or datetime.now(UTC)
    cut = min(now, history.end)
    events = [e for e in history.events() if e.occurred_at < cut]
    imported = 0
    for n, phase in enumerate(phases(history, rules)):
        # A record created before the first week has its first events in the baseline.
        start = datetime.min.replace(tzinfo=UTC) if n == 0 else phase.start
        part = [e for e in events if start <= e.occurred_at < phase.end]
        imported += batch.observe(store, phase.ruleset, settings, part).imported
    until = max([now, *_deadlines_after(rules, cut)])
    nowhere = batch._Observing()  # takes every write, sends none
    run_deadlines(store, rules, nowhere, settings, until, lookback=LOOKBACK + (until - now))
    return Seeded(
        start=history.params.start,
        people=len(history.owners),
        teams=len(history.params.teams),
        events=len(events),
        imported=imported,
        seconds=time.perf_counter() - clock,
    )


def _deadlines_after(rules: RuleSet, end: datetime) -> list[datetime]:
    """Deadlines later than any of an occasion opened before `end`."""
    return [i.rule.then.within.after(end) for i in rules.rules if i.rule.then.within is not None]


def _monday(when: datetime) -> datetime:
    """00:00 UTC on the Monday of `when`'s ISO week."""
    day = when.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _variant(
    rules: RuleSet, *, mode: str | None = None, require: dict[str, Sequence[str]] | None = None
) -> RuleSet:
    """A copy of `rules` with every pack in `mode` (a rule's own mode set aside) and the named
    rules asking for other fields; its rules have versions of their own."""
    require = require or {}
    packs: list[tuple[Pack, list[Source]]] = []
    for pack in rules.packs:
        items = [item for item in rules.rules if item.pack is pack]
        copies = [_rule_variant(item.rule, mode, require.get(item.id)) for item in items]
        update: dict[str, object] = {"rules": copies}
        if mode is not None:
            update["mode"] = mode
        packs.append((pack.model_copy(update=update), [item.source for item in items]))
    suffix = "-".join(filter(None, [mode, "before" if require else None]))
    return RuleSet.build(packs, f"{rules.version}-{suffix}")


def _rule_variant(rule: Rule, mode: str | None, require: Sequence[str] | None) -> Rule:
    update: dict[str, object] = {}
    if mode is not None and rule.mode is not None:
        update["mode"] = None  # the pack's mode applies
    if require is not None:
        update["then"] = rule.then.model_copy(update={"require": list(require)})
    return rule.model_copy(update=update) if update else rule
