"""BG/NBD: the beta-geometric / negative-binomial distribution model of repeat buying.

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005), "'Counting your customers' the easy way: an
alternative to the Pareto/NBD model", *Marketing Science* 24(2), 275–284.

While active, a customer buys as a Poisson process with rate ``λ ~ Gamma(r, α)`` (shape, rate);
after each *repeat* purchase they become inactive for good with probability ``p ~ Beta(a, b)``.
A customer with ``x`` repeat purchases, the last at age ``t_x``, observed to age ``T`` has
(eq. 6 of the paper)

    L = B(a, b+x)/B(a, b) · Γ(r+x)/Γ(r) · α^r ·
        [ (α+T)^-(r+x) + 1{x>0} · a/(b+x-1) · (α+t_x)^-(r+x) ]

evaluated here in log space (``logaddexp`` of the two terms), with its analytic gradient. The
Gamma/Beta terms depend on ``x`` only and the power terms on ``T`` or ``t_x`` only, so each is
computed once per distinct value: a fit costs what the distinct ``x``/``T``/``t_x`` values cost
plus a few vector operations per row.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from .base import BaseFitter, btyd_arrays, check_identified, distinct_rows, time_unit_of
from .covariate_fit import StaticCovariatesMixin
from .plotting import BtydPlotsMixin
from .predictive import ConditionalPredictionsMixin
from .rows import bgnbd_expected_if_alive_rows, bgnbd_loglik_rows, bgnbd_probability_alive_rows
from .special import log_hyp2f1
from .validation import probability_alive_matrix


def _codes(values):
    """Distinct values and the index of each row's value, or ``(values, None)`` when most rows
    are distinct (then a per-value table would only add a gather)."""
    inv, uniq = pd.factorize(values, sort=True)
    if len(uniq) > len(values) // 2:
        return np.asarray(values, float), None
    return np.asarray(uniq, float), inv


def _rows(per_value, index):
    return per_value if index is None else per_value[index]


class BtydMixin(ConditionalPredictionsMixin, BtydPlotsMixin):
    """Input handling and lifetimes-compatible aliases shared by BG/NBD and Pareto/NBD."""

    def fit(self, data, recency=None, T=None, weights=None, *, initial_params=None,
            **kwargs):
        """Fit to a BTYD summary.

        Parameters
        ----------
        data : DataFrame or array
            A summary with ``frequency, recency, T`` (and an optional ``weight`` column, as made
            by :func:`retention_lab.features.collapse_summary`), or the ``frequency`` array with
            ``recency`` and ``T`` given as arrays (lifetimes' signature).
        weights : array, optional
            Number of customers each row stands for.
        initial_params : sequence, optional
            Starting values on the natural scale.
        covariates, covariates_trans, covariates_life : optional
            Time-invariant covariates (a DataFrame indexed like the summary) and the columns of
            each process: see :mod:`retention_lab.clv.covariates`.

        Identical rows are merged before the optimisation (their counts become weights), so a
        per-customer summary fits as fast as its collapsed form and gives the same estimates.
        ``n_customers_`` is the total weight (customers), ``n_rows_`` the number of input rows
        with positive weight and ``n_distinct_rows_`` the number of rows actually fitted.

        Returns ``self``; with ``covariates``, a new fitted covariate model
        (:class:`~retention_lab.clv.covariates.BetaGeoCovariatesFitter` or
        :class:`~retention_lab.clv.covariates.ParetoNBDCovariatesFitter`) with this one's
        ``penalizer_coef``.
        """
        if kwargs.get("covariates") is not None:
            # time-invariant covariates (clv/covariates.py): a covariate fitter, built here
            model = self._covariate_fitter().fit(data, recency, T, weights,
                                                 initial_params=initial_params, **kwargs)
            if not hasattr(self, "params_"):  # so that using this one says where the fit is
                self._fitted_as = type(model).__name__
            return model
        self.__dict__.pop("_fitted_as", None)
        for k in ("covariates", "covariates_trans", "covariates_life"):
            kwargs.pop(k, None)
        x, tx, T_, w = btyd_arrays(data, recency, T, weights)
        keep = w > 0
        x, tx, T_, w = x[keep], tx[keep], T_[keep], w[keep]
        check_identified(x, T_, w, model=self._model_name)
        self.time_unit_ = time_unit_of(data)
        self._fit_data_ranges = dict(T=float(T_.max()), frequency=float(x.max()),
                                     recency=float(tx.max()))
        # The likelihood depends on a customer only through (x, t_x, T): fit the distinct rows
        # weighted by their customer counts — the same likelihood at the cost of fewer rows.
        (x_, tx_, T__), _, w_ = distinct_rows(x, tx, T_, weights=w)
        self.n_distinct_rows_ = len(x_)
        prepared = self._prepare(x_, tx_, T__)
        return self._fit(prepared, w_, len(x), initial_params=initial_params, **kwargs)

    # lifetimes-compatible names
    def conditional_expected_number_of_purchases_up_to_time(self, t, frequency, recency, T):
        return self.expected_purchases(t, frequency, recency, T)

    predict = conditional_expected_number_of_purchases_up_to_time

    def conditional_probability_alive(self, frequency, recency, T):
        return self.probability_alive(frequency, recency, T)

    def conditional_probability_alive_matrix(self, max_frequency=None, max_recency=None):
        """lifetimes' matrix: P(alive) by (recency rows, frequency columns) for a customer of
        the largest fitted age; see :func:`retention_lab.clv.validation.probability_alive_matrix`
        for the labelled frame."""
        return probability_alive_matrix(self, None, max_frequency, max_recency).to_numpy().T

    def _covariate_fitter(self):
        """The unfitted covariate version of this model (``fit(covariates=…)``)."""
        raise TypeError(f"{type(self).__name__} has no covariate version")

    def _xs(self, frequency, recency, T):
        return (np.asarray(frequency, float), np.asarray(recency, float), np.asarray(T, float))


class BetaGeoFitter(BtydMixin, BaseFitter):
    """BG/NBD model (Fader, Hardie & Lee 2005). Parameters ``r, alpha, a, b``."""

    _param_names = ("r", "alpha", "a", "b")
    _model_name = "BG/NBD"
    _reference = "Fader, Hardie & Lee (2005), Marketing Science 24(2), eq. 6"

    def _covariate_fitter(self):
        return BetaGeoCovariatesFitter(penalizer_coef=self.penalizer_coef)

    def _prepare(self, x, tx, T):
        ux, ix = _codes(x)
        uT, iT = _codes(T)
        utx, itx = _codes(tx)
        return dict(x=x, ux=ux, ix=ix, uT=uT, iT=iT, utx=utx, itx=itx)

    def _subset(self, d, idx):
        out = dict(d, x=d["x"][idx])
        for u, i in (("ux", "ix"), ("uT", "iT"), ("utx", "itx")):
            if d[i] is None:  # row values stored directly
                out[u] = d[u][idx]
            else:
                out[i] = d[i][idx]
        return out

    def _initial(self, data, weights):
        alpha0 = max(float(np.average(_rows(data["uT"], data["iT"]), weights=weights)) / 8, 1e-3)
        return np.array([1.0, alpha0, 1.0, 1.0])

    def _loglik_grad(self, params, d):
        r, alpha, a, b = params
        ux, uT, utx = d["ux"], d["uT"], d["utx"]
        # everything that depends on x alone, on T alone or on t_x alone, once per distinct value
        dab = digamma(a + b) - digamma(a + b + ux)
        has = ux > 0
        bx1 = np.where(has, b + ux - 1, 1.0)
        ix, iT, itx = d["ix"], d["iT"], d["itx"]
        ll_x = _rows(gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + betaln(a, b + ux)
                     - betaln(a, b), ix)
        g_r_x = _rows(digamma(r + ux) - digamma(r) + np.log(alpha), ix)
        g_a_x = _rows(dab, ix)
        g_b_x = _rows(digamma(b + ux) - digamma(b) + dab, ix)
        log_a_bx1 = _rows(np.where(has, np.log(a) - np.log(bx1), -np.inf), ix)
        inv_bx1 = _rows(np.where(has, 1.0 / bx1, 0.0), ix)
        la_T, la_tx = _rows(np.log(alpha + uT), iT), _rows(np.log(alpha + utx), itx)
        ia_T, ia_tx = _rows(1.0 / (alpha + uT), iT), _rows(1.0 / (alpha + utx), itx)
        rx = r + d["x"]
        A3 = -rx * la_T
        A4 = log_a_bx1 - rx * la_tx
        M = np.logaddexp(A3, A4)
        w4 = np.exp(A4 - M)
        w3 = 1.0 - w4
        ll = ll_x + M
        g = np.empty((len(rx), 4))
        g[:, 0] = g_r_x - w3 * la_T - w4 * la_tx
        g[:, 1] = r / alpha - rx * (w3 * ia_T + w4 * ia_tx)
        g[:, 2] = g_a_x + w4 / a
        g[:, 3] = g_b_x - w4 * inv_bx1
        return ll, g

    def _loglik(self, params, d):
        return self._loglik_grad(params, d)[0]

    # -- predictions ----------------------------------------------------------------------
    def probability_alive(self, frequency, recency, T):
        """P(active at ``T`` | x, t_x, T) (eq. 12 of the paper); 1 for ``frequency == 0``."""
        r, alpha, a, b = self._unload()
        x, tx, T = self._xs(frequency, recency, T)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds = (np.log(a) - np.log(np.where(x > 0, b + x - 1, 1.0))
                        + (r + x) * (np.log(alpha + T) - np.log(alpha + tx)))
        return np.where(x > 0, expit(-log_odds), 1.0)

    def expected_purchases(self, t, frequency, recency, T):
        """E[X(T, T+t) | x, t_x, T]: expected purchases in the next ``t`` periods (eq. 10)."""
        x, tx, T = self._xs(frequency, recency, T)
        t = np.asarray(t, float)
        if x.ndim == 1 and x.size > 256 and (t.ndim == 0 or t.shape[-1] == 1):
            # the 2F1 term depends on (x, T) only: evaluate it once per distinct pair
            xb, Tb = np.broadcast_arrays(x, T)
            (ux, uT), inv, _ = distinct_rows(xb, Tb)
            if_alive = self._expected_purchases_if_alive(t, ux, uT)[..., inv]
        else:
            if_alive = self._expected_purchases_if_alive(t, x, T)
        return if_alive * self.probability_alive(x, tx, T)

    def _expected_purchases_if_alive(self, t, x, T):
        """E[X(T, T+t) | alive at T, x, T] — eq. 10 without its P(alive) factor, so that it
        depends on (x, T) only (a dead customer buys nothing: E = P(alive) · this)."""
        r, alpha, a, b = self._unload()
        t = np.asarray(t, float)
        ln_hyp = log_hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        first = (a + b + x - 1) / (a - 1)
        second = -np.expm1(ln_hyp + (r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        return first * second

    def expected_number_of_purchases_up_to_time(self, t):
        """Unconditional E[X(t)] for a customer just acquired (eq. 9)."""
        r, alpha, a, b = self._unload()
        t = np.asarray(t, float)
        hyp = hyp2f1(r, b, a + b - 1, t / (alpha + t))
        return (a + b - 1) / (a - 1) * (1 - hyp * (alpha / (alpha + t)) ** r)

    def probability_of_n_purchases_up_to_time(self, t, n):
        """P(X(t) = n) for a customer just acquired (eq. 8)."""
        r, alpha, a, b = self._unload()
        t = np.asarray(t, float)
        n = int(n)
        log_q = np.log(t) - np.log(alpha + t)
        log_p = np.log(alpha) - np.log(alpha + t)
        first = np.exp(betaln(a, b + n) - betaln(a, b) + gammaln(r + n) - gammaln(r)
                       - gammaln(n + 1) + r * log_p + n * log_q)
        if n == 0:
            return first
        j = np.arange(n).reshape((-1,) + (1,) * np.ndim(t))
        finite_sum = np.exp(gammaln(r + j) - gammaln(r) - gammaln(j + 1) + j * log_q).sum(axis=0)
        second = np.exp(betaln(a + 1, b + n - 1) - betaln(a, b)) * (1 - np.exp(r * log_p) * finite_sum)
        return first + second


class BetaGeoCovariatesFitter(StaticCovariatesMixin, BetaGeoFitter):
    """BG/NBD with time-invariant covariates in CLVTools' form: ``α_i = α exp(−γ_trans′x_i)``,
    ``a_i = a exp(γ_life′z_i)``, ``b_i = b exp(γ_life′z_i)`` (see
    :mod:`retention_lab.clv.covariates` for what the shared lifetime coefficient does). What
    ``BetaGeoFitter().fit(summary, covariates=df)`` returns."""

    _base = BetaGeoFitter
    _trans_scaled, _life_scaled, _life_sign = 1, (2, 3), 1.0
    _model_name = "BG/NBD with time-invariant covariates"
    _reference = "Fader & Hardie (2007) note 019; CLVTools bgnbd(static covariates)"

    @staticmethod
    def _rows(r, alpha, a, b, x, tx, T, grad=False):
        return bgnbd_loglik_rows(float(np.ravel(r)[0]), alpha, a, b, x, tx, T, grad=grad)

    @staticmethod
    def _palive_rows(r, alpha, a, b, x, tx, T):
        return bgnbd_probability_alive_rows(float(np.ravel(r)[0]), alpha, a, b, x, tx, T)

    @staticmethod
    def _if_alive_rows(r, alpha, a, b, x, T, t):
        return bgnbd_expected_if_alive_rows(float(np.ravel(r)[0]), alpha, a, b, x, T, t)
