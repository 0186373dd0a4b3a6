"""The CRM breaker: one per process, shared by its worker threads (and /readyz).

A failure of the CRM as a whole (unreachable, 5xx or timeouts after the connector's retries, the
API limit, a refused login) opens it. While it is open events are not tried: they wait, and one
probe at a time (a cheap CRM call) asks whether the CRM is back, with growing waits between
probes. A probe that gets an answer closes it, and the waiting events go on in order."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from lastmile.connector.base import ConnectorError, CrmError, LimitExceeded, NotFound

from ..metrics import CRM_PAUSES

log = structlog.get_logger("lastmile.worker")


def crm_unavailable(exc: BaseException) -> bool:
    """A failure of the CRM rather than of one event: every connector error except a permanent
    CRM error and a missing record, and network errors (OSError) of a connector that lets them
    through."""
    if isinstance(exc, CrmError | NotFound):
        return False
    return isinstance(exc, ConnectorError | OSError)


@dataclass(frozen=True)
class BreakerState:
    """What /readyz and /metrics show."""

    open: bool
    since: datetime | None  # when it opened (open) or last closed; None: never opened
    error: str | None  # the failure that opened it, `Class: message`
    next_probe: datetime | None
    probed_at: datetime | None  # the last probe's answer
    openings: int
    probes: int

    @property
    def error_class(self) -> str | None:
        return self.error.split(":", 1)[0] if self.error else None


class CrmBreaker:
    """Closed while the CRM answers; open (events wait) from a CRM outage until a probe gets an
    answer. `probe` is the connector's `check`; waits between probes start at `wait_base`
    seconds and double up to `wait_cap`, each with up to half taken off at random."""

    def __init__(
        self,
        probe: Callable[[], None],
        *,
        clock: Callable[[], datetime] | None = None,
        wait_base: float = 2.0,
        wait_cap: float = 60.0,
        random: Callable[[], float] = random.random,
        probe_wait_s: float = 30.0,
    ) -> None:
        self.probe = probe
        self.clock = clock or (lambda: datetime.now(UTC))
        self.wait_base = wait_base
        self.wait_cap = wait_cap
        self.probe_wait_s = probe_wait_s  # how long a caller waits for another's probe
        self._random = random
        self._cond = threading.Condition()
        self._open = False
        self._since: datetime | None = None
        self._error: str | None = None
        self._wait = wait_base
        self._next_probe: datetime | None = None
        self._probing = False
        self._probed_at: datetime | None = None
        self.openings = 0
        self.probes = 0

    def state(self) -> BreakerState:
        with self._cond:
            return BreakerState(
                self._open,
                self._since,
                self._error,
                self._next_probe if self._open else None,
                self._probed_at,
                self.openings,
                self.probes,
            )

    @property
    def is_open(self) -> bool:
        return self._open

    def wait_until(self) -> datetime | None:
        """None when events may go to the CRM; while open, the time they wait until. When a
        probe is due the caller makes it; callers meanwhile wait for its answer."""
        with self._cond:
            if not self._open:
                return None
            if self._probing:
                self._cond.wait_for(lambda: not self._probing, timeout=self.probe_wait_s)
                if not self._open:
                    return None
                # Still probing (slow) or the probe failed: the next probe time, never the past
                # (a past time would make the waiting events due again at once).
                floor = self.clock() + timedelta(seconds=self.wait_base)
                return max(self._next_probe or floor, floor) if self._probing else self._next_probe
            assert self._next_probe is not None
            if self.clock() < self._next_probe:
                return self._next_probe
            self._probing = True
            self.probes += 1
        failure: Exception | None = None
        try:
            self.probe()
        except Exception as exc:
            # Any answer but an outage (a permanent error on the probe call itself) came from
            # a CRM that is up: events go on, and an event's own errors say what is wrong.
            failure = exc if crm_unavailable(exc) else None
        finally:
            with self._cond:
                self._probing, self._probed_at = False, self.clock()
                if failure is None:
                    self._close()
                else:
                    self._wait = min(self.wait_cap, self._wait * 2)
                    self._schedule(failure)
                    log.info(
                        "CRM still unavailable", error=type(failure).__name__, probes=self.probes
                    )
                self._cond.notify_all()
                until = self._next_probe if self._open else None
        return until

    def refresh(self) -> str | None:
        """A check out of schedule (/readyz): while open, the due probe (if one is due); while
        closed, one probe call, and an outage opens the breaker. The failure of a call the CRM
        did answer (a permanent error) is returned, not taken for an outage."""
        if self._open:
            self.wait_until()
            return None
        try:
            self.probe()
        except Exception as exc:
            if crm_unavailable(exc):
                self.failed(exc)
                return None
            return _describe(exc)
        return None

    def failed(self, exc: BaseException) -> datetime:
        """An event met a CRM outage: open (if closed). The time the next probe is due."""
        with self._cond:
            if not self._open:
                self._open, self._since, self._wait = True, self.clock(), self.wait_base
                self.openings += 1
                CRM_PAUSES.inc()
                log.warning("CRM unavailable: processing paused", error=type(exc).__name__)
                self._schedule(exc)
            else:
                self._error = _describe(exc)
                # Another thread's failure does not push the probe back, but a limit's
                # announced end does.
                if isinstance(exc, LimitExceeded) and exc.retry_after is not None:
                    self._next_probe = max(self._next_probe or exc.retry_after, exc.retry_after)
            assert self._next_probe is not None
            return self._next_probe

    # -- internals (called with the lock held) --------------------------------------------------

    def _schedule(self, exc: BaseException) -> None:
        wait = self._wait / 2 + self._random() * self._wait / 2  # jitter: processes spread out
        self._next_probe = self.clock() + timedelta(seconds=wait)
        if isinstance(exc, LimitExceeded) and exc.retry_after is not None:
            # The API limit says when it lifts: no probe spends a call before that.
            self._next_probe = max(self._next_probe, exc.retry_after)
        self._error = _describe(exc)

    def _close(self) -> None:
        if self._open:
            log.info(
                "CRM available again: processing resumes",
                paused_s=round((self.clock() - self._since).total_seconds(), 1)
                if self._since
                else None,
                probes=self.probes,
            )
            self._open, self._since, self._next_probe = False, self.clock(), None
            self._wait = self.wait_base


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
