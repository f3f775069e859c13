"""BG/BB: the beta-geometric / beta-binomial model for discrete-time noncontractual data.

Fader, P. S., Hardie, B. G. S. & Shang, J. (2010), "Customer-base analysis in a discrete-time
noncontractual setting", *Marketing Science* 29(6), 1086–1108.

Transactions can only happen at discrete opportunities 1, 2, … (a yearly donation, a weekly
visit). While alive, a customer transacts at each opportunity with probability
``p ~ Beta(α, β)``; at the start of each opportunity an alive customer dies with probability
``θ ~ Beta(γ, δ)``, so they are alive at opportunity ``t`` with probability ``(1 − θ)^t``.
A customer with ``x`` transactions in ``n`` opportunities, the last at opportunity ``t_x``
(``t_x = 0`` when ``x = 0``), has likelihood

    L = B(α+x, β+n−x)/B(α, β) · B(γ, δ+n)/B(γ, δ)
        + Σ_{i=0}^{n−t_x−1} B(α+x, β+t_x−x+i)/B(α, β) · B(γ+1, δ+t_x+i)/B(γ, δ)

(alive through ``n``, or died at the start of opportunity ``t_x+i+1``), evaluated here as a
``logsumexp`` of its terms with the analytic gradient.

Given the history and alive at ``n``, ``p ~ Beta(α+x, β+n−x)`` and ``θ ~ Beta(γ, δ+n)``: the
future is a BG/BB process with those parameters, which gives every conditional prediction —
P(alive) at ``n+m``, the expected transactions in the next ``m`` opportunities (eq. 13
of the paper), their distribution (eq. 7 with the updated parameters), and DERT (discounted
expected residual transactions).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln, binom, digamma, gammaln, logsumexp

from ..errors import DataError
from .base import (
    BaseFitter,
    _as_float_array,
    check_columns,
    check_identified,
    check_rule,
    distinct_rows,
)
from .plotting import BtydPlotsMixin
from .shifted_beta_geo import discounted_beta_geometric_sum
from .value import unit_days

_TABLE = "bgbb data"


def bgbb_arrays(data, recency=None, n_periods=None, weights=None, *, table: str = _TABLE):
    """``(frequency, recency, n_periods, weights)`` as float arrays, validated.

    ``data`` is a frame with ``frequency, recency, n_periods`` (and ``weights`` or ``weight``),
    or the ``frequency`` array with ``recency`` and ``n_periods`` arrays. Rules: whole numbers,
    ``0 <= frequency <= recency <= n_periods``, ``recency == 0`` exactly when ``frequency == 0``,
    ``weights >= 0``; each violation is a :class:`~retention_lab.DataError` naming the column,
    the rule and the number of rows.
    """
    if isinstance(data, pd.DataFrame):
        check_columns(data, ["frequency", "recency", "n_periods"], table)
        frame = data
        x, tx, n = (data[c].to_numpy(dtype=float) for c in ("frequency", "recency", "n_periods"))
        if weights is None:
            for c in ("weights", "weight"):
                if c in data.columns:
                    weights = data[c].to_numpy(dtype=float)
                    break
    else:
        if recency is None or n_periods is None:
            raise TypeError("give a frame or the arrays frequency, recency, n_periods")
        x, tx, n = (_as_float_array(v, "") for v in (data, recency, n_periods))
        if not (len(x) == len(tx) == len(n)):
            raise ValueError("frequency, recency and n_periods must have the same length")
        frame = pd.DataFrame({"frequency": x, "recency": tx, "n_periods": n})
    w = np.ones_like(x) if weights is None else _as_float_array(weights, "weights")
    if len(w) != len(x):
        raise ValueError("weights must have one entry per row")
    if len(x) == 0 or w.sum() <= 0:
        raise DataError(f"{table}: no customers to fit (empty table or zero total weight)",
                        table=table, column="frequency", rule="non-empty", n_rows=0)
    for col, arr in (("frequency", x), ("recency", tx), ("n_periods", n), ("weights", w)):
        check_rule(table, col, "finite", ~np.isfinite(arr), frame)
    for col, arr in (("frequency", x), ("recency", tx), ("n_periods", n)):
        check_rule(table, col, f"{col} is a whole number", arr != np.round(arr), frame)
    check_rule(table, "frequency", "frequency >= 0", x < 0, frame)
    check_rule(table, "recency", "frequency <= recency <= n_periods", (tx < x) | (tx > n), frame)
    check_rule(table, "recency", "recency == 0 exactly when frequency == 0",
               (x == 0) != (tx == 0), frame)
    check_rule(table, "weights", "weights >= 0", w < 0, frame)
    return x, tx, n, w


def _terms(params, x, tx, n):
    """The likelihood's log-terms, shape ``(rows, 1 + K)``: column 0 the alive-through-``n``
    term, column ``1+i`` the died-at-``t_x+i+1`` term (``-inf`` for ``i >= n − t_x``), and
    the arguments needed for their derivatives."""
    alpha, beta, gamma, delta = params
    K = int(np.max(n - tx, initial=0))
    i = np.arange(K)
    valid = i[None, :] < (n - tx)[:, None]
    m = np.concatenate([(n - x)[:, None], (tx - x)[:, None] + i], 1)       # beta-side count
    k = np.concatenate([n[:, None], tx[:, None] + i], 1)                     # delta-side count
    g = np.concatenate([np.full((len(x), 1), gamma), np.full((len(x), K), gamma + 1.0)], 1)
    xa = (alpha + x)[:, None]
    logt = (betaln(xa, beta + m) - betaln(alpha, beta) + betaln(g, delta + k)
            - betaln(gamma, delta))
    mask = np.concatenate([np.ones((len(x), 1), bool), valid], 1)
    logt = np.where(mask, logt, -np.inf)
    return logt, m, k, g, xa


def bgbb_log_likelihood(params, x, tx, n):
    """Per-row ``log L(α, β, γ, δ | x, t_x, n)`` (module docstring), any equal shapes."""
    x, tx, n = np.broadcast_arrays(*(np.asarray(v, float) for v in (x, tx, n)))
    shape = x.shape
    logt = _terms(params, x.ravel(), tx.ravel(), n.ravel())[0]
    return logsumexp(logt, axis=1).reshape(shape)


def sum_beta(gamma, m, t):
    """``Σ_{k=1}^{t} B(γ, m+k)`` in closed form: ``Γ(γ)/(γ−1) · [Γ(m+1)/Γ(γ+m) −
    Γ(m+t+1)/Γ(γ+m+t)]`` (telescoping), ``ψ(m+t+1) − ψ(m+1)`` at ``γ = 1``."""
    m, t = np.asarray(m, float), np.asarray(t, float)
    with np.errstate(all="ignore"):
        diff = (np.exp(gammaln(m + 1) - gammaln(gamma + m))
                - np.exp(gammaln(m + t + 1) - gammaln(gamma + m + t)))
        general = np.exp(gammaln(gamma)) * diff / (gamma - 1)
    if abs(gamma - 1) < 1e-7:
        return digamma(m + t + 1) - digamma(m + 1)
    return general


def bgbb_pmf(alpha, beta, gamma, delta, t, k):
    """``P(X(t) = k)`` for a customer alive at the start (eq. 7): transactions in the first
    ``t`` opportunities of a BG/BB process; parameters broadcast (arrays allowed)."""
    alpha, beta, gamma, delta, t, k = np.broadcast_arrays(
        *(np.asarray(v, float) for v in (alpha, beta, gamma, delta, t, k)))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(k <= t, binom(t, k) * np.exp(
            betaln(alpha + k, beta + t - k) - betaln(alpha, beta)
            + betaln(gamma, delta + t) - betaln(gamma, delta)), 0.0)
        # died at the start of opportunity i+1 after k transactions in the first i (i = k..t−1)
        i_max = int(np.max(t, initial=0))
        for i in range(i_max):
            ok = (i >= k) & (i < t)
            term = binom(i, k) * np.exp(betaln(alpha + k, beta + i - k) - betaln(alpha, beta)
                                        + betaln(gamma + 1, delta + i) - betaln(gamma, delta))
            out = out + np.where(ok, term, 0.0)
    return out


class BetaGeoBetaBinomFitter(BtydPlotsMixin, BaseFitter):
    """BG/BB model (Fader, Hardie & Shang 2010). Parameters ``alpha, beta, gamma, delta``:
    transaction probability ``p ~ Beta(alpha, beta)``, dropout probability
    ``θ ~ Beta(gamma, delta)`` per opportunity.

    Fitted to the aggregated table of (frequency, recency, n_periods) patterns with the number
    of customers of each (``weights``), e.g. :func:`retention_lab.datasets.load_donations`;
    per-customer rows are merged into that table first (same estimates).
    """

    _param_names = ("alpha", "beta", "gamma", "delta")
    _model_name = "BG/BB (discrete-time)"
    _reference = "Fader, Hardie & Shang (2010), Marketing Science 29(6)"

    def fit(self, data, recency=None, n_periods=None, weights=None, *, time_unit=None,
            initial_params=None, **kwargs):
        """Fit by maximum likelihood.

        Parameters
        ----------
        data : DataFrame or array
            ``frequency, recency, n_periods`` (+ ``weights``) as columns, or the frequency
            array with ``recency`` and ``n_periods`` arrays (lifetimes' signature).
        weights : array, optional
            Customers each row stands for.
        time_unit : str or float, optional
            Length of one opportunity (``"Y"``, ``"W"``, a number of days), recorded as
            ``time_unit_`` (days) for persistence and CLV; read from ``data.attrs['unit']``
            when not given.

        Returns ``self``.
        """
        x, tx, n, w = bgbb_arrays(data, recency, n_periods, weights)
        keep = w > 0
        x, tx, n, w = x[keep], tx[keep], n[keep], w[keep]
        check_identified(x, n, w, table=_TABLE, model=self._model_name, age_column="n_periods")
        attrs = getattr(data, "attrs", None) or {}
        unit = time_unit if time_unit is not None else attrs.get("unit")
        if unit is None:
            self.time_unit_ = None
        else:
            self.time_unit_ = unit_days(unit)
        self._fit_data_ranges = dict(T=float(n.max()), frequency=float(x.max()),
                                     recency=float(tx.max()))
        (x_, tx_, n_), _, w_ = distinct_rows(x, tx, n, weights=w)
        self.n_distinct_rows_ = len(x_)
        return self._fit(dict(x=x_, tx=tx_, n=n_), w_, len(x), initial_params=initial_params,
                         **kwargs)

    def _initial(self, data, weights):
        return np.ones(4)

    def _loglik_grad(self, params, d):
        alpha, beta, gamma, delta = params
        logt, m, k, g, xa = _terms(params, d["x"], d["tx"], d["n"])
        ll = logsumexp(logt, axis=1)
        wts = np.exp(logt - ll[:, None])                       # posterior weight of each term
        dab = digamma(xa + beta + m)
        dgd = digamma(g + delta + k)
        grad = np.empty((len(ll), 4))
        dab0, dgd0 = digamma(alpha + beta), digamma(gamma + delta)
        grad[:, 0] = (wts * (digamma(xa) - dab)).sum(1) - digamma(alpha) + dab0
        grad[:, 1] = (wts * (digamma(beta + m) - dab)).sum(1) - digamma(beta) + dab0
        grad[:, 2] = (wts * (digamma(g) - dgd)).sum(1) - digamma(gamma) + dgd0
        grad[:, 3] = (wts * (digamma(delta + k) - dgd)).sum(1) - digamma(delta) + dgd0
        return ll, np.where(np.isfinite(grad), grad, 0.0)

    def _loglik(self, params, d):
        return self._loglik_grad(params, d)[0]

    # -- predictions ----------------------------------------------------------------------
    def _history(self, frequency, recency, n_periods):
        x, tx, n = np.broadcast_arrays(*(np.asarray(v, float)
                                         for v in (frequency, recency, n_periods)))
        return x, tx, n, (tx < x) | (tx > n) | ((x == 0) != (tx == 0))

    def _log_alive_now(self, x, tx, n):
        """``log P(alive at n | x, t_x, n)`` = log(first likelihood term / L)."""
        alpha, beta, gamma, delta = self._unload()
        first = (betaln(alpha + x, beta + n - x) - betaln(alpha, beta)
                 + betaln(gamma, delta + n) - betaln(gamma, delta))
        return first - bgbb_log_likelihood((alpha, beta, gamma, delta), x, tx, n)

    def probability_alive(self, frequency, recency, n_periods):
        """P(alive at opportunity ``n`` | x, t_x, n): alive now (NaN for impossible histories,
        e.g. ``frequency > recency``)."""
        return self.probability_alive_at(0, frequency, recency, n_periods)

    def probability_alive_at(self, t, frequency, recency, n_periods):
        """P(alive at opportunity ``n + t`` | x, t_x, n) (``t = 1``: alive in the next period)."""
        _, _, gamma, delta = self._unload()
        x, tx, n, bad = self._history(frequency, recency, n_periods)
        t = np.asarray(t, float)
        with np.errstate(all="ignore"):
            safe = [np.where(bad, 0.0, v) for v in (x, tx, n)]
            out = np.exp(self._log_alive_now(*safe) + betaln(gamma, delta + n + t)
                         - betaln(gamma, delta + n))
        return np.where(bad, np.nan, out)

    def conditional_probability_alive(self, m_periods_in_future, frequency, recency, n_periods):
        """lifetimes' name and signature: P(alive at opportunity ``n + m``)."""
        return self.probability_alive_at(m_periods_in_future, frequency, recency, n_periods)

    def expected_purchases(self, t, frequency, recency, n_periods):
        """E[X(n, n+t) | x, t_x, n]: expected transactions in the next ``t`` opportunities
        (eq. 13 of the paper)."""
        alpha, beta, gamma, delta = self._unload()
        x, tx, n, bad = self._history(frequency, recency, n_periods)
        t = np.asarray(t, float)
        with np.errstate(all="ignore"):
            safe = [np.where(bad, 0.0, v) for v in (x, tx, n)]
            x, tx, n = safe
            # E[p | alive] · Σ_{k=1..t} P(alive at n+k | alive at n), in closed form
            log_pre = (self._log_alive_now(x, tx, n) + np.log(alpha + x) - np.log(alpha + beta + n)
                       - betaln(gamma, delta + n))
            out = np.exp(log_pre) * sum_beta(gamma, delta + n, t)
        return np.where(bad, np.nan, out)

    def conditional_expected_number_of_purchases_up_to_time(self, m_periods_in_future,
                                                            frequency, recency, n_periods):
        """lifetimes' name and signature for :meth:`expected_purchases`."""
        return self.expected_purchases(m_periods_in_future, frequency, recency, n_periods)

    predict = conditional_expected_number_of_purchases_up_to_time

    def conditional_probability_of_n_purchases_up_to_time(self, n, t, frequency, recency,
                                                          n_periods):
        """P(X(n_periods, n_periods+t) = n | x, t_x, n_periods): the distribution of the
        transactions in the next ``t`` opportunities — a dead customer makes none, an alive
        one follows the BG/BB count (eq. 7) with parameters updated by the history."""
        alpha, beta, gamma, delta = self._unload()
        x, tx, nn, bad = self._history(frequency, recency, n_periods)
        with np.errstate(all="ignore"):
            x0, tx0, n0 = (np.where(bad, 0.0, v) for v in (x, tx, nn))
            alive = np.exp(self._log_alive_now(x0, tx0, n0))
            count = bgbb_pmf(alpha + x0, beta + n0 - x0, gamma, delta + n0, t, n)
            out = alive * count + (1 - alive) * (np.asarray(n) == 0)
        return np.where(bad, np.nan, out)

    def probability_no_purchase(self, t, frequency, recency, n_periods):
        """P(no transaction in the next ``t`` opportunities | x, t_x, n)."""
        return self.conditional_probability_of_n_purchases_up_to_time(0, t, frequency, recency,
                                                                      n_periods)

    def discounted_expected_residual_transactions(self, discount_rate, frequency, recency,
                                                  n_periods):
        """DERT(d | x, t_x, n) = Σ_{k≥1} P(transaction at n+k | history) / (1+d)^k
        (Fader, Hardie & Shang 2010, eq. 14): ``P(alive at n) · E[p | history] ·
        Σ_{k≥1} E[(1−θ)^k] / (1+d)^k`` with ``p ~ Beta(α+x, β+n−x)`` and
        ``θ ~ Beta(γ, δ+n)`` given alive. The paper's closed form
        ``B(γ, δ+n+1)/B(γ, δ+n) · 2F1(1, δ+n+1; γ+δ+n+1; 1/(1+d)) / (1+d)`` is NaN in
        scipy for realistic sizes (n = 365 daily opportunities, d = 0.0003), so the last factor
        is summed as a series (:func:`~retention_lab.clv.shifted_beta_geo.
        discounted_beta_geometric_sum`, once per distinct ``n``); ``discount_rate`` is the rate
        per opportunity."""
        alpha, beta, gamma, delta = self._unload()
        d = np.asarray(discount_rate, float)
        x, tx, n, bad = self._history(frequency, recency, n_periods)
        x, tx, n, d = np.broadcast_arrays(x, tx, n, d)
        bad = np.broadcast_to(bad, x.shape)
        with np.errstate(all="ignore"):
            x, tx, n = (np.where(bad, 0.0, v) for v in (x, tx, n))
            log_alive_p = (self._log_alive_now(x, tx, n) + np.log(alpha + x)
                           - np.log(alpha + beta + n))
            out = np.exp(log_alive_p) * discounted_beta_geometric_sum(gamma, delta + n, d)
        return np.where(bad, np.nan, out)

    dert = discounted_expected_residual_transactions

    def probability_of_n_purchases_up_to_time(self, t, n):
        """P(X(t) = n) for a customer just acquired (eq. 7)."""
        alpha, beta, gamma, delta = self._unload()
        return bgbb_pmf(alpha, beta, gamma, delta, t, n)

    def expected_number_of_purchases_up_to_time(self, t):
        """E[X(t)] for a customer just acquired: ``Σ_{k=1..t} E[p] · E[(1−θ)^k]``."""
        alpha, beta, gamma, delta = self._unload()
        t = np.asarray(t, float)
        return alpha / (alpha + beta) * sum_beta(gamma, delta, t) / np.exp(betaln(gamma, delta))

    def expected_number_of_transactions_in_first_n_periods(self, n) -> pd.DataFrame:
        """lifetimes' table: expected customers with 0, …, ``n`` transactions in the first
        ``n`` opportunities (eq. 7 times the fitted number of customers), indexed by
        ``frequency``, column ``model``."""
        self._check_fitted()
        k = np.arange(int(n) + 1)
        probs = self.probability_of_n_purchases_up_to_time(int(n), k)
        return pd.DataFrame({"model": probs * self.n_customers_},
                            index=pd.Index(k, name="frequency"))


def simulate_bgbb(n_customers: int, n_periods: int, alpha: float, beta: float, gamma: float,
                  delta: float, seed=0, *, aggregate: bool = True) -> pd.DataFrame:
    """Draw customers from the BG/BB model over ``n_periods`` opportunities.

    Returns the aggregated ``frequency, recency, n_periods, weights`` table (or one row per
    customer with ``aggregate=False``), for benchmarks and recovery studies.
    """
    rng = np.random.default_rng(seed)
    p = rng.beta(alpha, beta, n_customers)
    theta = rng.beta(gamma, delta, n_customers)
    death = rng.geometric(theta)                    # the opportunity at whose start they leave
    buys = ((rng.random((n_customers, n_periods)) < p[:, None])
            & (np.arange(1, n_periods + 1)[None, :] < death[:, None]))
    x = buys.sum(1)
    last = np.where(x > 0, n_periods - np.argmax(buys[:, ::-1], 1), 0)
    rows = pd.DataFrame({"frequency": x, "recency": last, "n_periods": n_periods})
    if not aggregate:
        return rows
    out = rows.groupby(["frequency", "recency", "n_periods"]).size().rename("weights")
    return out.reset_index()
