"""A small rolling-enrolment study built for the impact tests, independent of the package's own
simulator: Poisson buyers with gamma-distributed latent rates, acquired before and after the
launch, who enrol at a purchase after the launch; from enrolment on their rate is multiplied by
``1 + lift``. The truth of the effect on members is the expectation given each member's latent
rate (no dropout, so it is closed form): purchases ``λ·lift·h``, spend ``mean order value ×
λ·lift·h``, retention ``exp(−λR) − exp(−λ(1+lift)R)``."""
from __future__ import annotations

import numpy as np
import pandas as pd

from retention_lab.experiment_data import ExperimentData

LAUNCH = pd.Timestamp("2024-01-01")
ORDER_VALUE = 40.0


def rolling_study(n: int = 4000, seed: int = 0, *, lift: float = 0.0, observed: float = 0.8,
                  latent: float = 0.0, base: float = -3.0, rule: str = "hazard",
                  acquire=(-365, 365), end_day: int = 730, horizon_days: int = 180,
                  retention_days: int = 90, mean_rate: float = 8 / 365, shape: float = 2.0):
    """``rule="hazard"``: at every purchase after the launch a not-yet-member enrols with
    probability ``sigmoid(base + observed·log1p(earlier purchases) + latent·log(λ/mean))``;
    ``rule="second"``: customers decide once, at their second purchase after the launch, with
    probability ``sigmoid(latent·log(λ/mean))`` (the issue's failing scenario)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(shape, mean_rate / shape, n)
    acq = rng.uniform(acquire[0], acquire[1], n)
    z = np.log(lam / mean_rate)
    t = acq.copy()
    prior = np.zeros(n)
    post = np.zeros(n)
    enrol = np.full(n, np.inf)
    cust, times = [np.arange(n)], [t.copy()]
    active = np.ones(n, bool)
    while active.any():
        i = np.flatnonzero(active)
        # decision at the purchase at time t[i] (already logged)
        after = t[i] >= 0
        post[i] += after
        undecided = ~np.isfinite(enrol[i]) & after
        if rule == "hazard":
            p = 1 / (1 + np.exp(-(base + observed * np.log1p(prior[i]) + latent * z[i])))
            join = undecided & (rng.random(i.size) < p)
        else:
            p = 1 / (1 + np.exp(-(latent * z[i])))
            join = undecided & (post[i] == 2) & (rng.random(i.size) < p)
        enrol[i[join]] = np.floor(t[i[join]])
        prior[i] += 1
        rate = lam[i] * np.where(np.isfinite(enrol[i]), 1 + lift, 1.0)
        t[i] = t[i] + rng.exponential(1 / rate)
        active[i] = t[i] < end_day + 1
        cust.append(i[active[i]])
        times.append(t[i[active[i]]])
    cust = np.concatenate(cust)
    times = np.concatenate(times)
    keep = times < end_day + 1
    cust, times = cust[keep], times[keep]
    day = np.floor(times).astype(int)
    # the enrolment day is the day of the purchase at which the customer joined
    tx = pd.DataFrame({"customer_id": cust + 1, "date": LAUNCH + pd.to_timedelta(day, "D"),
                       "amount": np.round(rng.gamma(4.0, ORDER_VALUE / 4.0, len(cust)), 2)})
    tx = tx.sort_values(["date", "customer_id"]).reset_index(drop=True)
    member = np.isfinite(enrol) & (enrol <= end_day)
    customers = pd.DataFrame({
        "customer_id": np.arange(1, n + 1),
        "signup_date": LAUNCH + pd.to_timedelta(np.floor(acq).astype(int), "D"),
        "channel": np.where(rng.random(n) < 0.5, "web", "store"),
        "enrolled_at": LAUNCH + pd.to_timedelta(np.where(member, enrol, np.nan), "D")})
    last_index = end_day - horizon_days - retention_days
    used = member & (enrol <= last_index)
    h, R = horizon_days, retention_days
    truth = dict(purchases=float(np.mean(lam[used] * lift * h)),
                 spend=float(np.mean(lam[used] * lift * h) * ORDER_VALUE),
                 retention=float(np.mean(np.exp(-lam[used] * R) -
                                         np.exp(-lam[used] * (1 + lift) * R))),
                 n_members=int(used.sum()))
    return ExperimentData(transactions=tx, customers=customers, surveys=None,
                          observation_end=LAUNCH + pd.Timedelta(days=end_day),
                          launch_date=LAUNCH, design="self_selected",
                          truth={"rolling": truth},
                          params=dict(horizon_days=h, retention_days=R))
