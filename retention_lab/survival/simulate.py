"""Small survival simulations with known truth, for tests and coverage studies.

* :func:`simulate_lifetimes` — exponential or Weibull lapse ages with a proportional-hazards
  effect of a binary covariate ``x`` (true hazard ratio ``hazard_ratio``) and a three-level
  ``channel`` with no effect; uniform administrative censoring.
* :func:`simulate_enrolment` — lapse ages with a loyalty programme joined during life: a
  customer who wants to enrol does so at age ``E ~ Exp(enrol_rate)`` *only if still active then*
  (so members have survived to enrol), after which the hazard is multiplied by ``hazard_ratio``
  (1 = the programme does nothing). With exponential lapses the residual lifetime after
  enrolment is memoryless, so the member hazard ratio is exactly ``hazard_ratio``.

Ages are in days and floored to whole days like the churn table's.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["simulate_lifetimes", "simulate_enrolment"]


def simulate_lifetimes(n: int = 2000, hazard_ratio: float = 0.7, *, seed: int = 0,
                       scale: float = 200.0, shape: float = 1.0, follow_up=(200.0, 700.0),
                       share_x: float = 0.5) -> pd.DataFrame:
    """``duration, churned, x, channel``; ``S(t | x) = exp(−(t/scale)^shape · HR^x)``."""
    rng = np.random.default_rng(seed)
    x = (rng.random(n) < share_x).astype(float)
    u = rng.random(n)
    t = scale * (-np.log(u) / hazard_ratio ** x) ** (1 / shape)
    c = rng.uniform(*follow_up, n)
    return pd.DataFrame({"duration": np.floor(np.minimum(t, c)),
                         "churned": (t <= c).astype(np.int64), "x": x,
                         "channel": rng.choice(["email", "search", "social"], n)},
                        index=pd.RangeIndex(1, n + 1, name="customer_id"))


def simulate_enrolment(n: int = 5000, hazard_ratio: float = 1.0, *, seed: int = 0,
                       scale: float = 200.0, enrol_scale: float = 150.0, p_enrol: float = 0.5,
                       follow_up=(200.0, 700.0)) -> pd.DataFrame:
    """``duration, churned, enrolment_age`` (NaN = never), ``channel``. Exponential lapse ages
    with mean ``scale``; willing customers (share ``p_enrol``) enrol at ``Exp(enrol_scale)`` if
    still active and still followed; afterwards the hazard is × ``hazard_ratio``."""
    rng = np.random.default_rng(seed)
    t0 = rng.exponential(scale, n)
    e = rng.exponential(enrol_scale, n)
    willing = rng.random(n) < p_enrol
    c = rng.uniform(*follow_up, n)
    enrolled = willing & (e < t0) & (e < c)
    t = np.where(enrolled, e + (t0 - e) / hazard_ratio, t0)
    return pd.DataFrame({"duration": np.floor(np.minimum(t, c)),
                         "churned": (t <= c).astype(np.int64),
                         "enrolment_age": np.where(enrolled, np.floor(e), np.nan),
                         "channel": rng.choice(["email", "search", "social"], n)},
                        index=pd.RangeIndex(1, n + 1, name="customer_id"))
