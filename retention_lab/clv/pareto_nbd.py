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
from scipy import integrate
from scipy.special import expit, gammaln, hyp2f1

from .base import BaseFitter
from .beta_geo import BtydMixin, _codes


def _log_F(r, alpha, s, beta, x, u):
    """``log F(u)`` of the module docstring (vectorised over ``x``, ``u``)."""
    a = r + s + x
    if alpha >= beta:
        m, b_euler = alpha, r + x          # 2F1(a, s+1; a+1; z) = (1-z)^-s 2F1(1, r+x; a+1; z)
        power = -s
    else:
        m, b_euler = beta, s + 1.0         # 2F1(a, r+x; a+1; z) = (1-z)^(1-r-x) 2F1(1, s+1; a+1; z)
        power = 1.0 - r - x
    z = abs(alpha - beta) / (m + u)
    log_hyp = power * np.log1p(-z) + np.log(hyp2f1(1.0, b_euler, a + 1.0, z))
    return log_hyp - a * np.log(m + u)


def log_A0(r, alpha, s, beta, x, tx, T):
    """``log A0`` of the Pareto/NBD likelihood (−inf where ``t_x == T``)."""
    lf_tx = _log_F(r, alpha, s, beta, x, tx)
    lf_T = _log_F(r, alpha, s, beta, x, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.minimum(lf_T - lf_tx, 0.0)
        return lf_tx + np.log(-np.expm1(diff))


class ParetoNBDFitter(BtydMixin, BaseFitter):
    """Pareto/NBD model (Schmittlein, Morrison & Colombo 1987). Parameters ``r, alpha, s, beta``.

    The gradient is by central differences (the parameter derivatives of 2F1 have no cheap
    closed form); the standard errors from second differences of the log-likelihood.
    """

    _param_names = ("r", "alpha", "s", "beta")
    _model_name = "Pareto/NBD"
    _reference = "Schmittlein, Morrison & Colombo (1987); Fader & Hardie (2005) note, eqs. 19-22"

    def _prepare(self, x, tx, T):
        # The likelihood depends on a row only through (x, t_x, T): evaluate distinct triples once.
        keys = np.stack([x, tx, T], axis=1)
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        return dict(x=uniq[:, 0], tx=uniq[:, 1], T=uniq[:, 2], inv=inv.ravel())

    def _fit(self, data, weights, n_obs, **kw):
        w = np.bincount(data["inv"], weights=weights, minlength=len(data["x"]))
        return super()._fit(data, w, n_obs, **kw)

    def _initial(self, data, weights):
        alpha0 = max(float(np.average(data["T"], weights=weights)) / 4, 1e-3)
        return np.array([1.0, alpha0, 1.0, alpha0])

    def _loglik(self, params, d):
        r, alpha, s, beta = params
        x, tx, T = d["x"], d["tx"], d["T"]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            A1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
            alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
            dead = np.log(s) - np.log(r + s + x) + log_A0(r, alpha, s, beta, x, tx, T)
            return A1 + np.logaddexp(alive, dead)

    # -- predictions ----------------------------------------------------------------------
    def probability_alive(self, frequency, recency, T):
        """P(active at ``T`` | x, t_x, T) (Fader & Hardie 2005 note, eq. 24)."""
        r, alpha, s, beta = self._unload()
        x, tx, T = self._xs(frequency, recency, T)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds = (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T)
                        + s * np.log(beta + T) + log_A0(r, alpha, s, beta, x, tx, T))
        return expit(-log_odds)

    def expected_purchases(self, t, frequency, recency, T):
        """E[X(T, T+t) | x, t_x, T] (Fader & Hardie 2005 note, eq. 27)."""
        r, alpha, s, beta = self._unload()
        x, tx, T = self._xs(frequency, recency, T)
        t = np.asarray(t, float)
        p1 = (r + x) * (beta + T) / (alpha + T)
        if abs(s - 1) < 1e-8:
            p2 = np.log1p(t / (beta + T))
        else:
            p2 = -np.expm1((s - 1) * (np.log(beta + T) - np.log(beta + T + t))) / (s - 1)
        return p1 * p2 * self.probability_alive(x, tx, T)

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
