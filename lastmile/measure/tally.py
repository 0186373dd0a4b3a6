"""The figures behind the indicators, counted by the database from the occasion rows
(`store/occasions.py`): per rule and ISO week, and per rule and owner, as they stand at `as_of`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..store import Store
from ..store.tables import defaults_applied as d
from ..store.tables import occasions as o

OUTCOMES = ("met_first_time", "met_after_prompt", "missed", "withdrawn", "open")


@dataclass
class Tally:
    """One group's occasions: how many ended how, which fields were missing, the waits."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    missing: dict[str, int] = field(default_factory=dict)
    waits: list[float] = field(default_factory=list)  # met after prompt: seconds to comply

    def add(self, other: Tally) -> None:
        for name, n in other.counts.items():
            self.counts[name] += n
        for name, n in other.missing.items():
            self.missing[name] = self.missing.get(name, 0) + n
        self.waits.extend(other.waits)


Groups = dict[tuple[str, str], Tally]  # (week or owner, rule) -> tally


@dataclass
class Tallies:
    weeks: Groups
    owners: Groups  # owner "" when the occasion has none
    within: dict[str, set[str]]  # rule -> the `within` texts its rows were derived with


def outcome_at(as_of: datetime) -> sa.ColumnElement[str]:
    """An occasion row's outcome as it stands at `as_of` (see store/occasions.py)."""
    return sa.case(
        (sa.and_(o.c.outcome != "missed", o.c.closed_at <= as_of), o.c.outcome),
        (o.c.missed_from <= as_of, "missed"),
        else_="open",
    )


def owner_key() -> sa.ColumnElement[str]:
    """The owner as teams know it: Salesforce's 15- and 18-character ids name one user."""
    return sa.case(
        (sa.func.length(o.c.owner).in_([15, 18]), sa.func.substr(o.c.owner, 1, 15)),
        else_=o.c.owner,
    )


def tallies(
    store: Store,
    as_of: datetime,
    *,
    rule: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    owners: sa.ColumnElement[bool] | None = None,
    fields: Iterable[str] = (),
) -> Tallies:
    """The occasions opened by `as_of` (of `rule`, opened in [`since`, `until`), of `owners`),
    per rule and week and per rule and owner. `fields`: the ones to count as missing per owner
    besides any the week groups show."""
    where = [o.c.opened_at <= as_of]
    if rule is not None:
        where.append(o.c.rule == rule)
    if since is not None:
        where.append(o.c.opened_at >= since)
    if until is not None:
        where.append(o.c.opened_at < until)
    if owners is not None:
        where.append(owners)
    at = outcome_at(as_of).label("at")
    with store.reading() as conn:
        # Grouped by the set of missing fields too: few distinct sets, and exact counts of any
        # field named, including one a rule no longer requires.
        weeks: Groups = {}
        within: dict[str, set[str]] = {}
        keys = (o.c.rule, o.c.opened_week, at, o.c.fields_missing, o.c.within)
        by_week = sa.select(*keys, sa.func.count()).where(*where).group_by(*keys)
        for name, week, outcome, missing, used, n in conn.execute(by_week):
            tally = weeks.setdefault((week, name), Tally())
            tally.counts[outcome] += n
            for f in _split(missing):
                tally.missing[f] = tally.missing.get(f, 0) + n
            within.setdefault(name, set()).add(used)
        seen = sorted({f for t in weeks.values() for f in t.missing} | set(fields))
        owners_groups = _by_owner(conn, where, at, seen)
        waits = sa.select(o.c.rule, o.c.owner, o.c.opened_week, o.c.time_to_comply_s).where(
            *where, o.c.outcome == "met_after_prompt", o.c.closed_at <= as_of
        )
        for name, owner, week, seconds in conn.execute(waits):
            weeks[(week, name)].waits.append(seconds or 0.0)
            owners_groups[(owner or "", name)].waits.append(seconds or 0.0)
    return Tallies(weeks, owners_groups, within)


def default_counts(
    store: Store,
    as_of: datetime,
    *,
    rule: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[tuple[str, str, str | None, int, int]]:
    """Defaults applied by `as_of` (of `rule`, applied in [`since`, `until`)), per rule, field
    and owner: (rule, field, owner, applied, overridden by `as_of`) (see store/defaults.py)."""
    where = [d.c.occurred_at <= as_of]
    if rule is not None:
        where.append(d.c.rule == rule)
    if since is not None:
        where.append(d.c.occurred_at >= since)
    if until is not None:
        where.append(d.c.occurred_at < until)
    overridden = sa.func.sum(sa.case((d.c.overridden_at <= as_of, 1), else_=0))
    keys = (d.c.rule, d.c.field, d.c.owner)
    query = sa.select(*keys, sa.func.count(), overridden).where(*where).group_by(*keys)
    with store.reading() as conn:
        return [
            (r, f, owner, n, int(changed or 0)) for r, f, owner, n, changed in conn.execute(query)
        ]


def _by_owner(
    conn: sa.Connection, where: list[Any], at: sa.ColumnElement[str], fields: list[str]
) -> Groups:
    sums = [
        sa.func.sum(sa.case((o.c.fields_missing.like(_pattern(f), escape="\\"), 1), else_=0))
        for f in fields
    ]
    query = (
        sa.select(o.c.rule, o.c.owner, at, sa.func.count(), *sums)
        .where(*where)
        .group_by(o.c.rule, o.c.owner, at)
    )
    groups: Groups = {}
    for name, owner, outcome, n, *missing in conn.execute(query):
        tally = groups.setdefault((owner or "", name), Tally())
        tally.counts[outcome] += n
        for f, count in zip(fields, missing, strict=True):
            if count:
                tally.missing[f] = tally.missing.get(f, 0) + int(count)
    return groups


def _split(missing: str) -> list[str]:
    return [f for f in missing.split("|") if f]


def _pattern(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%|{escaped}|%"
