"""The worker: takes inbox events through the rules and writes the Decision back to the CRM."""

from .breaker import CrmBreaker
from .core import (
    APPLIED,
    DEAD,
    DEFERRED,
    GONE,
    LATE,
    NOTHING,
    OWN_CHANGE,
    PAUSED,
    RETRY,
    SKIPPED,
    UNKNOWN,
    Worker,
    same_user,
)
from .locks import LocalRecordLocks, RecordLocks
from .writeback import task_key

__all__ = [
    "APPLIED",
    "DEAD",
    "DEFERRED",
    "GONE",
    "LATE",
    "NOTHING",
    "OWN_CHANGE",
    "PAUSED",
    "RETRY",
    "SKIPPED",
    "UNKNOWN",
    "CrmBreaker",
    "LocalRecordLocks",
    "RecordLocks",
    "Worker",
    "same_user",
    "task_key",
]
