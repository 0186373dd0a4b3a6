"""Lastmile's store (SQLAlchemy Core): the inbox, record snapshots, the write-back log and the
ledger adoption measurement is built on. SQLite (WAL) embedded, PostgreSQL at scale."""

from .ledger import LeaseLost, Store
from .models import (
    Completion,
    DefaultRow,
    EventDetail,
    InboxRow,
    ObservationRow,
    Snapshot,
    TaskRow,
    WriteLog,
)

__all__ = [
    "Completion",
    "DefaultRow",
    "EventDetail",
    "InboxRow",
    "LeaseLost",
    "ObservationRow",
    "Snapshot",
    "Store",
    "TaskRow",
    "WriteLog",
]
