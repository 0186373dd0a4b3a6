"""The API budget: how much of the CRM's daily API allowance may go to Lastmile's writes.

Usage is what the CRM last reported (Salesforce: `Sforce-Limit-Info: api-usage=used/limit` on
every answer), so reading it costs no call; while writes are deferred few answers come, so a
reading unchanged for `refresh_every` is asked again (one cheap call). Above `defer_share` of
the allowance, prompt-only and default-only writes are deferred (task creation and prompt
clears still go); above `pause_share`, writes pause: events wait as for a CRM outage (the
breaker) until usage falls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from lastmile.connector.base import ApiUsage, LimitExceeded

from ..metrics import API_USAGE_SHARE

Level = Literal["ok", "defer", "pause"]


class BudgetPaused(LimitExceeded):
    """Writes wait: API usage is past the pause share of the daily allowance."""


@dataclass
class ApiBudget:
    """The shares of the daily allowance past which writes are deferred, then paused."""

    usage: Callable[[], ApiUsage | None]
    defer_share: float = 0.8
    pause_share: float = 0.95
    refresh: Callable[[], None] | None = None  # a cheap call whose answer reports usage
    refresh_every: timedelta = timedelta(minutes=1)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _seen: tuple[int, int] | None = field(default=None, init=False)
    _seen_at: datetime | None = field(default=None, init=False)
    deferred: int = field(default=0, init=False)  # writes put off since the process started
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.defer_share <= self.pause_share <= 1:
            raise ValueError("the API budget needs 0 < defer share <= pause share <= 1")

    def share(self) -> float | None:
        """The share of today's allowance used, as last reported; None before any answer."""
        usage = self.usage()
        if usage is None or usage.limit <= 0:
            return None
        share = usage.used / usage.limit
        API_USAGE_SHARE.set(share)
        return share

    def level(self) -> Level:
        share = self.share()
        if share is None or share < self.defer_share:
            return "ok"
        if self._stale():
            share = self.share()
            if share is None or share < self.defer_share:
                return "ok"
        return "pause" if share >= self.pause_share else "defer"

    def _stale(self) -> bool:
        """Whether the reading was asked again because it had not changed for a while (a
        failed refresh keeps the old reading: the connector's error shows on the next write)."""
        usage = self.usage()
        now = self.clock()
        with self._lock:
            reading = (usage.used, usage.limit) if usage is not None else None
            if reading != self._seen or self._seen_at is None:
                self._seen, self._seen_at = reading, now
                return False
            if self.refresh is None or now - self._seen_at < self.refresh_every:
                return False
            self._seen_at = now
        try:
            self.refresh()
        except Exception:  # the write itself meets the outage and reports it
            return False
        return True

    def check(self, now: datetime) -> None:
        """Raise BudgetPaused while usage is past the pause share. It names no time to wait:
        the breaker probes on its own schedule (seconds at first, at most a minute apart), and
        each probe's call brings a fresh reading, so the pause lasts until usage falls and not
        a fixed time longer (one call a minute at most, against an allowance of thousands)."""
        share = self.share()
        if share is not None and share >= self.pause_share:
            raise BudgetPaused(
                f"API usage at {share:.0%} of the daily allowance (pause at "
                f"{self.pause_share:.0%}): writes wait at {now.isoformat()}"
            )
