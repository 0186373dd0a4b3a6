"""A behavioural simulator: weeks of CRM events from two teams of advisers, with known truth.

Occasions of the example packs' rules (client calls, proposals, won deals, contacted leads) are
drawn per adviser from habits that differ per rule and person; a prompt makes a later fill more
likely; one rule asks for fewer fields halfway; people type placeholders in one field and override
one default; an optional randomised experiment assigns arms by DESIGN.md's hash formula. The
occasion table comes first (numpy, fast: the interval bench uses it); `History.events()` turns it
into `RecordEvent`s for the demo. `truth(params)` gives the population compliance the figures
estimate. Deterministic given the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from scipy import special, stats

from lastmile.rules.experiments import assign_arm
from lastmile.rules.records import RecordEvent
from lastmile.rules.templates import Duration


@dataclass(frozen=True)
class Habit:
    """How advisers behave at one rule's occasions."""

    rule: str
    first_time: float  # mean chance of filling the required fields in the opening event
    concentration: float  # Beta a+b of the per-person chance: lower = people differ more
    prompt_fill: float  # chance a prompted person fills them later (delay below)
    natural_fill: float  # the same without a prompt (observe weeks, an experiment's control)
    per_week: float  # mean occasions per adviser per week (times the team's activity)
    within: str  # the rule's deadline, as written in examples/rules


@dataclass(frozen=True)
class Team:
    name: str
    size: int
    activity: float = 1.0  # multiplies every habit's per_week


@dataclass(frozen=True)
class Experiment:
    id: str = "call-prompt-sim"
    rule: str = "call-essentials"
    arms: tuple[tuple[str, float], ...] = (("control", 0.5), ("prompt", 0.5))
    # Chance of a later fill per arm; `control` gets the habit's natural_fill, an arm not
    # listed here its prompt_fill.
    fill: tuple[tuple[str, float], ...] = (("prompt", 0.6),)
    start_week: int = 0
    end_week: int | None = None  # exclusive; None: to the end


@dataclass(frozen=True)
class Params:
    """Every knob of the simulation, with the demo's defaults."""

    weeks: int = 8
    start: datetime = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday
    teams: tuple[Team, ...] = (Team("Advisers North", 12, 1.0), Team("Advisers South", 6, 1.4))
    observe_weeks: int = 2  # the baseline: nothing is written, so fills are natural ones
    habits: tuple[Habit, ...] = (
        # The call prompt helps (0.15 -> 0.6); the lead prompt hardly does (0.18 -> 0.2).
        Habit("call-essentials", 0.45, 4.0, 0.6, 0.15, 5.0, "1d"),
        Habit("proposal-essentials", 0.55, 5.0, 0.5, 0.2, 1.0, "2 business days"),
        Habit("closed-won-handover", 0.5, 4.0, 0.4, 0.1, 0.5, "1 business day"),
        Habit("lead-contacted-essentials", 0.35, 3.0, 0.2, 0.18, 1.0, "2 business days"),
    )
    person_correlation: float = 0.6  # how alike one person's habits are across rules
    activity_shape: float = 2.0  # Gamma shape of a person's activity (mean 1): lower = more spread
    delay_median_h: float = 3.0  # a later fill comes after a log-normal delay
    delay_sigma: float = 1.5
    # The version change: from this week the rule asks for fewer fields, and people fill them
    # first time more often (its known effect). None: no change.
    version_rule: str = "call-essentials"
    version_week: int | None = 4
    fields_after: tuple[str, ...] = ("Outcome__c", "Next_Step__c")
    # What it asks for before the change; None: as in examples/rules. (The demo asks one field
    # more before, so that the rule as shipped is the version after the change.)
    fields_before: tuple[str, ...] | None = None
    first_time_after: float = 0.65
    placeholder_rule: str = "closed-won-handover"  # its one required field gets placeholders
    placeholder_share: float = 0.25  # of the fills of that field; never compliance
    placeholder_values: tuple[str, ...] = ("asdf", "n/a", ".")
    default_field: str = "LeadSource"  # new-opportunity-defaults writes Phone here
    override_share: float = 0.45  # people later choose another value
    experiment: Experiment | None = None

    def __post_init__(self) -> None:
        unknown = {h.rule for h in self.habits} - set(_SPECS)
        if unknown:
            raise ValueError(
                f"no event shapes for rules {sorted(unknown)}; known: {sorted(_SPECS)}"
            )
        if self.experiment and abs(sum(w for _, w in self.experiment.arms) - 1) > 1e-9:
            raise ValueError("the experiment's arm weights must sum to 1")


@dataclass(frozen=True)
class _Spec:
    """How one rule's records look: object, id prefix, required fields, the opening change."""

    object: str
    prefix: str
    require: tuple[str, ...]
    before: dict[str, Any]
    opening: dict[str, Any]
    lead_s: tuple[float, float]  # the record is created this long before the occasion opens


_HOUR, _DAY = 3600.0, 86400.0
_SPECS = {
    "call-essentials": _Spec(
        "Task", "00T", ("Description", "Outcome__c", "Next_Step__c"),
        {"Type": "Call", "Status": "Not Started", "Priority": "Normal"},
        {"Status": "Completed"}, (0.2 * _HOUR, 4 * _HOUR)),
    "proposal-essentials": _Spec(
        "Opportunity", "006", ("Amount", "CloseDate"),
        {"StageName": "Qualification", "CloseDate": "2026-12-31"},
        {"StageName": "Proposal/Price Quote"},
        (1 * _DAY, 10 * _DAY)),
    "closed-won-handover": _Spec(
        "Opportunity", "006", ("NextStep",),
        {"StageName": "Negotiation/Review", "Amount": 300000},
        {"StageName": "Closed Won", "Probability": 100}, (3 * _DAY, 20 * _DAY)),
    "lead-contacted-essentials": _Spec(
        "Lead", "00Q", ("Phone", "Income_Band__c", "Estimated_Mortgage__c"),
        {"Status": "Open - Not Contacted", "Company": "Private", "Country": "Netherlands",
         "LeadSource": "Web", "Rating": "Warm"},
        {"Status": "Working - Contacted"}, (1 * _HOUR, 3 * _DAY)),
}  # fmt: skip
_VALUES: dict[str, tuple[Any, ...]] = {
    "Description": ("Offerte besproken.", "Klant twijfelt over de rentevaste periode."),
    "Outcome__c": ("Interested", "Call back", "Not interested"),
    "Next_Step__c": ("Offerte sturen.", "Terugbellen na overleg met partner."),
    "Call_Summary__c": ("Wensen en situatie van de klant besproken.", "Zie gespreksverslag."),
    "Amount": (185000, 320000, 415000),
    "NextStep": ("Contract naar backoffice.", "Passeren bij notaris plannen."),
    "Phone": ("+31 6 5550 1234", "+31 20 555 0134"),
    "Income_Band__c": ("40k-60k", "60k-80k", "80k-100k"),
    "Estimated_Mortgage__c": (240000, 360000, 450000),
}
_OVERRIDES = ("Web", "Partner Referral", "Other")  # the sandbox's LeadSource picklist
_PRODUCTS = ("Mortgage", "Investment")


@dataclass(frozen=True)
class Owner:
    id: str  # 18 characters, Salesforce style; unique in its first 15
    team: str


@dataclass(frozen=True)
class Occasions:
    """One row per occasion, outcome as it ends (the history may be cut before that)."""

    rule: np.ndarray  # str
    owner: np.ndarray  # int: index into History.owners
    opened_s: np.ndarray  # float: seconds after Params.start
    version: np.ndarray  # "A", or "B" once the version rule has changed
    regime: np.ndarray  # "observe", "live" or the experiment arm
    outcome: np.ndarray  # "met_first_time", "met_after_prompt" or "missed"
    fill_s: np.ndarray  # float: seconds after opening of a later fill (nan: none)
    placeholder: np.ndarray  # bool: a placeholder was typed (so the behaviour is missed)


@dataclass(frozen=True)
class History:
    params: Params
    seed: int
    owners: tuple[Owner, ...]
    occasions: Occasions

    @property
    def end(self) -> datetime:
        return self.params.start + timedelta(weeks=self.params.weeks)

    def events(self) -> list[RecordEvent]:
        """The CRM events of this history up to its end, in `occurred_at` order."""
        rng = np.random.default_rng(np.random.SeedSequence(self.seed).spawn(2)[1])
        out: list[RecordEvent] = []
        for row in range(len(self.occasions.rule)):
            out.extend(_record_events(self, row, rng))
        out = [e for e in out if e.occurred_at < self.end]
        out.sort(key=lambda e: e.occurred_at)
        return out


def simulate(params: Params | None = None, seed: int = 0) -> History:
    """Draw the advisers, their habits and their occasions."""
    params = params or Params()
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    owners = tuple(
        Owner(f"005SIM{t}{i:08d}AAA", team.name)
        for t, team in enumerate(params.teams)
        for i in range(team.size)
    )
    n = len(owners)
    activity = np.repeat([t.activity for t in params.teams], [t.size for t in params.teams])
    activity = activity * rng.gamma(params.activity_shape, 1 / params.activity_shape, n)
    person = rng.standard_normal(n)
    arm_of = _arms(params.experiment, owners)
    rho = params.person_correlation
    parts = []
    for habit in params.habits:
        # A Gaussian copula: one latent per person shared across rules, so habits cluster by
        # person, while each rule's marginal stays Beta with mean `first_time` (exact truth).
        latent = stats.norm.cdf(rho * person + np.sqrt(1 - rho**2) * rng.standard_normal(n))
        counts = rng.poisson(np.outer(activity * habit.per_week, np.ones(params.weeks)))
        owner = np.repeat(np.repeat(np.arange(n), params.weeks), counts.ravel())
        week = np.repeat(np.tile(np.arange(params.weeks), n), counts.ravel())
        k = len(owner)
        weekday = rng.integers(0, 5, k)
        opened_s = week * 7 * _DAY + weekday * _DAY + rng.uniform(8 * _HOUR, 18 * _HOUR, k)
        changed = habit.rule == params.version_rule and params.version_week is not None
        version = np.where(changed & (week >= (params.version_week or 0)), "B", "A")
        habit_a = _beta_quantile(habit.first_time, habit.concentration, latent)
        habit_b = _beta_quantile(params.first_time_after, habit.concentration, latent)
        first_p = np.where(version == "B", habit_b[owner], habit_a[owner])
        regime = _regimes(params, habit, week, arm_of[owner])
        kinds, index = np.unique(regime.astype(str), return_inverse=True)
        fill_p = np.array([_fill_chance(params, habit, str(g)) for g in kinds])[index]
        first = rng.random(k) < first_p
        fills = ~first & (rng.random(k) < fill_p)
        fill_s = np.where(
            fills,
            rng.lognormal(np.log(params.delay_median_h * _HOUR), params.delay_sigma, k),
            np.nan,
        )
        deadline_s = _deadline_s(habit.within)[weekday]
        placeholder = np.zeros(k, bool)
        if habit.rule == params.placeholder_rule:
            placeholder = (first | fills) & (rng.random(k) < params.placeholder_share)
        outcome = np.where(
            first & ~placeholder, "met_first_time",
            np.where(fills & (fill_s < deadline_s) & ~placeholder, "met_after_prompt", "missed"),
        )  # fmt: skip
        parts.append(Occasions(np.full(k, habit.rule), owner, opened_s, version, regime,
                               outcome, fill_s, placeholder))  # fmt: skip
    return History(params, seed, owners, _concat(parts))


def true_compliance(params: Params, rule: str, version: str = "A", regime: str = "live") -> float:
    """The population compliance the ratio estimator targets for occasions of this kind.

    Occasion counts (activity) are drawn independently of habits, so sum(met) / sum(closed) over
    the advisers estimates the mean per-occasion chance of compliance: E[f] + (1 - E[f]) * g * F,
    with E[f] the Beta mean, g the chance of a later fill, F the chance the delay beats the
    deadline (averaged over the five opening weekdays), times (1 - placeholder share).
    """
    habit = next(h for h in params.habits if h.rule == rule)
    mean_first = params.first_time_after if version == "B" else habit.first_time
    delay = stats.lognorm(s=params.delay_sigma, scale=params.delay_median_h * _HOUR)
    in_time = float(np.mean(delay.cdf(_deadline_s(habit.within))))
    value = mean_first + (1 - mean_first) * _fill_chance(params, habit, regime) * in_time
    return value * (1 - params.placeholder_share) if rule == params.placeholder_rule else value


@dataclass(frozen=True)
class Truth:
    arms: dict[str, float]  # the experiment rule's compliance per arm
    effects: dict[str, float]  # arm minus control
    versions: dict[str, float]  # the version rule, prompted: "A" before, "B" after
    version_effect: float | None  # B minus A


def truth(params: Params) -> Truth:
    """What the figures should find, for the benches and the tests."""
    exp = params.experiment
    arms = {}
    if exp is not None:
        # The version in force when the experiment starts (one spanning a change mixes both).
        start = max(exp.start_week, params.observe_weeks)
        changed = exp.rule == params.version_rule and params.version_week is not None
        version = "B" if changed and start >= (params.version_week or 0) else "A"
        arms = {a: true_compliance(params, exp.rule, version, a) for a, _ in exp.arms}
    effects = {a: c - arms["control"] for a, c in arms.items() if a != "control"}
    versions, effect = {}, None
    if params.version_week is not None and any(
        h.rule == params.version_rule for h in params.habits
    ):
        versions = {v: true_compliance(params, params.version_rule, v) for v in ("A", "B")}
        effect = versions["B"] - versions["A"]
    return Truth(arms, effects if "control" in arms else {}, versions, effect)


def _beta_quantile(mean: float, concentration: float, u: np.ndarray) -> np.ndarray:
    """Per person: the u-quantile of Beta(mean * concentration, (1 - mean) * concentration)."""
    return special.betaincinv(mean * concentration, (1 - mean) * concentration, u)


def _arms(experiment: Experiment | None, owners: tuple[Owner, ...]) -> np.ndarray:
    if experiment is None:
        return np.full(len(owners), "", dtype=object)
    arms = dict(experiment.arms)
    return np.array([assign_arm(experiment.id, o.id, arms) for o in owners], dtype=object)


def _regimes(params: Params, habit: Habit, week: np.ndarray, arm: np.ndarray) -> np.ndarray:
    exp = params.experiment
    regime = np.where(week < params.observe_weeks, "observe", "live").astype(object)
    if exp is not None and exp.rule == habit.rule:
        end = params.weeks if exp.end_week is None else exp.end_week
        running = (week >= max(exp.start_week, params.observe_weeks)) & (week < end)
        regime = np.where(running, arm, regime)
    return regime


def _fill_chance(params: Params, habit: Habit, regime: str) -> float:
    if regime in ("observe", "control"):
        return habit.natural_fill
    arm_fill = dict(params.experiment.fill) if params.experiment else {}
    return arm_fill.get(regime, habit.prompt_fill)


def _deadline_s(within: str) -> np.ndarray:
    """Seconds to the deadline from each weekday (Monday first): business days skip weekends."""
    duration = Duration.parse(within)
    monday = datetime(2026, 1, 5, 12, tzinfo=UTC)
    days = [monday + timedelta(days=d) for d in range(5)]
    return np.array([(duration.after(d) - d).total_seconds() for d in days])


def _concat(parts: list[Occasions]) -> Occasions:
    names = list(Occasions.__dataclass_fields__)
    if not parts:
        return Occasions(*(np.array([]) for _ in names))
    return Occasions(*(np.concatenate([getattr(p, k) for p in parts]) for k in names))


def _record_events(history: History, row: int, rng: np.random.Generator) -> list[RecordEvent]:
    """A record's events: created, the opening change, then perhaps a later fill."""
    p, occ = history.params, history.occasions
    rule, owner = str(occ.rule[row]), history.owners[int(occ.owner[row])]
    spec = _SPECS[rule]
    before = p.fields_before if rule == p.version_rule and p.fields_before else spec.require
    require = p.fields_after if occ.version[row] == "B" else before
    record_id = f"{spec.prefix}SIM{row:09d}AAA"
    opened = p.start + timedelta(seconds=float(occ.opened_s[row]))
    created = opened - timedelta(seconds=float(rng.uniform(*spec.lead_s)))
    state: dict[str, Any] = {"Id": record_id, "OwnerId": owner.id, **spec.before}
    # What the person types at the opening: required fields the record does not hold already
    # (CloseDate is required to save an opportunity at all).
    asked = tuple(
        dict.fromkeys(f for f in (*spec.require, *before, *require) if f not in spec.before)
    )
    state.update(dict.fromkeys(asked))
    if spec.object == "Task":
        state.update(Subject=f"Klantgesprek {row}", WhatId=f"006SIMW{row:08d}AAA")
    elif spec.object == "Lead":
        state.update(FirstName="Sam", LastName=f"Client {row}")
    else:
        product = _PRODUCTS[int(rng.integers(2))]
        state.update(Name=f"Advies {row}", Product__c=product, LeadSource=None, Probability=None)
    events = [_event(record_id, 0, spec.object, "created", created, owner.id, state, None)]
    if spec.object == "Opportunity":
        events += _defaults(history, record_id, state, created, opened, rng)
    state.update(spec.opening)
    placeholder = bool(occ.placeholder[row])
    late = not np.isnan(occ.fill_s[row])
    first = occ.outcome[row] == "met_first_time" or (placeholder and not late)
    missing = set() if first else _some(tuple(f for f in asked if f in require), rng)
    typed = p.placeholder_values if placeholder else ()
    for name in asked:
        if name not in require:  # no longer asked for: filled half the time all the same
            state[name] = _value(name, rng, ()) if rng.random() < 0.5 else None
        else:
            state[name] = None if name in missing else _value(name, rng, typed if first else ())
    changed = (*spec.opening, *(n for n in asked if state[n] is not None))
    events.append(_event(record_id, 1, spec.object, "updated", opened, owner.id, state, changed))
    if late:
        for name in missing:
            state[name] = _value(name, rng, typed)
        when = opened + timedelta(seconds=float(occ.fill_s[row]))
        events.append(_event(record_id, 2, spec.object, "updated", when, owner.id, state,
                             tuple(sorted(missing))))  # fmt: skip
    return events


def _defaults(history: History, record_id: str, state: dict[str, Any], created: datetime,
              opened: datetime, rng: np.random.Generator) -> list[RecordEvent]:  # fmt: skip
    """What the CRM holds after Lastmile's defaults (live weeks only), and a person's override."""
    p = history.params
    if created >= p.start + timedelta(weeks=p.observe_weeks):
        state.update(LeadSource="Phone", Probability=10)
        if state.get("Product__c") == "Mortgage":
            state["Mortgage_Type__c"] = "Annuity"
    if rng.random() >= p.override_share:
        return []
    state[p.default_field] = _OVERRIDES[int(rng.integers(len(_OVERRIDES)))]
    when = created + (opened - created) * float(rng.uniform(0.1, 0.6))
    return [_event(record_id, 9, "Opportunity", "updated", when, state["OwnerId"], state,
                   (p.default_field,))]  # fmt: skip


def _some(fields: tuple[str, ...], rng: np.random.Generator) -> set[str]:
    """A non-empty random subset: what a person left empty."""
    if not fields:
        raise ValueError("a rule's occasion needs a required field the record does not hold")
    while True:
        chosen = {f for f in fields if rng.random() < 0.6}
        if chosen:
            return chosen


def _value(name: str, rng: np.random.Generator, placeholders: tuple[str, ...]) -> Any:
    """A plausible value, or one of `placeholders` when given."""
    values = placeholders or _VALUES[name]
    return values[int(rng.integers(len(values)))]


def _event(record_id: str, n: int, obj: str, kind: str, when: datetime, actor: str,
           state: dict[str, Any], changed: tuple[str, ...] | None) -> RecordEvent:  # fmt: skip
    return RecordEvent(
        id=f"evt-{record_id}-{n}", object=obj, record_id=record_id, kind=kind,
        occurred_at=when, actor=actor, fields=dict(state), changed=changed,
    )  # fmt: skip
