"""What the three harnesses share: the repository on sys.path, and running one target under
atheris with the documented errors allowed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def run(target: Callable[[bytes], None]) -> None:
    """Fuzz `target` with libFuzzer's command line (`-max_total_time=120 corpus/...`)."""
    import logging

    import atheris
    import structlog

    # the parsers log each refusal; at a few thousand inputs a second that is only noise
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))

    atheris.Setup(sys.argv, target)
    atheris.Fuzz()
