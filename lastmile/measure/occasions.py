"""The ledger's occasions: the store's observation rows through `rules.occasions.derive`.

A pure function of the ledger and `as_of`: rows are keyed by event and rule, and occasions are
derived per record in `occurred_at` order, so duplicated, late or reordered deliveries give the
same occasions as an orderly stream.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lastmile.rules import RuleSet
from lastmile.rules.occasions import Occasion, derive

from ..store import ObservationRow, Store
from ..store.occasions import as_observation, within_of, within_text
from ..store.tables import occasions as o

__all__ = ["RecordOccasion", "missed_between", "occasions", "occasions_of", "within_of"]


@dataclass(frozen=True)
class RecordOccasion:
    """An occasion with the record it belongs to and the inbox row that opened it."""

    object: str
    record_id: str
    opened_inbox_id: int
    occasion: Occasion


def occasions(
    store: Store,
    ruleset: RuleSet,
    as_of: datetime,
    *,
    rules: Iterable[str] | None = None,
) -> list[RecordOccasion]:
    """Every record's occasions as they stand at `as_of` (of `rules` only, when given), derived
    from the whole ledger (what the occasion rows are checked against)."""
    wanted = list(rules) if rules is not None else None
    rows = store.observations(rules=wanted)
    return occasions_of(rows, ruleset, as_of, rules=wanted)


def occasions_of(
    rows: Iterable[ObservationRow],
    ruleset: RuleSet,
    as_of: datetime,
    *,
    rules: Iterable[str] | None = None,
) -> list[RecordOccasion]:
    """The occasions of ledger rows (in the store's order: occurred_at, then arrival)."""
    wanted = set(rules) if rules is not None else None
    by_record: dict[tuple[str, str], list[ObservationRow]] = {}
    for row in rows:
        if wanted is None or row.rule in wanted:
            by_record.setdefault((row.object, row.record_id), []).append(row)
    within = within_of(ruleset)
    result: list[RecordOccasion] = []
    for (obj, record_id), observed in by_record.items():
        inbox_of = {(r.event_id, r.rule): r.inbox_id for r in observed}
        for occ in derive((as_observation(r) for r in observed), within, as_of):
            result.append(RecordOccasion(obj, record_id, inbox_of[(occ.opened_by, occ.rule)], occ))
    result.sort(key=lambda o: (o.occasion.opened_at, o.occasion.rule, o.object, o.record_id))
    return result


def missed_between(
    store: Store, ruleset: RuleSet, rules: Iterable[str], since: datetime, now: datetime
) -> list[tuple[RecordOccasion, bool]]:
    """The occasions of `rules` missed by `now` whose deadline lies in [`since`, `now`], oldest
    deadline first, each with whether it is its record's latest of the rule. Read from the
    occasion rows (a missed row's `closed_at` is its deadline), nothing else; rows derived with
    another `within` than the rules' are derived again first."""
    wanted = sorted(rules)
    later = o.alias("later")
    latest = ~sa.exists().where(
        later.c.object == o.c.object,
        later.c.record_id == o.c.record_id,
        later.c.rule == o.c.rule,
        later.c.opened_at > o.c.opened_at,
    )
    read = (
        "object", "record_id", "rule", "opened_event_id", "opened_inbox_id", "owner",
        "opened_at", "deadline", "within", "outcome", "closed_at", "fields_missing",
        "rule_version", "experiment", "arm",
    )  # fmt: skip
    query = (
        sa.select(*(o.c[name] for name in read), latest.label("latest"))
        .where(
            o.c.outcome == "missed",
            o.c.closed_at >= since,
            o.c.closed_at <= now,
            o.c.missed_from <= now,
            o.c.rule.in_(wanted),
        )
        .order_by(o.c.closed_at, o.c.rule, o.c.object, o.c.record_id)
    )
    within = {r: within_text(w) for r, w in within_of(ruleset).items()}
    with store.reading() as conn:
        rows = [r._mapping for r in conn.execute(query)]
    stale = sorted({r["rule"] for r in rows if r["within"] != within.get(r["rule"], "")})
    if stale:  # the rules' deadlines changed since the rows were derived
        store.rebuild_occasions(within_of(ruleset), stale)
        with store.reading() as conn:
            rows = [r._mapping for r in conn.execute(query)]
    return [(_record_occasion(r), bool(r["latest"])) for r in rows]


def _record_occasion(row: Any) -> RecordOccasion:
    occ = Occasion(
        rule=row["rule"],
        opened_at=row["opened_at"],
        opened_by=row["opened_event_id"],
        owner=row["owner"],
        fields_missing=tuple(f for f in row["fields_missing"].split("|") if f),
        deadline=row["deadline"],
        outcome=row["outcome"],
        closed_at=row["closed_at"],
        rule_version=row["rule_version"],
        experiment=row["experiment"],
        arm=row["arm"],
    )
    return RecordOccasion(row["object"], row["record_id"], row["opened_inbox_id"], occ)
