"""The fault switch: a share of REST calls answered 503 or delayed, row locks, a forced limit,
duplicate Outbound Message deliveries. Seeded, so a test sees the same faults every run."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FaultSettings:
    fail_share: float = 0.0  # REST calls answered 503 SERVER_UNAVAILABLE
    delay_share: float = 0.0  # REST calls answered after `delay_s`
    delay_s: float = 0.0
    limit_reached: bool = False  # every REST call answered 403 REQUEST_LIMIT_EXCEEDED
    lock_share: float = 0.0  # record writes failing with UNABLE_TO_LOCK_ROW
    duplicate_share: float = 0.0  # acknowledged notifications delivered once more
    seed: int | None = None


class Faults:
    """Thread-safe fault settings with one seeded random stream."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings = FaultSettings()
        self._random = random.Random()

    def set(
        self,
        fail_share: float = 0.0,
        delay_share: float = 0.0,
        delay_s: float = 0.0,
        limit_reached: bool = False,
        seed: int | None = None,
        *,
        lock_share: float = 0.0,
        duplicate_share: float = 0.0,
    ) -> None:
        """Replace the fault settings (what is not given is off)."""
        settings = FaultSettings(
            fail_share=float(fail_share),
            delay_share=float(delay_share),
            delay_s=float(delay_s),
            limit_reached=bool(limit_reached),
            lock_share=float(lock_share),
            duplicate_share=float(duplicate_share),
            seed=None if seed is None else int(seed),
        )
        for name in ("fail_share", "delay_share", "lock_share", "duplicate_share"):
            if not 0.0 <= getattr(settings, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if settings.delay_s < 0:
            raise ValueError("delay_s must not be negative")
        with self._lock:
            self._settings = settings
            self._random = random.Random(settings.seed)

    def clear(self) -> None:
        self.set()

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def as_dict(self) -> dict:
        return asdict(self._settings)

    def _draw(self, share: float) -> bool:
        if share <= 0.0:
            return False
        with self._lock:
            return self._random.random() < share

    def fail(self) -> bool:
        return self._draw(self._settings.fail_share)

    def delay(self) -> float:
        return self._settings.delay_s if self._draw(self._settings.delay_share) else 0.0

    def lock(self) -> bool:
        return self._draw(self._settings.lock_share)

    def duplicate(self) -> bool:
        return self._draw(self._settings.duplicate_share)
