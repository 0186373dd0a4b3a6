"""What the store hands out and takes in: frozen dataclasses, never loose rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

from lastmile.rules import RecordEvent
from lastmile.rules.records import FieldValue
from lastmile.rules.templates import Duration


@dataclass(frozen=True)
class InboxRow:
    """One stored event and how far its processing got."""

    id: int
    source: str
    event_id: str
    object: str
    record_id: str
    kind: str
    occurred_at: datetime
    received_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime | None
    lease_until: datetime | None
    last_error: str | None
    outcome: str | None
    rules_version: str | None
    processed_at: datetime | None
    event_json: str = field(repr=False)
    fields_seen: Mapping[str, FieldValue] | None = field(default=None, repr=False)
    fields_written: Mapping[str, FieldValue] | None = field(default=None, repr=False)

    @property
    def event(self) -> RecordEvent:
        return RecordEvent.model_validate_json(self.event_json)

    def summary(self) -> dict[str, Any]:
        """The row as JSON-ready data, without field values (for `events list`, /api/events)."""
        return {
            "id": self.id,
            "source": self.source,
            "event_id": self.event_id,
            "object": self.object,
            "record_id": self.record_id,
            "kind": self.kind,
            "occurred_at": _iso(self.occurred_at),
            "received_at": _iso(self.received_at),
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": _iso(self.next_attempt_at),
            "last_error": self.last_error,
            "outcome": self.outcome,
            "rules_version": self.rules_version,
            "processed_at": _iso(self.processed_at),
        }


@dataclass(frozen=True)
class Snapshot:
    """A record as last seen: its fields, and the prompts Lastmile shows on it."""

    fields: Mapping[str, FieldValue]
    occurred_at: datetime  # of the event that set it
    inbox_id: int
    prompts: Mapping[str, str]  # rule -> text
    prompt_value: str | None  # the prompt field value last written
    held: Mapping[str, str] = field(default_factory=dict)  # rule -> text held back (budget)


@dataclass(frozen=True)
class WriteLog:
    """One call to the connector for an event: what was sent and how it ended."""

    attempt: int
    fields: Mapping[str, FieldValue]
    task_keys: tuple[str, ...]
    if_unmodified_since: datetime | None
    status: str  # applied, conflict, failed, or error (an exception, see problems)
    task_ids: Mapping[str, str]
    api_calls: int | None
    problems: tuple[dict[str, Any], ...]
    at: datetime

    def to_json(self) -> dict[str, Any]:
        """Field names, not values: this is what ops screens and logs show."""
        return {
            "attempt": self.attempt,
            "fields": sorted(self.fields),
            "task_keys": list(self.task_keys),
            "if_unmodified_since": _iso(self.if_unmodified_since),
            "status": self.status,
            "task_ids": dict(self.task_ids),
            "api_calls": self.api_calls,
            "problems": list(self.problems),
            "at": _iso(self.at),
        }


@dataclass(frozen=True)
class ObservationRow:
    """`rules.occasions.Observation` as the ledger keeps it, for one stored event."""

    inbox_id: int
    event_id: str
    occurred_at: datetime
    object: str
    record_id: str
    rule: str
    matched: bool
    situation: bool
    missing: tuple[str, ...]
    owner: str | None
    rules_version: str | None
    placeholder: tuple[str, ...] = ()  # `require` fields holding a placeholder value
    rule_version: str | None = None  # the rule's own version (LoadedRule.version)
    experiment: str | None = None  # the id of the experiment running for the event's unit
    arm: str | None = None  # and its arm
    suppressed: bool = False  # its prompt was wanted but held back by the prompt budget

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ObservationRow:
        """From a row of the ledger's observations table (its other columns ignored)."""
        values = {f.name: row[f.name] for f in fields(cls)}
        return cls(
            **{
                **values,
                "missing": tuple(values["missing"]),
                "placeholder": tuple(values["placeholder"] or ()),
                "suppressed": bool(values["suppressed"]),
            }
        )


@dataclass(frozen=True)
class DefaultRow:
    inbox_id: int
    event_id: str
    occurred_at: datetime
    object: str
    record_id: str
    rule: str
    field: str
    value: FieldValue
    owner: str | None = None  # kept by the store (store/defaults.py)
    overridden_at: datetime | None = None


@dataclass(frozen=True)
class TaskRow:
    key: str
    inbox_id: int
    event_id: str
    occurred_at: datetime
    object: str
    record_id: str
    rule: str
    crm_id: str | None
    due: date


@dataclass(frozen=True)
class Completion:
    """Everything one processed event leaves behind, committed in one transaction."""

    outcome: str
    rules_version: str | None
    fields_seen: Mapping[str, FieldValue]
    fields_written: Mapping[str, FieldValue]
    observations: tuple[ObservationRow, ...] = ()
    defaults: tuple[DefaultRow, ...] = ()
    tasks: tuple[TaskRow, ...] = ()
    writes: tuple[WriteLog, ...] = ()
    snapshot: Snapshot | None = None  # None: the snapshot stays (a late event does not move it)
    # Observations of later events of the record, worked out again because a late event now
    # precedes them: they replace what is stored for those events.
    revised: tuple[ObservationRow, ...] = ()
    # Each rule's `within` as the worker's rules say: the record's occasion rows are derived
    # again with it (a rule missing here has no deadline).
    within: Mapping[str, Duration | None] = field(default_factory=dict)
    # Whose changes to a defaulted field are not a person's.
    integration_user: str | None = None


@dataclass(frozen=True)
class EventDetail:
    """An inbox row with its event and write-backs (for `events show`)."""

    row: InboxRow
    writes: tuple[WriteLog, ...]

    def to_json(self) -> dict[str, Any]:
        event = self.row.event
        data = self.row.summary()
        data["actor"] = event.actor
        data["fields"] = sorted(event.fields)
        data["changed"] = list(event.changed) if event.changed is not None else None
        data["writes"] = [w.to_json() for w in self.writes]
        return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
