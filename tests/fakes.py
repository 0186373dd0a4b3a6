"""Test doubles: a virtual clock and an in-memory CRM implementing the `Connector` protocol."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lastmile.connector.base import (
    ApiUsage,
    CrmError,
    CrmProblem,
    NotFound,
    RecordState,
    TaskWrite,
    TransientError,
    WriteBack,
    WriteResult,
)
from lastmile.rules import RecordEvent

PERSON = "0057Q00000A1bCdQAJ"
INTEGRATION = "0057Q00000ZZZZZQAJ"  # the integration user, 18 characters
OPP = "0067Q00000Jk9sPQAR"
ORG_ID = "00D7Q000004SaLeUAK"  # 18 characters; its 15-character form is ORG_ID[:15]
# The session the fake CRM knows as live: what an Outbound Message with "Send Session ID" carries.
SESSION_ID = "00D7Q000004SaLe!AQ4AQLive.Session.Of.The.Integration.User"


class Clock:
    """A virtual clock: `now()` only moves when a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.at = start or datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float = 0, **kw: float) -> datetime:
        self.at += timedelta(seconds=seconds, **kw)
        return self.at


@dataclass
class _Record:
    fields: dict[str, Any]
    last_modified: datetime


@dataclass
class FakeCrm:
    """An in-memory CRM. Records keep their last-modified time; a conditional update of a record
    changed after `if_unmodified_since` is refused as a conflict (HTTP 412) and writes nothing;
    tasks are upserted by key. Failures are injected: `transient` (the next N calls raise
    TransientError), `down` (every call fails, the check too), `refuse` (every write fails with
    this problem), `read_error`."""

    clock: Clock
    records: dict[tuple[str, str], _Record] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    updates: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    reads: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    applies: list[WriteBack] = field(default_factory=list)
    conflicts: int = 0
    transient: int = 0
    down: bool = False  # unreachable: every call, the check too, raises TransientError
    checks: int = 0
    refuse: CrmProblem | None = None
    read_error: Exception | None = None
    calls: int = 0
    sessions: dict[str, tuple[str, str]] = field(  # session id -> (org, user)
        default_factory=lambda: {SESSION_ID: (ORG_ID, INTEGRATION)}
    )
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- arranging ------------------------------------------------------------------------------

    def seed(self, object: str, record_id: str, at: datetime, **fields: Any) -> None:
        """A record as a person saved it at `at`."""
        self.records[(object, record_id)] = _Record(dict(fields), at)

    def edit(self, object: str, record_id: str, at: datetime, **fields: Any) -> None:
        """A person changes the record at `at`."""
        record = self.records[(object, record_id)]
        record.fields.update(fields)
        record.last_modified = at

    def fields(self, object: str, record_id: str) -> dict[str, Any]:
        return dict(self.records[(object, record_id)].fields)

    def updates_of(self, field_name: str) -> list[Any]:
        """Every value written to `field_name`, in order."""
        return [f[field_name] for _, _, f in self.updates if field_name in f]

    # -- the Connector protocol -----------------------------------------------------------------

    def read(self, object: str, record_id: str, fields: Iterable[str]) -> RecordState:
        names = tuple(fields)
        with self._lock:
            self.calls += 1
            self.reads.append((object, record_id, names))
            self._maybe_fail()
            if self.read_error is not None:
                raise self.read_error
            record = self.records.get((object, record_id))
            if record is None:
                raise NotFound(f"{object} {record_id} not found")
            values = {n: record.fields.get(n) for n in names}
            return RecordState(object, record_id, values, record.last_modified)

    def apply(self, writes: Sequence[WriteBack]) -> list[WriteResult]:
        with self._lock:
            self.calls += 1
            self._maybe_fail()
            return [self._one(w) for w in writes]

    def usage(self) -> ApiUsage | None:
        return ApiUsage(used=self.calls, limit=100_000, calls=self.calls)

    def check(self) -> None:
        with self._lock:
            self.calls += 1
            self.checks += 1
            if self.down:
                raise TransientError("the CRM could not be reached")

    def session_owner(self, session_id: str) -> tuple[str, str] | None:
        return self.sessions.get(session_id)

    # -- internals ------------------------------------------------------------------------------

    def _maybe_fail(self) -> None:
        if self.down:
            raise TransientError("the CRM could not be reached")
        if self.transient > 0:
            self.transient -= 1
            raise TransientError("the CRM answered 503 Service Unavailable")

    def _one(self, write: WriteBack) -> WriteResult:
        self.applies.append(write)
        if self.refuse is not None:
            return WriteResult(write.record_id, "failed", problems=(self.refuse,))
        if write.fields:
            record = self.records.get((write.object, write.record_id))
            if record is None:
                problem = CrmProblem("ENTITY_IS_DELETED", "entity is deleted", status=404)
                return WriteResult(write.record_id, "failed", problems=(problem,))
            since = write.if_unmodified_since
            if since is not None and record.last_modified > since:
                self.conflicts += 1
                return WriteResult(write.record_id, "conflict")
            record.fields.update(write.fields)
            record.last_modified = self.clock()
            self.updates.append((write.object, write.record_id, dict(write.fields)))
        ids = {task.key: self._upsert(task) for task in write.tasks}
        return WriteResult(write.record_id, "applied", task_ids=ids)

    def _upsert(self, task: TaskWrite) -> str:
        existing = self.tasks.get(task.key)
        if existing is not None:
            existing.update(vars(task))
            return existing["Id"]
        crm_id = f"00T{next(self._ids):015d}"
        self.tasks[task.key] = {**vars(task), "Id": crm_id}
        return crm_id


def permanent(code: str = "INVALID_FIELD", message: str = "No such column") -> CrmError:
    return CrmError([CrmProblem(code, message, ("Lastmile_Prompt__c",), 400)])


def event(
    eid: str,
    minutes: float = 0,
    *,
    object: str = "Opportunity",
    record_id: str = OPP,
    kind: str = "updated",
    actor: str | None = PERSON,
    changed: list[str] | None = None,
    **fields: Any,
) -> RecordEvent:
    """An event `minutes` after the start of the virtual clock."""
    start = Clock().at
    return RecordEvent(
        id=eid,
        object=object,
        record_id=record_id,
        kind=kind,
        occurred_at=start + timedelta(minutes=minutes),
        actor=actor,
        fields=fields,
        changed=changed,
    )
