"""Adoption indicators (DESIGN.md "The measurement contract"): per rule, team, ISO week and
default, a pure function of the ledger and `as_of`."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from lastmile.rules import RuleSet
from lastmile.rules.occasions import Occasion
from lastmile.rules.records import same_value
from lastmile.settings import Settings
from lastmile.store import DefaultRow, InboxRow, Store
from lastmile.worker.core import same_user

from .occasions import occasions
from .teams import Teams

OUTCOMES = ("met_first_time", "met_after_prompt", "missed", "withdrawn", "open")


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
    chosen = [
        (o, teams.team_of(o.occasion.owner))
        for o in occasions(
            store, ruleset, as_of, rules=[rule] if rule else None, opened_since=since
        )
        if _opened_between(o.occasion.opened_at, since, until)
    ]
    if team is not None:
        chosen = [(o, t) for o, t in chosen if t == team]
    order = _rule_order(ruleset, (o.occasion.rule for o, _ in chosen), rule)
    require = {r: _require(ruleset, r) for r in order}

    def rows(key_name: str, key_of) -> list[dict[str, Any]]:
        groups: dict[tuple[str, str], list[Occasion]] = {}
        for o, t in chosen:
            groups.setdefault((key_of(o, t), o.occasion.rule), []).append(o.occasion)
        return [
            {key_name: key, **figures(r, groups[(key, r)], require[r])}
            for key in sorted({k for k, _ in groups})
            for r in order
            if (key, r) in groups
        ]

    by_rule: dict[str, list[Occasion]] = {r: [] for r in order}
    for o, _ in chosen:
        by_rule[o.occasion.rule].append(o.occasion)
    report: dict[str, Any] = {
        "as_of": iso(as_of),
        "rules": [figures(r, by_rule[r], require[r]) for r in order],
        "teams": rows("team", lambda _o, t: t),
        "weeks": rows("week", lambda o, _t: iso_week(o.occasion.opened_at)),
        "defaults": _defaults(store, ruleset, settings, teams, as_of, rule, team, since, until),
    }
    if settings.person_reports:
        report["people"] = rows("person", lambda o, _t: o.occasion.owner or "")
    return report


def figures(rule: str, occs: Sequence[Occasion], require: Sequence[str] = ()) -> dict[str, Any]:
    """One row of the contract: counts by outcome, compliance, time to comply, fields missing."""
    counts = {name: sum(o.outcome == name for o in occs) for name in OUTCOMES}
    closed = counts["met_first_time"] + counts["met_after_prompt"] + counts["missed"]
    met = counts["met_first_time"] + counts["met_after_prompt"]
    waits = sorted(o.time_to_comply_s or 0.0 for o in occs if o.outcome == "met_after_prompt")
    missing = {name: 0 for name in require}
    for o in occs:
        for name in o.fields_missing:
            missing[name] = missing.get(name, 0) + 1
    return {
        "rule": rule,
        "occasions": len(occs),
        **counts,
        "compliance": met / closed if closed else None,
        "time_to_comply_s": (
            {
                "median": _number(statistics.median(waits)),
                "p90": _number(waits[math.ceil(0.9 * len(waits)) - 1]),
            }
            if waits
            else None
        ),
        "fields_missing": missing,
    }


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _opened_between(opened: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or opened >= utc(since)) and (until is None or opened < utc(until))


def _require(ruleset: RuleSet, rule: str) -> tuple[str, ...]:
    item = ruleset.get(rule)
    return tuple(item.rule.then.require) if item is not None else ()


def _rule_order(ruleset: RuleSet, seen: Iterable[str], only: str | None) -> list[str]:
    """The measured rules in the pack order, then rules no longer loaded that the ledger has."""
    loaded = [i.id for i in ruleset.rules if i.rule.then.require and i.rule.enabled]
    order = loaded + sorted(set(seen) - set(loaded))
    return [r for r in order if only is None or r == only]


# -- defaults -----------------------------------------------------------------------------------


def _defaults(
    store: Store,
    ruleset: RuleSet,
    settings: Settings,
    teams: Teams,
    as_of: datetime,
    rule: str | None,
    team: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[dict[str, Any]]:
    """Per rule and field: defaults applied by `as_of`, and how many a person changed since."""
    applied = [
        d
        for d in store.defaults_applied()
        if d.occurred_at <= as_of
        and (rule is None or d.rule == rule)
        and _opened_between(d.occurred_at, since, until)
    ]
    histories: dict[tuple[str, str], list[InboxRow]] = {}
    counts: dict[tuple[str, str], list[int]] = {}
    for d in applied:
        key = (d.object, d.record_id)
        if key not in histories:
            histories[key] = store.history(*key)
        history = histories[key]
        if team is not None and _team_at(history, d, teams) != team:
            continue
        tally = counts.setdefault((d.rule, d.field), [0, 0])
        tally[0] += 1
        tally[1] += _overridden(history, d, as_of, settings.integration_user_id)
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


def _team_at(history: list[InboxRow], d: DefaultRow, teams: Teams) -> str:
    row = next((r for r in history if r.id == d.inbox_id), None)
    owner = (row.fields_seen or {}).get("OwnerId") if row is not None else None
    return teams.team_of(owner if isinstance(owner, str) else None)


def _overridden(
    history: list[InboxRow], d: DefaultRow, as_of: datetime, integration_user: str | None
) -> bool:
    """A later event (by `as_of`) of a known person, not the integration user, carries another
    value in the field. Events whose actor is unknown cannot say a person did it."""
    for row in history:
        if (row.occurred_at, row.id) <= (d.occurred_at, d.inbox_id) or row.occurred_at > as_of:
            continue
        event = row.event
        if event.actor is None or same_user(event.actor, integration_user):
            continue
        if d.field in event.fields and not same_value(event.fields[d.field], d.value):
            return True
    return False
