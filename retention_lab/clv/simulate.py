"""Draw customers from each BTYD model (known truth for parameter-recovery tests and benchmarks).

All functions are vectorised and seeded (``numpy.random.default_rng(seed)``). Gamma
heterogeneity uses shape/rate as in the papers: ``λ ~ Gamma(r, α)`` has mean ``r/α``.

``T`` may be a number (everyone observed for ``T``) or an array (one age per customer). With
``resolution`` (e.g. ``1/7`` for days when the unit is weeks) ages are floored to that grid, as
an ``rfm_summary`` of daily transactions would be: the result then collapses to few distinct
rows (:func:`retention_lab.features.collapse_summary`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def _ages(n, T, rng):
    T = np.asarray(T, float)
    return np.full(n, float(T)) if T.ndim == 0 else np.broadcast_to(T, (n,)).astype(float)


def _frame(x, tx, T, resolution):
    if resolution:
        # floor ages to the grid; recency is then the floored purchase age, T the floored age
        T = np.floor(T / resolution + 1e-9) * resolution
        tx = np.minimum(np.floor(tx / resolution + 1e-9) * resolution, T)
    return pd.DataFrame({"frequency": x.astype(float), "recency": np.where(x > 0, tx, 0.0),
                         "T": T}, index=pd.RangeIndex(len(x), name="customer_id"))


def beta_geo(n: int, r: float, alpha: float, a: float, b: float, T=39.0, *, seed=0,
             resolution: float | None = None) -> pd.DataFrame:
    """BG/NBD customers (Fader, Hardie & Lee 2005): ``frequency, recency, T``.

    After each *repeat* purchase the customer drops out with probability ``p ~ Beta(a, b)``, so
    the number of repeat purchases before dropout is ``K ~ Geometric(p)``; with ``N ~ Poisson(λT)``
    purchases the process would make in ``(0, T]``, ``x = min(N, K)`` and ``t_x`` is the ``x``-th
    of ``N`` uniform arrival times.
    """
    rng = np.random.default_rng(seed)
    T = _ages(n, T, rng)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    N = rng.poisson(lam * T)
    K = rng.geometric(np.clip(p, 1e-300, 1))
    x = np.minimum(N, K)
    tx = np.zeros(n)
    pos = x > 0
    tx[pos] = T[pos] * rng.beta(x[pos], N[pos] - x[pos] + 1)
    return _frame(x, tx, T, resolution)


def pareto_nbd(n: int, r: float, alpha: float, s: float, beta: float, T=39.0, *, seed=0,
               resolution: float | None = None) -> pd.DataFrame:
    """Pareto/NBD customers: ``λ ~ Gamma(r, α)``, ``μ ~ Gamma(s, β)``, lifetime ``τ ~ Exp(μ)``;
    ``x ~ Poisson(λ min(τ, T))`` and ``t_x`` the last of ``x`` uniform times in ``(0, min(τ, T))``."""
    rng = np.random.default_rng(seed)
    T = _ages(n, T, rng)
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    tau = rng.exponential(1.0 / mu)
    alive_for = np.minimum(tau, T)
    x = rng.poisson(lam * alive_for)
    tx = np.zeros(n)
    pos = x > 0
    tx[pos] = alive_for[pos] * rng.beta(x[pos], 1)
    return _frame(x, tx, T, resolution)


def gamma_gamma(frequency, p: float, q: float, v: float, *, seed=0) -> np.ndarray:
    """Mean spend per repeat transaction under the Gamma-Gamma model (``ν ~ Gamma(q, v)``, each
    transaction ``Gamma(p, ν)``): the mean of ``x`` transactions is ``Gamma(px, xν)``; 0 where
    ``frequency == 0``."""
    rng = np.random.default_rng(seed)
    x = np.asarray(frequency, float)
    nu = rng.gamma(q, 1.0 / v, len(x))
    out = np.zeros(len(x))
    pos = x > 0
    out[pos] = rng.gamma(p * x[pos], 1.0 / (x[pos] * nu[pos]))
    return out


def shifted_beta_geo(n: int, alpha: float, beta: float, periods: int, *, seed=0):
    """sBG cohort of ``n`` customers followed for ``periods`` periods.

    Returns ``(survivors, lifetimes)``: the number active at the start of periods ``0..periods``
    and a frame with each customer's ``duration`` (observed periods) and ``churned`` flag.
    """
    rng = np.random.default_rng(seed)
    theta = rng.beta(alpha, beta, n)
    life = rng.geometric(np.clip(theta, 1e-300, 1))  # churn in period life (1, 2, ...)
    survivors = np.array([(life > t).sum() for t in range(periods + 1)])
    churned = life <= periods
    frame = pd.DataFrame({"duration": np.minimum(life, periods), "churned": churned})
    return survivors, frame
