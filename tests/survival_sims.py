"""A BG/NBD-style loyalty population for the time-varying Cox tests, written independently of
the package's simulators: enrolment happens *at a purchase* and lapses are dated at the last
purchase, the two features that bias a plain time-varying Cox model (issue 13, defect 3)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from retention_lab.experiment_data import ExperimentData


def bgnbd_enrolment(n: int, theta: float = 1.0, seed: int = 0, *, r: float = 2.0,
                    alpha: float = 40.0, p: float = 0.15, hetero_p: bool = False,
                    acquisition_days: int = 365, followup_days: int = 730,
                    invite_share: float = 0.5, take_up: float = 0.6) -> ExperimentData:
    """Customers acquired uniformly over ``acquisition_days`` before the launch buy as a
    Poisson process at a gamma(r, alpha) rate per day (heterogeneous) and drop out after each
    repeat purchase with probability ``p`` (beta(1, 1/p − 1) across customers if ``hetero_p``).
    A randomly invited ``invite_share`` enrol, with probability ``take_up``, at their first
    purchase after the launch; from that purchase on their dropout probability is
    ``theta · p`` (``theta`` = 1: the programme does nothing). Dates are whole days; the study
    ends ``followup_days`` after the launch. Returns an ``ExperimentData`` with
    ``customers.enrolled_at``, ``arm`` and ``launch_date``."""
    rng = np.random.default_rng(seed)
    L, E = float(acquisition_days), float(acquisition_days + followup_days)
    t = rng.uniform(0, L, n)
    lam = rng.gamma(r, 1 / alpha, n)
    pp = rng.beta(1.0, 1.0 / p - 1.0, n) if hetero_p else np.full(n, p)
    invited = rng.random(n) < invite_share
    willing = invited & (rng.random(n) < take_up)
    member, decided = np.zeros(n, bool), np.zeros(n, bool)
    enrol = np.full(n, np.nan)
    ids, when = [np.arange(n)], [t.copy()]
    idx = np.arange(n)
    while idx.size:
        t[idx] += rng.exponential(1 / lam[idx])
        idx = idx[t[idx] < E + 1]
        tt = t[idx]
        first_post = ~decided[idx] & (tt >= L)
        decided[idx[first_post]] = True
        join = first_post & willing[idx]
        enrol[idx[join]], member[idx[join]] = tt[join], True
        ids.append(idx)
        when.append(tt)
        drop = rng.random(idx.size) < np.where(member[idx], theta, 1.0) * pp[idx]
        idx = idx[~drop]
    start = pd.Timestamp("2023-01-01")
    day = np.floor(np.concatenate(when))
    tx = pd.DataFrame({"customer_id": np.concatenate(ids) + 1, "amount": 10.0,
                       "date": start + pd.to_timedelta(day, "D")})
    tx = tx.drop_duplicates(["customer_id", "date"]).reset_index(drop=True)
    customers = pd.DataFrame({"customer_id": np.arange(1, n + 1),
                              "enrolled_at": start + pd.to_timedelta(np.floor(enrol), "D"),
                              "arm": np.where(invited, "treatment", "control")})
    return ExperimentData(transactions=tx, customers=customers,
                          observation_end=start + pd.Timedelta(days=E),
                          launch_date=start + pd.Timedelta(days=L))
