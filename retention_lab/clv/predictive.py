"""Conditional predictions of the continuous-time BTYD models beyond the expected purchases.

For BG/NBD, MBG/NBD and Pareto/NBD the posterior of a customer's latent parameters *given
alive at T* is again of the prior's family, with updated parameters, and the future from T on
is the same kind of process started afresh:

* BG/NBD (Fader, Hardie & Lee 2005a): ``λ ~ Gamma(r+x, α+T)``, ``p ~ Beta(a, b+x)``;
* MBG/NBD (Batislam et al. 2007): ``λ ~ Gamma(r+x, α+T)``, ``p ~ Beta(a, b+x+1)`` — the
  future is a BG/NBD process (the extra dropout chance at the first purchase is behind them);
* Pareto/NBD (Schmittlein et al. 1987): ``λ ~ Gamma(r+x, α+T)``, ``μ ~ Gamma(s, β+T)``.

A customer who has left buys nothing. So every conditional quantity is
``P(alive at T) · (the quantity for a fresh customer with the updated parameters)``
(+ the dead customers' share of "no purchase"):

* :meth:`~ConditionalPredictionsMixin.probability_alive_at` — P(alive at ``T + t``):
  ``P(alive) · E[e^{−λpt}]`` (BG: ``(α'/(α'+t))^{r'} 2F1(r', b'; a+b'; t/(α'+t))`` by Pfaff's
  transformation) or ``P(alive) · (β'/(β'+t))^s`` (Pareto/NBD);
* :meth:`~ConditionalPredictionsMixin.conditional_probability_of_n_purchases_up_to_time` —
  ``P(X(T, T+t) = n | history)``: the BG/NBD count distribution (FHL 2005a eq. 8, its partial
  NBD sum as a regularised incomplete beta) or the Pareto/NBD one,
  ``NBD(n; t) S(t) + ∫_0^t NBD(n; τ) f(τ) dτ`` with the Lomax lifetime ``S``, ``f``, integrated
  by 96-point Gauss–Legendre in ``u = τ/(α'+τ)``;
  :meth:`~ConditionalPredictionsMixin.probability_no_purchase` is its ``n = 0``;
* :meth:`~ConditionalPredictionsMixin.discounted_expected_residual_transactions` — DERT with
  continuous discounting at rate ``δ`` per time unit, ``∫_0^∞ e^{−δt} dE[X(T, T+t)]``. For
  Pareto/NBD in closed form (Fader, Hardie & Lee 2005b, "RFM and CLV: using iso-value curves for
  customer base analysis", JMR 42(4), eq. 2):
  ``P(alive) · (r+x)/(α+T) · (β+T)^s δ^{s−1} Ψ(s, s; δ(β+T))`` with Ψ Tricomi's confluent
  hypergeometric function; for the BG models (no closed form) as
  ``∫_0^∞ e^{−u} E[X(T, T + u/δ)] du`` (integration by parts) by 128-point Gauss–Laguerre
  (relative error below 1e-7 for ``δ(α+T) >= 0.08``).

Fitted with time-invariant covariates (:mod:`retention_lab.clv.covariates`), each customer's
own ``α_i, β_i`` (or ``α_i, a_i, b_i``) replace the population ones: pass ``covariates=`` as to
the model's other predictions (``None``: the customers it was fitted to).
"""
from __future__ import annotations

import numpy as np
from scipy.special import betainc, betaln, gammaln, hyperu, roots_laguerre, roots_legendre

from .base import distinct_rows
from .special import log_hyp2f1

_LEGENDRE = roots_legendre(96)
_LAGUERRE = roots_laguerre(128)


def _nbd_log_pmf(n, r, alpha, t):
    """``log P(N(t) = n)`` for Poisson counts with ``λ ~ Gamma(r, α)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lq = np.where(n > 0, n * (np.log(t) - np.log(alpha + t)), 0.0)
        return (gammaln(r + n) - gammaln(r) - gammaln(n + 1) + r * (np.log(alpha)
                - np.log(alpha + t)) + lq)


def bg_count_pmf(n, t, r, alpha, a, b):
    """``P(X(t) = n)`` of a BG/NBD process started alive at 0 (FHL 2005a, eq. 8), vectorised
    over every argument."""
    n = np.asarray(n, float)
    first = np.exp(betaln(a, b + n) - betaln(a, b) + _nbd_log_pmf(n, r, alpha, t))
    with np.errstate(all="ignore"):
        # P(N(t) >= n) = 1 − I_{α/(α+t)}(r, n)
        tail = np.where(n > 0, 1.0 - betainc(r, np.maximum(n, 1.0), alpha / (alpha + t)), 0.0)
        second = np.where(n > 0, np.exp(betaln(a + 1, b + n - 1) - betaln(a, b)) * tail, 0.0)
    return first + second


def pnbd_count_pmf(n, t, r, alpha, s, beta):
    """``P(X(t) = n)`` of a Pareto/NBD process started alive at 0: purchases before the
    exponential-gamma (Lomax) lifetime, ``NBD(n; t) S(t) + ∫_0^t NBD(n; τ) f(τ) dτ``."""
    n, t, r, alpha, s, beta = np.broadcast_arrays(*(np.asarray(v, float)
                                                    for v in (n, t, r, alpha, s, beta)))
    alive = np.exp(_nbd_log_pmf(n, r, alpha, t) + s * (np.log(beta) - np.log(beta + t)))
    flat = [v.ravel() for v in (n, t, r, alpha, s, beta)]
    dead = np.empty(alive.size)
    step = 20_000                       # cells per block: (nodes × block) work arrays stay small
    for lo in range(0, alive.size, step):
        dead[lo:lo + step] = _pnbd_dead_part(*(v[lo:lo + step] for v in flat))
    return alive + dead.reshape(alive.shape)


def _pnbd_dead_part(n, t, r, alpha, s, beta):
    """``∫_0^t NBD(n; τ) f(τ) dτ`` by Gauss–Legendre in ``u = τ/(α+τ)`` (1-D arrays)."""
    nodes, weights = _LEGENDRE
    u_max = t / (alpha + t)
    u = (nodes[:, None] + 1) / 2 * u_max[None, :]                    # (nodes, cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = alpha * u / (1 - u)
        log_nbd = (gammaln(r + n) - gammaln(r) - gammaln(n + 1) + r * np.log1p(-u)
                   + np.where(n > 0, n * np.log(u), 0.0))
        log_f = np.log(s) + s * np.log(beta) - (s + 1) * np.log(beta + tau)
        integrand = np.exp(log_nbd + log_f) * alpha / (1 - u) ** 2
    return (weights[:, None] * integrand).sum(0) * u_max / 2


class ConditionalPredictionsMixin:
    """P(alive) at a future time, P(no purchase), the conditional count distribution and DERT
    for the continuous-time BTYD fitters (see the module docstring)."""

    def _alive_posterior(self, x, T, covariates=None):
        """``(kind, params)``: the model family of the future and its updated parameters for a
        customer alive at ``T`` after ``x`` repeat purchases. Models with covariates
        (:mod:`retention_lab.clv.covariates`) use each customer's own parameters."""
        self._check_fitted()
        base = getattr(self, "_base", None) or type(self)
        if hasattr(self, "individual_params"):
            ind = self.individual_params(covariates)
            p1, p2, p3, p4 = (ind[c].to_numpy(float) for c in base._param_names)
        elif covariates is not None:
            raise ValueError(f"{type(self).__name__} was fitted without covariates")
        elif len(self.params_) != 4:
            raise NotImplementedError(
                f"{type(self).__name__}: conditional predictions need each customer's "
                f"parameters (individual_params), which this model does not provide")
        else:
            p1, p2, p3, p4 = self._unload()
        name = base._model_name
        if name == "Pareto/NBD":
            return "pnbd", (p1 + x, p2 + T, p3, p4 + T)
        if name == "BG/NBD":
            return "bg", (p1 + x, p2 + T, p3, p4 + x)
        if name == "MBG/NBD":
            return "bg", (p1 + x, p2 + T, p3, p4 + x + 1)
        raise NotImplementedError(f"no conditional predictions for {name}")  # pragma: no cover

    def _alive_now(self, x, tx, T, covariates):
        if covariates is None:
            return self.probability_alive(x, tx, T)
        return self.probability_alive(x, tx, T, covariates=covariates)

    def _history(self, frequency, recency, T):
        return np.broadcast_arrays(*(np.asarray(v, float) for v in (frequency, recency, T)))

    def probability_alive_at(self, t, frequency, recency, T, covariates=None):
        """P(alive at ``T + t`` | x, t_x, T): alive now and still alive ``t`` later."""
        x, tx, T = self._history(frequency, recency, T)
        t = np.asarray(t, float)
        kind, (r, alpha, c, d) = self._alive_posterior(x, T, covariates)
        now = self._alive_now(x, tx, T, covariates)
        if kind == "pnbd":
            return now * np.exp(c * (np.log(d) - np.log(d + t)))
        # E[exp(−λ p t)] = 2F1(r, a; a+b; −t/α) = (α/(α+t))^r 2F1(r, b; a+b; t/(α+t))
        log_stay = (r * (np.log(alpha) - np.log(alpha + t))
                    + log_hyp2f1(r, d, c + d, t / (alpha + t)))
        return now * np.exp(log_stay)

    def conditional_probability_of_n_purchases_up_to_time(self, n, t, frequency, recency, T,
                                                          covariates=None):
        """P(X(T, T+t) = n | x, t_x, T): the number of purchases in the next ``t`` periods
        (lifetimes' name and signature)."""
        x, tx, T = self._history(frequency, recency, T)
        t = np.asarray(t, float)
        kind, params = self._alive_posterior(x, T, covariates)
        now = self._alive_now(x, tx, T, covariates)
        pmf = (pnbd_count_pmf if kind == "pnbd" else bg_count_pmf)(n, t, *params)
        return now * pmf + (1 - now) * (np.asarray(n) == 0)

    def probability_no_purchase(self, t, frequency, recency, T, covariates=None):
        """P(no purchase in the next ``t`` periods | x, t_x, T)."""
        return self.conditional_probability_of_n_purchases_up_to_time(0, t, frequency, recency, T,
                                                                      covariates)

    def discounted_expected_residual_transactions(self, discount_rate, frequency, recency, T,
                                                  covariates=None):
        """DERT: expected purchases after ``T``, discounted continuously at ``discount_rate``
        (δ, per time unit of the fitted data: ``e^{−δt}`` at ``T + t``). Pareto/NBD: FHL
        (2005b) eq. 2 in closed form; BG/NBD, MBG/NBD: Gauss–Laguerre quadrature."""
        x, tx, T = self._history(frequency, recency, T)
        delta = np.asarray(discount_rate, float)
        if np.any(delta <= 0):
            raise ValueError("discount_rate must be > 0 (continuous rate per time unit)")
        kind, (r, alpha, s, beta) = self._alive_posterior(x, T, covariates)
        if kind == "pnbd":
            # ∫ e^{−δt} (β'/(β'+t))^s dt = β' U(1, 2−s, δβ') = β'^s δ^{s−1} Ψ(s, s; δβ')
            integral = beta * hyperu(1.0, 2.0 - s, delta * beta)
            return self._alive_now(x, tx, T, covariates) * r / alpha * integral
        nodes, weights = _LAGUERRE
        x, tx, T, delta = np.broadcast_arrays(x, tx, T, delta)
        if covariates is None and hasattr(self, "_expected_purchases_if_alive"):
            # DERT = P(alive) · ∫ e^{−u} E[X(T, T+u/δ) | alive] du, and the integral depends
            # on (x, T, δ) only: once per distinct triple
            (ux, uT, ud), inv, _ = distinct_rows(x.ravel(), T.ravel(), delta.ravel())
            integral = np.empty(len(ux))
            step = 20_000
            for lo in range(0, len(ux), step):
                sl = slice(lo, lo + step)
                horizons = nodes[:, None] / ud[None, sl]
                integral[sl] = weights @ self._expected_purchases_if_alive(horizons, ux[sl], uT[sl])
            return (integral[inv] * np.ravel(self.probability_alive(x, tx, T))).reshape(x.shape)
        flat = [v.ravel() for v in (x, tx, T)]
        d_flat = delta.ravel()
        out = np.empty(x.size)
        step = 20_000                   # customers per block: (nodes × block) arrays stay small
        for d in np.unique(d_flat):     # horizons as a column (k, 1): the models' fast path
            rows = np.flatnonzero(d_flat == d)
            for lo in range(0, len(rows), step):
                idx = rows[lo:lo + step]
                xs, txs, Ts = (v[idx] for v in flat)
                horizons = (nodes / d)[:, None]
                if covariates is None:
                    ev = self.expected_purchases(horizons, xs, txs, Ts)
                else:
                    cov = (covariates.iloc[idx] if hasattr(covariates, "iloc")
                           else np.atleast_2d(np.asarray(covariates, float))[idx])
                    ev = self.expected_purchases(horizons, xs, txs, Ts, covariates=cov)
                out[idx] = weights @ ev
        return out.reshape(x.shape)

    dert = discounted_expected_residual_transactions
