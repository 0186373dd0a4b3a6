"""Do the compliance intervals keep their promise? Many simulated experiments and rule changes
with a known true effect and with none, at a few numbers of owners, through
`lastmile.measure.intervals`, printing how often the 95 % interval covers the true difference
(target: at least 90 %) and how often a no-effect run's interval excludes zero (at most 8 %).

    python bench/interval_bench.py [--runs 500] [--owners 10 20 40] [--weeks 8]

- experiment: owners split over `control` and `prompt` by the hash assignment (half each, so
  "owners" is per arm on average); the prompt raises the chance of a later fill from 0.15 to
  0.6 (none: both 0.15); independent groups.
- before/after: one group of owners; the rule asks for fewer fields from the middle week and the
  first-time chance goes from 0.45 to 0.65 (none: stays 0.45); paired groups (same owners).

The true difference is `lastmile.simulate.truth`: the population ratio the estimator targets.
sum(met) / sum(closed) over a sample of owners estimates E[occasions x chance] / E[occasions];
the simulator draws each owner's activity independently of their habits, so that is the mean
per-occasion chance of compliance in the population of owners, which `truth` computes exactly.
It is not the mean of the sampled owners' chances (that would ignore the owner sampling the
interval accounts for) nor an unweighted mean of per-owner rates (a different estimand).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, replace

import numpy as np

from lastmile.measure.intervals import Difference, difference
from lastmile.simulate import Experiment, Params, Team, simulate, truth

CALLS = next(h for h in Params().habits if h.rule == "call-essentials")
MET = ("met_first_time", "met_after_prompt")


def _teams(owners: int) -> tuple[Team, ...]:
    """Two teams of different sizes and activity, `owners` in all."""
    big = math.ceil(owners * 0.6)
    return (Team("Advisers North", big, 1.0), Team("Advisers South", owners - big, 1.4))


def experiment_params(owners_per_arm: int, effect: bool, run: int, weeks: int = 8) -> Params:
    fill = CALLS.prompt_fill if effect else CALLS.natural_fill
    return Params(
        weeks=weeks,
        teams=_teams(2 * owners_per_arm),
        observe_weeks=0,
        habits=(CALLS,),
        version_week=None,
        experiment=Experiment(id=f"bench-{run}", fill=(("prompt", fill),)),
    )


def before_after_params(owners: int, effect: bool, weeks: int = 8) -> Params:
    base = Params()
    return Params(
        weeks=weeks,
        teams=_teams(owners),
        observe_weeks=0,
        habits=(CALLS,),
        version_week=weeks // 2,
        first_time_after=base.first_time_after if effect else CALLS.first_time,
    )


def experiment_run(owners_per_arm: int, effect: bool, run: int, weeks: int = 8) -> Difference:
    """One simulated experiment: prompt arm minus control."""
    params = experiment_params(owners_per_arm, effect, run, weeks)
    occ = simulate(params, seed=run).occasions
    met = np.isin(occ.outcome, MET).astype(float)
    control, prompt = occ.regime == "control", occ.regime == "prompt"
    return difference(occ.owner[control], met[control], occ.owner[prompt], met[prompt])


def before_after_run(owners: int, effect: bool, run: int, weeks: int = 8) -> Difference:
    """One simulated rule change: version B minus version A, the same owners in both."""
    occ = simulate(before_after_params(owners, effect, weeks), seed=run).occasions
    met = np.isin(occ.outcome, MET).astype(float)
    a, b = occ.version == "A", occ.version == "B"
    return difference(occ.owner[a], met[a], occ.owner[b], met[b], paired=True)


@dataclass(frozen=True)
class Row:
    case: str
    owners: int
    effect: bool
    runs: int
    true: float
    mean_estimate: float
    coverage: float
    excludes_zero: float
    mean_width: float
    no_interval: int


def bench(case: str, owners: int, effect: bool, runs: int, weeks: int = 8) -> Row:
    if case == "experiment":
        true = truth(experiment_params(owners, effect, 0, weeks)).effects["prompt"]
        results = [experiment_run(owners, effect, r, weeks) for r in range(runs)]
    else:
        true = truth(before_after_params(owners, effect, weeks)).version_effect or 0.0
        results = [before_after_run(owners, effect, r, weeks) for r in range(runs)]
    shown = [r for r in results if r.ci95 is not None]
    low = np.array([r.ci95[0] for r in shown])
    high = np.array([r.ci95[1] for r in shown])
    return Row(
        case=case,
        owners=owners,
        effect=effect,
        runs=runs,
        true=true,
        mean_estimate=float(np.mean([r.difference for r in shown])),
        coverage=float(np.mean((low <= true) & (true <= high))),
        excludes_zero=float(np.mean((low > 0) | (high < 0))),
        mean_width=float(np.mean(high - low)),
        no_interval=runs - len(shown),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--owners", type=int, nargs="+", default=[10, 20, 40])
    parser.add_argument("--weeks", type=int, default=8)
    args = parser.parse_args()
    print(f"{args.runs} runs a row, {args.weeks} weeks, call-essentials occasions")
    print(
        f"{'case':<13}{'owners':>7}{'effect':>7}{'true':>8}{'mean est':>9}"
        f"{'coverage':>9}{'excl. 0':>8}{'width':>7}{'no ci':>6}{'s':>6}"
    )
    failed = []
    for case in ("experiment", "before/after"):
        for owners in args.owners:
            for effect in (True, False):
                started = time.perf_counter()
                row = bench(case, owners, effect, args.runs, args.weeks)
                took = time.perf_counter() - started
                print(
                    f"{row.case:<13}{row.owners:>7}{'yes' if effect else 'none':>7}"
                    f"{row.true:>8.3f}{row.mean_estimate:>9.3f}{row.coverage:>9.1%}"
                    f"{row.excludes_zero:>8.1%}{row.mean_width:>7.3f}{row.no_interval:>6}"
                    f"{took:>6.1f}"
                )
                if row.coverage < 0.90 or (not effect and row.excludes_zero > 0.08):
                    failed.append(replace(row))
    print("targets: coverage >= 90 %; a no-effect run excludes 0 in <= 8 %")
    print("all within targets" if not failed else f"{len(failed)} rows outside the targets")


if __name__ == "__main__":
    main()
