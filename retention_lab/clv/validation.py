"""Model checks behind the CLV validation figures (the tables; :mod:`retention_lab.report.figures.clv`
draws them).

* :func:`calibration_holdout_table` — predicted vs actual holdout purchases, grouped by the
  number of repeat purchases in the calibration period (Fader, Hardie & Lee 2005, Figure 4);
* :func:`tracking_table` — cumulative repeat purchases over calendar time, actual vs the
  model's unconditional expectation summed over the customers' acquisition dates (Figure 2);
* :func:`frequency_recency_matrix`, :func:`probability_alive_matrix` — expected purchases and
  P(alive) over a grid of (frequency, recency) for a customer of a given age;
* :func:`period_transactions_table` — how many customers made 0, 1, 2, … repeat purchases:
  actual vs expected (Figure 3).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..features.periods import in_window, period_index
from ..units import DAYS_PER_UNIT
from .base import btyd_arrays


def calibration_holdout_table(model, cal_holdout: pd.DataFrame, max_frequency: int = 7) -> pd.DataFrame:
    """Mean actual and predicted holdout purchases by calibration frequency.

    ``cal_holdout`` is :func:`retention_lab.features.calibration_holdout` output (columns
    ``frequency, recency, T, frequency_holdout, duration_holdout``); frequencies above
    ``max_frequency`` are pooled into the last group. Returns one row per group with
    ``n_customers, actual, predicted``.
    """
    x, tx, T, _ = btyd_arrays(cal_holdout)
    pred = model.expected_purchases(cal_holdout["duration_holdout"].to_numpy(float), x, tx, T)
    group = np.minimum(x, max_frequency).astype(int)
    out = pd.DataFrame({"group": group, "actual": cal_holdout["frequency_holdout"].to_numpy(float),
                        "predicted": pred}).groupby("group").agg(
        n_customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean"))
    out.index.name = "calibration_frequency"
    out.attrs["pooled_from"] = max_frequency
    return out


def tracking_table(model, transactions: pd.DataFrame, calibration_end, observation_end=None,
                   freq: str = "D", freq_multiplier: float = 7, unit: float | None = None) -> pd.DataFrame:
    """Cumulative repeat purchases by period since the first acquisition: actual vs model.

    Uses the customers acquired by ``calibration_end`` (the ones the model was fitted to);
    purchases are counted as in the summary (one per ``freq`` period per customer, first one
    excluded). The expected curve is ``Σ_i E[X(t − a_i)]`` with ``a_i`` customer *i*'s
    acquisition time (unconditional expectation, eq. 9 of FHL 2005). Rows are periods of
    ``unit`` days (default ``freq × freq_multiplier``, i.e. the summary's unit); ``freq`` and
    ``freq_multiplier`` must be those of the summary the model was fitted to.
    """
    tx = transactions
    cal_end = pd.Timestamp(calibration_end)
    obs_end = tx["date"].max() if observation_end is None else pd.Timestamp(observation_end)
    tx = tx.loc[in_window(tx["date"], obs_end)]
    days = pd.DataFrame({"customer_id": tx["customer_id"].to_numpy(),
                         "period": period_index(tx["date"], freq)}).drop_duplicates()
    first = days.groupby("customer_id")["period"].min()
    cal_cutoff = period_index([cal_end], freq)[0]
    first = first[first <= cal_cutoff]
    days = days[days["customer_id"].isin(first.index)]
    repeat = days[days["period"] > days["customer_id"].map(first).to_numpy()]
    origin = first.min()
    # one row per `per_row` freq-periods (default: one model unit = freq_multiplier periods)
    per_row = freq_multiplier if unit is None else unit / DAYS_PER_UNIT[freq.upper()]
    end = period_index([obs_end], freq)[0]
    n_rows = int(np.floor((end - origin + 1) / per_row))
    edges = origin + per_row * np.arange(1, n_rows + 1)  # exclusive row ends, in freq-periods
    actual = np.searchsorted(np.sort(repeat["period"].to_numpy()), edges, side="left")
    acq, counts = np.unique(first.to_numpy(), return_counts=True)
    expected = np.empty(n_rows)
    for k, e in enumerate(edges):
        # age at the row's last period, in model units (the summary's convention for T)
        age = np.maximum(np.floor(e - 1e-9) - acq, 0) / freq_multiplier
        expected[k] = np.dot(counts, model.expected_number_of_purchases_up_to_time(age))
    out = pd.DataFrame({"actual": actual.astype(float), "expected": expected},
                       index=pd.Index(np.arange(1, n_rows + 1), name="period"))
    out.attrs["calibration_period"] = (cal_cutoff - origin + 1) / per_row
    out.attrs["unit_days"] = per_row * DAYS_PER_UNIT[freq.upper()]
    return out


def frequency_recency_matrix(model, T: float | None = None, max_frequency: int | None = None,
                             max_recency: float | None = None, t: float = 1.0) -> pd.DataFrame:
    """Expected purchases in the next ``t`` periods for a customer of age ``T`` by
    (frequency rows, recency columns). Defaults from the fitted data: ``T`` its largest age,
    ``max_frequency`` / ``max_recency`` its largest values (cells with recency > T are NaN)."""
    return _matrix(model, "expected", T, max_frequency, max_recency, t)


def probability_alive_matrix(model, T: float | None = None, max_frequency: int | None = None,
                             max_recency: float | None = None) -> pd.DataFrame:
    """P(alive) for a customer of age ``T`` by (frequency rows, recency columns)."""
    return _matrix(model, "alive", T, max_frequency, max_recency, None)


def _matrix(model, what, T, max_frequency, max_recency, t):
    data = getattr(model, "_fit_data_ranges", None) or {}
    T = float(T if T is not None else data.get("T", 39))
    max_frequency = int(max_frequency if max_frequency is not None else data.get("frequency", 20))
    max_recency = float(max_recency if max_recency is not None else T)
    freqs = np.arange(max_frequency + 1, dtype=float)
    recs = np.arange(0, int(np.floor(max_recency)) + 1, dtype=float)
    F, R = np.meshgrid(freqs, recs, indexing="ij")
    if what == "expected":
        Z = model.expected_purchases(t, F, R, np.full_like(F, T))
    else:
        Z = model.probability_alive(F, R, np.full_like(F, T))
    Z = np.where((R > T) | ((F == 0) & (R > 0)), np.nan, Z)
    out = pd.DataFrame(Z, index=pd.Index(freqs.astype(int), name="frequency"),
                       columns=pd.Index(recs, name="recency"))
    out.attrs.update(T=T, what=what, t=t)
    return out


def period_transactions_table(model, summary: pd.DataFrame, max_frequency: int = 7) -> pd.DataFrame:
    """Number of customers with 0, 1, …, ``max_frequency``+ repeat purchases: actual vs model
    (``Σ_i P(X(T_i) = n)``; the last row pools the tail)."""
    x, _, T, w = btyd_arrays(summary)
    uT, iT = np.unique(T, return_inverse=True)
    wT = np.bincount(iT.ravel(), weights=w)
    exp = np.array([np.dot(wT, model.probability_of_n_purchases_up_to_time(uT, n))
                    for n in range(max_frequency)])
    exp = np.r_[exp, w.sum() - exp.sum()]
    act = np.bincount(np.minimum(x, max_frequency).astype(int), weights=w,
                      minlength=max_frequency + 1)
    return pd.DataFrame({"actual": act, "expected": exp},
                        index=pd.Index(np.arange(max_frequency + 1), name="repeat_purchases"))
