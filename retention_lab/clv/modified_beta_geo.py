"""MBG/NBD: the modified BG/NBD, in which a customer can also drop out at the first purchase.

Batislam, E. P., Denizel, M. & Filiztekin, A. (2007), "Empirical validation and comparison of
models for customer base analysis", *International Journal of Research in Marketing* 24(3),
201–209, with the corrections of Wagner, U. & Hoppe, D. (2008), "Erratum on the MBG/NBD model",
*IJRM* 25(3), 225–226.

As BG/NBD (purchase rate ``λ ~ Gamma(r, α)`` while active, dropout with probability
``p ~ Beta(a, b)``), except that the dropout chance comes after *every* purchase including the
first one, so a customer without repeat purchases can have left too (in BG/NBD they are alive
for sure). For ``x`` repeat purchases, the last at ``t_x``, observed to ``T``:

    L = B(a, b+x+1)/B(a, b) · Γ(r+x) α^r / Γ(r) ·
        [ (α+T)^-(r+x) + a/(b+x) · (α+t_x)^-(r+x) ]

Given alive at ``T``, ``λ ~ Gamma(r+x, α+T)`` and ``p ~ Beta(a, b+x+1)`` and the future is a
BG/NBD process with those parameters (the conditional predictions of
:mod:`retention_lab.clv.predictive` use this).
"""
from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from .base import BaseFitter
from .beta_geo import BtydMixin
from .special import log_hyp2f1


class ModifiedBetaGeoFitter(BtydMixin, BaseFitter):
    """MBG/NBD model (Batislam, Denizel & Filiztekin 2007). Parameters ``r, alpha, a, b``."""

    _param_names = ("r", "alpha", "a", "b")
    _model_name = "MBG/NBD"
    _reference = ("Batislam, Denizel & Filiztekin (2007), IJRM 24(3); Wagner & Hoppe (2008) "
                  "erratum")

    def _prepare(self, x, tx, T):
        return dict(x=x, tx=tx, T=T)

    def _subset(self, d, idx):
        return {k: v[idx] for k, v in d.items()}

    def _initial(self, data, weights):
        alpha0 = max(float(np.average(data["T"], weights=weights)) / 8, 1e-3)
        return np.array([1.0, alpha0, 1.0, 1.0])

    def _loglik_grad(self, params, d):
        r, alpha, a, b = params
        x, tx, T = d["x"], d["tx"], d["T"]
        rx = r + x
        la_T, la_tx = np.log(alpha + T), np.log(alpha + tx)
        A1 = gammaln(rx) - gammaln(r) + r * np.log(alpha)
        A2 = betaln(a, b + x + 1) - betaln(a, b)
        A3 = -rx * la_T
        A4 = np.log(a) - np.log(b + x) - rx * la_tx
        M = np.logaddexp(A3, A4)
        w4 = np.exp(A4 - M)
        w3 = 1.0 - w4
        dab = digamma(a + b) - digamma(a + b + x + 1)
        g = np.empty((len(x), 4))
        g[:, 0] = digamma(rx) - digamma(r) + np.log(alpha) - w3 * la_T - w4 * la_tx
        g[:, 1] = r / alpha - rx * (w3 / (alpha + T) + w4 / (alpha + tx))
        g[:, 2] = dab + w4 / a
        g[:, 3] = dab + digamma(b + x + 1) - digamma(b) - w4 / (b + x)
        return A1 + A2 + M, g

    def _loglik(self, params, d):
        return self._loglik_grad(params, d)[0]

    # -- predictions ----------------------------------------------------------------------
    def probability_alive(self, frequency, recency, T):
        """P(active at ``T`` | x, t_x, T) (Batislam et al. 2007, appendix eq. 5) — below 1
        also for customers without repeat purchases."""
        r, alpha, a, b = self._unload()
        x, tx, T = self._xs(frequency, recency, T)
        log_odds = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
        return expit(-log_odds)

    def expected_purchases(self, t, frequency, recency, T):
        """E[X(T, T+t) | x, t_x, T] (Wagner & Hoppe 2008): P(alive) times the BG/NBD
        expectation with parameters ``(r+x, α+T, a, b+x+1)``."""
        x, tx, T = self._xs(frequency, recency, T)
        return self._expected_purchases_if_alive(t, x, T) * self.probability_alive(x, tx, T)

    def _expected_purchases_if_alive(self, t, x, T):
        r, alpha, a, b = self._unload()
        t = np.asarray(t, float)
        ln_hyp = log_hyp2f1(r + x, b + x + 1, a + b + x, t / (alpha + T + t))
        return (a + b + x) / (a - 1) * -np.expm1(
            ln_hyp + (r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))

    def expected_number_of_purchases_up_to_time(self, t):
        """Unconditional E[X(t)] for a customer just acquired."""
        r, alpha, a, b = self._unload()
        t = np.asarray(t, float)
        hyp = hyp2f1(r, b + 1, a + b, t / (alpha + t))
        return b / (a - 1) * (1 - hyp * (alpha / (alpha + t)) ** r)

    def probability_of_n_purchases_up_to_time(self, t, n):
        """P(X(t) = n) for a customer just acquired: alive through ``t`` after ``n`` purchases,
        or dropped out right after the ``n``-th (the first purchase for ``n = 0``) by ``t``."""
        r, alpha, a, b = self._unload()
        t = np.asarray(t, float)
        n = int(n)
        log_q = np.log(t) - np.log(alpha + t) if n else 0.0
        log_p = np.log(alpha) - np.log(alpha + t)
        first = np.exp(betaln(a, b + n + 1) - betaln(a, b) + gammaln(r + n) - gammaln(r)
                       - gammaln(n + 1) + r * log_p + n * log_q)
        j = np.arange(n).reshape((-1,) + (1,) * np.ndim(t))
        with np.errstate(divide="ignore", invalid="ignore"):
            lq = np.where(j > 0, j * (np.log(t) - np.log(alpha + t)), 0.0)
            partial = np.exp(gammaln(r + j) - gammaln(r) - gammaln(j + 1) + lq).sum(axis=0)
        second = np.exp(betaln(a + 1, b + n) - betaln(a, b)) * (1 - np.exp(r * log_p) * partial)
        return first + second
