"""What the CRM clients share about API limits: the backoff between retries and the pause on
writes once a CRM says its daily API limit is spent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from lastmile.connector.base import LimitExceeded


def full_jitter(random: Callable[[], float], base: float, cap: float, attempt: int) -> float:
    """Seconds to wait before retrying what failed at `attempt`: a uniform share of the capped
    exponential delay."""
    return random() * min(cap, base * 2 ** (attempt - 1))


class WritePause:
    """Writes refused for `length` once the limit is spent; reads go on. `crm` prefixes the log
    events (`<crm>.writes_paused`, `<crm>.writes_resumed`); `refused` and `spent` are the
    messages of the LimitExceeded raised while paused and when the pause starts."""

    def __init__(
        self,
        crm: str,
        *,
        length: timedelta,
        clock: Callable[[], datetime],
        log: Any,
        refused: str,
        spent: str,
    ) -> None:
        self._crm = crm
        self._length = length
        self._clock = clock
        self._log = log
        self._refused = refused
        self._spent = spent
        self.until: datetime | None = None

    def refuse_while_paused(self) -> None:
        """Raise LimitExceeded while the pause lasts; forget a pause that is over."""
        until = self.until
        if until is not None:
            if self._clock() < until:
                raise LimitExceeded(self._refused, until)
            self.until = None

    def start(self) -> LimitExceeded:
        """Pause writes from now; return the error to raise."""
        until = self._clock() + self._length
        self.until = until
        self._log.warning(f"{self._crm}.writes_paused", until=until.isoformat())
        return LimitExceeded(self._spent, until)

    def lift(self) -> None:
        """The CRM says calls are left again: writes resume."""
        if self.until is not None:
            self.until = None
            self._log.info(f"{self._crm}.writes_resumed")
