"""The ranks the figures read, from kept times with others counted in or out, are those of the
whole multiset sorted (DESIGN.md: median as `statistics.median`, p90 the nearest rank)."""

from __future__ import annotations

import math
import statistics
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from lastmile.measure.ranks import Spread, needed

times = st.lists(st.sampled_from([0.0, 1.5, 60.0, 61.0, 3600.0, 86_399.0, 90_000.0]), max_size=40)


@given(kept=times, added=times, taken=st.data())
def test_kept_times_with_others_counted_in_and_out_rank_as_the_whole(kept, added, taken) -> None:
    # Times taken out are some of the kept ones (a folded row's final share, out of the totals).
    picked = taken.draw(st.lists(st.booleans(), min_size=len(kept), max_size=len(kept)))
    out = [t for t, take in zip(kept, picked, strict=True) if take]
    whole = sorted((Counter(kept) + Counter(added) - Counter(out)).elements())
    more = Counter(added)
    more.subtract(out)
    ranks = Spread(Counter(kept)).ranks(Spread(more))
    if not whole:
        assert ranks is None
        return
    assert ranks is not None and ranks.total == len(whole)
    low, high, p90 = needed(len(whole))
    assert (ranks.at[low] + ranks.at[high]) / 2 == statistics.median(whole)
    assert ranks.at[p90] == whole[math.ceil(0.9 * len(whole)) - 1]
    for rank in (low, high, p90):
        assert ranks.at[rank] == whole[rank - 1]


def test_kept_times_alone_are_ranked_once() -> None:
    spread = Spread(Counter({5.0: 2, 1.0: 1}))
    first = spread.ranks()
    assert first is not None and first.at == {2: 5.0, 3: 5.0}
    assert spread.ranks() is first
