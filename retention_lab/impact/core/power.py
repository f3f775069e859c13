"""Power and the minimum detectable effect (MDE) for this sample (statsmodels.stats.power).

Two-sample z-test on standardized effects (``NormalIndPower``): the MDE at ``power`` is the
standardized effect ``d`` solved for, times the outcome's pooled SD, times the CUPED variance
ratio (``se_adjusted / se_unadjusted``) when covariate adjustment shrank the SE. For the effect
on members the ITT MDE is divided by the take-up (Wald scaling)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.power import NormalIndPower


def mde_table(out: pd.DataFrame, treated, control, *, columns: dict, alpha: float = 0.05,
              power: float = 0.8, variance_ratio: dict | None = None, take_up=None,
              n_control_effective: float | None = None) -> pd.DataFrame:
    """One row per metric: ``n_treated``, ``n_control``, ``sd``, ``mde_abs``, ``mde_rel`` (vs the
    control mean), ``mde_members_abs`` (÷ take-up) when given."""
    t, c = np.asarray(treated, bool), np.asarray(control, bool)
    n1, n0 = int(t.sum()), int(c.sum()) if n_control_effective is None else n_control_effective
    d = NormalIndPower().solve_power(effect_size=None, nobs1=n1, alpha=alpha, power=power,
                                     ratio=n0 / n1, alternative="two-sided")
    rows = []
    for metric, col in columns.items():
        y = out[col].to_numpy(float)
        ok = np.isfinite(y)
        sd = np.sqrt((np.var(y[t & ok], ddof=1) + np.var(y[c & ok], ddof=1)) / 2)
        vr = (variance_ratio or {}).get(metric, 1.0)
        mde = d * sd * vr
        base = float(np.mean(y[c & ok]))
        row = dict(metric=metric, n_treated=n1, n_control=n0, sd=sd, cuped_se_ratio=vr,
                   mde_abs=mde, mde_rel=mde / base if base else np.nan, alpha=alpha,
                   power=power)
        if take_up:
            row["mde_members_abs"] = mde / take_up
            row["mde_members_rel"] = row["mde_members_abs"] / base if base else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


#: holdout shares tried, smallest first: the smallest that reaches the power within
#: :data:`HOLDOUT_MAX_WEEKS` weeks of sign-ups is proposed
HOLDOUT_SHARES = (0.05, 0.1, 0.2, 0.3, 0.5)
HOLDOUT_MAX_WEEKS = 52


def holdout_size(effect_members: float, sd: float, take_up: float, arrivals_per_week: float, *,
                 alpha: float = 0.05, power: float = 0.8, shares=HOLDOUT_SHARES,
                 max_weeks: int = HOLDOUT_MAX_WEEKS) -> dict:
    """Size a randomized holdout that would measure an effect on members seen in observational
    data: a random ``share`` of newly eligible customers is kept out of the programme, the rest
    are offered it and a share ``take_up`` joins.

    The holdout is analysed by intention to treat: offered vs held out, effect
    ``Δ = take_up · effect_members`` (members carry the whole effect; Wald/IV scaling, as in the
    randomized design). A two-sided two-sample z-test on ``N`` customers, ``h N`` held out, has
    power ``1 − β`` when (Cohen 1988, ch. 2; statsmodels ``NormalIndPower``)

        ``N = ((z_{1−α/2} + z_{1−β}) · sd / Δ)² · (1/h + 1/(1 − h))``.

    Customers become eligible at ``arrivals_per_week``; sign-ups last ``ceil(N / rate)`` weeks,
    then each customer is followed for the outcome window. The smallest of ``shares`` whose
    sign-up period fits in ``max_weeks`` is proposed (else the largest share).

    Returns ``share, weeks, n_total, n_holdout, n_offered, effect_itt, d`` (the standardized
    ITT effect) and the inputs. ``weeks`` is NaN when the effect or the arrival rate is zero.
    """
    effect_itt = float(take_up) * float(effect_members)
    d = abs(effect_itt) / float(sd) if sd and sd > 0 else np.nan
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    out = dict(effect_members=float(effect_members), take_up=float(take_up), sd=float(sd),
               effect_itt=effect_itt, d=d, arrivals_per_week=float(arrivals_per_week),
               alpha=alpha, power=power)
    best = None
    for h in sorted(shares):
        n = (z / d) ** 2 * (1 / h + 1 / (1 - h)) if d and np.isfinite(d) and d > 0 else np.inf
        n = float(np.ceil(n)) if np.isfinite(n) else np.inf
        weeks = float(np.ceil(n / arrivals_per_week)) if arrivals_per_week > 0 and \
            np.isfinite(n) else np.nan
        best = dict(share=h, n_total=n, n_holdout=float(np.ceil(h * n)) if np.isfinite(n)
                    else np.inf, n_offered=float(np.ceil((1 - h) * n)) if np.isfinite(n)
                    else np.inf, weeks=weeks)
        if np.isfinite(weeks) and weeks <= max_weeks:
            break
    out.update(best)
    return out


def holdout_plan(out: pd.DataFrame, effect_row, *, y=None, alpha: float = 0.05,
                 power: float = 0.8, window_days: int = 365) -> dict:
    """:func:`holdout_size` from a study's own numbers: customers first buying after the launch
    are the eligible (``out["eligible"]``), arriving at their count ÷ the weeks from the launch
    to the observation end; ``take_up`` = the share of them who enrolled; ``sd`` = the SD of the
    outcome ``y`` (default: the effect row's metric among the eligible: purchases ``orders``,
    ``spend``, retention ``retained``); the effect on members is the row's ``abs_diff``."""
    cols = {"purchases": "orders", "spend": "spend", "retention": "retained"}
    elig = out["eligible"].to_numpy(float) == 1
    n_elig = int(elig.sum())
    weeks_seen = (out.attrs["observation_end"] - out.attrs["launch"]).days / 7.0
    rate = n_elig / weeks_seen if weeks_seen > 0 else np.nan
    take_up = float(out.loc[elig, "enrolled"].mean()) if n_elig else np.nan
    if y is None:
        y = out.loc[elig, cols[effect_row["metric"]]].to_numpy(float)
    y = np.asarray(y, float)
    y = y[np.isfinite(y)]
    sd = float(np.std(y, ddof=1)) if len(y) > 1 else np.nan
    res = holdout_size(float(effect_row["abs_diff"]), sd, take_up, rate, alpha=alpha, power=power)
    res.update(metric=effect_row["metric"], window_days=int(window_days), n_eligible=n_elig,
               weeks_observed=weeks_seen,
               method="two-sample z-test of the ITT (offered vs held out) = take-up × the "
                      "effect on members; SD of the outcome among eligible customers; eligible "
                      "customers (first purchase after the launch) arriving at their observed "
                      "weekly rate")
    return res
