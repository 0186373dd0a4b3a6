"""The experiment readout (DESIGN.md's experiment contract): per experiment and arm the
measurement contract's counts, compliance with a 95 % interval clustered by unit, and each
arm's difference from control, as they stand at `as_of`.

Arms are reported as arms, never per person: an arm with fewer units than the minimum group
size shows "too few to show" instead of figures, and so does its effect (a difference would
give its compliance away). The intervals come from `intervals.py` (a cluster-robust variance
over units); they are a verdict only once the planned end has passed and every arm has enough
data (a fixed horizon: no verdict from peeking at a running experiment).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lastmile.rules import RuleSet
from lastmile.rules.schema import CONTROL
from lastmile.settings import Settings
from lastmile.store import Store
from lastmile.store.tables import occasions as o

from . import intervals
from .indicators import figures_of, iso, utc
from .tally import Tally, outcome_at, owner_key

MET = ("met_first_time", "met_after_prompt")
CLOSED = (*MET, "missed")


@dataclass
class _Arm:
    tally: Tally = field(default_factory=Tally)
    units: set[tuple[str, str]] = field(default_factory=set)  # (owner, record) of each occasion
    closed_units: list[tuple[str, str]] = field(default_factory=list)  # one per closed occasion
    met: list[int] = field(default_factory=list)  # 1 when that occasion was met


def experiments(
    store: Store, ruleset: RuleSet, settings: Settings, as_of: datetime
) -> dict[str, Any]:
    """The readout of every experiment the rules run, and of those the store still has."""
    as_of = utc(as_of)
    found = _read(store, as_of)
    written = {
        item.rule.experiment.id: item for item in ruleset.rules if item.rule.experiment is not None
    }
    keys = [(item.id, eid) for eid, item in written.items()]
    keys += sorted(k for k in found if k not in keys)
    return {
        "as_of": iso(as_of),
        "experiments": [
            _experiment(rule, eid, found.get((rule, eid), {}), written.get(eid), settings, as_of)
            for rule, eid in keys
        ],
    }


def _read(store: Store, as_of: datetime) -> dict[tuple[str, str], dict[str, _Arm]]:
    at = outcome_at(as_of).label("at")
    query = sa.select(
        o.c.rule,
        o.c.experiment,
        o.c.arm,
        owner_key().label("owner"),
        sa.func.substr(o.c.record_id, 1, 15).label("record"),
        at,
        o.c.time_to_comply_s,
    ).where(o.c.experiment.is_not(None), o.c.arm.is_not(None), o.c.opened_at <= as_of)
    found: dict[tuple[str, str], dict[str, _Arm]] = defaultdict(dict)
    with store.reading() as conn:
        rows = conn.execute(query).all()
    for rule, experiment, arm, owner, record, outcome, wait in rows:
        group = found[(rule, experiment)].setdefault(arm, _Arm())
        group.tally.counts[outcome] += 1
        if outcome == "met_after_prompt" and wait is not None:
            group.tally.waits[float(wait)] += 1
        key = (owner or "", record)
        group.units.add(key)
        if outcome in CLOSED:
            group.closed_units.append(key)
            group.met.append(1 if outcome in MET else 0)
    return found


def _experiment(
    rule: str,
    eid: str,
    arms: Mapping[str, _Arm],
    item: Any,
    settings: Settings,
    as_of: datetime,
) -> dict[str, Any]:
    spec = item.rule.experiment if item is not None else None
    unit = spec.unit if spec is not None else "owner"
    order = list(spec.arms) if spec is not None else sorted(arms, key=lambda a: (a != CONTROL, a))
    # The unit of analysis: the owner (unit: owner) or the record (unit: record).
    pick = 1 if unit == "record" else 0
    # arm -> the unit and whether met, of each closed occasion
    groups = {arm: _units(arms.get(arm, _Arm()), pick) for arm in order}
    estimates = {arm: intervals.compliance(*groups[arm]) for arm in order}
    shown = {arm: len(_distinct(arms.get(arm), pick)) >= settings.min_group_size for arm in order}
    rows = [_arm_row(arm, arms.get(arm, _Arm()), estimates[arm], shown[arm], pick) for arm in order]
    effects = []
    if CONTROL in order:
        for arm in order:
            if arm == CONTROL:
                continue
            if not (shown[arm] and shown[CONTROL]):
                effects.append({"arm": arm, "vs": CONTROL, "too_few_to_show": True})
                continue
            diff = intervals.difference(*groups[CONTROL], *groups[arm])
            effects.append(
                {
                    "arm": arm,
                    "vs": CONTROL,
                    "difference": intervals.as_json(diff.difference),
                    "ci95": intervals.interval_json(diff.ci95),
                }
            )
    control = groups.get(CONTROL)
    needed = intervals.needed(*control) if control is not None and len(control[0]) else None
    end = spec.end if spec is not None else None
    return {
        "id": eid,
        "rule": rule,
        "unit": unit,
        "start": iso(spec.start) if spec is not None and spec.start else None,
        "end": iso(end) if end else None,
        "running": spec is not None and spec.running(as_of),
        "enough_data": intervals.verdict_ready(as_of, end, estimates.values()),
        "minimum": {"units": intervals.MIN_UNITS, "closed_occasions": intervals.MIN_CLOSED},
        "needed": (
            {
                "difference": needed.difference,
                "units_per_arm": needed.units_per_group,
                "closed_occasions_per_arm": needed.occasions_per_group,
            }
            if needed is not None
            else None
        ),
        "arms": rows,
        "effects": effects,
    }


def _units(arm: _Arm, pick: int) -> tuple[list[str], list[int]]:
    return [key[pick] for key in arm.closed_units], arm.met


def _distinct(arm: _Arm | None, pick: int) -> set[str]:
    return {key[pick] for key in arm.units} if arm is not None else set()


def _arm_row(
    arm: str, group: _Arm, estimate: intervals.Estimate, shown: bool, pick: int
) -> dict[str, Any]:
    if not shown:
        return {"arm": arm, "too_few_to_show": True}
    figures = figures_of(arm, group.tally)
    figures.pop("fields_missing")
    figures.pop("rule")
    return {
        "arm": arm,
        "units": len(_distinct(group, pick)),
        **figures,
        "compliance": intervals.as_json(figures["compliance"]),
        "compliance_ci95": intervals.interval_json(estimate.ci95),
        "enough_data": estimate.enough_data,
    }
