"""A randomized offer with known per-customer effects, written for the targeting tests (not the
package's simulator: a different mechanism — Gaussian and binary covariates, a multiplicative
Gamma noise on the money outcome, a logistic churn-risk score and an exponential lapse time with
uniform administrative censoring; ``c_max = 24`` censors 29.6 % before the 12-month horizon,
measured on 200,000 customers).

* churn risk ``r(x) = expit(1.2·x1 + 0.8·x2)`` (the analyst sees it as ``risk``);
* untreated money outcome mean ``μ₀(x) = 60·exp(0.3·x2) + 15·b``;
* effect on money ``τ(x) = (12·expit(2·x3) + 4·b)·(1 − r(x))`` — responsiveness falls with risk
  (``hetero=True``), or the constant ``const_effect`` for everyone (``hetero=False``);
* ``y = (μ₀ + A·τ) · G`` with ``G ~ Gamma(4, 1/4)`` (mean 1, CV 0.5), ``A ~ Bernoulli(p)``;
* lapse time ``Exp(h)``, ``h = 0.05·exp(1.5·r)·exp(−0.5·A·(1 − r))``, censoring ``U(0, c_max)``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

HORIZON = 12.0


def campaign(n: int, seed: int, *, hetero: bool = True, p: float = 0.5, const_effect: float = 5.0,
             c_max: float | None = 24.0) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    b = rng.integers(0, 2, n)
    risk = expit(1.2 * x[:, 0] + 0.8 * x[:, 1])
    mu0 = 60 * np.exp(0.3 * x[:, 1]) + 15 * b
    tau = (12 * expit(2 * x[:, 2]) + 4 * b) * (1 - risk) if hetero else np.full(n, const_effect)
    a = rng.binomial(1, p, n)
    y = (mu0 + a * tau) * rng.gamma(4.0, 0.25, n)
    h0 = 0.05 * np.exp(1.5 * risk)
    h1 = h0 * np.exp(-0.5 * (1 - risk))
    life = rng.exponential(1 / np.where(a == 1, h1, h0))
    c = rng.uniform(0, c_max, n) if c_max else np.full(n, np.inf)
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "x4": x[:, 3],
                          "segment": np.where(b == 1, "gold", "basic")},
                         index=pd.Index([f"T{i}" for i in range(n)], name="customer_id"))
    frame["churn_probability"] = risk
    frame["treated"] = a
    frame["propensity"] = p
    frame["clv_12m"] = y
    frame["spend_3m"] = y / 4
    frame["duration"] = np.minimum(life, c)
    frame["lapsed"] = (life <= c).astype(int)
    return dict(frame=frame, X=np.column_stack([x, b]), risk=risk, a=a, y=y, tau=tau,
                retained=(life > HORIZON).astype(float),
                tau_retention=np.exp(-h1 * HORIZON) - np.exp(-h0 * HORIZON),
                mu0_retention=np.exp(-h0 * HORIZON))
