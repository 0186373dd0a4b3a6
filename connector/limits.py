"""What the CRM clients share about API limits: the backoff between retries and the pause on
writes once a CRM says its daily API limit is spent."""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from lastmile.connector.base import LimitExceeded


@dataclass(frozen=True)
class Retries:
    """How often a call is tried, and how long to wait between tries."""

    attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    random: Callable[[], float] = _random.random

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retrying what failed at `attempt`. Full jitter: a uniform
        share of the capped exponential delay."""
        return self.random() * min(self.max_delay, self.base_delay * 2 ** (attempt - 1))


class WritePause:
    """Writes refused for `length` once the limit is spent; reads go on. `crm` names the log
    events (`<crm>.writes_paused`, `<crm>.writes_resumed`, logged by `connector.<crm>`);
    `refused` and `spent` are the messages of the LimitExceeded raised while paused and when
    the pause starts."""

    def __init__(
        self,
        crm: str,
        *,
        length: timedelta,
        clock: Callable[[], datetime],
        refused: str,
        spent: str,
    ) -> None:
        self._crm = crm
        self._length = length
        self._clock = clock
        self._log = structlog.get_logger(f"connector.{crm}")
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
