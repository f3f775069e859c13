"""Unit tests of the impact estimators on small synthetic studies with known effects."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention_lab.experiment_data import ExperimentData
from retention_lab import impact


def synth_study(n=4000, seed=0, lift=0.25, take_up=0.6, retain_lift=0.10, randomized=True,
                launch="2024-01-01", horizon=365, tail=182):
    """Customers with a gamma purchase rate; enrolment multiplies the post-launch rate by
    ``1 + lift`` and the retention-window purchase probability by ``1 + retain_lift``."""
    rng = np.random.default_rng(seed)
    launch = pd.Timestamp(launch)
    lam = rng.gamma(2.0, 2.0 / 365, n)                 # purchases per day, mean 4 a year
    signup = launch - pd.to_timedelta(rng.integers(1, 366, n), "D")
    arm = rng.random(n) < 0.5 if randomized else np.zeros(n, bool)
    D = arm & (rng.random(n) < take_up)
    rows = []
    for i in range(n):
        tenure = (launch - signup[i]).days
        k_pre = 1 + rng.poisson(lam[i] * tenure)
        rate = lam[i] * (1 + lift * D[i])
        k_post = rng.poisson(rate * horizon)
        p_ret = min(1.0, (1 - np.exp(-lam[i] * tail)) * (1 + retain_lift * D[i]))
        k_late = int(rng.random() < p_ret)
        days = np.r_[[0], rng.integers(1, tenure + 1, k_pre - 1),
                     tenure + rng.integers(1, horizon + 1, k_post),
                     tenure + horizon + rng.integers(1, tail + 1, k_late)]
        for d in days:
            rows.append((i, signup[i] + pd.Timedelta(days=int(d)), rng.gamma(4, 10)))
    tx = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    enrolled_at = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    enrolled_at[D] = launch + pd.Timedelta(days=1)
    cust = pd.DataFrame({"customer_id": np.arange(n), "signup_date": signup,
                         "enrolled_at": enrolled_at.to_numpy(),
                         "tier": np.where(lam > np.quantile(lam, 0.7), "gold", "bronze")})
    if randomized:
        cust["arm"] = np.where(arm, "treatment", "control")
    data = ExperimentData(tx, cust, None, launch + pd.Timedelta(days=horizon + tail), launch,
                          "randomized" if randomized else "self_selected")
    truth = dict(lam=lam, D=D, arm=arm)
    return data, truth


@pytest.fixture(scope="module")
def study():
    return synth_study()


def test_outcome_table_counts(study):
    data, truth = study
    out = impact.outcome_table(data, horizon=365)
    assert len(out) == 4000
    assert (out["pre_orders"] >= 1).all()
    launch = data.launch_date
    tx = data.transactions
    post = tx[(tx.date > launch) & (tx.date <= launch + pd.Timedelta(days=365))]
    assert out["orders"].sum() == len(post)
    assert out["spend"].sum() == pytest.approx(post["amount"].sum())
    assert out["enrolled"].sum() == truth["D"].sum()
    assert (out["exposure_days"] == 365).all()
