"""Means with influence functions, and the delta method on top of them.

Every effect in the impact report is a smooth function of a few (possibly covariate-adjusted or
weighted) means. Each mean is stored with its per-customer influence function ``psi`` (so that
``var = sum(psi**2)``); the variance of any function ``g`` of the means then follows from the
delta method, ``psi_g = psi @ grad g`` (van der Vaart 1998, *Asymptotic Statistics*, ch. 20).
Covariances between metrics and arms come for free, which is what the Wald/IV ratio, relative
lifts and ratio metrics (AOV) need.

Covariate adjustment is Lin's (2013, *Ann. Appl. Stat.* 7(1)) fully interacted regression
estimator, which is CUPED (Deng et al. 2013, WSDM) with one slope per arm: the adjusted mean of
arm ``a`` is ``ybar_a - beta_a' (xbar_a - xbar)`` with ``beta_a`` the within-arm OLS slope.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass
class Means:
    """Named estimates ``est`` (k,) with influence functions ``psi`` (n, k)."""

    names: list
    est: np.ndarray
    psi: np.ndarray

    def __getitem__(self, name):
        return self.est[self.names.index(name)]

    def se(self, name) -> float:
        return float(np.sqrt(np.sum(self.psi[:, self.names.index(name)] ** 2)))

    def join(self, other: "Means") -> "Means":
        return Means(self.names + other.names, np.r_[self.est, other.est],
                     np.c_[self.psi, other.psi])

    def delta(self, fn, rel_step: float = 1e-6):
        """``(value, se, psi)`` of ``fn(dict of means)`` by the delta method (numeric gradient)."""
        base = dict(zip(self.names, self.est))
        value = float(fn(base))
        grad = np.zeros(len(self.names))
        for j, name in enumerate(self.names):
            h = rel_step * max(abs(self.est[j]), 1e-3)
            shifted = dict(base)
            shifted[name] = self.est[j] + h
            grad[j] = (fn(shifted) - value) / h
        psi = self.psi @ grad
        return value, float(np.sqrt(np.sum(psi ** 2))), psi


def arm_means(Y: dict, groups: dict, X: np.ndarray | None = None, weights=None) -> Means:
    """Means of each outcome in each group, names ``f"{outcome}|{group}"``.

    Parameters
    ----------
    Y : dict name -> (n,) array
    groups : dict name -> (n,) boolean mask (disjoint or not)
    X : (n, p) covariates for Lin/CUPED adjustment towards the overall covariate mean, or None
    weights : (n,) non-negative weights (inverse-probability weights), or None

    Unweighted, unadjusted: ``psi_i = (y_i - ybar_g) / n_g`` on the group. Adjusted: the OLS of
    ``y`` on centred ``X`` within the group, plus the term ``beta' (x_i - xbar) / n`` of the overall
    mean. Weighted (Hajek): ``psi_i = w_i (y_i - mu) / sum(w)``, the weights taken as known;
    callers with estimated propensity weights add the propensity model's score term themselves
    (:func:`retention_lab.impact.core.propensity.att_means` does; treating it as known is
    conservative for the ATE — Lunceford & Davidian 2004 — but not guaranteed for the ATT).
    """
    names, est, cols = [], [], []
    ynames = list(Y)
    Ym = np.column_stack([np.asarray(Y[k], float) for k in ynames])
    n = Ym.shape[0]
    adjust = X is not None and np.asarray(X).shape[1] > 0 and weights is None
    if adjust:
        X = np.asarray(X, float)
        Xc = X - X.mean(axis=0)
    for gname, mask in groups.items():
        mask = np.asarray(mask, bool)
        ng = int(mask.sum())
        psi = np.zeros((n, len(ynames)))
        if ng == 0:
            mu = np.full(len(ynames), np.nan)
        elif weights is not None:
            w = np.asarray(weights, float) * mask
            Yg = np.where(w[:, None] > 0, Ym, 0.0)  # outside the group: weight 0, value unused
            mu = w @ Yg / w.sum()
            psi = w[:, None] * (Yg - mu) / w.sum()
        elif not adjust:
            mu = Ym[mask].mean(axis=0)
            psi[mask] = (Ym[mask] - mu) / ng * np.sqrt(ng / max(ng - 1, 1))
        else:
            Z = np.c_[np.ones(ng), Xc[mask]]
            coef, *_ = np.linalg.lstsq(Z, Ym[mask], rcond=None)
            mu = coef[0]
            resid = Ym[mask] - Z @ coef
            psi[mask] = resid / ng * np.sqrt(ng / max(ng - Z.shape[1], 1))
            psi += Xc @ coef[1:]  / n
        for k, yname in enumerate(ynames):
            names.append(f"{yname}|{gname}")
            est.append(mu[k])
            cols.append(psi[:, k])
    return Means(names, np.array(est, float), np.column_stack(cols))


def z_interval(value: float, se: float, alpha: float = 0.05):
    """``(low, high, p_value)`` of a normal (Wald) interval and the two-sided test of 0."""
    z = stats.norm.ppf(1 - alpha / 2)
    if not np.isfinite(se) or se <= 0:
        return np.nan, np.nan, np.nan
    p = 2 * stats.norm.sf(abs(value) / se)
    return value - z * se, value + z * se, float(p)


def effect_row(metric: str, estimand: str, m: Means, control_fn, treatment_fn, *, method: str,
               n: int, alpha: float = 0.05) -> dict:
    """One row of the effects table from two functions of the means (control and treatment
    level): the difference with its Wald interval, the relative lift with a log-scale interval."""
    c, _, psi_c = m.delta(control_fn)
    t, _, psi_t = m.delta(treatment_fn)
    diff = t - c
    se = float(np.sqrt(np.sum((psi_t - psi_c) ** 2)))
    lo, hi, p = z_interval(diff, se, alpha)
    rel = t / c - 1 if c != 0 else np.nan
    rel_lo = rel_hi = np.nan
    if c > 0 and t > 0:
        psi_log = psi_t / t - psi_c / c
        se_log = float(np.sqrt(np.sum(psi_log ** 2)))
        z = stats.norm.ppf(1 - alpha / 2)
        rel_lo, rel_hi = np.exp(np.log(t / c) + np.array([-z, z]) * se_log) - 1
    return dict(metric=metric, estimand=estimand, control=c, treatment=t, abs_diff=diff,
                rel_lift=rel, ci_low=lo, ci_high=hi, p_value=p, se=se, rel_ci_low=rel_lo,
                rel_ci_high=rel_hi, method=method, n=int(n))
