"""Compliance and differences in compliance with 95 % intervals that respect clustering by unit.

Occasions of one owner (the unit) are not independent: people have habits. Every interval here
comes from a cluster-robust variance of the ratio estimator sum(met) / sum(closed), computed from
per-unit sums (Taylor linearisation with the small-sample factor G/(G-1), G units), never from a
count of occasions. Deterministic (a report is a pure function of its events) and honest at few
units, where a percentile bootstrap over owners is too narrow (about 81-85 % coverage of a true
difference at 5 owners an arm, 89-91 % at 10, in bench runs); `bench/interval_bench.py` measures
the coverage. The shape of each interval:

- one group: a Wilson score interval on the effective sample size n / design effect (Korn and
  Graubard's approach for survey proportions), with the t quantile in place of z, on
  Satterthwaite's degrees of freedom for units of unequal size (at most G - 1); it stays inside
  [0, 1] and is not empty when every occasion was met;
- a difference (group b minus group a): Newcombe's hybrid score interval (MOVER, Zou and Donner
  2008) from the two groups' intervals; for independent groups (experiment arms: each unit in one
  arm) the estimates are uncorrelated, for paired groups (before and after a rule change: the
  same owners in both periods) their correlation is estimated from the per-unit scores.

Inputs are per closed occasion (met first time, met after prompt, missed: the measurement
contract's denominator): the unit's id and met as 0/1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import stats

LEVEL = 0.95
# "Enough data" for a group: below these the interval is shown but is not a verdict. With fewer
# than 8 units the between-unit spread rests on a handful of people and the t quantile (2.36 at 7
# degrees of freedom) makes intervals too wide to act on; 50 closed occasions keep a single
# owner's week from deciding it.
MIN_UNITS = 8
MIN_CLOSED = 50
# The sample-size estimate shown while an experiment runs: the smallest difference worth
# detecting, with the usual 5 % two-sided level and 80 % power.
DETECT_DIFFERENCE = 0.10
POWER = 0.80


@dataclass(frozen=True)
class Estimate:
    """One group's compliance."""

    compliance: float | None  # None when no occasion closed
    ci95: tuple[float, float] | None  # None with fewer than two units: no spread between units
    n_units: int
    n_occasions: int
    enough_data: bool


@dataclass(frozen=True)
class Difference:
    """Compliance of group b minus that of group a."""

    difference: float | None
    ci95: tuple[float, float] | None
    n_units: int  # distinct units over both groups
    n_occasions: int
    enough_data: bool  # both groups have enough
    paired: bool


@dataclass(frozen=True)
class SampleSize:
    """Units and closed occasions per group to detect `difference` with `power`."""

    difference: float
    units_per_group: int
    occasions_per_group: int
    icc: float
    design_effect: float


@dataclass(frozen=True)
class _Group:
    p: float  # ratio estimate
    n: int  # closed occasions
    g: int  # units with a closed occasion
    closed: np.ndarray  # per unit (over the shared index): closed occasions
    score: np.ndarray  # per unit: (met - p * closed) / total closed
    variance: float  # G/(G-1) * sum(score**2), over this group's units
    df: float  # degrees of freedom of that variance


def compliance(units: Sequence | np.ndarray, met: Sequence | np.ndarray) -> Estimate:
    """Compliance of one group of closed occasions, with its 95 % interval."""
    index, count = _index(units, met)
    group = _group(index, np.asarray(met, float), count)
    return _estimate(group)


def difference(
    units_a: Sequence | np.ndarray,
    met_a: Sequence | np.ndarray,
    units_b: Sequence | np.ndarray,
    met_b: Sequence | np.ndarray,
    *,
    paired: bool = False,
) -> Difference:
    """Compliance of b minus a with its 95 % interval.

    `paired`: the same units appear in both groups (before and after a rule change): a unit's
    scores in both enter the correlation of the two estimates, which narrows the interval when
    habits persist. Otherwise each unit is in one group (experiment arms).
    """
    _check(units_a, met_a)
    _check(units_b, met_b)
    index, count = _index(np.concatenate([np.asarray(units_a), np.asarray(units_b)]))
    split = len(met_a)
    a = _group(index[:split], np.asarray(met_a, float), count)
    b = _group(index[split:], np.asarray(met_b, float), count)
    est_a, est_b = _estimate(a), _estimate(b)
    n_units = int(np.count_nonzero(np.bincount(index, minlength=count)))
    enough = est_a.enough_data and est_b.enough_data
    if a.n == 0 or b.n == 0:
        return Difference(None, None, n_units, a.n + b.n, False, paired)
    if paired and not set(index[:split]) & set(index[split:]):
        raise ValueError("paired groups share no unit: compare them as independent groups")
    d = b.p - a.p
    if est_a.ci95 is None or est_b.ci95 is None:
        return Difference(d, None, n_units, a.n + b.n, enough, paired)
    r = _correlation(a, b) if paired else 0.0
    (la, ua), (lb, ub) = est_a.ci95, est_b.ci95
    low = d - _combine(b.p - lb, ua - a.p, r)
    high = d + _combine(ub - b.p, a.p - la, r)
    return Difference(d, (max(-1.0, low), min(1.0, high)), n_units, a.n + b.n, enough, paired)


def icc(units: Sequence | np.ndarray, met: Sequence | np.ndarray) -> float | None:
    """Intra-cluster correlation of met, the one-way ANOVA estimator, clipped to [0, 1].

    None when it cannot be estimated (fewer than two units, or no occasion beyond one a unit).
    """
    index, count = _index(units, met)
    y = np.bincount(index, weights=np.asarray(met, float), minlength=count)
    m = np.bincount(index, minlength=count).astype(float)
    return _icc(y[m > 0], m[m > 0])


def _icc(y: np.ndarray, m: np.ndarray) -> float | None:
    """The ANOVA estimator from per-unit met `y` and closed `m` (units with m > 0)."""
    g, n = len(m), m.sum()
    if g < 2 or n <= g:
        return None
    p_unit, p = y / m, y.sum() / n
    between = float(np.sum(m * (p_unit - p) ** 2) / (g - 1))
    within = float(np.sum(m * p_unit * (1 - p_unit)) / (n - g))
    m0 = (n - np.sum(m**2) / n) / (g - 1)
    denominator = between + (m0 - 1) * within
    if denominator <= 0:
        return 0.0
    return float(min(1.0, max(0.0, (between - within) / denominator)))


def sample_size(
    p: float,
    icc: float,
    occasions_per_unit: float,
    cv_units: float = 0.0,
    difference: float = DETECT_DIFFERENCE,
    power: float = POWER,
) -> SampleSize:
    """Per group, to detect `difference` from compliance `p` at the 5 % level (two-sided).

    The two-proportion formula n = (z_{0.975} + z_power)^2 (p1 q1 + p2 q2) / difference^2 times
    the design effect 1 + ((cv^2 + 1) m - 1) * icc for units of mean size m with coefficient of
    variation cv (Eldridge, Ashby and Kerry 2006), as for a trial randomised by unit; for paired
    before-and-after groups it is an upper bound. Never below MIN_UNITS and MIN_CLOSED. The
    intervals use t quantiles on few degrees of freedom, so below about 20 units a group the
    power is lower than the formula's.
    """
    if not 0 < difference < 1 or not 0 <= p <= 1 or occasions_per_unit <= 0:
        raise ValueError("need 0 < difference < 1, 0 <= p <= 1 and occasions_per_unit > 0")
    other = p + difference if p + difference <= 1 else p - difference
    z = stats.norm.ppf(1 - (1 - LEVEL) / 2) + stats.norm.ppf(power)
    spread = max(p * (1 - p) + other * (1 - other), 1e-9)
    deff = 1 + ((cv_units**2 + 1) * occasions_per_unit - 1) * icc
    occasions = max(MIN_CLOSED, math.ceil(z**2 * spread / difference**2 * deff))
    units = max(MIN_UNITS, math.ceil(occasions / occasions_per_unit))
    return SampleSize(difference, units, occasions, icc, deff)


def needed(units: Sequence | np.ndarray, met: Sequence | np.ndarray) -> SampleSize | None:
    """`sample_size` with p, the ICC and the unit sizes observed in a group (e.g. control)."""
    index, count = _index(units, met)
    m = np.bincount(index, minlength=count)
    m = m[m > 0]
    rho = icc(units, met)
    if rho is None:
        return None
    p = float(np.sum(met) / m.sum())
    return sample_size(p, rho, float(m.mean()), float(m.std() / m.mean()))


def verdict_ready(as_of: datetime, end: datetime | None, groups: Iterable[Estimate]) -> bool:
    """The guard against peeking: a fixed horizon.

    An experiment's figures and intervals are shown while it runs, but they are a verdict only
    once its planned `end` has passed and every arm has enough data. Stopping early because an
    interval looked good would make the 95 % a fiction; an experiment without an `end` is never
    a verdict (give it one).
    """
    return end is not None and as_of >= end and all(g.enough_data for g in groups)


def _check(units: Sequence | np.ndarray, met: Sequence | np.ndarray) -> None:
    u, y = np.asarray(units), np.asarray(met)
    if u.ndim != 1 or y.ndim != 1 or len(u) != len(y):
        raise ValueError("units and met must be flat and of the same length")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("met must be 0 or 1 for every closed occasion")


def _index(
    units: Sequence | np.ndarray, met: Sequence | np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    if met is not None:
        _check(units, met)
    _keys, index = np.unique(np.asarray(units), return_inverse=True)
    return index.ravel(), len(_keys)


def _group(index: np.ndarray, met: np.ndarray, count: int) -> _Group:
    y = np.bincount(index, weights=met, minlength=count)
    m = np.bincount(index, minlength=count).astype(float)
    n, g = int(m.sum()), int(np.count_nonzero(m))
    if n == 0:
        return _Group(math.nan, 0, 0, m, np.zeros(count), math.nan, math.nan)
    p = float(y.sum() / n)
    score = (y - p * m) / n
    variance = g / (g - 1) * float(np.sum(score**2)) if g > 1 else math.nan
    return _Group(p, n, g, m, score, variance, _degrees_of_freedom(y[m > 0], m[m > 0]))


def _degrees_of_freedom(y: np.ndarray, m: np.ndarray) -> float:
    """Satterthwaite's degrees of freedom of the cluster-robust variance (Bell and McCaffrey's
    idea, under the working model of exchangeable occasions within a unit): a unit's score has
    variance about w = m (1 + (m - 1) icc), so df = (sum w)^2 / sum w^2 - 1, at most G - 1.
    Units of very different sizes leave fewer effective units than G: without this the
    intervals were too narrow at 10 to 20 owners when compliance was near 90 %."""
    g = len(m)
    if g < 2:
        return math.nan
    w = m * (1 + (m - 1) * (_icc(y, m) or 0.0))
    return float(min(g - 1, max(1.0, w.sum() ** 2 / np.sum(w**2) - 1)))


def _estimate(group: _Group) -> Estimate:
    if group.n == 0:
        return Estimate(None, None, 0, 0, False)
    enough = group.g >= MIN_UNITS and group.n >= MIN_CLOSED
    if group.g < 2:
        return Estimate(group.p, None, group.g, group.n, enough)
    p, n = group.p, group.n
    # The effective sample size: n over the design effect; never above n (units more alike than
    # chance give no extra certainty), and n itself when the spread is nil (all met, say).
    n_eff = min(n, p * (1 - p) / group.variance) if group.variance > 0 and 0 < p < 1 else n
    c = float(stats.t.ppf(1 - (1 - LEVEL) / 2, group.df))
    centre = (p + c**2 / (2 * n_eff)) / (1 + c**2 / n_eff)
    half = c * math.sqrt(p * (1 - p) / n_eff + c**2 / (4 * n_eff**2)) / (1 + c**2 / n_eff)
    return Estimate(p, (max(0.0, centre - half), min(1.0, centre + half)), group.g, n, enough)


def _combine(x: float, y: float, r: float) -> float:
    """MOVER: the half-width of a difference from two one-sided distances, correlation r."""
    return math.sqrt(max(0.0, x * x + y * y - 2 * r * x * y))


def _correlation(a: _Group, b: _Group) -> float:
    """Correlation of the two estimates from per-unit scores (units in one group add zero)."""
    if not (a.variance > 0 and b.variance > 0):
        return 0.0
    g = max(int(np.count_nonzero((a.closed > 0) | (b.closed > 0))), 2)
    cov = g / (g - 1) * float(np.sum(a.score * b.score))
    return float(np.clip(cov / math.sqrt(a.variance * b.variance), -1.0, 1.0))


def as_json(value: float | None) -> float | None:
    """A share or a difference as the readouts print it: four decimals."""
    return round(value, 4) if value is not None else None


def interval_json(ci: tuple[float, float] | None) -> list[float] | None:
    """An interval as the readouts print it: [low, high] to four decimals."""
    return [round(ci[0], 4), round(ci[1], 4)] if ci is not None else None
