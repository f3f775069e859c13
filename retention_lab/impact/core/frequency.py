"""Purchase frequency as a rate: negative-binomial regression with an exposure offset.

``log E[orders_i] = log(exposure_i) + b0 + b1 · treated_i`` with NB2 variance
``mu + alpha mu^2`` (Cameron & Trivedi 2013, *Regression Analysis of Count Data*, ch. 3);
``exp(b1)`` is the rate ratio. The dispersion ``alpha`` is estimated by statsmodels'
``NegativeBinomial``; the rate ratio's interval uses the sandwich (HC0) covariance so it stays
valid when the NB2 variance is wrong (e.g. zero inflation from customers who lapsed). With ATT
weights (self-selected design) the weighted GLM gives the ratio of weighted rates; its sandwich
SE takes the weights as known — the estimation of the propensity behind them is not propagated,
which for the ATT is not guaranteed to be conservative, and the report's method text says so.
"""
from __future__ import annotations

import warnings

import numpy as np
import statsmodels.api as sm
from scipy import stats

from ...errors import DataError


def _check_groups(y: np.ndarray, t: np.ndarray) -> None:
    """A rate ratio needs two customers with exposure in each group and a purchase in each:
    otherwise the regression is singular or the ratio is 0 or ∞ (a DataError saying so)."""
    for name, side in (("treated", t == 1), ("control", t != 1)):
        n, orders = int(side.sum()), float(y[side].sum())
        if n < 2 or orders <= 0:
            lack = (f"{n} customer{'s' if n != 1 else ''} with exposure" if n < 2
                    else "no purchase")
            raise DataError(f"transactions: the {name} group has {lack} in the outcome window; "
                            "rule 'each group has two customers with exposure and a purchase' "
                            "(a purchase-rate ratio needs both)", table="transactions",
                            column="customer_id",
                            rule="each group has two customers with exposure and a purchase",
                            n_rows=n)


def nb_rate_ratio(orders, exposure_days, treated, weights=None, *, per_days: float = 365.0,
                  alpha: float = 0.05, metric: str = "purchase rate",
                  estimand: str = "ITT (rate ratio)") -> dict:
    """Rate ratio (treated / control) of orders per ``per_days`` days of exposure, as an
    effects-table row: ``control``/``treatment`` are the fitted rates, ``rel_lift`` = RR − 1 with
    its interval (``rel_ci_low``/``rel_ci_high``), ``abs_diff`` the rate difference with the
    interval ``control_rate × (RR interval − 1)``."""
    y = np.asarray(orders, float)
    expo = np.asarray(exposure_days, float) / per_days
    t = np.asarray(treated, float)
    keep = expo > 0
    if weights is not None:
        keep &= np.asarray(weights, float) > 0
    y, expo, t = y[keep], expo[keep], t[keep]
    _check_groups(y, t)
    X = sm.add_constant(t.reshape(-1, 1), has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            nb = sm.NegativeBinomial(y, X, exposure=expo).fit(disp=0, maxiter=200)
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise DataError(f"transactions: the negative-binomial rate model cannot be fitted to "
                            f"these {len(y):,} customers ({type(exc).__name__}: {exc}); rule "
                            "'purchase counts vary within each group'", table="transactions",
                            column="customer_id", rule="purchase counts vary within each group",
                            n_rows=len(y)) from None
    disp = float(np.clip(nb.params[-1], 1e-8, None))
    if weights is None:
        b, cov = nb.params[:2], nb.cov_params()[:2, :2]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rob = sm.NegativeBinomial(y, X, exposure=expo).fit(start_params=nb.params, disp=0,
                                                               maxiter=0, cov_type="HC0")
        cov = np.asarray(rob.cov_params())[:2, :2]
        how = "negative-binomial (NB2) regression, exposure offset, sandwich SE"
    else:
        w = np.asarray(weights, float)[keep]
        glm = sm.GLM(y, X, family=sm.families.NegativeBinomial(alpha=disp),
                     exposure=expo, var_weights=w).fit(cov_type="HC0")
        b, cov = glm.params, glm.cov_params()
        how = ("weighted negative-binomial GLM (ATT weights), exposure offset, sandwich SE "
               "with the weights taken as known (the propensity's estimation is not "
               "propagated; the doubly robust purchases row accounts for it)")
    b = np.asarray(b)
    se = float(np.sqrt(np.asarray(cov)[1, 1]))
    z = stats.norm.ppf(1 - alpha / 2)
    rr = float(np.exp(b[1]))
    lo, hi = np.exp(b[1] - z * se), np.exp(b[1] + z * se)
    c = float(np.exp(b[0]))
    p = float(2 * stats.norm.sf(abs(b[1]) / se))
    return dict(metric=metric, estimand=estimand, control=c, treatment=c * rr,
                abs_diff=c * (rr - 1), rel_lift=rr - 1, ci_low=c * (lo - 1), ci_high=c * (hi - 1),
                p_value=p, se=se, rel_ci_low=lo - 1, rel_ci_high=hi - 1,
                method=f"{how}; rate per {per_days:g} days, NB alpha = {disp:.3g}",
                n=int(keep.sum()), rate_ratio=rr)
