"""Which arm of an experiment a unit is in: the hash formula of DESIGN.md's experiment contract.

Pure and stable: anyone can recompute an arm from the experiment id, the unit's id and the arms
as written, so nothing about assignment needs storing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

# Salesforce ids come as 15 characters (case-sensitive) or 18 (with a checksum suffix): the
# first 15 name the record, so both spellings of one owner land in the same arm.
UNIT_ID_LENGTH = 15
_WEIGHT_SLACK = 1e-9  # weights are written as decimals: 0.2 + 0.4 + 0.4 is not exactly 1.0


def assignment_value(experiment_id: str, unit_id: str) -> float:
    """`u` in [0, 1): the first 8 hex digits of sha256("{experiment_id}:{unit_id[:15]}") / 2**32."""
    if not experiment_id or not unit_id:
        raise ValueError("an experiment id and a unit id are needed to assign an arm")
    key = f"{experiment_id}:{unit_id[:UNIT_ID_LENGTH]}"
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 2**32


def assign_arm(experiment_id: str, unit_id: str, arms: Mapping[str, float]) -> str:
    """The first arm, in the order written, whose cumulative weight exceeds `u`."""
    _check_weights(arms)
    u = assignment_value(experiment_id, unit_id)
    cumulative = 0.0
    for name, weight in arms.items():
        cumulative += weight
        if cumulative > u:
            return name
    # Only when the written weights sum to a hair under 1 (within the slack) and u falls in that
    # hair: the last arm that takes anyone.
    return next(name for name, weight in reversed(arms.items()) if weight > 0)


def _check_weights(arms: Mapping[str, float]) -> None:
    if not arms:
        raise ValueError("an experiment needs at least one arm")
    for name, weight in arms.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ValueError(f"arm {name!r}: the weight must be a number, not {weight!r}")
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"arm {name!r}: the weight must be 0 or more, not {weight!r}")
    total = sum(arms.values())
    if abs(total - 1.0) > _WEIGHT_SLACK:
        raise ValueError(f"the arms' weights must sum to 1, not {total:g}")


def arm_of(experiment: Any, fields: Mapping[str, Any], record_id: str, at: datetime) -> str | None:
    """The arm of the unit an event belongs to, or None: the experiment is not running at `at`,
    or the event names no unit (an `owner` experiment and no `OwnerId`). `experiment` is a
    rule's `experiment:` (rules.schema.Experiment)."""
    if not experiment.running(at):
        return None
    unit = record_id if experiment.unit == "record" else fields.get("OwnerId")
    if not isinstance(unit, str) or not unit.strip():
        return None
    return assign_arm(experiment.id, unit, experiment.arms)
