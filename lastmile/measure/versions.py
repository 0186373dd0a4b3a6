"""Before and after: a rule's figures per version of that rule (its own content hash, kept on
each occasion), and the change in compliance from each version to the next with a 95 % interval.

The same people usually work under both versions, and one person's occasions hang together, so
the interval of a change is clustered by owner and paired (intervals.difference(paired=True)):
an owner's figures under both versions enter the correlation of the two estimates. Versions
are ordered by when they went live (their first occasion). Occasions kept before versions were
(no rule version) are left out. Below the stated minimum (intervals.MIN_UNITS owners and
intervals.MIN_CLOSED closed occasions a version) a change says `enough_data: false`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

import sqlalchemy as sa

from lastmile.store import Store
from lastmile.store.occasions import outcome_at
from lastmile.store.tables import occasions as o

from . import intervals
from .groups import Group
from .indicators import figures_of, iso, iso_week, utc
from .tally import owner_key


@dataclass
class _Version:
    live_from: datetime
    group: Group = field(default_factory=Group)


def versions(
    store: Store, rule: str, as_of: datetime, require: tuple[str, ...] = ()
) -> dict[str, Any]:
    """{"rule", "versions": [{"version", "live_from", "week", ...a rules row's figures...}],
    "changes": [{"from", "to", "difference", "ci95", "enough_data"}]} as of `as_of`."""
    as_of = utc(as_of)
    found = _read(store, rule, as_of)
    order = sorted(found, key=lambda v: found[v].live_from)
    rows = []
    for version in order:
        kept = found[version]
        row = figures_of(rule, kept.group.tally, require)
        row.pop("rule")
        estimate = kept.group.compliance()
        rows.append(
            {
                "version": version,
                "live_from": iso(kept.live_from),
                "week": iso_week(kept.live_from),
                **row,
                "compliance_ci95": intervals.interval_json(estimate.ci95),
                "owners": estimate.n_units,
                "enough_data": estimate.enough_data,
            }
        )
    changes = []
    for before, after in pairwise(order):
        a, b = found[before].group, found[after].group
        change: dict[str, Any] = {"from": before, "to": after}
        if not (a.met and b.met):
            changes.append({**change, "difference": None, "ci95": None, "enough_data": False})
            continue
        diff = b.against(a, paired=True)
        changes.append(
            {
                **change,
                "difference": intervals.as_json(diff.difference),
                "ci95": intervals.interval_json(diff.ci95),
                "enough_data": diff.enough_data,
            }
        )
    return {"rule": rule, "versions": rows, "changes": changes}


def _read(store: Store, rule: str, as_of: datetime) -> dict[str, _Version]:
    at = outcome_at(as_of).label("at")
    query = (
        sa.select(
            o.c.rule_version, owner_key(), o.c.opened_at, at, o.c.time_to_comply_s,
            o.c.fields_missing,
        )
        .where(o.c.rule == rule, o.c.rule_version.is_not(None), o.c.opened_at <= as_of)
        .order_by(o.c.opened_at)
    )  # fmt: skip
    found: dict[str, _Version] = {}
    with store.reading() as conn:
        for version, owner, opened, outcome, wait, missing in conn.execute(query):
            kept = found.get(version)
            if kept is None:
                kept = found[version] = _Version(live_from=utc(opened))
            kept.group.add(owner or "", outcome, wait, missing or "|")
    return found


def all_versions(
    store: Store, report: dict[str, Any], ruleset: Any, as_of: datetime
) -> list[dict[str, Any]]:
    """`versions` of each rule of an indicators report, in its order."""
    found = []
    for row in report["rules"]:
        item = ruleset.get(row["rule"])
        require = tuple(item.rule.then.require) if item is not None else ()
        found.append(versions(store, row["rule"], as_of, require))
    return found
