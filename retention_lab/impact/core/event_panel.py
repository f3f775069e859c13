"""The customer × calendar-month panel of the event study (:mod:`.event_study`): each
customer's monthly outcome from their acquisition month to the last complete month, with the
enrolment month as the cohort (:func:`event_panel`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..._arrays import positions
from ...errors import DataError
from .outcomes import _to_datetime

#: Outcome → how a customer's month is measured.
OUTCOMES = {"purchases": "orders in the month", "spend": "spend in the month",
            "active": "1 if the customer ordered in the month, else 0"}
_NEVER = np.iinfo(np.int64).max // 4


def _month(dates) -> np.ndarray:
    d = pd.DatetimeIndex(_to_datetime(dates))
    if d.tz is None and not d.hasnans:   # the same number from the month unit, without fields
        return d.to_numpy().astype("datetime64[M]").astype(np.int64) + 1970 * 12
    return (d.year.to_numpy(np.int64) * 12 + d.month.to_numpy(np.int64) - 1)


def _days_and_months(dates) -> tuple[np.ndarray, np.ndarray]:
    """``(day number, month number)`` of each date: the days by one conversion, the months by a
    table over the days' range (issue 22: a second calendar conversion of every transaction was
    most of the panel's cost at 200k customers); :func:`_month` where dates are tz-aware, have
    NaT or span more than 10⁶ days."""
    v = _to_datetime(dates).to_numpy()
    days = v.astype("datetime64[D]").astype(np.int64)
    if v.dtype.kind != "M" or not len(v) or np.isnat(v).any():
        return days, _month(dates)
    lo, hi = int(days.min()), int(days.max())
    if hi - lo > 1_000_000:
        return days, _month(dates)
    table = (np.arange(lo, hi + 1).astype("datetime64[D]").astype("datetime64[M]")
             .astype(np.int64) + 1970 * 12)
    return days, table[days - lo]


def _period(m) -> pd.PeriodIndex:
    """Monthly Periods of month numbers ``year * 12 + month − 1`` (Period ordinals count months
    from 1970-01)."""
    ordinal = np.asarray(m, np.int64) - 1970 * 12
    return pd.PeriodIndex(pd.arrays.PeriodArray(ordinal, dtype=pd.PeriodDtype("M")))


@dataclass
class _Panel:
    y: np.ndarray        # (N, T) outcome, NaN where the customer is not observed
    cohort: np.ndarray   # (N,) period index of enrolment; _NEVER for none
    ids: np.ndarray      # (N,) customer ids
    months: np.ndarray   # (T,) calendar month numbers (year * 12 + month − 1), or periods
    calendar: bool       # months are calendar months
    sample: dict


def _panel_from_data(data, outcome: str) -> _Panel:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}")
    tx, cu = data.transactions, data.customers
    if "enrolled_at" not in cu.columns:
        raise DataError("customers: missing column 'enrolled_at'; rule 'the event study needs "
                        "each customer's enrolment date (null for never-members)'",
                        table="customers", column="enrolled_at",
                        rule="enrolled_at present", n_rows=len(cu))
    if data.observation_end is None:
        raise ValueError("data.observation_end is needed to know the last complete month")
    ids = cu["customer_id"].to_numpy()
    pos = positions(ids, tx["customer_id"].to_numpy())   # get_indexer (a table for int ids)
    if (pos < 0).any():
        raise DataError.for_rule("transactions", "customer_id", "customer_id is in customers",
                                 pd.Series(pos < 0), tx)
    end = pd.Timestamp(data.observation_end).normalize()
    last = int(_month([end])[0]) - (0 if (end + pd.Timedelta(days=1)).day == 1 else 1)
    day, tx_month = _days_and_months(tx["date"])
    first_tx = np.full(len(ids), _NEVER, np.int64)
    np.minimum.at(first_tx, pos, tx_month)
    entry = first_tx.copy()
    if "signup_date" in cu.columns:
        signup = cu["signup_date"]
        ok = signup.notna().to_numpy()
        entry[ok] = np.minimum(entry[ok], _month(signup[ok]))
    enrolled = cu["enrolled_at"].notna().to_numpy()
    cohort = np.full(len(ids), _NEVER, np.int64)
    cohort[enrolled] = _month(cu.loc[enrolled, "enrolled_at"])
    no_entry = entry == _NEVER
    start = int(entry[~no_entry].min()) if (~no_entry).any() else last
    T = last - start + 1
    if T < 2:
        raise DataError("transactions: fewer than two complete months between the first "
                        "acquisition and the observation end; rule 'an event study needs at "
                        "least two months'", table="transactions", column="date",
                        rule="at least two complete months", n_rows=len(tx))
    keep = tx_month <= last
    cell = pos[keep] * T + (tx_month[keep] - start)
    if outcome == "spend":
        flat = np.bincount(cell, weights=tx["amount"].to_numpy(float)[keep],
                           minlength=len(ids) * T)
    else:
        flat = np.bincount(cell, minlength=len(ids) * T).astype(float)
        if outcome == "active":
            flat = (flat > 0).astype(float)
    y = flat.reshape(len(ids), T)
    y[np.arange(T)[None, :] < (entry - start)[:, None]] = np.nan
    y[no_entry] = np.nan
    cohort_idx = np.where(enrolled, cohort - start, _NEVER)
    enrol_day = (_to_datetime(cu.loc[enrolled, "enrolled_at"]).to_numpy()
                 .astype("datetime64[D]").astype(np.int64))
    # enrolled on a purchase day: a transaction of the member on their enrolment day (a direct
    # comparison per transaction; a hash isin of 3.3M keys was half the panel at 200k)
    enrol_of = np.full(len(ids), np.iinfo(np.int64).min, np.int64)
    enrol_of[enrolled] = enrol_day
    on_day = np.zeros(len(ids), bool)
    on_day[pos[day == enrol_of[pos]]] = True
    at_purchase = on_day[enrolled]
    sample = {"customers": int(len(ids)), "members": int(enrolled.sum()),
              "share_members_enrolled_on_a_purchase_day": float(at_purchase.mean())
              if enrolled.any() else float("nan"),
              "customers_without_entry": int(no_entry.sum()),
              "members_enrolled_in_acquisition_month": int((enrolled & (cohort == entry)).sum()),
              "members_enrolled_after_panel": int((enrolled & (cohort > last)).sum()),
              "transactions_after_last_complete_month": int((~keep).sum()),
              "first_month": str(_period([start])[0]), "last_month": str(_period([last])[0])}
    return _Panel(y, cohort_idx, ids, np.arange(start, last + 1), True, sample)


def _panel_from_frame(panel: pd.DataFrame, outcome: str) -> _Panel:
    """A long panel (``customer_id``, ``period``, ``outcome``, ``cohort``): periods as integers
    or monthly Periods, ``cohort`` null for never-members; a missing row = not observed."""
    need = ["customer_id", "period", outcome, "cohort"]
    missing = [c for c in need if c not in panel.columns]
    if missing:
        raise DataError(f"panel: missing column(s) {missing}; rule 'a panel has customer_id, "
                        f"period, the outcome and cohort'", table="panel",
                        column=",".join(missing), rule="required columns", n_rows=len(panel))
    calendar = isinstance(panel["period"].dtype, pd.PeriodDtype)

    def as_int(s):
        if isinstance(s.dtype, pd.PeriodDtype):
            return np.where(s.isna(), _NEVER, s.array.asi8).astype(np.int64)
        v = pd.to_numeric(s)
        return np.where(v.isna(), _NEVER, v.fillna(0)).astype(np.int64)

    period = as_int(panel["period"])
    cohort_row = as_int(panel["cohort"])
    codes, ids = pd.factorize(panel["customer_id"])
    first_cohort = pd.Series(cohort_row).groupby(codes).agg(["min", "max"])
    bad = first_cohort["min"] != first_cohort["max"]
    if bad.any():
        raise DataError.for_rule("panel", "cohort", "one cohort per customer",
                                 pd.Series(bad[codes].to_numpy()), panel)
    start, stop = int(period.min()), int(period.max())
    T = stop - start + 1
    y = np.full((len(ids), T), np.nan)
    y[codes, period - start] = pd.to_numeric(panel[outcome]).to_numpy(float)
    cohort = first_cohort["min"].to_numpy()
    cohort = np.where(cohort == _NEVER, _NEVER, cohort - start)
    members = cohort != _NEVER
    sample = {"customers": int(len(ids)), "members": int(members.sum()),
              "first_period": start, "last_period": stop}
    if calendar:  # Period ordinals of freq M count months since 1970-01
        months = np.arange(start, stop + 1) + 1970 * 12
    else:
        months = np.arange(start, stop + 1)
    return _Panel(y, cohort, np.asarray(ids), months, calendar, sample)


def event_panel(data, outcome: str = "purchases") -> pd.DataFrame:
    """The customer × calendar-month panel the event study uses.

    ``data`` is an :class:`~retention_lab.experiment_data.ExperimentData` (``customers`` with
    ``enrolled_at``). One row per customer and month from their acquisition month to the last
    complete month: ``customer_id``, ``period`` (monthly Period), the outcome (see
    :data:`OUTCOMES`), ``cohort`` (enrolment month, NaT for never-members) and ``event_time``
    (months since enrolment, NaN for never-members). ``attrs["sample"]`` counts what was left
    out (customers without any date, the incomplete last month).
    """
    p = _panel_from_data(data, outcome)
    N, T = p.y.shape
    obs = ~np.isnan(p.y)
    row, col = np.nonzero(obs)
    member = p.cohort[row] != _NEVER
    cohort = pd.Series(_period(np.where(member, p.cohort[row], 0) + p.months[0]))
    cohort[~member] = pd.NaT
    out = pd.DataFrame({
        "customer_id": p.ids[row],
        "period": _period(p.months[col]),
        outcome: p.y[row, col],
        "cohort": cohort.to_numpy(),
        "event_time": np.where(member, col - p.cohort[row], np.nan),
    })
    if outcome != "spend":
        out[outcome] = out[outcome].astype(np.int64)
    out.attrs["sample"] = p.sample
    return out
