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

from ..._arrays import stable_order
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

    def features(self, code, day, columns=None, p=None) -> pd.DataFrame:
        """History strictly before ``day`` for each (customer code, day) pair (``columns``:
        only those, e.g. :data:`HISTORY` — at 1M customers every purchase day is a row; ``p``:
        the pairs' positions ``pos(code, day)`` where the caller already knows them)."""
        make = self.feature_makers(code, day, p)
        names = list(make if columns is None else columns)
        # written into the one float block the frame keeps (a frame from a dict of columns
        # copies them into it: at 1M customers a second 2.4M x 14 matrix at once)
        block = np.empty((len(names), len(code)))
        for j, k in enumerate(names):
            block[j] = make[k]()
        return pd.DataFrame(block.T, columns=names, copy=False)

    def feature_makers(self, code, day, p=None) -> dict:
        """The columns of :meth:`features` as functions (name → ``f()``, each computed when
        called, so that a caller can write them one at a time into its own matrix)."""
        p = self.pos(code, day, "left") if p is None else p
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
        return {
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

    def index_windows(self, code, day, p, later):
        """For index days ``day`` of customers ``code`` with ``p = pos(code, day)``: the purchase
        days on the index day (:meth:`window` of ``(day − 1, day]``), ``pos(code, day, "right")``
        and ``pos(code, d, "right")`` of each day array ``d`` in ``later``. On whole days
        ``pos(day − 1, "right") = pos(day, "left") = p``, and ``pos(day, "right")`` is ``p`` plus
        one when the index day is a purchase day: two searches fewer than the windows apart."""
        q = np.minimum(p, len(self.key) - 1)
        hit = (p < len(self.key)) & (self.key[q] == code.astype(np.int64) * self.K + day) \
            if len(self.key) else np.zeros(len(p), bool)
        p_right = p + hit
        n_index = self.c_orders[p_right] - self.c_orders[p]
        return n_index, p_right, [self.pos(code, d, "right") for d in later]

    def between(self, a, b):
        """Purchase days and spend between positions ``a`` and ``b`` (as :meth:`window`)."""
        return self.c_orders[b] - self.c_orders[a], self.c_spend[b] - self.c_spend[a]


def _history(tx_code, tx_day, tx_amount, n_customers, signup_day, K, shift=0) -> _History:
    """Transactions collapsed to purchase days: every count of the rolling analysis (history
    guard, history features, outcome windows, AOV denominators) is a number of distinct
    customer-days, so an order written as several same-day lines is one purchase. Days are
    ``tx_day + shift`` (non-negative, below ``K``).

    One sort of the (customer, day) keys instead of a two-column groupby (issue 22), done in
    place: at 1M customers every temporary is a fresh 17M-entry array, and the kernel's cost
    of mapping its pages (system time) was about as large as the arithmetic on it."""
    key = np.array(tx_code, np.int64)
    key *= K
    key += np.asarray(tx_day, np.int64)
    if shift:
        key += shift
    # the stable order (each day's amounts summed in their original order, as before)
    order, key_sorted = stable_order(key, overwrite=True)
    new = np.empty(len(key_sorted), bool)
    new[:1] = True
    np.not_equal(key_sorted[1:], key_sorted[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    del new
    key = key_sorted[starts]
    del key_sorted
    code, day = np.divmod(key, K)
    c_spend = np.zeros(len(key) + 1)
    if len(starts):
        np.add.reduceat(np.asarray(tx_amount, float)[order], starts, out=c_spend[1:])
        np.cumsum(c_spend[1:], out=c_spend[1:])
    del order, starts
    c_orders = np.arange(len(key) + 1, dtype=float)
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
    days = dates.to_numpy().astype("datetime64[D]").view(np.int64)   # a new array: ours
    nat = days == np.iinfo(np.int64).min                                # NaT
    days -= np.datetime64(origin.date(), "D").astype(np.int64)         # in place (issue 22)
    return np.where(nat, np.nan, days) if nat.any() else days


def trial_rows(H: _History, enrol_day, *, shift, last_index, end_day, plen, horizon_days,
               retention_days, codes, origin) -> pd.DataFrame:
    """The stacked trial rows of :func:`~.trials.build_trials`: members at their enrolment day,
    then comparison rows (each customer's first purchase day of each period before their
    enrolment), with the history at the index date and the outcome windows.

    Read from the sorted purchase days without pandas' two-column ``drop_duplicates`` (the
    periods of a customer's purchase days are in order, so a repeat of (customer, period) is
    the previous entry) and without a concatenation of wide frames; a comparison row's
    position among the purchase days is its own index, so only members' are searched."""
    def trial_of(d):
        return np.floor(np.asarray(d, float) / plen).astype(np.int64)

    usable = np.isfinite(enrol_day) & (enrol_day >= 0) & (enrol_day <= last_index)
    m_code = np.flatnonzero(usable)
    m_day = enrol_day[usable].astype(np.int64)
    d_day = H.day - shift
    cand = np.flatnonzero((d_day >= 0) & (d_day <= last_index) & ~(enrol_day[H.code] <= d_day))
    c_code, c_day = H.code[cand], d_day[cand]
    c_trial = trial_of(c_day)
    first = np.r_[True, (c_code[1:] != c_code[:-1]) | (c_trial[1:] != c_trial[:-1])] \
        if len(cand) else np.zeros(0, bool)
    cand, c_code, c_day, c_trial = cand[first], c_code[first], c_day[first], c_trial[first]
    code = np.r_[m_code, c_code].astype(np.int64)
    day = np.r_[m_day, c_day].astype(np.int64)
    hday = day + shift
    p = np.r_[H.pos(m_code, m_day + shift, "left"), cand].astype(np.int64)
    rows = H.features(code, hday, p=p)
    for j, (name, v) in enumerate((("code", code), ("day", day),
                                   ("trial", np.r_[trial_of(m_day), c_trial]),
                                   ("member", np.r_[np.ones(len(m_code), np.int64),
                                                    np.zeros(len(c_code), np.int64)]))):
        rows.insert(j, name, v)
    rows["customer_id"] = codes[code]
    rows["index_date"] = origin + pd.to_timedelta(day, unit="D")
    e_row = enrol_day[code]
    rows["enrol_day"] = e_row
    follow = day + horizon_days + retention_days if retention_days is not None else \
        np.full(len(day), end_day)
    rows["follow_end_day"] = follow
    rows["censored"] = ((rows["member"] == 0) & (e_row <= follow)).astype(int)
    # windows (index, index + horizon] and (index + horizon, follow end], and the index day
    n_index, p_index, (p_win, p_follow) = H.index_windows(
        code, hday, p, [hday + horizon_days, follow + shift])
    rows["orders"], rows["spend"] = H.between(p_index, p_win)
    ro, _ = H.between(p_win, p_follow)
    rows["retained"] = (ro > 0).astype(float)
    # the index day itself: does the member's enrolment coincide with a purchase?
    rows["index_purchase"] = (n_index > 0).astype(float)
    return rows
