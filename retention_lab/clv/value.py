"""Customer lifetime value from a BTYD transaction model and a spend model, with intervals.

    CLV_i = margin · E[spend_i] · Σ_{k=1..horizon} (E[X_i(t_k)] − E[X_i(t_{k−1})]) / (1 + d)^k

— the expected purchases in each future period (the transaction model's conditional expectation
given the customer's frequency, recency and T), valued at the spend model's conditional expected
spend per transaction, times the margin, discounted per period (as ``lifetimes``'
``customer_lifetime_value``, Fader, Hardie & Lee 2005, "RFM and CLV", but with the discount
applied per ``horizon_unit`` period at the end of each period).

Time units — the convention, explicitly
----------------------------------------
* ``horizon`` is a number of ``horizon_unit`` periods (``horizon_unit="M"``: months) and
  ``discount_rate`` is the rate *per* ``horizon_unit`` period (``0.01`` per month ≈ 12.7 % a
  year).
* The summary's own unit (the unit of ``recency`` and ``T``, and so of the fitted model) is
  ``summary_unit``. When not given it is read from ``summary.attrs`` (``freq`` × ``freq_multiplier``,
  as :func:`retention_lab.features.rfm_summary` records them: ``freq="D", freq_multiplier=7`` →
  weeks of 7 days), then from the transaction model (``time_unit_``, remembered at ``fit``);
  otherwise it is an error — never a silent guess.
* Names: ``freq`` means the summary's unit in ``lifetimes`` and the flooring period in
  :mod:`retention_lab.features`, so the two units here have their own names. The earlier
  keywords still work: ``freq=`` for ``horizon_unit=`` and ``time_unit=`` for
  ``summary_unit=``.
* Periods convert through days: D = 1, W = 7, M = 30.436875 (the mean Gregorian month), Y =
  365.2425, so one month is 4.348 weeks.

Intervals
---------
The per-customer and total CLV are *expected* values given the fitted parameters; their 95 %
intervals carry the parameter uncertainty of both models (not the customer-level randomness of
future purchases). ``method="bootstrap"`` (default): a parametric bootstrap — ``n_draws`` joint
draws of the log-parameters from each model's asymptotic normal (independent models), CLV
recomputed per draw, percentile intervals; the draws of the total and mean are kept on the
result (``total_draws``, ``mean_draws``) so that arms or segments can be compared
(:meth:`CLVResult.difference`). ``method="delta"``: the delta method on the log scale (finite-
difference gradients), faster for very large tables. Each model's draws come from their own
random stream (:func:`draw_streams`), so independently fitted groups never share draws.

For comparing groups of *different* customers (arms), the mean CLV also estimates a population
mean: ``mean_se_population`` is its SE from the influence function, customer sampling and
parameter error together (they are correlated when the customers are the ones the models were
fitted on, so their variances do not add).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError
from ..units import DAYS_PER_UNIT, UNIT_NAMES, Z95
from .base import BoundaryWarning, ConvergenceWarning, btyd_arrays, distinct_rows, time_unit_of
from .value_intervals import (  # noqa: F401  (moved there; re-exported)
    MAX_NONFINITE_SHARE,
    _bootstrap_intervals,
    _delta_intervals,
    _fingerprint,
    _mean_se_population,
    _row_level_scores,
    _row_scores,
    draw_streams,
)


def unit_days(unit) -> float:
    """Days in a time unit: a number of days, or ``"D"``, ``"W"``, ``"M"``, ``"Y"`` with an
    optional multiplier (``"7D"`` = a week, ``"3M"`` = a quarter), or a long name (``"month"``);
    days per unit from :mod:`retention_lab.units`."""
    if isinstance(unit, (int, float, np.integer, np.floating)):
        if unit <= 0:
            raise ValueError(f"time unit must be positive, got {unit}")
        return float(unit)
    if str(unit).strip().lower() in UNIT_NAMES:
        return DAYS_PER_UNIT[UNIT_NAMES[str(unit).strip().lower()]]
    match = re.fullmatch(r"\s*(\d*\.?\d*)\s*([DWMYdwmy])\s*", str(unit))
    if not match:
        raise ValueError(f"unrecognised time unit {unit!r}: use a number of days or e.g. "
                         f"'D', 'W', 'M', 'Y', '7D'")
    mult = float(match.group(1)) if match.group(1) else 1.0
    return mult * DAYS_PER_UNIT[match.group(2).upper()]


def _resolve_time_unit(time_unit, summary, model) -> float:
    if time_unit is not None:
        return unit_days(time_unit)
    from_attrs = time_unit_of(summary)
    if from_attrs is not None:
        return from_attrs
    from_model = getattr(model, "time_unit_", None)
    if from_model is not None:
        return from_model
    raise ValueError(
        "customer_lifetime_value: the time unit of the summary (of recency and T) is unknown — "
        "pass summary_unit= (e.g. 'W' or '7D' for weeks, 'D' for days), or build the summary with "
        "retention_lab.features.rfm_summary, which records it in summary.attrs")


def _discounted_purchases(model, x, tx, T, step: float, horizon: int, discount_rate: float,
                          pairs=None):
    """Σ_k ΔE[X(k·step)] / (1+d)^k for arrays of customers (``step`` in the summary's unit).

    Both BTYD models factor as ``E[X(T, T+t) | x, t_x, T] = P(alive | x, t_x, T) · E[X(T, T+t)
    | alive, x, T]``, and only the second factor depends on ``t``: the discounted sum over the
    horizon is computed once per distinct ``(x, T)`` and scaled by P(alive) per customer.
    ``pairs``: ``distinct_rows(x, T)`` when the caller has it already (bootstrap draws).
    """
    t = step * np.arange(1, horizon + 1)[:, None]
    factors = (1.0 + discount_rate) ** -np.arange(1, horizon + 1)
    if_alive = getattr(model, "_expected_purchases_if_alive", None)
    if if_alive is None:  # any other transaction model: its conditional expectation per row
        cum = np.asarray(model.expected_purchases(t, x, tx, T))  # (horizon, customers)
        return factors @ np.diff(cum, axis=0, prepend=0.0), cum[-1]
    (ux, uT), inv, _ = distinct_rows(x, T) if pairs is None else pairs
    cum = np.asarray(if_alive(t, ux, uT))  # (horizon, distinct (x, T))
    disc = factors @ np.diff(cum, axis=0, prepend=0.0)
    p_alive = model.probability_alive(x, tx, T)
    return disc[inv] * p_alive, cum[-1][inv] * p_alive


def _spend(spend_model, x, m):
    if isinstance(spend_model, (int, float, np.integer, np.floating)):
        return np.full_like(x, float(spend_model))
    return spend_model.conditional_expected_average_profit(x, m)


@dataclass
class CLVResult:
    """Per-customer CLV with 95 % intervals, and the total and mean over customers.

    ``value`` / ``ci`` are the mean CLV per customer and its interval (so that
    :func:`retention_lab.report.recording.record_result` records it); ``total`` / ``total_ci`` the sum.
    """

    customers: pd.DataFrame
    total: float
    total_ci: tuple
    mean: float
    mean_ci: tuple
    n: int
    method: str
    settings: dict = field(default_factory=dict)
    total_draws: np.ndarray | None = None
    mean_draws: np.ndarray | None = None
    #: SE of ``mean`` as an estimate of the population mean CLV: customer sampling and
    #: parameter error together (:func:`_mean_se_population`); ``None`` without a covariance
    mean_se_population: float | None = None

    @property
    def clv(self) -> pd.Series:
        return self.customers["clv"]

    @property
    def value(self) -> float:
        return self.mean

    @property
    def ci(self) -> tuple:
        return self.mean_ci

    def difference(self, other: "CLVResult", what: str = "mean", *,
                   sampling: bool = True) -> dict:
        """``self − other`` for the mean (or total) CLV with a 95 % interval, for two groups of
        customers with independently fitted models (e.g. experiment arms).

        With ``sampling=True`` (default, for comparing *different* customers such as two
        arms) the SE is ``sqrt(se_a² + se_b²)`` of the two groups' ``mean_se_population``
        (customer sampling and parameter error together, by the influence function) and the
        interval is normal. With ``sampling=False`` only the parameter uncertainty counts: the
        variance of the difference of the independent bootstrap draws (percentile interval) or
        the delta method — right for the same customers under two models, wrong for two arms.
        """
        a, b = (self.mean, other.mean) if what == "mean" else (self.total, other.total)
        da = self.mean_draws if what == "mean" else self.total_draws
        db = other.mean_draws if what == "mean" else other.total_draws
        diff = a - b
        if da is not None and db is not None:
            n = min(len(da), len(db))
            d = da[:n] - db[:n]
            var_param = float(np.var(d, ddof=1))
            method = "parametric bootstrap (independent fits)"
        else:
            sa = _se_from_ci(self.mean_ci if what == "mean" else self.total_ci, a)
            sb = _se_from_ci(other.mean_ci if what == "mean" else other.total_ci, b)
            var_param = float(sa ** 2 + sb ** 2)
            d = None
            method = "delta method (independent fits)"
        if sampling and self.mean_se_population is not None \
                and other.mean_se_population is not None:
            scale = [1.0, 1.0] if what == "mean" else [self.n, other.n]
            se = float(np.hypot(scale[0] * self.mean_se_population,
                                scale[1] * other.mean_se_population))
            lo, hi = diff - Z95 * se, diff + Z95 * se
            method = ("influence function of each group's mean (customer sampling and parameter "
                      "error together, independent groups); normal interval")
        elif sampling:
            var_s = 0.0
            for res in (self, other):
                v = _weighted_var(res) * res.n
                var_s += v / res.n ** 2 if what == "mean" else v
            se = float(np.sqrt(var_param + var_s))
            lo, hi = diff - Z95 * se, diff + Z95 * se
            method += " + customer sampling variance; normal interval"
        elif d is not None:
            se = float(np.sqrt(var_param))
            lo, hi = np.percentile(d, [2.5, 97.5])
            method += "; percentile interval"
        else:
            se = float(np.sqrt(var_param))
            lo, hi = diff - Z95 * se, diff + Z95 * se
        return {"difference": diff, "ci": (float(lo), float(hi)), "se": se, "method": method}

    def __repr__(self) -> str:
        return (f"<CLVResult: {self.n:,} customers, mean {self.mean:.2f} "
                f"[{self.mean_ci[0]:.2f}, {self.mean_ci[1]:.2f}], total {self.total:,.0f} "
                f"[{self.total_ci[0]:,.0f}, {self.total_ci[1]:,.0f}] ({self.method})>")


def _weighted_var(res) -> float:
    """Variance of CLV across the customers (rows weighted by a `weight` column if any)."""
    clv = res.customers["clv"].to_numpy()
    w = res.customers["weight"].to_numpy() if "weight" in res.customers else np.ones_like(clv)
    mean = np.dot(w, clv) / w.sum()
    return float(np.dot(w, (clv - mean) ** 2) / (w.sum() - 1))


def _se_from_ci(ci, value):
    # the delta intervals are log-normal: recover se on the natural scale
    return value * (np.log(ci[1]) - np.log(ci[0])) / (2 * Z95)


def _alias(name, value, old_name, old_value, default=None):
    if old_value is None:
        return default if value is None else value
    if value is not None and value != old_value:
        raise TypeError(f"customer_lifetime_value: {name}={value!r} and its alias "
                        f"{old_name}={old_value!r} disagree; give one")
    return old_value


def _check_horizon(horizon, horizon_unit, discount_rate) -> None:
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive whole number of {horizon_unit} periods")
    if discount_rate <= -1:
        raise ValueError("discount_rate must be > -1")


def _customer_arrays(summary, spend_model):
    """``x, t_x, T, m, w`` of the summary's customers and their count ``n`` (weighted)."""
    x, tx, T_, w = btyd_arrays(summary)  # w: the `weight` column of a collapsed summary
    if isinstance(spend_model, (int, float, np.integer, np.floating)):
        m = np.zeros_like(x)
    else:
        if "monetary_value" not in summary.columns:
            raise DataError("summary: missing column 'monetary_value' needed by the spend model",
                            table="summary", column="monetary_value", rule="required column")
        m = summary["monetary_value"].to_numpy(float)
    n = int(round(w.sum())) if np.all(w == np.round(w)) else float(w.sum())
    return x, tx, T_, m, w, n


def _distinct_groups(x, tx, T_, m, w):
    """The distinct transaction rows ``ut`` and spend rows ``us``, each customer's row in them
    (``it``, ``is_``), the (x, T) pairs of ``ut`` and the customers counted by (transaction row,
    spend row) pair."""
    # the transaction part depends on (x, t_x, T), the spend part on (x, m): each is evaluated
    # once per distinct row, found among the distinct (x, t_x, T, m) (one pass over customers)
    uq, iq, wq = distinct_rows(x, tx, T_, m, weights=w)
    ut, it_q, _ = distinct_rows(*uq[:3])
    us, is_q, _ = distinct_rows(uq[0], uq[3])
    it, is_ = it_q[iq], is_q[iq]
    ut_pairs = distinct_rows(ut[0], ut[2])  # the (x, T) pairs of the distinct triples
    (p_t, p_s), pinv_q, counts = distinct_rows(it_q, is_q, weights=wq)
    pairs = ((p_t, p_s), pinv_q[iq], counts)  # customers by (transaction row, spend row)
    return ut, us, it, is_, ut_pairs, pairs


def _interval_blocks(transaction_model, spend_model, has_spend_params):
    """The models whose parameter error enters the intervals, and those that cannot give one:
    parameters set by hand, no finite covariance, estimates at the boundary."""
    blocks = [transaction_model] + ([spend_model] if has_spend_params else [])
    by_hand = [type(b).__name__ for b in blocks if not hasattr(b, "variance_matrix_log_")]
    no_cov = [type(b).__name__ for b in blocks if hasattr(b, "variance_matrix_log_")
              and not np.all(np.isfinite(b.variance_matrix_log_.to_numpy()))]
    # parameters at the boundary of the parameter space (base.flag_boundary): the normal
    # approximation behind both interval methods does not hold there, whatever the covariance
    at_bound = [f"{type(b).__name__} ({', '.join(k for k, v in b.at_boundary_.items() if v)})"
                for b in blocks if getattr(b, "at_boundary_", None) is not None
                and bool(np.any(b.at_boundary_)) and type(b).__name__ not in no_cov]
    return blocks, by_hand, no_cov, at_bound


def _point_estimate_only(by_hand, no_cov, at_bound, customers, customer_intervals):
    """No intervals (parameters set by hand, no finite covariance, or at the boundary): NaN
    bounds, a warning for the last two. Returns ``(total_ci, None, None, method note)``."""
    if by_hand:
        # parameters set by hand (published estimates): point values, and no intervals
        total_ci = (np.nan, np.nan)
        total_draws = mean_draws = None
        if customer_intervals:
            customers["lower 95%"] = customers["upper 95%"] = np.nan
        result_method = (f"point estimate only ({', '.join(by_hand)}: parameters set by hand, "
                         f"no covariance)")
    else:  # no_cov or at_bound
        # A fit on the boundary of the parameter space (e.g. BG/NBD's a, b → ∞ when the data
        # show no dropout) has no usable covariance: the point estimates stand, intervals don't.
        if no_cov:
            warnings.warn(f"customer_lifetime_value: {', '.join(no_cov)} has no finite "
                          "covariance (its fit is on the boundary of the parameter space or its "
                          "information matrix is not positive definite: the data do not identify "
                          "the model); CLV point estimates without intervals. A penalizer_coef or "
                          "another model may identify it.", ConvergenceWarning, stacklevel=3)
        else:
            warnings.warn(f"customer_lifetime_value: {', '.join(at_bound)} at the boundary of "
                          "the parameter space: no valid interval there; CLV point estimates "
                          "without intervals", BoundaryWarning, stacklevel=3)
        total_ci = (np.nan, np.nan)
        total_draws = mean_draws = None
        if customer_intervals:
            customers["lower 95%"] = customers["upper 95%"] = np.nan
        result_method = (f"point estimate only (no finite covariance for {', '.join(no_cov)})"
                         if no_cov else
                         f"point estimate only (at the boundary: {', '.join(at_bound)})")
    return total_ci, total_draws, mean_draws, result_method


def _clv_result(customers, summary, n, w, total, total_ci, result_method, settings,
                total_draws, mean_draws, mean_se_pop, cum, spend, it, is_) -> CLVResult:
    """The result table: each customer's expected purchases and spend beside the CLV."""
    customers["expected_purchases"] = cum[it]
    customers["expected_spend"] = spend[is_]
    if "weight" in summary.columns:
        customers["weight"] = w
    total_ci = (float(total_ci[0]), float(total_ci[1]))
    return CLVResult(customers=customers, total=total, total_ci=total_ci, mean=total / n,
                     mean_ci=(total_ci[0] / n, total_ci[1] / n), n=n, method=result_method,
                     settings=settings, total_draws=total_draws, mean_draws=mean_draws,
                     mean_se_population=mean_se_pop)


def customer_lifetime_value(transaction_model, spend_model, summary, horizon: int = 12,
                            horizon_unit=None, discount_rate: float = 0.01, margin: float = 1.0,
                            *, summary_unit=None, method: str = "bootstrap", n_draws: int = 200,
                            seed=0, customer_intervals: bool = True, freq=None,
                            time_unit=None) -> CLVResult:
    """Expected CLV of each customer over ``horizon`` ``horizon_unit`` periods, with 95 %
    intervals.

    Parameters
    ----------
    transaction_model : BetaGeoFitter or ParetoNBDFitter (fitted)
    spend_model : GammaGammaFitter (fitted) or a number
        A number is a fixed spend per transaction.
    summary : DataFrame
        ``frequency, recency, T`` (and ``monetary_value`` for a Gamma-Gamma spend model), e.g.
        from :func:`retention_lab.features.rfm_summary`; its index identifies the customers.
        An optional ``weight`` column (rows standing for several identical customers) weights
        the total, the mean and ``n``.
    horizon, horizon_unit, discount_rate, margin
        ``horizon`` periods of ``horizon_unit`` (``"D"``, ``"W"``, ``"M"`` (default), ``"Y"``,
        a long name such as ``"month"``, or a number of days), discounted at
        ``discount_rate`` per period; CLV is ``margin`` × spend. See the module docstring.
    summary_unit : str or float, optional
        The summary's unit (see the module docstring for how it is inferred otherwise).
    freq, time_unit
        The earlier names of ``horizon_unit`` and ``summary_unit`` (still accepted).
    method : {"bootstrap", "delta"}
    n_draws, seed : bootstrap draws and their seed (combined with the fitted parameters, so
        that independently fitted groups get independent draws; see :func:`draw_streams`).
    customer_intervals : bool
        Compute per-customer intervals (``False`` saves time when only the total matters).

    Returns
    -------
    CLVResult with ``customers`` (``clv, lower 95%, upper 95%, expected_purchases,
    expected_spend``), ``total``, ``total_ci``, ``mean``, ``mean_ci`` and the bootstrap draws.
    """
    freq = horizon_unit = _alias("horizon_unit", horizon_unit, "freq", freq, default="M")
    time_unit = summary_unit = _alias("summary_unit", summary_unit, "time_unit", time_unit)
    _check_horizon(horizon, horizon_unit, discount_rate)
    if hasattr(transaction_model, "_clv_with_covariates"):  # per-customer covariates
        return transaction_model._clv_with_covariates(
            spend_model, summary, horizon=horizon, freq=freq, discount_rate=discount_rate,
            margin=margin, time_unit=time_unit, method=method, n_draws=n_draws, seed=seed,
            customer_intervals=customer_intervals)
    horizon = int(horizon)
    unit = _resolve_time_unit(summary_unit, summary, transaction_model)
    step = unit_days(horizon_unit) / unit
    x, tx, T_, m, w, n = _customer_arrays(summary, spend_model)
    ut, us, it, is_, ut_pairs, pairs = _distinct_groups(x, tx, T_, m, w)

    def evaluate(tm, sm):
        disc, cum = _discounted_purchases(tm, *ut, step, horizon, discount_rate, ut_pairs)
        spend = _spend(sm, *us)
        return disc, cum, spend

    disc, cum, spend = evaluate(transaction_model, spend_model)
    clv = margin * spend[is_] * disc[it]
    total = float(np.dot(w, clv))
    customers = pd.DataFrame({"clv": clv}, index=summary.index)
    settings = dict(horizon=horizon, horizon_unit=horizon_unit, freq=horizon_unit,
                    discount_rate=discount_rate, margin=margin,
                    summary_unit_days=unit, periods_per_step=step)
    has_spend_params = hasattr(spend_model, "sample_params")
    if method not in ("bootstrap", "delta"):
        raise ValueError(f"method must be 'bootstrap' or 'delta', not {method!r}")
    blocks, by_hand, no_cov, at_bound = _interval_blocks(transaction_model, spend_model,
                                                         has_spend_params)

    if by_hand or no_cov or at_bound:
        total_ci, total_draws, mean_draws, result_method = _point_estimate_only(
            by_hand, no_cov, at_bound, customers, customer_intervals)
    elif method == "bootstrap":
        total_ci, total_draws, mean_draws, result_method = _bootstrap_intervals(
            transaction_model, spend_model, has_spend_params, evaluate, ut, us, pairs, n, margin,
            n_draws, seed, customers, customer_intervals, settings)
    else:  # delta
        total_ci, total_draws, mean_draws, result_method = _delta_intervals(
            blocks, transaction_model, spend_model, evaluate, it, is_, w, clv, total, margin,
            customers, customer_intervals)

    mean_se_pop = None
    if not by_hand and not no_cov and not at_bound:
        with np.errstate(all="ignore"):
            mean_se_pop = _mean_se_population(blocks, spend_model, evaluate, margin, n, ut, us,
                                              it, is_, w, pairs)
    return _clv_result(customers, summary, n, w, total, total_ci, result_method, settings,
                       total_draws, mean_draws, mean_se_pop, cum, spend, it, is_)
