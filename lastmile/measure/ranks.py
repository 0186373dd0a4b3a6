"""The times to comply at the ranks the figures read (DESIGN.md: the median as
`statistics.median`, p90 the nearest rank), from times counted by value.

A group's times from the totals (`Spread`, kept between pages: measure/tally.py) and the few
from the rows not folded are ranked together without merging them: the k-th smallest of both is
found by bisecting the kept ones, so a page costs about the number of rows read one by one, not
the number of distinct times in the totals.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Ranks:
    """Of a group's times to comply: how many, and the k-th smallest for the k the figures
    use (the middle one or two, and the nearest rank of p90: `needed`)."""

    total: int
    at: dict[int, float] = field(default_factory=dict)


def needed(total: int) -> tuple[int, int, int]:
    """The ranks (1-based) the median and p90 of `total` times read."""
    return (total + 1) // 2, total // 2 + 1, (9 * total + 9) // 10


class Spread:
    """Times counted by value, sorted, with the running counts. Counts may be negative (times
    taken out) where the spread is only counted in with another (`ranks`' `more`)."""

    def __init__(self, times: Counter[float]) -> None:
        self.values = sorted(v for v, n in times.items() if n)
        self.upto = list(itertools.accumulate(times[v] for v in self.values))
        self.total = self.upto[-1] if self.upto else 0
        self._alone: Ranks | None = None  # `ranks()` of these times alone, once worked out

    def upto_value(self, value: float) -> int:
        """How many times are at most `value`."""
        i = bisect.bisect_right(self.values, value)
        return self.upto[i - 1] if i else 0

    def ranks(self, more: Spread | None = None) -> Ranks | None:
        """The ranks the figures read of these times with `more` counted in (counts of `more`
        may be negative, times taken out, as long as no value's count ends below zero); None
        when no time is left."""
        if more is None and self._alone is not None:
            return self._alone
        total = self.total + (more.total if more is not None else 0)
        if total <= 0:
            return None
        ranks = Ranks(total)
        for rank in needed(total):
            ranks.at[rank] = self._kth(rank, more)
        if more is None:
            self._alone = ranks
        return ranks

    def _kth(self, k: int, more: Spread | None) -> float:
        if more is None:
            return self.values[bisect.bisect_left(self.upto, k)]

        def upto(value: float) -> int:  # how many of both are at most `value`
            return self.upto_value(value) + more.upto_value(value)

        # The smallest value of either with at least k at most it: a value whose count is taken
        # out to nothing never comes first (the one before it has as many at most it).
        lo, hi = 0, len(self.values)
        while lo < hi:
            mid = (lo + hi) // 2
            if upto(self.values[mid]) >= k:
                hi = mid
            else:
                lo = mid + 1
        found = [self.values[lo]] if lo < len(self.values) else []
        found += itertools.islice((v for v in more.values if upto(v) >= k), 1)
        return min(found)
