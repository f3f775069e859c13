"""The summary tables in pandas — the reference implementation the SQL engines are tested against.

Pure pandas/numpy on a DataFrame of transactions: no engine choice, no SQL (that is
:mod:`.summaries`). The BTYD conventions are those of lifetimes
(``summary_data_from_transaction_data``), which follow Fader, Hardie & Lee (2005, "Counting your
customers the easy way", Marketing Science 24(2)):

* ``frequency`` — the number of *repeat* purchase periods (distinct periods with a purchase − 1);
* ``recency`` — the customer's age at their last purchase (last − first purchase period);
* ``T`` — the customer's age at the end of the window (window end − first purchase period);
* ``monetary_value`` — the mean spend per repeat purchase period (0 without repeat purchases).

``freq`` is the *period* purchases are floored to before counting (pandas' and lifetimes' name):
``"D"`` calendar day, ``"W"`` week starting Monday, ``"M"`` calendar month; several purchases in
one period are one purchase occasion whose amount is their sum. Ages are differences of period
numbers (:func:`retention_lab.periods.period_index`) divided by ``freq_multiplier``
(``freq="D", freq_multiplier=7``: the fractional weeks of the published CDNOW analyses).

Where we differ from lifetimes 0.11.3, on purpose (tests/features/test_features.py shows each case):

* the window is cut on dates *before* flooring to periods, so nothing after
  ``observation_end`` is used (lifetimes floors first, so with ``freq="W"`` it keeps purchases
  made later in the end's week), and a date-only end includes its whole day in the
  calibration–holdout split too (lifetimes sends a purchase at 14:00 on the calibration end to
  the holdout);
* ``monetary_value_holdout`` is the mean spend per holdout purchase period, like the calibration
  ``monetary_value`` (lifetimes averages raw transactions there);
* ``freq="M"`` ages are whole calendar months (lifetimes divides days by numpy's mean month and
  fails on pandas >= 2). For ``freq="D"`` (any ``freq_multiplier``) on dates without times of
  day the two agree exactly (CDNOW: every customer).

Every result's ``attrs`` are JSON values (they survive ``to_parquet`` / ``to_feather``):
``quality`` is the data-quality ledger as a list of records (:func:`retention_lab.quality`
turns it back into a :class:`~retention_lab.DataQuality`), dates are ISO strings.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataQuality
from ..periods import check_freq, in_window, period_index
from ..schema import validate_transactions
from ..units import days_per, unit_code

SUMMARY_COLUMNS = ["frequency", "recency", "T", "monetary_value"]


def iso(ts) -> str:
    """A timestamp as an ISO string for ``attrs``: ``"1997-09-30"`` for a date, else with time."""
    ts = pd.Timestamp(ts)
    return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()


def json_attrs(quality: DataQuality | None = None, **values) -> dict:
    """``attrs`` of a summary table: the ledger as records, timestamps as ISO strings."""
    out = {}
    if quality is not None:
        out["quality"] = quality.to_records()
    for key, value in values.items():
        if isinstance(value, (pd.Timestamp, np.datetime64)):
            value = iso(value)
        elif isinstance(value, np.integer):
            value = int(value)
        elif isinstance(value, np.floating):
            value = float(value)
        out[key] = value
    return out


def _prepare(tx: pd.DataFrame, validate: bool, returns: str) -> tuple[pd.DataFrame, DataQuality]:
    if validate:
        return validate_transactions(tx, returns=returns)
    return tx, DataQuality()


def customer_periods(tx: pd.DataFrame, freq: str = "D") -> pd.DataFrame:
    """Reduce transactions to one row per (customer, period): ``customer_id, period, amount, n``.

    ``amount`` is the period's summed spend, ``n`` the number of transactions in it; rows are
    sorted by customer and period. This is the one aggregation behind every BTYD summary.
    """
    periods = period_index(tx["date"], freq)
    frame = pd.DataFrame({"customer_id": tx["customer_id"].to_numpy(), "period": periods,
                          "amount": tx["amount"].to_numpy(dtype=float)})
    return frame.groupby(["customer_id", "period"], sort=True).agg(
        amount=("amount", "sum"), n=("amount", "size")).reset_index()


def summary_from_periods(cp: pd.DataFrame, end_period: int, freq_multiplier: float,
                         include_first_transaction: bool = False) -> pd.DataFrame:
    """Per-customer summary from the sorted (customer, period, amount) table."""
    ids = cp["customer_id"].to_numpy()
    periods = cp["period"].to_numpy()
    amounts = cp["amount"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)] - 1
    count = ends - starts + 1
    total = np.add.reduceat(amounts, starts)
    return summary_columns(ids[starts], periods[starts], periods[ends], count, total,
                           amounts[starts], end_period, freq_multiplier,
                           include_first_transaction)


def summary_columns(ids, first, last, count, total, first_spend, end_period: int,
                    freq_multiplier: float, include_first_transaction: bool) -> pd.DataFrame:
    """The BTYD columns from per-customer first/last period, purchase periods and spend."""
    if include_first_transaction:
        frequency, monetary = count, total / count
    else:
        frequency = count - 1
        with np.errstate(invalid="ignore", divide="ignore"):
            monetary = np.where(count > 1, (total - first_spend) / np.maximum(count - 1, 1), 0.0)
    return pd.DataFrame({
        "frequency": frequency.astype(float),
        "recency": (last - first) / freq_multiplier,
        "T": (end_period - first) / freq_multiplier,
        "monetary_value": monetary.astype(float),
    }, index=pd.Index(ids, name="customer_id"))


def rfm_summary(tx: pd.DataFrame, observation_end=None, freq: str = "D",
                freq_multiplier: float = 1, *, include_first_transaction: bool = False,
                validate: bool = True, returns: str = "net") -> pd.DataFrame:
    """The BTYD summary of each customer who purchased by ``observation_end``, in pandas
    (parameters: :func:`retention_lab.features.rfm_summary`)."""
    freq = check_freq(freq)
    tx, quality = _prepare(tx, validate, returns)
    end = tx["date"].max() if observation_end is None else pd.Timestamp(observation_end)
    inside = in_window(tx["date"], end)
    quality.record("transactions", "date", f"date <= observation_end ({end.date()})",
                   int((~inside).sum()), action="outside window",
                   note="after the summary's observation end")
    cp = customer_periods(tx.loc[inside], freq)
    end_period = int(period_index([end], freq)[0])
    out = summary_from_periods(cp, end_period, freq_multiplier, include_first_transaction)
    out.attrs.update(json_attrs(quality, freq=freq, freq_multiplier=freq_multiplier,
                                observation_end=end))
    return out


def calibration_holdout(tx: pd.DataFrame, calibration_end, observation_end=None,
                        freq: str = "D", freq_multiplier: float = 1, *, validate: bool = True,
                        returns: str = "net") -> pd.DataFrame:
    """The BTYD summary at ``calibration_end`` plus the holdout columns, in pandas
    (:func:`retention_lab.features.calibration_holdout`)."""
    freq = check_freq(freq)
    tx, quality = _prepare(tx, validate, returns)
    cal_end = pd.Timestamp(calibration_end)
    obs_end = tx["date"].max() if observation_end is None else pd.Timestamp(observation_end)
    if obs_end <= cal_end:
        raise ValueError(f"observation_end ({obs_end.date()}) must be after calibration_end "
                         f"({cal_end.date()})")
    cal = rfm_summary(tx, cal_end, freq, freq_multiplier, validate=False)
    in_cal = in_window(tx["date"], cal_end)
    hold_mask = in_window(tx["date"], obs_end, start=cal_end)
    quality.record("transactions", "date", f"date <= observation_end ({obs_end.date()})",
                   int((~in_cal & ~hold_mask).sum()), action="outside window",
                   note="after the holdout's observation end")
    hold = tx.loc[hold_mask]
    new = ~hold["customer_id"].isin(cal.index)
    quality.record("transactions", "customer_id", "customer acquired by calibration_end",
                   int(new.sum()), action="outside window",
                   note="holdout purchases of customers first seen in the holdout")
    hp = customer_periods(hold.loc[~new], freq)
    agg = hp.groupby("customer_id").agg(frequency_holdout=("period", "size"),
                                        monetary_value_holdout=("amount", "mean"))
    out = cal.join(agg, how="left")
    out[["frequency_holdout", "monetary_value_holdout"]] = (
        out[["frequency_holdout", "monetary_value_holdout"]].fillna(0.0).astype(float))
    delta = int(period_index([obs_end], freq)[0] - period_index([cal_end], freq)[0])
    out["duration_holdout"] = delta / freq_multiplier
    out.attrs = json_attrs(quality, freq=freq, freq_multiplier=freq_multiplier,
                           observation_end=obs_end, calibration_end=cal_end)
    return out


def collapse_summary(summary: pd.DataFrame, columns=("frequency", "recency", "T")) -> pd.DataFrame:
    """Collapse identical (frequency, recency, T) rows into one with a ``weight`` (their count).

    BTYD likelihoods depend on a customer only through these three numbers, so a fitter given
    the collapsed table costs what its distinct rows cost (CDNOW: 2,357 customers → ~1,400 rows).
    """
    cols = list(columns)
    if "weight" in summary.columns:
        return summary.groupby(cols, as_index=False)["weight"].sum()
    return summary.groupby(cols, as_index=False).size().rename(columns={"size": "weight"})


def collapse_churn(table: pd.DataFrame) -> pd.DataFrame:
    """``duration, churned, weight``: identical (duration, churned) rows of a churn table
    counted — lifelines' ``weights_col`` input (``KaplanMeierFitter.fit(..., weights=)``,
    ``CoxPHFitter.fit(..., weights_col="weight")`` without covariates)."""
    out = table.groupby(["duration", "churned"], as_index=False).size()
    return out.rename(columns={"size": "weight"}).astype({"weight": np.int64})


def churn_table(tx: pd.DataFrame, inactivity_days: int = 90, observation_end=None, *,
                unit: str = "D", validate: bool = True, returns: str = "net") -> pd.DataFrame:
    """The churn (survival) table in pandas (:func:`retention_lab.features.churn_table`)."""
    if inactivity_days <= 0:
        raise ValueError(f"inactivity_days must be positive, not {inactivity_days}")
    unit = unit_code(unit)
    per = days_per(unit)
    tx, quality = _prepare(tx, validate, returns)
    end = tx["date"].max() if observation_end is None else pd.Timestamp(observation_end)
    inside = in_window(tx["date"], end)
    quality.record("transactions", "date", f"date <= observation_end ({end.date()})",
                   int((~inside).sum()), action="outside window")
    days = tx.loc[inside, "date"].dt.normalize()
    g = pd.DataFrame({"customer_id": tx.loc[inside, "customer_id"].to_numpy(),
                      "day": days.to_numpy()}).groupby("customer_id")["day"]
    out = pd.DataFrame({"first_purchase": g.min(), "last_purchase": g.max(),
                        "n_purchases": g.nunique()})
    cutoff = end.normalize() - pd.Timedelta(days=int(inactivity_days))
    too_new = out["first_purchase"] > cutoff
    quality.record("transactions", "customer_id",
                   f"first purchase on or before the confirmation cutoff ({cutoff.date()})",
                   int(too_new.sum()), note="customers too new for a lapse to be confirmed")
    out = out.loc[~too_new].copy()
    churned = out["last_purchase"] <= cutoff
    out["followup_end"] = out["last_purchase"].where(churned, cutoff)
    age_days = (out["followup_end"] - out["first_purchase"]).dt.days.astype(float)
    out["duration"] = age_days / per
    out["churned"] = churned.astype(np.int64)
    out["n_purchases"] = out["n_purchases"].astype(np.int64)
    out.index.name = "customer_id"
    out.attrs.update(json_attrs(quality, cutoff=cutoff, inactivity_days=int(inactivity_days),
                                unit=unit, observation_end=end))
    return out


def period_labels(periods: np.ndarray, freq: str) -> pd.PeriodIndex:
    """pandas Periods for :func:`~retention_lab.periods.period_index` numbers."""
    if freq == "M":
        return pd.PeriodIndex(pd.to_datetime(periods.astype("datetime64[M]")), freq="M")
    days = periods * 7 - 3 if freq == "W" else periods
    return pd.PeriodIndex(pd.to_datetime(days, unit="D"), freq="W" if freq == "W" else "D")


def cohort_matrix(active: pd.DataFrame, end: pd.Timestamp, freq: str, counts: bool,
                  complete_periods: bool) -> pd.DataFrame:
    """The cohort matrix from ``active`` (cohort period × k → customers active; column 0 the
    cohort sizes): shares (or counts), cells not (completely) observed set to NaN."""
    size = active[0]
    end_period = int(period_index([end], freq)[0])
    last_observed = end_period
    if complete_periods and period_index([end + pd.Timedelta(days=1)], freq)[0] == end_period:
        last_observed -= 1  # the day after the end is in the same period: it is incomplete
    ks = np.arange(int(end_period - active.index.min()) + 1)
    active = active.reindex(columns=ks, fill_value=0)
    observed = (active.index.to_numpy()[:, None] + ks[None, :]) <= last_observed
    values = active.astype(float) if counts else active.div(size, axis=0)
    values = values.where(observed)
    values.index = period_labels(values.index.to_numpy(), freq)
    values.index.name = "cohort"
    values.columns.name = "periods_since_acquisition"
    # A dict of JSON values (cohort label → customers): pandas compares attrs with == when it
    # concatenates (a Series there raises), and to_parquet writes them as JSON.
    values.attrs["cohort_size"] = dict(zip(map(str, values.index), size.to_numpy().tolist()))
    return values


def cohort_retention(tx: pd.DataFrame, freq: str = "M", observation_end=None, *,
                     counts: bool = False, complete_periods: bool = True,
                     validate: bool = True) -> pd.DataFrame:
    """The cohort matrix in pandas (:func:`retention_lab.features.cohort_retention`)."""
    freq = check_freq(freq)
    if validate:
        tx, _ = validate_transactions(tx)
    end = tx["date"].max() if observation_end is None else pd.Timestamp(observation_end)
    tx = tx.loc[in_window(tx["date"], end)]
    cp = customer_periods(tx, freq)
    first = cp.groupby("customer_id")["period"].transform("min")
    cp = cp.assign(cohort=first.to_numpy(), k=(cp["period"] - first).to_numpy())
    active = cp.groupby(["cohort", "k"]).size().unstack("k", fill_value=0)
    return cohort_matrix(active, end, freq, counts, complete_periods)
