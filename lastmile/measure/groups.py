"""Occasions of one compared group (an experiment arm, a rule version) as they stand at `as_of`:
the contract's counts and waits, and per closed occasion its unit and whether it was met, which
is what the clustered intervals read."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import intervals
from .tally import Tally

MET = ("met_first_time", "met_after_prompt")
CLOSED = (*MET, "missed")


@dataclass
class Group:
    tally: Tally = field(default_factory=Tally)
    units: set[str] = field(default_factory=set)  # of every occasion, open ones too
    closed_units: list[str] = field(default_factory=list)  # one per closed occasion
    met: list[int] = field(default_factory=list)  # 1 when that occasion was met

    def add(self, unit: str, outcome: str, wait: float | None, missing: str = "|") -> None:
        """One occasion: its unit, its outcome at `as_of`, its time to comply, and the fields
        it opened without (`|A|B|`, as the rows keep them)."""
        self.tally.counts[outcome] += 1
        if outcome == "met_after_prompt" and wait is not None:
            self.tally.waits[float(wait)] += 1
        for name in filter(None, missing.split("|")):
            self.tally.missing[name] = self.tally.missing.get(name, 0) + 1
        self.units.add(unit)
        if outcome in CLOSED:
            self.closed_units.append(unit)
            self.met.append(1 if outcome in MET else 0)

    def compliance(self) -> intervals.Estimate:
        return intervals.compliance(self.closed_units, self.met)

    def against(self, before: Group, *, paired: bool = False) -> intervals.Difference:
        """This group's compliance minus `before`'s."""
        return intervals.difference(
            before.closed_units, before.met, self.closed_units, self.met, paired=paired
        )
