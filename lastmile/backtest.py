"""Backtests: what a draft rule set would have done over the stored events of a window.

Pure for the live system: the events are read from the store and replayed into a scratch store
of their own (SQLite in a temporary folder) through the bulk import's observe path, so nothing
is written to the CRM or to the live ledger. Every rule of the draft is taken as live (observe
mode set aside): the backtest says what each would have done if switched on. The figures are
then the measurement contract's (`indicators` over the scratch store, as of the window's end,
for the occasions opened in the window), so a backtest of the live rules gives the live figures
of that window. The events of a record before the window are replayed too (its state before the
window decides whether an occasion opens in it), but only occasions opened in the window count.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lastmile.measure.indicators import indicators, iso
from lastmile.rules import RecordEvent, RuleSet, evaluate
from lastmile.rules.records import Decision, Fields
from lastmile.settings import Settings
from lastmile.store import Store
from lastmile.store.occasions import within_of
from lastmile.store.tables import inbox
from lastmile.worker.batch import observe


class TooManyEvents(Exception):
    """The window holds more stored events than the caller allowed (`run(max_events=N)`)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} stored events to replay")
        self.limit = limit


@dataclass
class Backtest:
    """A backtest's answer: `report` has `lastmile report --json`'s keys."""

    report: dict[str, Any]
    events: int  # replayed (of records with an event in the window; earlier ones included)
    records: int
    prompts: Counter[str] = field(default_factory=Counter)  # rule -> prompts it would write
    tasks: Counter[str] = field(default_factory=Counter)  # rule -> tasks it would create
    samples: list[tuple[RecordEvent, Decision]] = field(default_factory=list)  # traced

    def to_json(self, since: datetime | None, until: datetime) -> dict[str, Any]:
        """The report's keys, and under `backtest` what it would have done besides."""
        measured = {row["rule"]: row for row in self.report["rules"]}
        rules = sorted({*self.prompts, *self.tasks, *measured}, key=self._order(measured))
        return {
            **self.report,
            "backtest": {
                "from": iso(since) if since is not None else None,
                "to": iso(until),
                "events": self.events,
                "records": self.records,
                "rules": [
                    {
                        "rule": rule,
                        "prompts": self.prompts.get(rule, 0),
                        "tasks": self.tasks.get(rule, 0),
                        # Without a prompt from this draft, met on a later save: the baseline.
                        "met_later": measured.get(rule, {}).get("met_after_prompt", 0),
                    }
                    for rule in rules
                ],
            },
        }

    @staticmethod
    def _order(measured: dict[str, Any]) -> Any:
        rank = {rule: n for n, rule in enumerate(measured)}
        return lambda rule: (rank.get(rule, len(rank)), rule)


def run(
    store: Store,
    draft: RuleSet,
    settings: Settings,
    until: datetime,
    since: datetime | None = None,
    *,
    explain: int = 0,
    max_events: int | None = None,
) -> Backtest:
    """Replay the events of records with an event in [since, until) through `draft`.
    With `max_events`, TooManyEvents when there are more, before any is replayed."""
    live = as_live(draft)
    with closing(_history(store, since, until)) as history:
        events = list(history if max_events is None else islice(history, max_events + 1))
    if max_events is not None and len(events) > max_events:
        raise TooManyEvents(max_events)
    with tempfile.TemporaryDirectory(prefix="lastmile-backtest-") as folder:
        scratch = Store(f"sqlite:///{Path(folder) / 'backtest.db'}")
        try:
            scratch.upgrade(within=within_of(live), integration_user=settings.integration_user_id)
            observe(scratch, live, settings, events)
            report = indicators(scratch, live, settings, until, since=since, until=until)
        finally:
            scratch.close()
    result = Backtest(report, len(events), len({(e.object, e.record_id) for e in events}))
    _count_actions(result, live, events, since, explain)
    return result


def as_live(ruleset: RuleSet) -> RuleSet:
    """The same rules with every one live (a backtest shows what observe rules would do)."""
    packs = []
    for pack in ruleset.packs:
        rules = [r.model_copy(update={"mode": None}) for r in pack.rules]
        sources = [item.source for item in ruleset.rules if item.pack is pack]
        packs.append((pack.model_copy(update={"mode": "live", "rules": rules}), sources))
    return RuleSet.build(packs, ruleset.version)


def _history(store: Store, since: datetime | None, until: datetime) -> Iterator[RecordEvent]:
    """The processed events before `until` of the records with one in the window, in arrival
    order, each with the fields the worker evaluated it with (the CRM's values it read too)."""
    i = inbox
    done = sa.and_(i.c.status == "done", i.c.occurred_at < until)
    in_window = sa.select(i.c.object, i.c.record_id).where(done)
    if since is not None:
        in_window = in_window.where(i.c.occurred_at >= since)
    records = in_window.distinct().subquery()
    query = (
        sa.select(i.c.event, i.c.fields_seen)
        .join(
            records,
            sa.and_(i.c.object == records.c.object, i.c.record_id == records.c.record_id),
        )
        .where(done)
        .order_by(i.c.id)
    )
    with store.reading() as conn:
        for text, seen in conn.execute(query):
            event = RecordEvent.model_validate_json(text)
            if seen:
                event = event.model_copy(update={"fields": {**event.fields, **seen}})
            yield event


def _count_actions(
    result: Backtest,
    live: RuleSet,
    events: list[RecordEvent],
    since: datetime | None,
    explain: int,
) -> None:
    """Prompts and tasks the draft would have asked for in the window, and sample traces."""
    ordered = sorted(
        enumerate(events), key=lambda p: (p[1].object, p[1].record_id, p[1].occurred_at, p[0])
    )
    state: dict[tuple[str, str], Fields] = {}
    for _, event in ordered:
        key = (event.object, event.record_id)
        previous = state.get(key)
        in_window = since is None or event.occurred_at >= since
        want_trace = in_window and len(result.samples) < explain
        decision = evaluate(live, event, previous, trace=want_trace)
        state[key] = {**(previous or {}), **event.fields, **decision.defaults}
        if not in_window:
            continue
        result.prompts.update(p.rule for p in decision.prompts)
        result.tasks.update(t.rule for t in decision.tasks)
        if want_trace and decision.matched:
            result.samples.append((event, decision))
