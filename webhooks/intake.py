"""The step both webhook sources end with: store the events in the inbox, count them, hand the
new ones to the worker. Also the content-type check they begin with."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from flask import Request, current_app
from standardwebhooks import Webhook

from lastmile.metrics import EVENTS_RECEIVED
from lastmile.rules.records import RecordEvent
from lastmile.settings import Settings

from .errors import StoreUnavailable, WrongContentType

log = structlog.get_logger("lastmile.webhooks")


class Inbox(Protocol):
    def add(self, events: list[RecordEvent]) -> list[tuple[int, bool]]:
        """Store durably; (inbox id, new?) per event, new=False for a (source, id) seen before."""
        ...


@dataclass(frozen=True)
class Intake:
    """What the webhook blueprints need, kept in `app.extensions["lastmile"]["intake"]`."""

    settings: Settings
    inbox: Inbox
    dispatch: Callable[[list[int]], Any] | None
    verifiers: tuple[Webhook, ...]  # one per configured webhook secret

    def store(self, events: list[RecordEvent]) -> list[tuple[int, bool]]:
        """Add the events in one call (all or none); refuse with `StoreUnavailable` when the
        inbox fails, so the sender retries. Dispatch failures are logged: the events are
        stored, and the sweeper finds them."""
        try:
            results = self.inbox.add(events)
        except Exception as exc:
            log.error("inbox_add_failed", events=len(events), error=type(exc).__name__)
            raise StoreUnavailable("the events could not be stored; retry later") from None
        if len(results) != len(events):
            log.error("inbox_add_mismatch", events=len(events), results=len(results))
            raise StoreUnavailable("the events could not be stored; retry later")
        new_ids = [inbox_id for inbox_id, new in results if new]
        for event, (_, new) in zip(events, results, strict=True):
            _received(event.source, new).inc()
        log.info(
            "events_stored",
            events=len(events),
            new=len(new_ids),
            event_ids=[e.id for e in events[:20]],
        )
        if new_ids and self.dispatch is not None:
            try:
                self.dispatch(new_ids)
            except Exception:
                log.exception("dispatch_failed", inbox_ids=new_ids[:20])
        return results


@functools.lru_cache(maxsize=256)
def _received(source: str, new: bool) -> Any:
    """The received-events counter of one source and kind (looked up once, not per event)."""
    return EVENTS_RECEIVED.labels(source, "no" if new else "yes")


def current_intake() -> Intake:
    return current_app.extensions["lastmile"]["intake"]


def require_content_type(request: Request, accepted: Sequence[str], what: str) -> None:
    """Refuse (415) a body whose media type is not one of `accepted` or ends in `+suffix`."""
    media_type = request.mimetype
    suffixes = tuple("+" + a.rpartition("/")[2] for a in accepted)
    if media_type in accepted or (media_type and media_type.endswith(suffixes)):
        return
    raise WrongContentType(f"Content-Type must be {what}, not {media_type or 'missing'}")
