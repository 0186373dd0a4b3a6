"""Adoption indicators (DESIGN.md "The measurement contract"): per rule, team, ISO week and
default, a pure function of the ledger and `as_of`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa

from lastmile.rules import RuleSet
from lastmile.rules.occasions import Occasion
from lastmile.settings import Settings
from lastmile.store import Store
from lastmile.store.occasions import within_of, within_text
from lastmile.store.tables import occasions as o

from .ranks import needed
from .tally import OUTCOMES, Tally, default_counts, owner_key, tallies
from .teams import OTHER, Teams

__all__ = ["OUTCOMES", "figures", "figures_of", "indicators", "iso", "iso_week", "parse_time"]


def utc(moment: datetime) -> datetime:
    """An aware UTC time; a time without a zone is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (`2026-11-20T09:00:00Z`; no zone: UTC) or a date (its midnight, UTC).
    ValueError with an example when it is neither."""
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), UTC)
        return utc(datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00")))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time; write e.g. 2026-11-20T09:00:00Z or 2026-11-20"
        ) from None


def iso(moment: datetime) -> str:
    return utc(moment).isoformat().replace("+00:00", "Z")


def iso_week(moment: datetime) -> str:
    year, week, _ = utc(moment).isocalendar()
    return f"{year}-W{week:02d}"


def indicators(
    store: Store,
    ruleset: RuleSet,
    settings: Settings,
    as_of: datetime,
    *,
    rule: str | None = None,
    team: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """The indicators as they stand at `as_of`, optionally for one rule, one team, and the
    occasions opened from `since` (inclusive) to `until` (exclusive).

    A team filter naming no reportable team (unknown, or a small team folded into `other`)
    gives no occasions: the answer is the same for both, so it tells nothing about a small team.
    """
    as_of = utc(as_of)
    teams = Teams.load(settings.teams, settings.min_group_size)
    require_all = {item.id: tuple(item.rule.then.require) for item in ruleset.rules}
    asked = {
        "rule": rule,
        "since": utc(since) if since is not None else None,
        "until": utc(until) if until is not None else None,
        "owners": _owners(teams, team) if team is not None else None,
        "teams": teams,
        "people": settings.person_reports,
    }
    found = tallies(store, as_of, **asked)
    within = {r: within_text(w) for r, w in within_of(ruleset).items()}
    stale = {r for r, used in found.within.items() if used != {within.get(r, "")}}
    if stale:  # the rules' deadlines changed since the rows were derived
        store.rebuild_occasions(within_of(ruleset), stale)
        found = tallies(store, as_of, **asked)
    order = _rule_order(ruleset, (r for _, r in found.weeks), rule)
    require = {r: require_all.get(r, ()) for r in order}

    def rows(level: str, groups: dict[tuple[str, str], Tally]) -> list[dict[str, Any]]:
        for (key, r), tally in groups.items():
            tally.ranks = found.ranks.get((level, key, r))
        return [
            {level: key, **figures_of(r, groups[(key, r)], require[r])}
            for key in sorted({k for k, _ in groups})
            for r in order
            if (key, r) in groups
        ]

    by_rule = {r: Tally() for r in order}
    for (_week, r), tally in found.weeks.items():
        by_rule[r].add(tally)
    for r, tally in by_rule.items():
        tally.ranks = found.ranks.get(("rule", "", r))
    by_team: dict[tuple[str, str], Tally] = {}
    for (owner, r), tally in found.owners.items():
        by_team.setdefault((teams.team_of(owner), r), Tally()).add(tally)
    report: dict[str, Any] = {
        "as_of": iso(as_of),
        "rules": [_with_mode(figures_of(r, by_rule[r], require[r]), ruleset) for r in order],
        "teams": rows("team", by_team),
        "weeks": rows("week", found.weeks),
        "defaults": _defaults(
            store, ruleset, teams, as_of, rule, team, asked["since"], asked["until"]
        ),
    }
    if settings.person_reports:
        report["people"] = rows("person", found.owners)
    return report


def figures(rule: str, occs: Sequence[Occasion], require: Sequence[str] = ()) -> dict[str, Any]:
    """One row of the contract from occasions (see `figures_of`)."""
    tally = Tally()
    for occ in occs:
        tally.counts[occ.outcome] += 1
        for name in occ.fields_missing:
            tally.missing[name] = tally.missing.get(name, 0) + 1
        for name in occ.fields_placeholder:
            tally.placeholder[name] = tally.placeholder.get(name, 0) + 1
        tally.suppressed += occ.suppressed
        if occ.outcome == "met_after_prompt":
            tally.waits[occ.time_to_comply_s or 0.0] += 1
    return figures_of(rule, tally, require)


def figures_of(rule: str, tally: Tally, require: Sequence[str] = ()) -> dict[str, Any]:
    """One row of the contract: counts by outcome, compliance, time to comply, fields missing
    (each `require` field, then any other field an occasion opened without), fields seen
    with a placeholder value (likewise) and how many occasions' prompts the prompt budget held
    back (`suppressed`)."""
    counts = tally.counts
    closed = counts["met_first_time"] + counts["met_after_prompt"] + counts["missed"]
    met = counts["met_first_time"] + counts["met_after_prompt"]
    waits = tally.wait_count()
    missing = {name: tally.missing.get(name, 0) for name in require}
    missing.update(sorted((k, v) for k, v in tally.missing.items() if k not in missing))
    filler = {name: tally.placeholder.get(name, 0) for name in require}
    filler.update(sorted((k, v) for k, v in tally.placeholder.items() if k not in filler))
    return {
        "rule": rule,
        "occasions": sum(counts.values()),
        **counts,
        "compliance": met / closed if closed else None,
        "time_to_comply_s": (
            {
                "median": _number(_median(tally)),
                "p90": _number(tally.kth_wait(needed(waits)[2])),
            }
            if waits
            else None
        ),
        "fields_missing": missing,
        "fields_placeholder": filler,
        "suppressed": tally.suppressed,
    }


def _with_mode(row: dict[str, Any], ruleset: RuleSet) -> dict[str, Any]:
    """A rules row with its rule's mode after its name: `live`, or `observe` (measured, nothing
    written); None for a rule no longer loaded."""
    item = ruleset.get(row["rule"])
    rule, *rest = row.items()
    return dict([rule, ("mode", item.mode if item is not None else None), *rest])


def _owners(teams: Teams, team: str) -> sa.ColumnElement[bool]:
    """The occasion rows of a team's owners (none for a name no report may show)."""
    if team not in teams.reportable():
        return sa.false()
    if team == OTHER:
        return sa.or_(o.c.owner.is_(None), owner_key().not_in(teams.members()))
    return owner_key().in_(teams.members(team))


def _median(tally: Tally) -> float:
    """As `statistics.median` of the times to comply: the middle one, or the mean of the two."""
    low, high, _ = needed(tally.wait_count())
    return tally.kth_wait(low) if low == high else (tally.kth_wait(low) + tally.kth_wait(high)) / 2


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _rule_order(ruleset: RuleSet, seen: Iterable[str], only: str | None) -> list[str]:
    """The measured rules in the pack order, then rules no longer loaded that the ledger has."""
    loaded = [i.id for i in ruleset.rules if i.rule.then.require and i.rule.enabled]
    order = loaded + sorted(set(seen) - set(loaded))
    return [r for r in order if only is None or r == only]


# -- defaults -----------------------------------------------------------------------------------


def _defaults(
    store: Store,
    ruleset: RuleSet,
    teams: Teams,
    as_of: datetime,
    rule: str | None,
    team: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[dict[str, Any]]:
    """Per rule and field: defaults applied by `as_of`, and how many a person changed since."""
    counts: dict[tuple[str, str], list[int]] = {}
    for r, f, owner, n, changed in default_counts(
        store, as_of, rule=rule, since=since, until=until
    ):
        if team is not None and teams.team_of(owner) != team:
            continue
        tally = counts.setdefault((r, f), [0, 0])
        tally[0] += n
        tally[1] += changed
    order = {item.id: n for n, item in enumerate(ruleset.rules)}
    return [
        {
            "rule": r,
            "field": f,
            "applied": n,
            "overridden": changed,
            "override_rate": changed / n,
        }
        for (r, f), (n, changed) in sorted(
            counts.items(), key=lambda kv: (order.get(kv[0][0], len(order)), kv[0])
        )
    ]
