"""The connector protocol: what Lastmile needs from a CRM, and the errors a CRM call can end in.

The worker talks to a CRM only through `Connector`; the Salesforce connector and test doubles are
implementations. Write-backs are typed values, never loose dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

from lastmile.rules.records import FieldValue


@dataclass(frozen=True)
class TaskWrite:
    """A follow-up task, created idempotently: `key` goes to the external-id field
    (`Lastmile_Key__c`), so writing the same key twice leaves one task."""

    key: str  # rule + record + occasion; at most 255 characters
    subject: str
    due: date
    owner: str | None = None
    what_id: str | None = None
    priority: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class WriteBack:
    """What one event asks to write: record fields (defaults and the prompt field; None clears a
    field) and follow-up tasks. `if_unmodified_since` makes the record update conditional."""

    object: str
    record_id: str
    fields: Mapping[str, FieldValue] = field(default_factory=dict)
    tasks: tuple[TaskWrite, ...] = ()
    if_unmodified_since: datetime | None = None

    @property
    def empty(self) -> bool:
        return not self.fields and not self.tasks


Status = Literal["applied", "conflict", "failed", "nothing"]


@dataclass(frozen=True)
class CrmProblem:
    """An error as the CRM reported it (Salesforce: errorCode, message, fields). `message`
    never holds a record's value: a connector masks or withholds the values a CRM quotes, as
    the message is logged and shown to admins."""

    code: str
    message: str
    fields: tuple[str, ...] = ()
    status: int | None = None


@dataclass(frozen=True)
class WriteResult:
    """How one WriteBack ended.

    - applied: the record update (if any) and every task are written;
    - conflict: the record changed after the event (HTTP 412); nothing was written; re-read and
      re-evaluate;
    - failed: a permanent error (bad field, no access); `problems` says what;
    - nothing: the WriteBack was empty, no call was made.
    """

    record_id: str
    status: Status
    task_ids: Mapping[str, str] = field(default_factory=dict)  # TaskWrite.key -> CRM id
    problems: tuple[CrmProblem, ...] = ()


def triage(
    writes: Sequence[WriteBack], invalid: Callable[[WriteBack], CrmProblem | None]
) -> tuple[dict[int, WriteResult], list[int]]:
    """Sort WriteBacks before any call: the results of those that `invalid` refuses (failed) or
    that are empty (nothing), by index; and the indexes of the rest, which need calls."""
    results: dict[int, WriteResult] = {}
    live: list[int] = []
    for index, write in enumerate(writes):
        problem = invalid(write)
        if problem is not None:
            results[index] = WriteResult(write.record_id, "failed", problems=(problem,))
        elif write.empty:
            results[index] = WriteResult(write.record_id, "nothing")
        else:
            live.append(index)
    return results, live


@dataclass(frozen=True)
class RecordState:
    """A record as read from the CRM: the fields asked for, and when it last changed."""

    object: str
    record_id: str
    fields: Mapping[str, FieldValue]
    last_modified: datetime | None = None


@dataclass(frozen=True)
class ApiUsage:
    """API calls used and allowed today, as the CRM last reported (Sforce-Limit-Info)."""

    used: int
    limit: int
    calls: int  # calls this connector made since it started (retries included)


class Connector(Protocol):
    def read(self, object: str, record_id: str, fields: Iterable[str]) -> RecordState:
        """The record's current values of `fields`. Raises NotFound, CrmError, TransientError."""
        ...

    def apply(self, writes: Sequence[WriteBack]) -> list[WriteResult]:
        """Write back, one result per WriteBack in order, in as few API calls as it can.

        Raises TransientError when the CRM could not be reached after retries, and LimitExceeded
        while writes are paused; then nothing of the batch is known to be written and the caller
        tries again later (task upserts and conditional updates make that safe).
        """
        ...

    def usage(self) -> ApiUsage | None: ...

    def check(self) -> None:
        """Authenticate (or renew the session) and make one cheap call; raises on failure."""
        ...

    def session_owner(self, session_id: str) -> tuple[str, str] | None:
        """(organisation id, user id) of a live CRM session (an Outbound Message's SessionId),
        asked of the configured CRM; None when it is no live session. Raises TransientError
        when the CRM cannot be asked."""
        ...


@dataclass(frozen=True)
class HistoryRow:
    """One row of a CRM's field history: `field` went from `old` to `new` at `at`, saved by
    `actor`. Salesforce names a standard lookup by its relationship (Owner for OwnerId) and
    writes two rows for it, the ids (`data_type` EntityId) and the names; a record's creation
    is a row whose field is `created`."""

    id: str
    field: str
    old: FieldValue
    new: FieldValue
    at: datetime
    actor: str | None
    data_type: str | None = None


@dataclass(frozen=True)
class RecordHistory:
    """A record as it is now (the fields asked for, with Id, OwnerId and the system fields
    CreatedDate, CreatedById, LastModifiedDate, LastModifiedById, SystemModstamp) and its field
    history rows, oldest first. `tracked`: whether the CRM keeps field history for the object
    (and lets Lastmile read it); when not, `rows` is empty."""

    object: str
    fields: Mapping[str, FieldValue]
    rows: tuple[HistoryRow, ...] = ()
    tracked: bool = False


@dataclass(frozen=True)
class ChangedRecords:
    """One batch of the records changed in a window, in record id order; `total`: how many
    the query found in all (from the cursor it started at)."""

    object: str
    total: int
    records: tuple[RecordHistory, ...]


class HistorySource(Protocol):
    """A CRM that can tell its past (for `lastmile backfill`); reads only, never writes."""

    def changed_since(
        self,
        object: str,
        fields: Iterable[str],
        since: datetime,
        *,
        after: str | None = None,
        batch_size: int = 2000,
    ) -> Iterator[ChangedRecords]:
        """The records of `object` last modified at or after `since` whose id sorts after
        `after`, in batches of about `batch_size`, each record with its field history."""
        ...


class ConnectorError(Exception):
    """Base of the errors a connector raises."""


class AuthError(ConnectorError):
    """Credentials refused, or a renewed session refused again."""


class NotFound(ConnectorError):
    """The record does not exist (or was deleted)."""


class CrmError(ConnectorError):
    """A permanent error: retrying will not help. Carries the CRM's own code and message."""

    def __init__(self, problems: Sequence[CrmProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.code}: {p.message}" for p in self.problems))


class TransientError(ConnectorError):
    """The CRM could not be reached or answered 5xx / UNABLE_TO_LOCK_ROW after the retries."""


class LimitExceeded(TransientError):
    """REQUEST_LIMIT_EXCEEDED: writes are paused until `retry_after` (a UTC time)."""

    def __init__(self, message: str, retry_after: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidRequest(ValueError):
    """A call that must not be made: an object or field name, or a record id, that is not one.
    Raised before anything is sent; the event (or the rule) is at fault, so retrying cannot
    help. Not a ConnectorError: it says nothing about the CRM's health."""
