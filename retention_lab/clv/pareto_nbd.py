"""Pareto/NBD: Poisson purchasing with exponential lifetimes, gamma heterogeneity in both.

Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987), "Counting your customers: who are they
and what will they do next?", *Management Science* 33(1); the likelihood as in Fader, P. S. &
Hardie, B. G. S. (2005), "A note on deriving the Pareto/NBD model and related expressions"
(eqs. 19–22), as used by Fader, Hardie & Lee (2005) for the CDNOW estimates.

Purchase rate ``λ ~ Gamma(r, α)``, dropout rate ``μ ~ Gamma(s, β)``. For ``x`` repeat purchases,
the last at ``t_x``, observed to ``T``:

    L = Γ(r+x) α^r β^s / Γ(r) · [ 1/((α+T)^{r+x} (β+T)^s) + s/(r+s+x) · A0 ]
    A0 = F(t_x) − F(T),   F(u) = 2F1(r+s+x, b; r+s+x+1; |α−β|/(m+u)) / (m+u)^{r+s+x}

with ``m = max(α, β)`` and ``b = s+1`` if ``α ≥ β`` else ``b = r+x``.

Numerical stability: ``2F1(a, b; a+1; z)`` grows like ``(1−z)^{−b}``, which overflows for
``b = r+x`` with large ``x``. Euler's transformation ``2F1(a, b; c; z) = (1−z)^{c−a−b}
2F1(c−a, c−b; c; z)`` with ``c − a = 1`` leaves ``2F1(1, c−b; c; z) ∈ [1, 1/(1−z)]``, which is
bounded, so ``log F`` is a sum of logs of moderate numbers; ``log A0`` is
``log F(t_x) + log1p(−exp(log F(T) − log F(t_x)))`` and the bracket a ``logaddexp``. No term is
ever exponentiated before the end, so large ``x`` or ``T`` cannot overflow.
"""
from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from .base import BaseFitter, distinct_rows
from .beta_geo import BtydMixin
from .covariate_fit import StaticCovariatesMixin
from .rows import (
    pnbd_expected_if_alive_rows,
    pnbd_log_F_rows,
    pnbd_loglik_rows,
    pnbd_loglik_terms,
    pnbd_probability_alive_rows,
)
from .special import (
    SERIES_MAX_Z as _SERIES_MAX_Z,  # noqa: F401  (the names of earlier releases)
    hyp1_series as _hyp1_series,  # noqa: F401
    log_hyp1_grad as _log_hyp1_grad,  # noqa: F401
)


def log_A0(r, alpha, s, beta, x, tx, T):
    """``log A0`` of the Pareto/NBD likelihood (−inf where ``t_x == T``)."""
    lf_tx = pnbd_log_F_rows(r, s, x, alpha, beta, tx)
    lf_T = pnbd_log_F_rows(r, s, x, alpha, beta, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.minimum(lf_T - lf_tx, 0.0)
        return lf_tx + np.log(-np.expm1(diff))


class ParetoNBDFitter(BtydMixin, BaseFitter):
    """Pareto/NBD model (Schmittlein, Morrison & Colombo 1987). Parameters ``r, alpha, s, beta``.

    The likelihood (Fader & Hardie 2005 note, eqs. 19–22) is maximised with its analytic
    gradient: the parameter derivatives of ``log 2F1`` come from differentiating its series
    term by term (:func:`~retention_lab.clv.rows.pnbd_log_F_rows`, the per-row likelihood
    shared with the covariate models); standard errors from central differences of that
    gradient.
    """

    _param_names = ("r", "alpha", "s", "beta")
    _model_name = "Pareto/NBD"
    _reference = "Schmittlein, Morrison & Colombo (1987); Fader & Hardie (2005) note, eqs. 19-22"

    def _covariate_fitter(self):
        return ParetoNBDCovariatesFitter(penalizer_coef=self.penalizer_coef)

    def _prepare(self, x, tx, T):
        # rows are already distinct (x, t_x, T) triples (BtydMixin.fit merges identical ones);
        # F(u) depends on (x, u) only: the gradient evaluates it once per distinct (x, u) pair,
        # u = t_x or T
        n = len(x)
        (px, pu), inv, _ = distinct_rows(np.r_[x, x], np.r_[tx, T])
        return dict(x=x, tx=tx, T=T, px=px, pu=pu, i_tx=inv[:n], i_T=inv[n:])

    def _subset(self, d, idx):
        return self._prepare(d["x"][idx], d["tx"][idx], d["T"][idx])

    def _loglik_grad(self, params, d):
        r, alpha, s, beta = params
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lf = pnbd_log_F_rows(r, s, d["px"], alpha, beta, d["pu"], grad=True)
        return pnbd_loglik_terms(r, s, alpha, beta, d["x"], d["T"], lf[:, d["i_tx"]],
                                 lf[:, d["i_T"]], grad=True)

    def _initial(self, data, weights):
        alpha0 = max(float(np.average(data["T"], weights=weights)) / 4, 1e-3)
        return np.array([1.0, alpha0, 1.0, alpha0])

    def _loglik(self, params, d):
        r, alpha, s, beta = params
        return pnbd_loglik_rows(r, s, alpha, beta, d["x"], d["tx"], d["T"])

    # -- predictions ----------------------------------------------------------------------
    def probability_alive(self, frequency, recency, T):
        """P(active at ``T`` | x, t_x, T) (Fader & Hardie 2005 note, eq. 24)."""
        r, alpha, s, beta = self._unload()
        x, tx, T = self._xs(frequency, recency, T)
        return pnbd_probability_alive_rows(r, s, alpha, beta, x, tx, T)

    def expected_purchases(self, t, frequency, recency, T):
        """E[X(T, T+t) | x, t_x, T] (Fader & Hardie 2005 note, eq. 27)."""
        x, tx, T = self._xs(frequency, recency, T)
        return self._expected_purchases_if_alive(t, x, T) * self.probability_alive(x, tx, T)

    def _expected_purchases_if_alive(self, t, x, T):
        """E[X(T, T+t) | alive at T, x, T]: eq. 27 without its P(alive) factor (it depends on
        (x, T) only)."""
        r, alpha, s, beta = self._unload()
        return pnbd_expected_if_alive_rows(r, s, alpha, beta, x, T, t)

    def expected_number_of_purchases_up_to_time(self, t):
        """Unconditional E[X(t)] for a customer just acquired (eq. 17 of the note)."""
        r, alpha, s, beta = self._unload()
        t = np.asarray(t, float)
        if abs(s - 1) < 1e-8:
            return r * beta / alpha * np.log1p(t / beta)
        return r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))

    def probability_of_n_purchases_up_to_time(self, t, n):
        """P(X(t) = n) for a customer just acquired, by integrating the NBD count over the
        Pareto (Lomax) lifetime: ``NBD(n; t)·S(t) + ∫_0^t NBD(n; τ) f(τ) dτ``."""
        # scipy.integrate: heavy to import (0.1 s), used by this method only
        from scipy import integrate

        r, alpha, s, beta = self._unload()
        n = int(n)

        def nbd(tau):
            return np.exp(gammaln(r + n) - gammaln(r) - gammaln(n + 1) + r * np.log(alpha / (alpha + tau))
                          + (n * np.log(tau / (alpha + tau)) if n else 0.0))

        def one(tt):
            surv = (beta / (beta + tt)) ** s
            dens = lambda tau: nbd(tau) * s * beta ** s / (beta + tau) ** (s + 1)  # noqa: E731
            return nbd(tt) * surv + integrate.quad(dens, 0, tt, limit=200)[0]

        return np.vectorize(one)(np.asarray(t, float))


class ParetoNBDCovariatesFitter(StaticCovariatesMixin, ParetoNBDFitter):
    """Pareto/NBD with time-invariant covariates (Fader & Hardie 2007; CLVTools'
    parameterization): ``α_i = α exp(−γ_trans′x_i)``, ``β_i = β exp(−γ_life′z_i)``. What
    ``ParetoNBDFitter().fit(summary, covariates=df)`` returns (a new fitter of this class)."""

    _base = ParetoNBDFitter
    _trans_scaled, _life_scaled, _life_sign = 1, (3,), -1.0
    _model_name = "Pareto/NBD with time-invariant covariates"
    _reference = "Fader & Hardie (2007) note 019; CLVTools pnbd(static covariates)"

    @staticmethod
    def _rows(r, alpha, s, beta, x, tx, T, grad=False):
        return pnbd_loglik_rows(r[0] if np.ndim(r) else r, s[0] if np.ndim(s) else s,
                                alpha, beta, x, tx, T, grad=grad)

    @staticmethod
    def _palive_rows(r, alpha, s, beta, x, tx, T):
        return pnbd_probability_alive_rows(float(np.ravel(r)[0]), float(np.ravel(s)[0]),
                                           alpha, beta, x, tx, T)

    @staticmethod
    def _if_alive_rows(r, alpha, s, beta, x, T, t):
        return pnbd_expected_if_alive_rows(float(np.ravel(r)[0]), float(np.ravel(s)[0]),
                                           alpha, beta, x, T, t)
