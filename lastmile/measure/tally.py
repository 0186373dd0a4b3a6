"""The figures behind the indicators, counted by the database from the occasion rows
(`store/occasions.py`): per rule and ISO week, and per rule and owner, as they stand at `as_of`.
From `as_of` on the totals' checkpoint (`store/totals.py`) the folded rows' share is summed from
the totals and only the rest are read row by row. What is read of the totals is kept with the
store until they change (`_Folded`, by the totals' `stamp`): between a day's fold and the next, a
page reads the totals once and then only the rows of about a day.
"""

from __future__ import annotations

import functools
import weakref
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from ..store import Store
from ..store import totals as kept_totals
from ..store.occasions import END, outcome_at
from ..store.tables import default_totals as dt
from ..store.tables import defaults_applied as d
from ..store.tables import occasion_totals as t
from ..store.tables import occasions as o
from ..store.totals import Stamp
from .ranks import Ranks, Spread
from .teams import Teams

OUTCOMES = ("met_first_time", "met_after_prompt", "missed", "withdrawn", "open")
# A missed row's `closed_at` is its deadline and `missed_from` at most a microsecond later:
# rows closed this long before an `as_of` may still be open then.
_CLOSE_BY = timedelta(milliseconds=1)
# An `as_of` up to this long before the totals' checkpoint is counted from the totals with the
# rows that changed since taken out and in again; further back, from all the rows (SQLite, a
# million events over 26 weeks: a week back 0.43 s against 3.8 s, a month 1.2 s against 3.4 s,
# three months 2.6 s against 2.1 s; PostgreSQL 0.7, 1.8 and 1.2 s against 2.0, 1.8, 1.3 s).
_CORRECTED = timedelta(weeks=8)


@dataclass
class Tally:
    """One group's occasions: how many ended how, which fields were missing, the waits."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    missing: dict[str, int] = field(default_factory=dict)
    placeholder: dict[str, int] = field(default_factory=dict)  # field -> occasions that saw one
    suppressed: int = 0  # occasions whose prompt the prompt budget held back
    waits: Counter[float] = field(default_factory=Counter)  # met after prompt: seconds -> how many
    ranks: Ranks | None = None  # the times to comply as the database ranked them (`tallies`)

    def add(self, other: Tally, sign: int = 1) -> None:
        """Count `other`'s occasions in (`sign` -1: take them out)."""
        for name, n in other.counts.items():
            self.counts[name] += sign * n
        for mine, theirs in ((self.missing, other.missing), (self.placeholder, other.placeholder)):
            for name, n in theirs.items():
                mine[name] = mine.get(name, 0) + sign * n
                if not mine[name]:
                    del mine[name]
        self.suppressed += sign * other.suppressed
        for seconds, n in other.waits.items():
            self.waits[seconds] += sign * n

    def wait_count(self) -> int:
        return self.ranks.total if self.ranks is not None else self.waits.total()

    def kth_wait(self, k: int) -> float:
        """The k-th smallest time to comply (1-based), each distinct time counted."""
        if self.ranks is not None:
            return self.ranks.at[k]
        seen = 0
        for seconds in sorted(self.waits):
            seen += self.waits[seconds]
            if seen >= k:
                return seconds
        raise IndexError(f"{k} > {seen} times to comply")


Groups = dict[tuple[str, str], Tally]  # (week or owner, rule) -> tally
# A group whose times to comply are ranked: (level, key, rule); level "rule" (key ""), "week",
# "team" or "person".
GroupKey = tuple[str, str, str]


@dataclass
class Tallies:
    weeks: Groups
    owners: Groups  # owner "" when the occasion has none
    within: dict[str, set[str]]  # rule -> the `within` texts its rows were derived with
    ranks: dict[GroupKey, Ranks] = field(default_factory=dict)  # times to comply ranked

    def add(self, other: Tallies, sign: int = 1) -> None:
        """Count `other`'s groups in (`sign` -1: take them out; a group left with no occasion
        goes)."""
        for mine, theirs in ((self.weeks, other.weeks), (self.owners, other.owners)):
            for key, tally in theirs.items():
                mine.setdefault(key, Tally()).add(tally, sign)
                if not any(mine[key].counts.values()):
                    del mine[key]
        if sign > 0:
            for rule, used in other.within.items():
                self.within.setdefault(rule, set()).update(used)


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
    teams: Teams | None = None,
    people: bool = False,
) -> Tallies:
    """The occasions opened by `as_of` (of `rule`, opened in [`since`, `until`), of `owners`),
    per rule and week and per rule and owner, with their times to comply ranked per rule, week,
    team (of `teams`) and, with `people`, owner."""
    where = [o.c.opened_at <= as_of]
    if rule is not None:
        where.append(o.c.rule == rule)
    if since is not None:
        where.append(o.c.opened_at >= since)
    if until is not None:
        where.append(o.c.opened_at < until)
    if owners is not None:
        where.append(owners)
    keep_up(store, as_of)
    with store.reading() as conn:
        kept_totals.one_view(conn)
        stamp = kept_totals.stamp(conn)
        # The totals are per week and owner of every occasion: a window or a team is counted
        # from the rows, as is an `as_of` long before the checkpoint.
        teams = teams or Teams()
        if (
            stamp is None
            or as_of < stamp[0] - _CORRECTED
            or any(x is not None for x in (since, until, owners))
        ):
            found = _scan(conn, as_of, where)
            found.ranks = _ranks(conn, [(as_of, where, 1)], {}, teams, people)
            return found
        at = stamp[0]
        folded = _folded(store, conn, stamp)
        found = Tallies({}, {}, {})
        found.add(folded.tallies_of(rule))  # a copy: what is kept is never counted into
        parts = [(as_of, [*where, kept_totals.unfolded(at)], 1)]
        if as_of < at:
            # Folded rows whose share at `as_of` is not their final one (opened later, or not
            # closed by then): their final share out of the totals, their share then in.
            moved = [
                *([o.c.rule == rule] if rule is not None else []),
                kept_totals.folded_rows(at),
                kept_totals.unfolded(as_of - _CLOSE_BY),
                sa.or_(o.c.opened_at > as_of, outcome_at(as_of) != outcome_at(END)),
            ]
            parts += [(END, moved, -1), (as_of, [*moved, o.c.opened_at <= as_of], 1)]
        for when, rows, sign in parts:
            found.add(_scan(conn, when, rows), sign)
        found.ranks = _ranks(conn, parts, folded.spreads(teams, people, rule), teams, people)
        return found


class _Folded:
    """The totals' share of the figures as one `stamp` has them, kept with the store until
    the totals change (a fold, about once a day, or a late event correcting a folded occasion):
    a page asked again reads only the rows not folded. Every rule's, read at once; never
    changed once read."""

    def __init__(self, conn: sa.Connection) -> None:
        self.tallies = _totals(conn)
        # Each folded occasion's time to comply is in the totals twice: by week ("week", its
        # week) and by owner.
        query = sa.select(t.c.rule, t.c.by, t.c.key, t.c.wait_s, t.c.n)
        self.waits = kept_totals.plain_rows(conn, query.where(t.c.kind == "wait", t.c.n != 0))
        self._spreads: tuple[Teams, bool, dict[GroupKey, Spread]] | None = None

    def tallies_of(self, rule: str | None) -> Tallies:
        """The totals' tallies (of `rule`, None: every rule), not to be counted into."""
        if rule is None:
            return self.tallies
        mine = self.tallies
        return Tallies(
            {k: v for k, v in mine.weeks.items() if k[1] == rule},
            {k: v for k, v in mine.owners.items() if k[1] == rule},
            {r: used for r, used in mine.within.items() if r == rule},
        )

    def spreads(self, teams: Teams, people: bool, rule: str | None) -> dict[GroupKey, Spread]:
        """The times to comply per group (of `rule`), as `_ranks` groups them (worked out once
        for the teams last asked with)."""
        kept = self._spreads
        if kept is None or kept[0] != teams or kept[1] != people:
            by_week = [(r, k, v, n) for r, by, k, v, n in self.waits if by == "week"]
            by_owner = [(r, k, v, n) for r, by, k, v, n in self.waits if by != "week"]
            counted = _grouped(by_week, by_owner, teams, people)
            kept = self._spreads = (teams, people, {g: Spread(c) for g, c in counted.items()})
        if rule is None:
            return kept[2]
        return {g: spread for g, spread in kept[2].items() if g[2] == rule}


_KEPT: weakref.WeakKeyDictionary[Store, tuple[Stamp, _Folded]] = weakref.WeakKeyDictionary()
_NO_TIMES = Spread(Counter())


def _folded(store: Store, conn: sa.Connection, stamp: Stamp) -> _Folded:
    """The totals' share as `conn` sees them (`stamp`)."""
    found = _KEPT.get(store)
    if found is None or found[0] != stamp:
        found = _KEPT[store] = (stamp, _Folded(conn))
    return found[1]


def keep_up(store: Store, as_of: datetime) -> None:
    """Fold the totals up to the day before `as_of` (at most the day before today), so that
    only the rows of about a day, and those still ahead, are read one by one."""
    today = datetime.combine(min(as_of, datetime.now(UTC)).date(), time(), UTC)
    to = today - timedelta(days=1)
    with store.reading() as conn:
        at = kept_totals.checkpoint(conn)
    if at is None or at < to:
        with store.writing() as conn:
            kept_totals.fold(conn, to)


def _scan(conn: sa.Connection, as_of: datetime, where: list[Any]) -> Tallies:
    """The occasion rows `where` holds, counted as they stand at `as_of`."""
    at = outcome_at(as_of).label("at")
    # Grouped by the set of missing fields too: few distinct sets, and exact counts of any
    # field named, including one a rule no longer requires.
    weeks: Groups = {}
    within: dict[str, set[str]] = {}
    keys = (o.c.rule, o.c.opened_week, at, o.c.fields_missing, o.c.fields_placeholder, o.c.within)
    held = sa.func.sum(sa.case((o.c.suppressed, 1), else_=0))
    by_week = sa.select(*keys, sa.func.count(), held).where(*where).group_by(*keys)
    for name, week, outcome, missing, filler, used, n, suppressed in conn.execute(by_week):
        tally = weeks.setdefault((week, name), Tally())
        tally.counts[outcome] += n
        tally.suppressed += int(suppressed or 0)
        for f in _split(missing):
            tally.missing[f] = tally.missing.get(f, 0) + n
        for f in _split(filler):
            tally.placeholder[f] = tally.placeholder.get(f, 0) + n
        within.setdefault(name, set()).add(used)
    return Tallies(weeks, _by_owner(conn, where, at), within)


def _ranks(
    conn: sa.Connection,
    parts: list[tuple[datetime, list[Any], int]],
    kept: dict[GroupKey, Spread],
    teams: Teams,
    people: bool,
) -> dict[GroupKey, Ranks]:
    """The times to comply of the rows of each part (by its `as_of`, the rows its `where`
    holds, counted in or, sign -1, out), and those `kept` of the totals, ranked per group:
    the database counts each distinct time per rule, week and owner, and the values at the
    ranks the figures read are picked from those counts here (measure/ranks.py; a window over
    the union in SQL took twice as long at a million events)."""
    seconds = sa.func.coalesce(o.c.time_to_comply_s, 0.0)
    keys = (o.c.rule, o.c.opened_week, sa.func.coalesce(o.c.owner, ""), seconds)
    rows: list[Any] = []
    for as_of, where, sign in parts:
        met = [*where, o.c.outcome == "met_after_prompt", o.c.closed_at <= as_of]
        query = sa.select(*keys, sign * sa.func.count()).where(*met).group_by(*keys)
        rows += conn.execute(query).all()
    by_week = [(r, w, v, n) for r, w, _, v, n in rows]
    by_owner = [(r, k, v, n) for r, _, k, v, n in rows]
    more = {g: Spread(c) for g, c in _grouped(by_week, by_owner, teams, people).items()}
    found: dict[GroupKey, Ranks] = {}
    for group in kept.keys() | more.keys():
        ranks = kept.get(group, _NO_TIMES).ranks(more.get(group))
        if ranks is not None:
            found[group] = ranks
    return found


def _grouped(
    by_week: list[tuple[str, str, float, int]],
    by_owner: list[tuple[str, str, float, int]],
    teams: Teams,
    people: bool,
) -> dict[GroupKey, Counter[float]]:
    """Times to comply counted per (rule, week) and per (rule, owner), counted per group."""
    counted: defaultdict[GroupKey, Counter[float]] = defaultdict(Counter)
    team_of = functools.cache(teams.team_of)
    for rule, week, value, n in by_week:
        counted["rule", "", rule][value] += n
        counted["week", week, rule][value] += n
    for rule, owner, value, n in by_owner:
        counted["team", team_of(owner), rule][value] += n
        if people:
            counted["person", owner, rule][value] += n
    return counted


def _totals(conn: sa.Connection) -> Tallies:
    """The folded occasions' share: final outcomes, as they stand at any `as_of` from the
    checkpoint on."""
    query = sa.select(t.c.rule, t.c.within, t.c.by, t.c.key, t.c.kind, t.c.item, t.c.n)
    query = query.where(t.c.n != 0, t.c.kind != "wait")  # the waits are ranked by `_ranks`
    found = Tallies({}, {}, {})
    for name, used, by, key, kind, item, n in kept_totals.plain_rows(conn, query):
        groups = found.weeks if by == "week" else found.owners
        tally = groups.get((key, name))
        if tally is None:
            tally = groups[(key, name)] = Tally()
        if kind == "outcome":
            tally.counts[item] += n
            found.within.setdefault(name, set()).add(used)
        elif kind == "filler":
            tally.placeholder[item] = tally.placeholder.get(item, 0) + n
        elif kind == "held":
            tally.suppressed += n
        else:
            tally.missing[item] = tally.missing.get(item, 0) + n
    return found


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
    counts: dict[tuple[str, str, str | None], list[int]] = {}
    with store.reading() as conn:
        kept_totals.one_view(conn)
        at = kept_totals.checkpoint(conn)
        if at is not None and as_of >= at and since is None and until is None:
            where.append(kept_totals.default_unfolded(at))
            folded = sa.select(dt.c.rule, dt.c.field, dt.c.owner, dt.c.overridden, dt.c.n)
            if rule is not None:
                folded = folded.where(dt.c.rule == rule)
            for r, f, owner, changed, n in conn.execute(folded.where(dt.c.n != 0)):
                tally = counts.setdefault((r, f, owner or None), [0, 0])
                tally[0] += n
                tally[1] += n if changed else 0
        query = sa.select(*keys, sa.func.count(), overridden).where(*where).group_by(*keys)
        for r, f, owner, n, changed in conn.execute(query):
            tally = counts.setdefault((r, f, owner), [0, 0])
            tally[0] += n
            tally[1] += int(changed or 0)
    return [(r, f, owner, n, changed) for (r, f, owner), (n, changed) in counts.items()]


def _by_owner(conn: sa.Connection, where: list[Any], at: sa.ColumnElement[str]) -> Groups:
    """The rows `where` holds, counted per rule and owner as they stand at `at`. Grouped by the
    sets of fields missing and seen with a placeholder, split here: a sum per field in SQL read
    every row's text once per field (a window of two months at a million events: 0.5 s against
    0.2 s)."""
    held = sa.func.sum(sa.case((o.c.suppressed, 1), else_=0))
    keys = (o.c.rule, o.c.owner, at, o.c.fields_missing, o.c.fields_placeholder)
    query = sa.select(*keys, sa.func.count(), held).where(*where).group_by(*keys)
    groups: Groups = {}
    for name, owner, outcome, missing, filler, n, suppressed in conn.execute(query):
        tally = groups.get((owner or "", name))
        if tally is None:
            tally = groups[(owner or "", name)] = Tally()
        tally.counts[outcome] += n
        tally.suppressed += int(suppressed or 0)
        for f in _split(missing):
            tally.missing[f] = tally.missing.get(f, 0) + n
        for f in _split(filler):
            tally.placeholder[f] = tally.placeholder.get(f, 0) + n
    return groups


def _split(missing: str) -> list[str]:
    return [f for f in missing.split("|") if f]
