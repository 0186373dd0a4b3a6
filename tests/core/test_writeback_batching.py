"""A burst of events written back in batches ends exactly as when written one by one, with far
fewer API calls: the real worker, store and Salesforce connector against the sandbox CRM over
HTTPS (bench/writeback_bench.py's run, kept short)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from writeback_bench import run  # noqa: E402


def test_a_batched_burst_ends_as_one_by_one_with_fewer_calls(tmp_path: Path) -> None:
    alone = run(tmp_path / "alone", 60, batch_ms=0, edited_every=7)
    batched = run(tmp_path / "batched", 60, batch_ms=50, edited_every=7)

    assert alone.counts["done"] == batched.counts["done"] == 60
    assert batched.records == alone.records
    assert batched.tasks == alone.tasks
    # what the rules asked, so the comparison is not between two empty results
    assert alone.records["Deal 1"] == "Proposal for Deal 1: fill in Amount."
    assert alone.records["Deal 2"] == "Won: write the next step."
    # edited after its event: the 412, then re-read and decided again (the fields are filled)
    assert alone.records["Deal 7"] is None and alone.records["Deal 14"] is None
    assert len(alone.tasks) == 30 and alone.tasks["won-handover:burst-14"][1] == "Deal 14"
    # one by one: a write per event; per edited record (9) a read, and for the 5 won ones the
    # task (the prompt is no longer needed)
    assert alone.calls == 60 + 9 + 5
    # batched: about 15 (3 Composites, a task upsert, the 9 reads and their writes); how the
    # events fall into batches depends on the machine's pace, so the bound has room
    assert batched.calls <= 30, batched.batches
    assert max(batched.batches) > 1
