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
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lastmile.rules import RuleSet
from lastmile.rules.schema import CONTROL
from lastmile.settings import Settings
from lastmile.store import Store
from lastmile.store.occasions import outcome_at
from lastmile.store.tables import occasions as o

from . import intervals
from .groups import Group
from .indicators import figures_of, iso, utc
from .tally import owner_key


def experiments(
    store: Store, ruleset: RuleSet, settings: Settings, as_of: datetime
) -> dict[str, Any]:
    """The readout of every experiment the rules run, and of those the store still has."""
    as_of = utc(as_of)
    written = {
        item.rule.experiment.id: item for item in ruleset.rules if item.rule.experiment is not None
    }
    by_record = {eid for eid, item in written.items() if item.rule.experiment.unit == "record"}
    found = _read(store, as_of, by_record)
    keys = [(item.id, eid) for eid, item in written.items()]
    keys += sorted(k for k in found if k not in keys)
    return {
        "as_of": iso(as_of),
        "experiments": [
            _experiment(rule, eid, found.get((rule, eid), {}), written.get(eid), settings, as_of)
            for rule, eid in keys
        ],
    }


def _read(
    store: Store, as_of: datetime, by_record: set[str]
) -> dict[tuple[str, str], dict[str, Group]]:
    """Each experiment's occasions per arm; the unit is the owner, or for the experiments
    `by_record` the record (15 characters of either id)."""
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
    found: dict[tuple[str, str], dict[str, Group]] = defaultdict(dict)
    with store.reading() as conn:
        rows = conn.execute(query).all()
    for rule, experiment, arm, owner, record, outcome, wait in rows:
        unit = record if experiment in by_record else (owner or "")
        found[(rule, experiment)].setdefault(arm, Group()).add(unit, outcome, wait)
    return found


def _experiment(
    rule: str,
    eid: str,
    arms: Mapping[str, Group],
    item: Any,
    settings: Settings,
    as_of: datetime,
) -> dict[str, Any]:
    spec = item.rule.experiment if item is not None else None
    unit = spec.unit if spec is not None else "owner"
    order = list(spec.arms) if spec is not None else sorted(arms, key=lambda a: (a != CONTROL, a))
    groups = {arm: arms.get(arm) or Group() for arm in order}
    estimates = {arm: groups[arm].compliance() for arm in order}
    shown = {arm: len(groups[arm].units) >= settings.min_group_size for arm in order}
    rows = [_arm_row(arm, groups[arm], estimates[arm], shown[arm]) for arm in order]
    effects = []
    if CONTROL in order:
        for arm in order:
            if arm == CONTROL:
                continue
            if not (shown[arm] and shown[CONTROL]):
                effects.append({"arm": arm, "vs": CONTROL, "too_few_to_show": True})
                continue
            diff = groups[arm].against(groups[CONTROL])
            effects.append(
                {
                    "arm": arm,
                    "vs": CONTROL,
                    "difference": intervals.as_json(diff.difference),
                    "ci95": intervals.interval_json(diff.ci95),
                }
            )
    control = groups.get(CONTROL)
    needed = (
        intervals.needed(control.closed_units, control.met)
        if control is not None and control.closed_units
        else None
    )
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


def _arm_row(arm: str, group: Group, estimate: intervals.Estimate, shown: bool) -> dict[str, Any]:
    if not shown:
        return {"arm": arm, "too_few_to_show": True}
    figures = figures_of(arm, group.tally)
    figures.pop("fields_missing")
    figures.pop("rule")
    return {
        "arm": arm,
        "units": len(group.units),
        **figures,
        "compliance": intervals.as_json(figures["compliance"]),
        "compliance_ci95": intervals.interval_json(estimate.ci95),
        "enough_data": estimate.enough_data,
    }
