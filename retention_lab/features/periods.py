"""Calendar periods and the per-customer-period reduction every summary starts from.

The BTYD conventions are those of ``lifetimes.utils.summary_data_from_transaction_data``:
dates are floored to their period (``D`` day, ``W`` week starting Monday, ``M`` calendar month),
several purchases in one period count as one purchase occasion whose amount is their sum, and
ages are differences of period numbers divided by ``freq_multiplier`` (``freq="D",
freq_multiplier=7`` gives the fractional weeks of the published CDNOW analyses).

An ``observation_end`` given as a date (no time of day) includes that whole day.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

FREQS = ("D", "W", "M")
#: Days per period, to express day counts in a period unit (months: the mean Gregorian month).
DAYS_PER = {"D": 1.0, "W": 7.0, "M": 30.436875}


def runs_on_pandas(tx, engine: str) -> bool:
    """Whether a summary of ``tx`` runs here, in pandas: ``engine="pandas"``, or ``"auto"`` with
    a DataFrame under :data:`retention_lab.engines.AUTO_PANDAS_MAX_ROWS` rows. Bigger frames,
    files and tables go to :mod:`retention_lab.engines` (a 10M-row frame is scanned in place by
    DuckDB: 3–5 s per summary instead of 8–16 s in pandas)."""
    if engine == "pandas":
        return True
    from ..engines.sources import pick_engine
    return pick_engine(tx, engine) == "pandas"


def _check_freq(freq: str) -> str:
    f = str(freq).upper()
    if f not in FREQS:
        raise ValueError(f"freq must be one of {FREQS}, not {freq!r}")
    return f


def period_index(dates, freq: str = "D") -> np.ndarray:
    """Integer period numbers for ``dates``: differences give whole periods between them.

    ``D``: days since 1970-01-01; ``W``: Monday-based weeks (pandas' ``W-SUN`` periods);
    ``M``: ``12 * year + month``.
    """
    f = _check_freq(freq)
    values = pd.DatetimeIndex(dates).values.astype("datetime64[D]")
    days = values.astype(np.int64)
    if f == "D":
        return days
    if f == "W":
        return np.floor_divide(days + 3, 7)  # 1970-01-01 was a Thursday
    months = values.astype("datetime64[M]").astype(np.int64)
    return months


def window_end(observation_end) -> pd.Timestamp:
    """The exclusive upper bound of the window: a date includes its whole day."""
    end = pd.Timestamp(observation_end)
    return end + pd.Timedelta(days=1) if end == end.normalize() else end + pd.Timedelta(1, "ns")


def in_window(dates: pd.Series, observation_end, start=None) -> np.ndarray:
    """Boolean mask of ``start < date <= observation_end`` with the whole-day convention."""
    mask = dates.to_numpy() < window_end(observation_end).to_datetime64()
    if start is not None:
        mask &= dates.to_numpy() >= window_end(start).to_datetime64()
    return mask


def customer_periods(tx: pd.DataFrame, freq: str = "D") -> pd.DataFrame:
    """Reduce transactions to one row per (customer, period): ``customer_id, period, amount, n``.

    ``amount`` is the period's summed spend, ``n`` the number of transactions in it; rows are
    sorted by customer and period. This is the one aggregation behind every BTYD summary.
    """
    periods = period_index(tx["date"], freq)
    frame = pd.DataFrame({"customer_id": tx["customer_id"].to_numpy(), "period": periods,
                          "amount": tx["amount"].to_numpy(dtype=float)})
    out = frame.groupby(["customer_id", "period"], sort=True).agg(
        amount=("amount", "sum"), n=("amount", "size")).reset_index()
    return out
