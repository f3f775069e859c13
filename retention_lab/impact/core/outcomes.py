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

from ...errors import DataError

COVARIATES = ["pre_orders", "pre_spend", "tenure_days", "recency_days"]


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
    day = pd.to_datetime(tx["date"]).dt.normalize()
    ids = tx["customer_id"]
    amount = tx["amount"].astype(float)

    pre = day < launch
    post = (day >= launch) & (day < h_end)
    late = (day > h_end) & (day <= end)
    after_launch = (day >= launch) & (day <= end)

    out = pd.DataFrame(index=cust.index)
    g_pre = pd.DataFrame({"id": ids[pre], "day": day[pre], "amount": amount[pre]}).groupby("id")
    out["pre_orders"] = g_pre["day"].nunique().reindex(out.index, fill_value=0).astype(float)
    out["pre_spend"] = g_pre["amount"].sum().reindex(out.index, fill_value=0.0)
    first = pd.Series(day.groupby(ids).min()).reindex(out.index)
    if "signup_date" in cust.columns:
        first = first.fillna(pd.to_datetime(cust["signup_date"]).dt.normalize())
    last_pre = g_pre["day"].max().reindex(out.index)
    out["tenure_days"] = (launch - first).dt.days.clip(lower=0).fillna(0).astype(float)
    out["recency_days"] = (launch - last_pre).dt.days.fillna(out["tenure_days"]).astype(float)

    g_post = pd.DataFrame({"id": ids[post], "day": day[post], "amount": amount[post]}).groupby("id")
    out["orders"] = g_post["day"].nunique().reindex(out.index, fill_value=0).astype(float)
    out["spend"] = g_post["amount"].sum().reindex(out.index, fill_value=0.0)
    out["first_post"] = day[after_launch].groupby(ids[after_launch]).min().reindex(out.index)
    out["eligible"] = out["first_post"].notna().astype(float)
    last = day[day <= end].groupby(ids[day <= end]).max().reindex(out.index)
    out["rmst_days"] = (last - launch).dt.days.clip(lower=0, upper=int(horizon)).fillna(0.0)
    start = first.where(first > launch, launch).fillna(launch)
    out["exposure_days"] = (h_end - start).dt.days.clip(lower=0).astype(float)
    out["retained"] = ids[late].drop_duplicates().pipe(
        lambda s: pd.Series(1.0, index=s)).reindex(out.index, fill_value=0.0)

    if "enrolled_at" in cust.columns:
        enr = pd.to_datetime(cust["enrolled_at"]).dt.normalize()
        enr = enr.where(enr <= end)
    else:
        enr = pd.Series(pd.NaT, index=cust.index, dtype="datetime64[ns]")
    out["enrolled_at"] = enr
    out["enrolled"] = enr.notna().astype(float)
    out["days_to_enrol"] = (enr - launch).dt.days.astype(float)
    after = post & (day >= ids.map(enr)).fillna(False).to_numpy()
    out["joined_in_window"] = (enr < h_end).astype(float)
    out["member_spend"] = amount[after].groupby(ids[after]).sum().reindex(out.index, fill_value=0.0)
    if "arm" in cust.columns:
        out["arm_treated"] = (cust["arm"] == "treatment").astype(float)
    for col in cust.columns:
        if col not in out.columns and col not in ("arm", "enrolled_at"):
            out[col] = cust[col]
    out.attrs.update(launch=launch, horizon_end=h_end, observation_end=end, horizon=int(horizon))
    return out


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
