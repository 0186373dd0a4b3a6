"""Prompts held back by the prompt budget (lastmile/worker/prompts.py) shown once there is room:
a person met a prompt on another record, a deadline cleared one, or the limits were raised.

The deadline run (embedded scheduler or Celery beat) calls `release_held` after acting on
missed deadlines. A held prompt shows only while its occasion is open; one whose occasion closed
(met, withdrawn, missed) is dropped. The write is the prompt field alone, unconditional as the
deadline run's are (the field is Lastmile's own); the snapshot is then updated unless an event
moved it on meanwhile, in which case the worker's view stands and the next run looks again.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from lastmile.connector.base import Connector, ConnectorError, CrmError, WriteBack
from lastmile.rules import RuleSet

from .settings import Settings
from .store import Snapshot, Store
from .worker.prompts import allot, prompt_text, slots, writes_prompts
from .worker.writeback import describe_problems

log = structlog.get_logger("lastmile.prompt_budget")

BATCH = 500  # records looked at per run: the rest wait for the next one


def release_held(
    store: Store, ruleset: RuleSet, connector: Connector, settings: Settings, now: datetime
) -> dict[str, int]:
    """Show held prompts where there is room now; counts of prompts released and dropped, and
    of records the CRM refused (`failed`) or could not be reached for (`errors`)."""
    counts = dict.fromkeys(("released", "dropped", "failed", "errors"), 0)
    per_person, per_record = settings.max_prompts_per_person, settings.max_prompts_per_record
    for object, record_id, owner, snap in store.holding(per_person, per_record, BATCH):
        still = store.open_rules(object, record_id, now)
        held = {r: t for r, t in snap.held.items() if r in still and writes_prompts(ruleset, r)}
        elsewhere = store.prompts_elsewhere(owner, object, record_id)
        room = slots(per_record, per_person, elsewhere)
        shown, held = allot({**held, **snap.prompts}, ruleset, room)
        if shown == dict(snap.prompts) and held == dict(snap.held):
            continue
        value = prompt_text(shown, ruleset)
        outcome = _write(connector, settings, object, record_id, snap, value)
        if outcome != "done":
            counts[outcome] += 1
        if outcome == "errors":
            break  # the CRM is away: the next run tries again
        if outcome == "failed":  # refused for good (the record is gone, say): not tried again
            shown, held, value = dict(snap.prompts), {}, snap.prompt_value
        if store.set_prompts(object, record_id, snap.inbox_id, shown, held, value):
            released = sorted(shown.keys() - snap.prompts.keys())
            counts["released"] += len(released)
            counts["dropped"] += len(snap.held.keys() - shown.keys() - held.keys())
            if released:
                log.info("held prompts shown", object=object, record_id=record_id, rules=released)
    return counts


def _write(
    connector: Connector,
    settings: Settings,
    object: str,
    record_id: str,
    snap: Snapshot,
    value: str | None,
) -> str:
    if value == snap.prompt_value:
        return "done"
    bound = log.bind(object=object, record_id=record_id)
    try:
        result = connector.apply([WriteBack(object, record_id, {settings.prompt_field: value}, ())])
    except CrmError as exc:
        bound.error("held prompt refused by the CRM", problem=describe_problems(exc.problems))
        return "failed"
    except ConnectorError as exc:
        bound.warning("held prompts postponed", error=type(exc).__name__)
        return "errors"
    if result[0].status == "failed":
        bound.error("held prompt refused by the CRM", problem=describe_problems(result[0].problems))
        return "failed"
    return "done"
