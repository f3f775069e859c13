"""The per-customer outcome table of a loyalty-programme study, built from transactions.

Time line (all windows use whole days, ``launch`` = the programme launch):

Purchases are counted as **purchase days** (distinct customer-days with a transaction), not
transaction lines: an order written as two lines on the same day, or two orders placed on one
day, is one purchase. The counts are then invariant to how a shop splits its orders into lines,
and they are the purchase events of the BTYD models (Fader, Hardie & Lee 2005 count repeat
purchase days too). Spend sums every line.

* **pre-period** ``[.., launch)`` — behaviour before anyone could enrol: ``pre_orders``,
  ``pre_spend``, ``tenure_days`` (launch − first purchase), ``recency_days`` (launch − last
  purchase); the covariates of CUPED and of the propensity model;
* **outcome window** ``[launch, launch + horizon)`` — ``orders``, ``spend`` and ``exposure_days``
  (days of the window after the customer's sign-up); ``rmst_days`` = min(days from launch to
  the last purchase up to ``observation_end``, horizon), 0 without a purchase after launch —
  fully observed because ``observation_end > launch + horizon``;
* **retention window** ``(launch + horizon, observation_end]`` — ``retained`` = 1 if the customer
  bought anything in it. This equals the Kaplan–Meier survival at ``horizon`` of the churn table
  with origin = launch and inactivity window = ``observation_end − launch − horizon``.

``enrolled`` is 1 for a customer enrolled by ``observation_end`` (a *member*); ``eligible`` is 1
for a customer with a purchase in ``[launch, observation_end]`` — the first chance to enrol, since
enrolment happens at a purchase; ``arm_treated`` is 1 for the invited arm (randomized design). Only columns of the data contract are used, so the
simulator's bundle and a user's own tables give the same table.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..._arrays import positions
from ...errors import DataError

COVARIATES = ["pre_orders", "pre_spend", "tenure_days", "recency_days"]


def _to_datetime(x):
    """``pd.to_datetime(x)``, skipped when ``x`` already holds datetimes (the same values: on a
    datetime Series ``to_datetime`` still builds Timestamps to decide on caching, ~50 ms a call
    on a loaded machine)."""
    if pd.api.types.is_datetime64_any_dtype(getattr(x, "dtype", None)):
        return x
    return pd.to_datetime(x)


def _ts(x):
    return None if x is None else pd.Timestamp(x).normalize()


def study_dates(data, horizon_days: int = 365):
    """``(launch, horizon_end, observation_end)`` of ``data``; DataError when they do not fit."""
    launch = _ts(data.launch_date)
    end = _ts(data.observation_end)
    tx = data.transactions
    if end is None:
        end = pd.Timestamp(tx["date"].max()).normalize()
    if launch is None:
        if "enrolled_at" in data.customers.columns and data.customers["enrolled_at"].notna().any():
            launch = pd.Timestamp(data.customers["enrolled_at"].min()).normalize() - pd.Timedelta(days=1)
        else:
            raise DataError("launch_date is unknown: give it to read_experiment (the day the "
                            "programme started); rule 'launch_date present'", table="customers",
                            column="launch_date", rule="launch_date present", n_rows=0)
    h_end = launch + pd.Timedelta(days=int(horizon_days))  # first day after the window
    if h_end >= end:
        largest = (end - launch).days - 1
        fits = (f"the largest horizon_days these data allow is {largest}" if largest > 0 else
                "no horizon fits: the observation ends on or before the launch")
        h = int(horizon_days)
        raise DataError(f"horizon_days={h} is too long: launch ({launch.date()}) + "
                        f"{h} days = {h_end.date()} is not before observation_end "
                        f"({end.date()}), so no window is left to measure retention; {fits}; "
                        "rule 'launch + horizon_days < observation_end'", table="transactions",
                        column="date", rule="launch + horizon_days < observation_end", n_rows=0)
    return launch, h_end, end


def outcome_table(data, horizon_days: int = 365, *, horizon: int | None = None) -> pd.DataFrame:
    """One row per customer of ``data.customers`` (index ``customer_id``).

    Columns (``pre_orders`` and ``orders`` count purchase days): ``pre_orders, pre_spend,
    tenure_days, recency_days, orders, spend, exposure_days,
    retained, first_post`` (first purchase after launch, NaT if none), ``enrolled``,
    ``enrolled_at``, ``days_to_enrol`` (from launch), ``member_spend`` (spend in the outcome window
    from the enrolment day on: the base of reward costs), ``joined_in_window``, ``eligible``,
    ``rmst_days``, ``arm_treated`` (if the data have arms)
    and the customers' own columns (tier, channel, region, …).
    ``attrs``: launch, horizon_end, observation_end, horizon (= ``horizon_days``).
    ``horizon`` is the deprecated name of ``horizon_days`` (a DeprecationWarning).
    """
    if horizon is not None:
        warnings.warn("outcome_table(horizon=...) is deprecated: use horizon_days=",
                      DeprecationWarning, stacklevel=2)
        horizon_days = horizon
    horizon = horizon_days
    launch, h_end, end = study_dates(data, horizon)
    cust = data.customers.drop_duplicates("customer_id").set_index("customer_id")
    tx = data.transactions
    day = _to_datetime(tx["date"]).dt.normalize()
    amount = tx["amount"].astype(float)
    px = _PerCustomer(cust.index, tx["customer_id"], day, amount)

    out = pd.DataFrame(index=cust.index)
    out["pre_orders"] = px.days(None, launch)
    out["pre_spend"] = px.spend(None, launch)
    first = px.day_stat("min", None, None)
    if "signup_date" in cust.columns:
        first = first.fillna(_to_datetime(cust["signup_date"]).dt.normalize())
    last_pre = px.day_stat("max", None, launch)
    out["tenure_days"] = (launch - first).dt.days.clip(lower=0).fillna(0).astype(float)
    out["recency_days"] = (launch - last_pre).dt.days.fillna(out["tenure_days"]).astype(float)

    out["orders"] = px.days(launch, h_end)
    out["spend"] = px.spend(launch, h_end)
    out["first_post"] = px.day_stat("min", launch, end, closed=True)
    out["eligible"] = out["first_post"].notna().astype(float)
    last = px.day_stat("max", None, end, closed=True)
    out["rmst_days"] = (last - launch).dt.days.clip(lower=0, upper=int(horizon)).fillna(0.0)
    start = first.where(first > launch, launch).fillna(launch)
    out["exposure_days"] = (h_end - start).dt.days.clip(lower=0).astype(float)
    out["retained"] = px.any_in(h_end, end)

    if "enrolled_at" in cust.columns:
        enr = _to_datetime(cust["enrolled_at"]).dt.normalize()
        enr = enr.where(enr <= end)
    else:
        enr = pd.Series(pd.NaT, index=cust.index, dtype="datetime64[ns]")
    out["enrolled_at"] = enr
    out["enrolled"] = enr.notna().astype(float)
    out["days_to_enrol"] = (enr - launch).dt.days.astype(float)
    out["joined_in_window"] = (enr < h_end).astype(float)
    out["member_spend"] = px.spend(launch, h_end, since=enr)
    if "arm" in cust.columns:
        out["arm_treated"] = (cust["arm"] == "treatment").astype(float)
    for col in cust.columns:
        if col not in out.columns and col not in ("arm", "enrolled_at"):
            out[col] = cust[col]
    out.attrs.update(launch=launch, horizon_end=h_end, observation_end=end, horizon=int(horizon))
    return out


class _PerCustomer:
    """Per-customer reductions of the transactions, the ids factorised once (before, nine
    pandas groupbys each factorised them again: seconds at 200k customers).

    Rows whose id is not a customer, or whose day is missing, are left out, as the groupbys'
    reindex on the customers and their skipping of NaT did; a missing amount adds 0, as the
    groupby sum did. Windows are half-open ``[lo, hi)`` (``closed=True``: ``[lo, hi]``) in
    whole days; ``None`` is unbounded. Purchase days are the distinct (customer, day) pairs."""

    def __init__(self, index: pd.Index, ids: pd.Series, day: pd.Series, amount: pd.Series):
        self.index, self.n = index, len(index)
        self.dtype = day.dtype
        code = positions(index, ids.to_numpy())   # get_indexer, by a table for dense int ids
        d = day.to_numpy().view(np.int64)
        keep = (code >= 0) & ~day.isna().to_numpy()
        amount = amount.to_numpy(float)
        if not keep.all():
            code, d, amount = code[keep], d[keep], amount[keep]
        self.code, self.d = code, d
        self.amount = np.nan_to_num(amount, nan=0.0)
        self.u = np.datetime_data(self.dtype)[0]
        self.unit = int(np.timedelta64(1, "D").astype(f"timedelta64[{self.u}]").astype(np.int64))
        if len(self.d):   # distinct purchase days: (customer, day) pairs
            d0 = int(self.d.min())
            span = int(self.d.max() - d0) // self.unit + 1
            # by one sort (a hash of 3.3M mostly distinct keys was 10x slower at 200k), in
            # place: at 1M customers each temporary is a fresh 17M-entry array (issue 22)
            key = self.code.astype(np.int64)
            key *= span
            t = self.d - d0
            t //= self.unit
            key += t
            del t
            key.sort()
            new = np.empty(len(key), bool)
            new[0] = True
            np.not_equal(key[1:], key[:-1], out=new[1:])
            key = key[new]
            self.pair_code, self.pair_d = np.divmod(key, span)
            self.pair_d *= self.unit
            self.pair_d += d0
        else:
            self.pair_code, self.pair_d = self.code, self.d
            key, d0, span = np.zeros(0, np.int64), 0, 1
        # the pairs are sorted by customer and day: a window's pairs of a customer are a run,
        # found by searching the customer's window bounds in the keys (1M searches instead of
        # masks and a ufunc.at over every pair at 1M customers; issue 22)
        self.key, self.d0, self.span = key, d0, span
        self.base = np.arange(self.n, dtype=np.int64) * span
        self.cuts: dict = {}

    def _v(self, t) -> int:
        return int(pd.Timestamp(t).to_datetime64().astype(f"datetime64[{self.u}]").astype(np.int64))

    def _mask(self, d, lo, hi, closed=False):
        m = np.ones(len(d), bool)
        if lo is not None:
            m &= d >= self._v(lo)
        if hi is not None:
            m &= (d <= self._v(hi)) if closed else (d < self._v(hi))
        return m

    def _cut(self, t, after: bool, end: bool = False) -> np.ndarray:
        """Per customer, the position among the sorted pairs of its first purchase day after
        ``t`` (``after``) or on or after it (``t`` None: the customer's first pair, or with
        ``end`` the next customer's)."""
        if t is None:
            k = self.span if end else 0
        else:
            num = self._v(t) - self.d0        # first day index i with d0 + i * unit (>, >=) t
            k = num // self.unit + 1 if after else -(-num // self.unit)
            k = min(max(k, 0), self.span)
        if k not in self.cuts:    # the table's windows share their bounds: 6 searches, not 14
            self.cuts[k] = np.searchsorted(self.key, self.base + k, side="left")
        return self.cuts[k]

    def days(self, lo, hi) -> np.ndarray:
        """Purchase days in the window (float)."""
        return (self._cut(hi, False, end=True) - self._cut(lo, False)).astype(float)

    def spend(self, lo, hi, since: pd.Series | None = None) -> np.ndarray:
        """Amounts in the window; ``since``: only from each customer's own day on (NaT: none)."""
        m = self._mask(self.d, lo, hi)
        if since is not None:
            s = since.to_numpy().astype(self.dtype).view(np.int64)
            ok = ~since.isna().to_numpy()
            m &= ok[self.code] & (self.d >= s[self.code])
        # the lines outside the window add +0.0: each customer's sum is the same float sum
        # (it starts at +0.0, so never -0.0) without copying the window's ids and amounts
        return np.bincount(self.code, weights=np.where(m, self.amount, 0.0), minlength=self.n)

    def any_in(self, lo, hi) -> np.ndarray:
        """1.0 for a customer with a purchase in ``(lo, hi]``, else 0.0."""
        return (self._cut(hi, True, end=True) > self._cut(lo, True)).astype(float)

    def day_stat(self, how: str, lo, hi, closed: bool = False) -> pd.Series:
        """First (``how="min"``) or last (``"max"``) purchase day in the window (NaT: none)."""
        a, b = self._cut(lo, False), self._cut(hi, closed, end=True)
        res = np.full(self.n, np.iinfo(np.int64).min, np.int64)      # NaT
        has = b > a
        res[has] = self.pair_d[a[has] if how == "min" else b[has] - 1]
        return pd.Series(res.view(self.dtype), index=self.index)


OUTCOME_COLUMNS = {"orders", "spend", "exposure_days", "retained", "first_post", "eligible",
                   "rmst_days", "enrolled", "enrolled_at", "days_to_enrol", "member_spend",
                   "joined_in_window", "arm_treated"}


def categorical_columns(out: pd.DataFrame, max_levels: int = 20) -> list:
    """The customers' own categorical columns usable as covariates (2..``max_levels`` levels)."""
    cols = []
    for c in out.columns:
        if c in OUTCOME_COLUMNS or c in COVARIATES:
            continue
        s = out[c]
        if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_numeric_dtype(s):
            continue
        if 2 <= s.nunique(dropna=True) <= max_levels:
            cols.append(c)
    return cols


def covariate_matrix(out: pd.DataFrame, categorical=None, numeric=COVARIATES) -> pd.DataFrame:
    """Pre-treatment covariates: the numeric pre-period columns (orders also as ``log1p``, spend
    on the log scale — robust to heavy tails) and dummies of the categorical customer columns
    (default: every one with 2–20 levels, e.g. tier, channel, region)."""
    if categorical is None:
        categorical = categorical_columns(out)
    X = pd.DataFrame(index=out.index)
    for c in numeric:
        if c in out.columns:
            X[c] = np.log1p(out[c].clip(lower=0)) if c == "pre_spend" else out[c].astype(float)
    if "pre_orders" in out.columns:
        X["log_pre_orders"] = np.log1p(out["pre_orders"].clip(lower=0))
    for c in categorical:
        if c in out.columns and out[c].nunique(dropna=True) > 1:
            d = pd.get_dummies(out[c].astype("string").fillna("missing"), prefix=c,
                               drop_first=True, dtype=float)
            X = X.join(d)
    keep = X.std(ddof=0) > 0
    return X.loc[:, keep]
