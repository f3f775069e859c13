"""Gamma-Gamma model of spend per transaction.

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005), "RFM and CLV: using iso-value curves for
customer base analysis", *Journal of Marketing Research* 42(4), 415–430; the estimation note
Fader & Hardie (2013), "The Gamma-Gamma model of monetary value".

Each transaction's value is ``Gamma(p, ν)`` (shape, rate) with ``ν ~ Gamma(q, γ)`` across
customers. The likelihood of a customer's *mean* spend ``m`` over ``x`` repeat transactions is

    L = Γ(px+q) / (Γ(px) Γ(q)) · γ^q · m^{px−1} x^{px} / (γ + m x)^{px+q}

(fitted to repeat buyers only: ``frequency > 0`` and ``monetary_value > 0``). The model assumes
spend is independent of the purchase process — check it (e.g. the correlation of ``frequency``
and ``monetary_value`` among repeat buyers) before combining it with a BTYD model for CLV.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from ..errors import ConvergenceWarning, DataError
from .base import BaseFitter, _as_float_array, check_columns, check_rule, time_unit_of
from .value import customer_lifetime_value


class GammaGammaFitter(BaseFitter):
    """Gamma-Gamma spend model. Parameters ``p, q, v`` (``v`` is the paper's γ)."""

    _param_names = ("p", "q", "v")
    _model_name = "Gamma-Gamma (spend per transaction)"
    _reference = "Fader, Hardie & Lee (2005), J. Marketing Research 42(4); Fader & Hardie (2013)"

    def fit(self, data, monetary_value=None, weights=None, *, initial_params=None, **kwargs):
        """Fit to repeat buyers.

        ``data`` is a summary with ``frequency`` and ``monetary_value`` (optional ``weight``), or
        the ``frequency`` array with ``monetary_value`` as an array (lifetimes' signature). Rows
        with ``frequency == 0`` are skipped (they carry no spend information); a non-positive
        ``monetary_value`` with ``frequency > 0`` is a :class:`~retention_lab.DataError`.
        """
        if isinstance(data, pd.DataFrame):
            check_columns(data, ["frequency", "monetary_value"])
            frame = data
            x = data["frequency"].to_numpy(float)
            m = data["monetary_value"].to_numpy(float)
            if weights is None and "weight" in data.columns:
                weights = data["weight"].to_numpy(float)
        else:
            x, m = _as_float_array(data, "frequency"), _as_float_array(monetary_value, "m")
            frame = pd.DataFrame({"frequency": x, "monetary_value": m})
        w = np.ones_like(x) if weights is None else _as_float_array(weights, "weight")
        for col, arr in (("frequency", x), ("monetary_value", m), ("weight", w)):
            check_rule("summary", col, "finite", ~np.isfinite(arr), frame)
        check_rule("summary", "frequency", "frequency >= 0", x < 0, frame)
        check_rule("summary", "monetary_value", "monetary_value > 0 when frequency > 0",
                   (x > 0) & (m <= 0), frame)
        keep = (x > 0) & (w > 0)
        if keep.sum() < 3:
            raise DataError(f"summary: {int(keep.sum())} repeat buyers (frequency > 0); the "
                            f"Gamma-Gamma model needs at least 3", table="summary",
                            column="frequency", rule="frequency > 0", n_rows=int(keep.sum()))
        x, m, w = x[keep], m[keep], w[keep]
        if np.unique(m).size == 1:
            warnings.warn("GammaGammaFitter: every repeat buyer has the same monetary_value; the "
                          "spend heterogeneity is not identified", ConvergenceWarning,
                          stacklevel=2)
        self.time_unit_ = time_unit_of(data)
        return self._fit(self._prepare(x, m), w, len(x), initial_params=initial_params,
                         **kwargs)

    @staticmethod
    def _prepare(x, m):
        """The likelihood's data for repeat buyers' ``frequency`` and ``monetary_value``."""
        return dict(x=x, m=m, logm=np.log(m), logx=np.log(x))

    def _initial(self, d, w):
        mean = float(np.average(d["m"], weights=w))
        return np.array([1.0, 2.0, mean])

    def _loglik_grad(self, params, d):
        p, q, v = params
        x, m, logm, logx = d["x"], d["m"], d["logm"], d["logx"]
        px = p * x
        log_den = np.log(v + m * x)
        ll = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
              + (px - 1) * logm + px * logx - (px + q) * log_den)
        g = np.empty((len(x), 3))
        dpq = digamma(px + q)
        g[:, 0] = x * (dpq - digamma(px) + logm + logx - log_den)
        g[:, 1] = dpq - digamma(q) + np.log(v) - log_den
        g[:, 2] = q / v - (px + q) / (v + m * x)
        return ll, g

    def _loglik(self, params, d):
        return self._loglik_grad(params, d)[0]

    # -- predictions ----------------------------------------------------------------------
    def conditional_expected_average_profit(self, frequency=None, monetary_value=None):
        """E[spend per transaction | x, m̄] (eq. 5 of the 2005 JMR paper): a weighted mean of the
        population mean ``p v / (q − 1)`` and the customer's own mean, weight ``px/(px+q−1)``.
        Without arguments: the population mean spend."""
        p, q, v = self._unload()
        if q <= 1:
            warnings.warn("GammaGammaFitter: q <= 1, the mean spend is infinite",
                          ConvergenceWarning, stacklevel=2)
        pop = p * v / (q - 1)
        if frequency is None:
            return pop
        x = np.asarray(frequency, float)
        m = np.asarray(monetary_value, float)
        w = p * x / (p * x + q - 1)
        return (1 - w) * pop + w * np.where(x > 0, m, 0.0)

    expected_spend = conditional_expected_average_profit

    def customer_lifetime_value(self, transaction_model, frequency, recency=None, T=None,
                                monetary_value=None, time: int = 12, discount_rate: float = 0.01,
                                freq=None, **kwargs):
        """Two call styles.

        In both, as in lifetimes, ``time`` is a number of months, ``discount_rate`` monthly and
        ``freq`` **the unit of recency and T** (``summary_unit`` of
        :func:`retention_lab.clv.customer_lifetime_value`; never the horizon's unit here).

        * ``gg.customer_lifetime_value(model, summary, **kwargs)`` — a summary frame: the same
          as :func:`retention_lab.clv.customer_lifetime_value` (returns a ``CLVResult``);
        * lifetimes' ``gg.customer_lifetime_value(model, frequency, recency, T, monetary_value,
          time=12, discount_rate=0.01, freq="D")`` — arrays; ``freq`` is required (no default,
          since a wrong one silently scales CLV). Returns the CLV Series.
        """
        if isinstance(frequency, pd.DataFrame):
            if recency is not None:
                raise TypeError("with a summary frame, pass the other settings by keyword")
            if freq is not None:
                kwargs["summary_unit"] = freq
            return customer_lifetime_value(transaction_model, self, frequency, horizon=time,
                                           discount_rate=discount_rate, **kwargs)
        if freq is None:
            raise ValueError("lifetimes-style call: give freq=, the unit of recency and T "
                             "(e.g. 'D' for days, 'W' for weeks)")
        index = frequency.index if isinstance(frequency, pd.Series) else None
        summary = pd.DataFrame({"frequency": np.asarray(frequency, float),
                                "recency": np.asarray(recency, float),
                                "T": np.asarray(T, float),
                                "monetary_value": np.asarray(monetary_value, float)}, index=index)
        result = customer_lifetime_value(transaction_model, self, summary, horizon=time,
                                         horizon_unit="M", discount_rate=discount_rate,
                                         summary_unit=freq,
                                         method="delta", customer_intervals=False, **kwargs)
        return result.clv
