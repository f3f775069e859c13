"""Shifted-beta-geometric (sBG) model of contractual retention.

Fader, P. S. & Hardie, B. G. S. (2007), "How to project customer retention", *Journal of
Interactive Marketing* 21(1), 76–90.

Each customer renews at the end of every period with their own probability ``1 − θ``,
``θ ~ Beta(α, β)``. A customer's lifetime ``T ∈ {1, 2, …}`` (the period in which they churn) has

    P(T = t) = B(α+1, β+t−1) / B(α, β),      S(t) = P(T > t) = B(α, β+t) / B(α, β)   (eqs. 5, 6)

and the retention rate ``r_t = S(t)/S(t−1) = (β+t−1)/(α+β+t−1)`` rises with ``t`` (eq. 8) —
heterogeneity, not individual change. The likelihood of survivor counts ``n_0, n_1, …, n_k``
(active at the start of each period, ``n_0`` the cohort) is
``Σ_t (n_{t−1} − n_t) log P(T=t) + n_k log S(k)`` (eq. 7).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma

from ..errors import DataError
from .base import BaseFitter, _as_float_array, check_rule

#: terms summed per block of :func:`discounted_beta_geometric_sum`
_SUM_BLOCK = 1 << 16


def discounted_beta_geometric_sum(a, b, discount_rate):
    """``Σ_{k≥1} E[(1−θ)^k] / (1+d)^k`` for ``θ ~ Beta(a, b)``: the discounted expected number
    of future periods survived by a customer with a beta-distributed churn probability — the
    sum behind sBG's DERL and BG/BB's DERT (Fader & Hardie 2010, Marketing Science 29(1), eq.
    6; Fader, Hardie & Shang 2010, eq. 14).

    Closed form ``b/(a+b) · z · 2F1(1, b+1; a+b+1; z)``, ``z = 1/(1+d)``; scipy's ``hyp2f1``
    returns NaN there for realistic sizes (``b`` in the hundreds with ``d`` near 0), so the
    series is summed instead: ``t_k = z^k (b)_k / (a+b)_k`` (``E[(1−θ)^k] = B(a, b+k)/B(a, b)``),
    each term from the previous by the ratio ``z (b+k)/(a+b+k) < z``, in blocks until the tail,
    below ``t_K z/(1−z) = t_K/d``, is under 1e-16 of the sum. About ``37/log(1+d)`` terms (a few
    thousand for a weekly rate, ~10⁵ at d = 0.0003), once per distinct ``(b, d)``. ``d = 0``:
    ``b/(a−1)`` for ``a > 1``, else ``inf``. Vectorised over ``b`` and ``discount_rate``.
    """
    a = float(a)
    b, d = np.broadcast_arrays(np.asarray(b, float), np.asarray(discount_rate, float))
    if np.any(~np.isfinite(d) | (d < 0)):
        raise ValueError("discount_rate must be a finite number >= 0")
    pairs, inv = np.unique(np.stack([b.ravel(), d.ravel()], 1), axis=0, return_inverse=True)
    out = np.empty(len(pairs))
    for j, (bb, dd) in enumerate(pairs):
        if dd == 0:
            out[j] = bb / (a - 1) if a > 1 else np.inf
            continue
        log_z = -np.log1p(dd)
        total, log_t, k0 = 0.0, 0.0, 0       # log t_0 = 0 (t_0 = 1, not part of the sum)
        while True:
            k = np.arange(k0, k0 + _SUM_BLOCK, dtype=float)
            log_terms = log_t + np.cumsum(log_z + np.log((bb + k) / (a + bb + k)))
            total += np.exp(log_terms).sum()
            log_t, k0 = log_terms[-1], k0 + _SUM_BLOCK
            if np.exp(log_t) <= 1e-16 * dd * total or log_t < -745:
                break
        out[j] = total
    return out[inv.ravel()].reshape(b.shape)


class ShiftedBetaGeoFitter(BaseFitter):
    """sBG model (Fader & Hardie 2007). Parameters ``alpha, beta``."""

    _param_names = ("alpha", "beta")
    _model_name = "shifted-beta-geometric (contractual retention)"
    _reference = "Fader & Hardie (2007), J. Interactive Marketing 21(1), eqs. 5-7"

    def fit(self, survivors=None, *, durations=None, churned=None, weights=None,
            initial_params=None, **kwargs):
        """Fit to cohort survivor counts or to per-customer lifetimes.

        Parameters
        ----------
        survivors : sequence of int
            Customers active at the start of each period; the first entry is the cohort size
            (e.g. ``[1000, 631, 468, 382, 326]``). Counts must not increase.
        durations, churned : arrays
            Alternatively, per customer the number of periods observed (``>= 1``) and whether
            they churned in the last of them (``False`` = still active: censored).
        weights : array, optional
            Customers each (duration, churned) row stands for.
        """
        if survivors is not None:
            n = _as_float_array(survivors, "survivors")
            if len(n) < 2:
                raise DataError("survivors: need the cohort size and at least one later count",
                                table="survivors", column="survivors", rule="length >= 2",
                                n_rows=len(n))
            check_rule("survivors", "survivors", "finite and >= 0", ~np.isfinite(n) | (n < 0))
            check_rule("survivors", "survivors", "non-increasing", np.r_[False, np.diff(n) > 0])
            k = len(n) - 1
            t = np.r_[np.arange(1, k + 1), k].astype(float)
            ch = np.r_[np.ones(k, bool), False]
            w = np.r_[-np.diff(n), n[-1]]
            self.survivors_ = n
        else:
            if durations is None or churned is None:
                raise TypeError("give survivors=[...] or durations=... and churned=...")
            t = _as_float_array(durations, "duration")
            ch = np.asarray(churned, dtype=bool).ravel()
            w = np.ones_like(t) if weights is None else _as_float_array(weights, "weight")
            if not (len(t) == len(ch) == len(w)):
                raise ValueError("durations, churned and weights must have the same length")
            check_rule("lifetimes", "duration", "whole number >= 1",
                       ~np.isfinite(t) | (t < 1) | (t != np.round(t)))
            check_rule("lifetimes", "weight", "weight >= 0", ~np.isfinite(w) | (w < 0))
        keep = w > 0
        t, ch, w = t[keep], ch[keep], w[keep]
        if not np.any(ch):
            raise DataError("lifetimes: no customer churned; the sBG churn distribution is not "
                            "identified", table="lifetimes", column="churned",
                            rule="at least one churn", n_rows=0)
        if np.all(ch) and np.unique(t).size == 1:
            raise DataError("lifetimes: every customer churned in the same period; the sBG "
                            "heterogeneity is not identified", table="lifetimes",
                            column="duration", rule="more than one distinct duration",
                            n_rows=len(t))
        uniq, inv = np.unique(np.stack([t, ch.astype(float)], 1), axis=0, return_inverse=True)
        wu = np.bincount(inv.ravel(), weights=w, minlength=len(uniq))
        data = dict(t=uniq[:, 0], churned=uniq[:, 1].astype(bool))
        return self._fit(data, wu, len(uniq), initial_params=initial_params, **kwargs)

    def _loglik_grad(self, params, d):
        alpha, beta = params
        t, ch = d["t"], d["churned"]
        ab = digamma(alpha + beta)
        # churned in period t: log P(T = t); still active after t: log S(t)
        ll = np.where(ch, betaln(alpha + 1, beta + t - 1), betaln(alpha, beta + t)) - betaln(alpha, beta)
        g = np.empty((len(t), 2))
        g[:, 0] = np.where(ch, digamma(alpha + 1) - digamma(alpha), 0.0) - digamma(alpha + beta + t) + ab
        g[:, 1] = np.where(ch, digamma(beta + t - 1), digamma(beta + t)) - digamma(alpha + beta + t) \
            - digamma(beta) + ab
        return ll, g

    def _loglik(self, params, d):
        return self._loglik_grad(params, d)[0]

    # -- predictions ----------------------------------------------------------------------
    def survival_function(self, t):
        """S(t) = P(T > t) = B(α, β+t)/B(α, β): share of the cohort still active after ``t``."""
        alpha, beta = self._unload()
        t = np.asarray(t, float)
        return np.exp(betaln(alpha, beta + t) - betaln(alpha, beta))

    def probability_of_churn_at(self, t):
        """P(T = t) = B(α+1, β+t−1)/B(α, β)."""
        alpha, beta = self._unload()
        t = np.asarray(t, float)
        return np.exp(betaln(alpha + 1, beta + t - 1) - betaln(alpha, beta))

    def retention_rate(self, t):
        """r_t = (β+t−1)/(α+β+t−1): share of those active in period t−1 who renew in t."""
        alpha, beta = self._unload()
        t = np.asarray(t, float)
        return (beta + t - 1) / (alpha + beta + t - 1)

    def expected_survivors(self, periods, cohort_size: float | None = None) -> pd.Series:
        """Projected number active at the start of each period in ``periods`` (0 = cohort)."""
        if cohort_size is None:
            cohort_size = float(self.survivors_[0]) if hasattr(self, "survivors_") else 1.0
        periods = np.asarray(periods)
        return pd.Series(cohort_size * self.survival_function(periods),
                         index=pd.Index(periods, name="period"), name="expected_survivors")

    def expected_lifetime(self, truncate: int | None = None) -> float:
        """E[T] = (α+β−1)/(α−1) (finite for α > 1), or Σ_{t<truncate} S(t) if truncated."""
        alpha, beta = self._unload()
        if truncate is not None:
            return float(self.survival_function(np.arange(truncate)).sum())
        return float((alpha + beta - 1) / (alpha - 1)) if alpha > 1 else float("inf")

    def discounted_expected_residual_lifetime(self, n_renewals: int, discount_rate: float) -> float:
        """DERL (Fader & Hardie 2010, Marketing Science 29(1), eq. 6): expected discounted number
        of *future* payments of a customer who has made ``n_renewals`` renewals,

            DERL(d | n) = (β+n)/(α+β+n) · 2F1(1, β+n+1; α+β+n+1; 1/(1+d))
                        = (1+d) · Σ_{k≥1} E[(1−θ)^k | n renewals] / (1+d)^k,

        with ``θ | n renewals ~ Beta(α, β+n)`` — summed as a series
        (:func:`discounted_beta_geometric_sum`), stable for ``n`` in the thousands and small
        ``d`` where scipy's ``hyp2f1`` gives NaN."""
        alpha, beta = self._unload()
        n, d = float(n_renewals), float(discount_rate)
        return float((1 + d) * discounted_beta_geometric_sum(alpha, beta + n, d))
