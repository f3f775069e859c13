"""The distinct (customer, purchase day) pairs of clean transactions, sorted once, and the two
tables :func:`.time_varying.enrolment_effect` reads from them: the churn table (what
:func:`retention_lab.features.churn_table` returns: first and last purchase day, purchase days,
follow-up, duration, lapse) and the purchase ages of :func:`.time_varying.purchase_ages`
(``by_customer``). Issue 22: at a million customers the engine's churn table (a DuckDB window
rank over 17M rows) and the purchase ages' own sort of the same pairs cost ~14 s; one value
sort of integer keys gives both.

Only for transactions the engine's validation would leave as they are (:func:`customer_days`
says when: integer ids, ``datetime64[ns]`` dates, finite non-negative amounts, no
``order_id`` to check); anything else returns ``None`` and the callers take the engine.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._arrays import positions
from ..engines.pandas_engine import json_attrs
from ..engines.sources import pick_engine
from ..errors import DataQuality
from ..periods import NS_PER_DAY, day_numbers, in_window
from ..units import days_per, unit_code


def customer_days(tx, observation_end=None) -> dict | None:
    """``dict(cid, day, starts, end, n_outside, n_rows, engine)``: the distinct (customer id, day
    number) pairs of the rows dated up to ``observation_end`` (default: the last date; a date
    includes its day), sorted by id and day (``starts``: each id's first pair), when ``tx`` is a clean frame (module docstring)
    and ``observation_end`` is a date or None (the purchase ages' day rule then equals the
    window's); else ``None``."""
    if not isinstance(tx, pd.DataFrame) or not {"customer_id", "date", "amount"} <= set(
            tx.columns) or "order_id" in tx.columns or not len(tx):
        return None
    cid, date, amt = (tx[c].to_numpy() for c in ("customer_id", "date", "amount"))
    if cid.dtype.kind != "i" or date.dtype != "datetime64[ns]" or amt.dtype.kind not in "fi":
        return None
    if np.isnat(date).any() or not (np.all(np.isfinite(amt)) and np.all(amt >= 0)):
        return None
    end = pd.Timestamp(date.max()) if observation_end is None else pd.Timestamp(observation_end)
    if observation_end is not None and end != end.normalize():
        return None
    inside = in_window(tx["date"], end)
    n_out = int(len(inside) - np.count_nonzero(inside))
    if n_out:
        cid, date = cid[inside], date[inside]
    if not len(cid):
        return None
    day = day_numbers(date)
    c0, d0 = int(cid.min()), int(day.min())
    span = int(day.max()) - d0 + 1
    if (int(cid.max()) - c0 + 1) * span >= 2 ** 62:
        return None
    key = np.sort((cid - c0) * span + (day - d0))
    key = key[np.r_[True, key[1:] != key[:-1]]]
    cid = key // span + c0
    return dict(cid=cid, day=key % span + d0, end=end, n_outside=n_out, n_rows=len(tx),
                engine=pick_engine(tx), starts=np.flatnonzero(np.r_[True, cid[1:] != cid[:-1]]))


def churn_from_days(cd: dict, inactivity_days: int = 90, unit: str = "D") -> pd.DataFrame:
    """:func:`retention_lab.features.churn_table` (``validate=True``, ``engine="auto"``) of the
    transactions :func:`customer_days` reduced: the same frame and ``attrs`` (tested equal to
    both engines)."""
    if inactivity_days <= 0:
        raise ValueError(f"inactivity_days must be positive, not {inactivity_days}")
    unit = unit_code(unit)
    quality = DataQuality()
    end = cd["end"]
    quality.record("transactions", "date", f"date <= observation_end ({end.date()})",
                   cd["n_outside"], action="outside window")
    cid, day, at = cd["cid"], cd["day"], cd["starts"]
    first, last = day[at], day[np.r_[at[1:], len(day)] - 1]
    n_days = np.diff(np.r_[at, len(day)]).astype(np.int64)
    cutoff = end.normalize() - pd.Timedelta(days=int(inactivity_days))
    cutoff_day = int(cutoff.value // NS_PER_DAY)
    too_new = first > cutoff_day
    quality.record("transactions", "customer_id",
                   f"first purchase on or before the confirmation cutoff ({cutoff.date()})",
                   int(too_new.sum()), note="customers too new for a lapse to be confirmed")
    ok = ~too_new
    first, last, n_days = first[ok], last[ok], n_days[ok]
    churned = last <= cutoff_day
    follow = np.where(churned, last, cutoff_day)
    out = pd.DataFrame({
        "first_purchase": _ns(first), "last_purchase": _ns(last), "n_purchases": n_days,
        "followup_end": _ns(follow), "duration": (follow - first).astype(float) / days_per(unit),
        "churned": churned.astype(np.int64)},
        index=pd.Index(cid[at][ok], name="customer_id"))
    out.attrs = json_attrs(quality, cutoff=cutoff, inactivity_days=int(inactivity_days),
                           unit=unit, observation_end=end)
    out.attrs.update(engine=cd["engine"], n_rows=int(cd["n_rows"]), source="pandas DataFrame")
    return out


def ages_from_days(cd: dict, table: pd.DataFrame) -> pd.DataFrame | None:
    """:func:`.time_varying.purchase_ages` (``by_customer=True``) from the pairs of
    :func:`customer_days`: the purchase days of ``table``'s customers (a churn table: sorted
    ids) in order of id and day, with their ages in days since the first purchase; ``None``
    when the table's ids are not sorted."""
    if not table.index.is_monotonic_increasing:
        return None
    cid = cd["cid"]
    at = cd["starts"]                       # each customer's first pair (ids sorted)
    row = positions(table.index, cid[at])   # one lookup per customer, not per purchase day
    n_days = np.diff(np.r_[at, len(cid)])
    ok = row >= 0
    keep = np.repeat(ok, n_days)
    first = table["first_purchase"].to_numpy()[row[ok]]
    return pd.DataFrame({"customer_id": np.repeat(cid[at][ok], n_days[ok]),
                         "age": _ages(cd["day"][keep], first, n_days[ok])})


def _ages(day, first, n_days):
    """``(day − first) / 1 day`` as floats (``day``: day numbers; ``first``: each customer's
    first purchase, repeated over their ``n_days`` days). When every ``first`` is a midnight
    the differences are whole days ``k`` and the quotient is that of a table over the ``k``
    spanned — the same timedelta division on the same values, so the same bits, without
    converting millions of days to datetimes and back (issue 22); the datetimes otherwise."""
    f = first.astype("datetime64[ns]").view(np.int64)
    if len(f) and first.dtype == "datetime64[ns]" and np.all(f % NS_PER_DAY == 0):
        k = day - np.repeat(f // NS_PER_DAY, n_days)
        lo = int(k.min()) if len(k) else 0
        span = (int(k.max()) - lo + 1) if len(k) else 0
        if span <= 4 * len(k) + 1024:
            table = (np.arange(lo, lo + span, dtype=np.int64) * NS_PER_DAY).astype(
                "timedelta64[ns]") / np.timedelta64(1, "D")
            return table[k - lo]
    d = day.astype("datetime64[D]").astype("datetime64[ns]")
    return (d - np.repeat(first, n_days)) / np.timedelta64(1, "D")


def _ns(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[ns]")
