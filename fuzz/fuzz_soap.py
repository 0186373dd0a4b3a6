"""Fuzz the Outbound Message parser: `parse_message` then `to_events` may refuse an input only
with `InvalidBody`, `InvalidEvent` or `TooLarge` (all `Refused`), never anything else."""

from __future__ import annotations

from datetime import UTC, datetime

import _harness
import atheris

with atheris.instrument_imports():
    from lastmile.webhooks.errors import Refused
    from lastmile.webhooks.soap import parse_message, to_events

RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)


def target(data: bytes) -> None:
    try:
        message = parse_message(data, max_notifications=100)
        to_events(message, received_at=RECEIVED)
    except Refused:
        pass


if __name__ == "__main__":
    _harness.run(target)
