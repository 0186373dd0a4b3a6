"""Fuzz the signed-JSON path after the signature: the depth check, JSON parsing and RecordEvent
validation may refuse an input only with `Refused` (InvalidBody, InvalidEvent, TooLarge)."""

from __future__ import annotations

import _harness
import atheris

with atheris.instrument_imports():
    from lastmile.webhooks.errors import Refused
    from lastmile.webhooks.events import _parse_json, parse_events
    from lastmile.webhooks.limits import check_json_depth


def target(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # the endpoint refuses non-UTF-8 before this point
    try:
        check_json_depth(text, 32)
        parse_events(_parse_json(text))
    except Refused:
        pass


if __name__ == "__main__":
    _harness.run(target)
