"""Per-record locks: events of one record are never processed two at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class RecordLocks(Protocol):
    """Keeps two workers off one record. In-process now; a PostgreSQL advisory lock at scale
    (issue 6) implements the same `hold`."""

    def hold(self, object: str, record_id: str) -> AbstractContextManager[None]: ...


class LocalRecordLocks:
    """Per-record locks shared by the threads of one process; an entry goes when unused."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, object: str, record_id: str) -> Iterator[None]:
        key = (object, record_id)
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
