"""The stopping rule of a holdout, stated before the first look, applied to confidence sequences.

At each look, on the primary metric's always-valid interval ``[lower, upper]`` of the ITT
difference and the smallest effect worth having ``δ_min`` (fixed in advance, absolute):

1. ``stop_srm`` — the sequential sample-ratio check rejects: the assignment is broken, no effect
   estimate can be trusted (checked first);
2. ``stop_efficacy`` — ``lower > 0``: the programme raises the metric;
3. ``stop_harm`` — ``upper < 0``: it lowers it;
4. ``stop_futility`` — ``upper < δ_min``: whatever the effect is, it is smaller than worth having;
5. ``keep_running`` — otherwise; with the day at which, at the current completion rate and
   spread, the interval will be narrow enough to detect ``δ_min`` with the planned power.

Because the intervals are valid uniformly over time, applying this rule at every look keeps
the error rate of each stop at most α (asymptotically).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..ids import DECISIONS, KEEP_RUNNING, STOP_EFFICACY, STOP_FUTILITY, STOP_HARM, STOP_SRM  # noqa: F401  (DECISIONS: re-exported)
from .plan import sequential_n


@dataclass(frozen=True)
class StoppingRule:
    """The pre-registered rule: the ``primary`` metric, the smallest relative effect worth
    having ``min_effect_rel`` (of the planned baseline), ``alpha`` of the intervals, ``power``
    for the projection, ``srm_alpha`` of the sequential SRM check."""

    primary: str = "purchases"
    min_effect_rel: float = 0.05
    alpha: float = 0.05
    power: float = 0.8
    srm_alpha: float = 0.001


def decide(last: dict, *, rule: StoppingRule, baseline: float, srm_mismatch: bool,
           n_now: int, sigma_phi: float, rho2: float, day_now: int,
           day_for_n: Callable[[float], float]) -> dict:
    """The decision at the latest look, as numbers: ``decision`` (one of :data:`DECISIONS`),
    ``metric``, ``lower``, ``upper``, ``estimate``, ``min_effect_abs``, ``n``, and for
    ``keep_running`` ``n_needed`` and ``day_needed`` = ``day_for_n(n_needed)``: the day (since
    the start) by which that many customers will have a known outcome, ``inf`` if never at the
    current enrolment rate."""
    delta = rule.min_effect_rel * baseline
    lo, hi = float(last["lower"]), float(last["upper"])
    if srm_mismatch:
        d = STOP_SRM
    elif lo > 0:
        d = STOP_EFFICACY
    elif hi < 0:
        d = STOP_HARM
    elif hi < delta:
        d = STOP_FUTILITY
    else:
        d = KEEP_RUNNING
    out = dict(decision=d, metric=rule.primary, estimate=float(last["estimate"]), lower=lo,
               upper=hi, min_effect_abs=delta, min_effect_rel=rule.min_effect_rel, n=int(n_now),
               day=int(day_now), n_needed=np.nan, day_needed=np.nan)
    if d == KEEP_RUNNING and np.isfinite(sigma_phi) and sigma_phi > 0:
        n_needed = sequential_n(delta, sigma_phi, power=rule.power, alpha=rule.alpha, rho2=rho2)
        day_needed = float(day_for_n(n_needed))
        out.update(n_needed=float(np.ceil(n_needed)), day_needed=float(np.ceil(day_needed))
                   if np.isfinite(day_needed) else np.inf)
    return out
