"""Purchase histories of the rolling design as sorted arrays: every customer's purchase days
(distinct customer-days, so an order written as several same-day lines is one purchase) with
cumulative counts and spend, queried by (customer, day) with ``searchsorted`` — the history
guard, the history features at an index date (:data:`HISTORY`), the outcome windows and the
AOV denominators of :mod:`retention_lab.impact.rolling.trials` are all read from it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...units import days_per

HISTORY = ["log_prior_orders", "log_prior_spend", "log_tenure", "log_recency", "log_mean_gap",
           "prior_orders", "recency_months", "tenure_years", "no_history", "one_day_history"]
HISTORY_LABELS = {"log_prior_orders": "purchases so far (log)",
                  "log_prior_spend": "spend so far (log)", "log_tenure": "tenure (log days)",
                  "log_recency": "days since previous purchase (log)",
                  "log_mean_gap": "mean inter-purchase time (log days)",
                  "prior_orders": "purchases so far", "recency_months": "months since previous "
                  "purchase", "tenure_years": "tenure (years)",
                  "no_history": "no purchase before the index date",
                  "one_day_history": "one purchase day before the index date"}


# --------------------------------------------------------------------------------------------
# purchase history as sorted arrays, queried by (customer, day) with searchsorted
# --------------------------------------------------------------------------------------------
@dataclass
class _History:
    key: np.ndarray        # customer code * K + day, sorted (one entry per purchase day)
    day: np.ndarray        # day number of each purchase day
    code: np.ndarray       # customer code of each purchase day
    c_orders: np.ndarray   # cumulative purchase days (not lines), length len(key) + 1
    c_spend: np.ndarray
    first: np.ndarray      # (n_customers,) first purchase day (or sign-up), NaN if none
    start: np.ndarray      # (n_customers,) position of the customer's first purchase day
    K: int

    def pos(self, code, day, side="left"):
        return np.searchsorted(self.key, code.astype(np.int64) * self.K + day.astype(np.int64),
                               side=side)

    def window(self, code, lo, hi):
        """Purchase days and spend on days ``lo < d <= hi``."""
        a, b = self.pos(code, lo, "right"), self.pos(code, hi, "right")
        return self.c_orders[b] - self.c_orders[a], self.c_spend[b] - self.c_spend[a]

    def features(self, code, day, columns=None) -> pd.DataFrame:
        """History strictly before ``day`` for each (customer code, day) pair (``columns``:
        only those, e.g. :data:`HISTORY` — at 1M customers every purchase day is a row)."""
        p = self.pos(code, day, "left")
        s = self.start[code]
        n_days = p - s
        orders = self.c_orders[p] - self.c_orders[s]
        spend = self.c_spend[p] - self.c_spend[s]
        first = self.first[code]
        tenure = np.where(np.isfinite(first), day - first, 0.0).clip(min=0)
        last = np.where(n_days > 0, self.day[np.maximum(p - 1, 0)], day)
        recency = (day - last).astype(float)
        gap = np.where(n_days >= 2, (last - self.day[np.minimum(s, len(self.day) - 1)]) /
                       np.maximum(n_days - 1, 1), 0.0)
        make = {
            "prior_orders": lambda: orders.astype(float), "prior_spend": lambda: spend,
            "tenure_days": lambda: tenure.astype(float), "recency_days": lambda: recency,
            "mean_gap_days": lambda: gap.astype(float),
            "log_prior_orders": lambda: np.log1p(orders),
            "log_prior_spend": lambda: np.log1p(spend.clip(0)),
            "log_tenure": lambda: np.log1p(tenure), "log_recency": lambda: np.log1p(recency),
            "log_mean_gap": lambda: np.log1p(gap),
            "recency_months": lambda: recency / days_per("M"),
            "tenure_years": lambda: tenure / days_per("Y"),
            "no_history": lambda: (n_days == 0).astype(float),
            "one_day_history": lambda: (n_days == 1).astype(float)}
        return pd.DataFrame({k: make[k]() for k in (make if columns is None else columns)})


def _history(tx_code, tx_day, tx_amount, n_customers, signup_day, K) -> _History:
    """Transactions collapsed to purchase days: every count of the rolling analysis (history
    guard, history features, outcome windows, AOV denominators) is a number of distinct
    customer-days, so an order written as several same-day lines is one purchase."""
    # one sort of the (customer, day) keys instead of a two-column groupby (issue 22: 3x less
    # time at 200k customers); days are non-negative (shifted) and below K
    key_tx = np.asarray(tx_code, np.int64) * K + np.asarray(tx_day, np.int64)
    order = np.argsort(key_tx, kind="stable")
    key_sorted = key_tx[order]
    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]]) \
        if len(key_sorted) else np.zeros(0, np.int64)
    key = key_sorted[starts]
    code, day = key // K, key % K
    day_spend = np.add.reduceat(np.asarray(tx_amount, float)[order], starts) \
        if len(starts) else np.zeros(0)
    c_orders = np.arange(len(key) + 1, dtype=float)
    c_spend = np.r_[0.0, np.cumsum(day_spend)]
    start = np.searchsorted(key, np.arange(n_customers, dtype=np.int64) * K, side="left")
    first = np.full(n_customers, np.nan)
    has = start < len(key)
    has[has] = code[start[has]] == np.arange(n_customers)[has]
    first[has] = day[start[has]]
    first = np.where(np.isfinite(signup_day), np.fmin(first, signup_day), first)
    return _History(key, day, code, c_orders, c_spend, first, start, K)


def _days_since(dates: pd.Series, origin: pd.Timestamp) -> np.ndarray:
    """Whole days from ``origin`` (a normalised day) to the day of each date —
    ``(pd.to_datetime(dates).dt.normalize() - origin).dt.days`` — as int64, or float with NaN
    where a date is missing. Time-zone-naive numpy dates are floored to the day by numpy
    (pandas' ``to_datetime`` of an already datetime column iterates over it: 15 ms per 330k
    rows, and ``normalize`` as much again; issue 22); other dates go through pandas."""
    if not (isinstance(dates.dtype, np.dtype) and np.issubdtype(dates.dtype, np.datetime64)
            and origin.tz is None):
        return (pd.to_datetime(dates).dt.normalize() - origin).dt.days.to_numpy()
    d = dates.to_numpy().astype("datetime64[D]")
    days = (d - np.datetime64(origin.date(), "D")).astype(np.int64)
    nat = np.isnat(d)
    return np.where(nat, np.nan, days) if nat.any() else days
