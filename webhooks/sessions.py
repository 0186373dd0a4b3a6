"""Who sent an Outbound Message: its `SessionId` checked against the CRM Lastmile is configured
for (never against the URLs inside the message), with verdicts kept for a while so that a burst
of messages costs one check per session, not one per message.

Verdicts are keyed by a hash of the session id: the session itself is never kept or logged.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

# (organisation id, user id) of a live session, or None for a session the CRM does not know.
# Raises when the CRM cannot be asked (the sender should retry).
SessionLookup = Callable[[str], "tuple[str, str] | None"]

LIVE_FOR_S = 600.0  # a revoked session is trusted at most this long after its last check
REFUSED_FOR_S = 60.0  # a forged session costs one CRM call a minute, not one per message
MAX_KEPT = 10_000


@dataclass(frozen=True)
class SessionOwner:
    organization_id: str
    user_id: str


class SessionCheck:
    """`owner(session_id)`: the session's owner, or None when it is not a live session."""

    def __init__(
        self,
        lookup: SessionLookup,
        *,
        live_for_s: float = LIVE_FOR_S,
        refused_for_s: float = REFUSED_FOR_S,
        timer: Callable[[], float] | None = None,
    ) -> None:
        self._lookup = lookup
        extra = {"timer": timer} if timer is not None else {}
        self._live: TTLCache[str, SessionOwner] = TTLCache(MAX_KEPT, live_for_s, **extra)
        self._refused: TTLCache[str, bool] = TTLCache(MAX_KEPT, refused_for_s, **extra)
        self._lock = threading.Lock()
        self.lookups = 0  # calls made to the CRM

    def owner(self, session_id: str) -> SessionOwner | None:
        key = hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()
        with self._lock:
            if key in self._live:
                return self._live[key]
            if key in self._refused:
                return None
        self.lookups += 1
        found = self._lookup(session_id)  # outside the lock: one slow CRM call blocks no other
        with self._lock:
            if found is None:
                self._refused[key] = True
                return None
            owner = SessionOwner(*found)
            self._live[key] = owner
            return owner
