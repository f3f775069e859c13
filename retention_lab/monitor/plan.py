"""Planning a holdout: customers and weeks for a relative MDE, the MDE by a date, the margin forgone.

The outcome is a customer's purchases (or spend) in the ``window_days`` after entering the
holdout; the effect is the ITT difference, holdout share ``h`` (control), treated share
``p = 1 − h``. With regression adjustment on pre-period behaviour (CUPED; Deng, Xu, Kohavi &
Walker 2013) the outcome's variance shrinks by ``1 − R²``, ``R²`` that of the pre-period
predictor, estimated from the data's own history (:func:`history_stats`).

* **Fixed horizon** (one look at the end): statsmodels' ``NormalIndPower`` on the standardized
  effect ``δ / (σ sqrt(1 − R²))`` with ``ratio = p / h`` gives the holdout size; total = holdout
  ÷ h.
* **Always valid** (looked at any time; :mod:`retention_lab.monitor.sequential`): the smallest
  ``n`` at which the confidence sequence's half-width plus ``z_power`` standard errors reaches
  ``δ`` — the interval at ``n`` then excludes 0 with probability ``power`` when the effect is
  ``δ`` (a lower bound on the power of stopping by ``n``, as earlier crossings count too). The
  term's SD is ``σ_φ = σ sqrt(1 − R²) / sqrt(p h)`` and ``ρ`` is tuned at the fixed-horizon
  ``n`` (fixed in advance).

Retention at a horizon is planned as a share (:func:`share_stats`, ``treatment_variance=
"binary"``: Bernoulli variances at ``p₀`` and ``p₀(1 + MDE)``, no CUPED); the monitor takes
``p₀`` from the control arm's current Kaplan–Meier level.

Customers count once their window is complete: at an enrolment rate of ``r`` customers a week,
``n`` customers take ``n / r`` weeks plus the window. The margin forgone: holdout customers do
not get the programme's effect (assumed ``effect_rel`` on spend) from entry to the end of the
test.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats
from statsmodels.stats.power import NormalIndPower

from ..errors import DataError
from .sequential import asympcs_halfwidth, rho2_for

__all__ = ["history_stats", "share_stats", "plan_holdout", "mde_by_week", "forgone_margin", "value_of_knowing",
           "sequential_n", "sequential_mde", "window_outcomes"]


def window_outcomes(customers: pd.DataFrame, transactions: pd.DataFrame, *, start_col: str,
                    offset_days: int, days: int) -> pd.DataFrame:
    """Purchases (purchase days, as everywhere in the package: two lines on one day are one
    purchase) and spend of each customer in ``[start + offset, start + offset + days)`` (days
    relative to the customer's ``start_col`` date); index ``customer_id``."""
    ref = pd.to_datetime(customers.set_index("customer_id")[start_col]).dt.normalize()
    tx = transactions.loc[transactions["customer_id"].isin(ref.index)]
    rel = (pd.to_datetime(tx["date"]).dt.normalize().to_numpy()
           - ref.reindex(tx["customer_id"]).to_numpy()) / np.timedelta64(1, "D")
    inside = (rel >= offset_days) & (rel < offset_days + days)
    w = tx.loc[inside]
    days_in = pd.to_datetime(w["date"]).dt.normalize()
    out = pd.DataFrame({"purchases": days_in.groupby(w["customer_id"]).nunique(),
                        "spend": w.groupby("customer_id")["amount"].sum()}
                       ).reindex(ref.index).fillna(0.0)
    return out


def history_stats(customers: pd.DataFrame, transactions: pd.DataFrame, *, window_days: int,
                  pre_days: int, ref_col: str = "entered_at") -> dict:
    """The data's own mean, SD and CUPED ``R²`` of purchases and spend in a ``window_days``
    window, from history before each customer's ``ref_col`` date: outcome in
    ``[ref − window, ref)``, covariate in the ``pre_days`` before that. Returns
    ``{metric: {"mean", "sd", "r2", "n"}}``."""
    if len(customers) < 10:
        raise DataError.for_rule("customers", ref_col, "at least 10 customers with a history",
                                 len(customers))
    y = window_outcomes(customers, transactions, start_col=ref_col, offset_days=-window_days,
                        days=window_days)
    x = window_outcomes(customers, transactions, start_col=ref_col,
                        offset_days=-window_days - pre_days, days=pre_days)
    out = {}
    for metric in ("purchases", "spend"):
        yy, xx = y[metric].to_numpy(float), x[metric].to_numpy(float)
        r = np.corrcoef(yy, xx)[0, 1] if yy.std() > 0 and xx.std() > 0 else 0.0
        out[metric] = {"mean": float(yy.mean()), "sd": float(yy.std(ddof=1)),
                       "r2": float(r ** 2), "n": int(len(yy))}
    return out


def share_stats(p0: float, n: int | None = None) -> dict:
    """``{"mean", "sd", "r2", "n"}`` of a share (retention at a horizon) with baseline ``p0``:
    the Bernoulli SD ``sqrt(p0 (1 − p0))``, no CUPED adjustment. For :func:`plan_holdout` with
    ``treatment_variance="binary"``."""
    if not 0 < p0 < 1:
        raise ValueError(f"a share's baseline must be in (0, 1), got {p0!r}")
    return {"mean": float(p0), "sd": float(np.sqrt(p0 * (1 - p0))), "r2": 0.0,
            "n": None if n is None else int(n)}


def _z(q):
    return stats.norm.ppf(q)


def sequential_n(delta: float, sigma_phi: float, *, power: float, alpha: float,
                 rho2: float) -> float:
    """Smallest n with ``CS half-width(n) + z_power · σ_φ/√n ≤ δ``."""
    zb = _z(power)

    def gap(n):
        return float(asympcs_halfwidth(n, sigma_phi, rho2, alpha)) + zb * sigma_phi / np.sqrt(n) - delta

    lo, hi = 2.0, 10.0
    while gap(hi) > 0:
        hi *= 2
        if hi > 1e12:
            return np.inf
    return float(optimize.brentq(gap, lo, hi)) if gap(lo) > 0 else lo


def sequential_mde(n: float, sigma_phi: float, *, power: float, alpha: float,
                   rho2: float) -> float:
    """The effect the confidence sequence at ``n`` excludes 0 for with probability ``power``."""
    if not n > 1:
        return np.inf
    return float(asympcs_halfwidth(n, sigma_phi, rho2, alpha)) + _z(power) * sigma_phi / np.sqrt(n)


def plan_holdout(stats_: dict, *, holdout_share: float, rel_mde: float, enrol_per_week: float,
                 window_days: int, power: float = 0.8, alpha: float = 0.05,
                 adjust: bool = True, treatment_variance: str = "scaled") -> pd.DataFrame:
    """One row per metric: ``baseline``, ``mde_abs``, ``variance_reduction`` (CUPED's 1 − R²
    as a reduction), ``n_fixed`` / ``weeks_fixed`` (fixed horizon) and ``n_fixed_unadjusted``,
    ``n_sequential`` / ``weeks_sequential`` (always valid), ``rho2`` (the boundary's tuning,
    fixed in advance). ``stats_``: from :func:`history_stats` (or any ``{metric: {mean, sd,
    r2}}``).

    ``treatment_variance``: ``"scaled"`` (default) — under the alternative the treated arm's SD
    is ``σ (1 + MDE)``, as when the programme multiplies each customer's rate (the SD of
    gamma-Poisson counts and of spend grows with the mean); ``"equal"`` — the same SD in both
    arms; ``"binary"`` — a share (retention): ``σ₁² = p₁(1 − p₁)`` at ``p₁ = p₀(1 + MDE)``
    (stats from :func:`share_stats`). Unequal variances enter statsmodels' ``NormalIndPower``
    through the effective SD ``σ_eff² = (σ₀²/h + σ₁²/p) / (1/h + 1/p)``."""
    if not 0 < holdout_share < 1:
        raise ValueError(f"holdout_share must be in (0, 1), got {holdout_share!r}")
    h, p = holdout_share, 1 - holdout_share
    rows = []
    for metric, s in stats_.items():
        delta = rel_mde * s["mean"]
        r2 = s.get("r2", 0.0) if adjust else 0.0
        if treatment_variance not in ("scaled", "equal", "binary"):
            raise ValueError(f"treatment_variance must be 'scaled', 'equal' or 'binary', got "
                             f"{treatment_variance!r}")
        if treatment_variance == "binary":
            p0 = s["mean"]
            p1 = min(p0 * (1 + rel_mde), 1 - 1e-9)
            k1 = p1 * (1 - p1) / (p0 * (1 - p0))
        else:
            k1 = (1 + rel_mde) ** 2 if treatment_variance == "scaled" else 1.0
        inflate = np.sqrt((1 / h + k1 / p) / (1 / h + 1 / p))
        sd_adj = s["sd"] * np.sqrt(1 - r2) * inflate
        n_ctrl = NormalIndPower().solve_power(effect_size=delta / sd_adj, nobs1=None, alpha=alpha,
                                              power=power, ratio=p / h, alternative="two-sided")
        n_ctrl_un = NormalIndPower().solve_power(effect_size=delta / (s["sd"] * inflate),
                                                 nobs1=None,
                                                 alpha=alpha, power=power, ratio=p / h,
                                                 alternative="two-sided")
        n_fixed = float(n_ctrl) / h
        rho2 = rho2_for(n_fixed, alpha)
        sigma_phi = sd_adj / np.sqrt(p * h)
        n_seq = sequential_n(delta, sigma_phi, power=power, alpha=alpha, rho2=rho2)
        weeks = lambda n_: n_ / enrol_per_week + window_days / 7  # noqa: E731
        rows.append(dict(metric=metric, baseline=s["mean"], sd=s["sd"], r2=r2,
                         mde_rel=rel_mde, mde_abs=delta, variance_reduction=r2,
                         n_fixed=int(np.ceil(n_fixed)),
                         n_fixed_unadjusted=int(np.ceil(float(n_ctrl_un) / h)),
                         weeks_fixed=weeks(n_fixed), n_sequential=int(np.ceil(n_seq)),
                         weeks_sequential=weeks(n_seq), rho2=rho2, sigma_phi=sigma_phi,
                         power=power, alpha=alpha, holdout_share=h,
                         enrol_per_week=enrol_per_week, window_days=window_days))
    return pd.DataFrame(rows)


def mde_by_week(plan: pd.DataFrame, weeks) -> pd.DataFrame:
    """The MDE (absolute and relative) reachable after each number of ``weeks`` at the plan's
    enrolment rate: fixed horizon and always valid."""
    rows = []
    for _, r in plan.iterrows():
        for w in np.atleast_1d(weeks):
            n = max(r["enrol_per_week"] * (w - r["window_days"] / 7), 0.0)
            if n > 1:
                se = r["sigma_phi"] / np.sqrt(n)
                fixed = (_z(1 - r["alpha"] / 2) + _z(r["power"])) * se
                seq = sequential_mde(n, r["sigma_phi"], power=r["power"], alpha=r["alpha"],
                                     rho2=r["rho2"])
            else:
                fixed = seq = np.inf
            rows.append(dict(metric=r["metric"], weeks=float(w), n=int(n), mde_fixed_abs=fixed,
                             mde_sequential_abs=seq, mde_fixed_rel=fixed / r["baseline"],
                             mde_sequential_rel=seq / r["baseline"]))
    return pd.DataFrame(rows)


def forgone_margin(*, enrol_per_week: float, holdout_share: float, weeks: float,
                   spend_per_customer_window: float, window_days: int, effect_rel: float,
                   margin: float) -> float:
    """Margin the holdout forgoes while the test runs ``weeks``: holdout customers enter at
    ``h · r`` a week and each misses ``effect_rel × spend`` (spend per customer-week from the
    window's spend) from entry to the end: ``h r weeks² / 2`` customer-weeks."""
    customer_weeks = holdout_share * enrol_per_week * weeks ** 2 / 2
    per_week = spend_per_customer_window / (window_days / 7)
    return float(customer_weeks * per_week * effect_rel * margin)


def value_of_knowing(estimate: float, se: float, *, per_unit: float = 1.0) -> float:
    """Expected value of perfect information (EVPI) of the keep-or-drop decision about the
    programme, in the units of ``per_unit`` × the effect.

    With the programme's net effect ``θ`` (per customer, in the metric's units) uncertain as
    ``θ ~ N(μ, s²)`` — ``μ`` the current estimate, ``s`` its standard error — a decision taken
    now earns ``max(μ, 0)``, one taken knowing ``θ`` earns ``E[max(θ, 0)]``; the difference is the
    most that knowing is worth (Raiffa & Schlaifer 1961, *Applied Statistical Decision Theory*,
    ch. 5; the normal linear-loss integral):

        ``EVPI = s φ(μ/s) − |μ| Φ(−|μ|/s)``.

    ``per_unit`` converts one unit of the effect into money (e.g. margin × customers a year).
    Set it against :func:`forgone_margin`: a holdout is worth running while what it forgoes is
    small against what knowing is worth."""
    mu, s = float(estimate), float(se)
    if not (np.isfinite(mu) and np.isfinite(s)) or s < 0:
        return float("nan")
    if s == 0:
        return 0.0
    z = abs(mu) / s
    return float(per_unit * (s * stats.norm.pdf(z) - abs(mu) * stats.norm.cdf(-z)))
