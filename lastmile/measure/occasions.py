"""The ledger's occasions: the store's observation rows through `rules.occasions.derive`.

A pure function of the ledger and `as_of`: rows are keyed by event and rule, and occasions are
derived per record in `occurred_at` order, so duplicated, late or reordered deliveries give the
same occasions as an orderly stream.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from lastmile.rules import RuleSet
from lastmile.rules.occasions import Occasion, derive

from ..store import ObservationRow, Store
from ..store.occasions import as_observation, within_of

__all__ = ["RecordOccasion", "occasions", "occasions_of", "within_of"]


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
    opened_since: datetime | None = None,
) -> list[RecordOccasion]:
    """Every record's occasions as they stand at `as_of` (of `rules` only, when given). With
    `opened_since`, at least those opened since then (the ledger of records observed since)."""
    wanted = list(rules) if rules is not None else None
    rows = store.observations(rules=wanted, active_since=opened_since)
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
