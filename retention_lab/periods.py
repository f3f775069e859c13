"""Calendar periods and the observation window: the conventions every summary engine shares.

A *period* is what purchase dates are floored to before counting purchase occasions — pandas'
and lifetimes' ``freq``: ``"D"`` calendar day, ``"W"`` week starting Monday, ``"M"`` calendar
month. :func:`period_index` numbers them so that differences are whole periods; the SQL engines
compute the same numbers (:mod:`retention_lab.engines.sql`).

An ``observation_end`` given as a date (no time of day) includes that whole day
(:func:`window_end`, :func:`in_window`).

This module depends on nothing else in the package, so that both the pandas implementations and
the SQL engines use one definition.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: Period codes: day, Monday-based week, calendar month.
FREQS = ("D", "W", "M")
#: nanoseconds in a day: ``datetime64[ns]`` values floor-divided by it are day numbers
NS_PER_DAY = 86_400 * 10 ** 9


def check_freq(freq: str) -> str:
    """The period code ``freq`` upper-cased, or ``ValueError`` naming the choices."""
    f = str(freq).upper()
    if f not in FREQS:
        raise ValueError(f"freq (the period purchases are floored to) must be one of {FREQS}, "
                         f"not {freq!r}")
    return f


def period_index(dates, freq: str = "D") -> np.ndarray:
    """Integer period numbers for ``dates``: differences give whole periods between them.

    ``D``: days since 1970-01-01; ``W``: Monday-based weeks, ``floor((day + 3) / 7)`` (pandas'
    ``W-SUN`` periods; 1970-01-01 was a Thursday); ``M``: ``12 * (year - 1970) + month - 1``.
    """
    days = pd.DatetimeIndex(dates).values.astype("datetime64[D]").astype(np.int64)
    return day_period(days, freq)


def day_numbers(values) -> np.ndarray:
    """Day numbers (:func:`period_index` ``"D"``: days since 1970-01-01, the floor of the
    nanoseconds by a day) of time-zone-naive datetimes, as int64 — a view and one division for
    ``datetime64[ns]`` values, where :func:`period_index` goes through pandas (issue 22)."""
    return np.asarray(values).astype("datetime64[ns]", copy=False).view(np.int64) // NS_PER_DAY


def day_period(days, freq: str = "D") -> np.ndarray:
    """:func:`period_index` of day numbers (days since 1970-01-01)."""
    f = check_freq(freq)
    days = np.asarray(days, dtype=np.int64)
    if f == "D":
        return days
    if f == "W":
        return np.floor_divide(days + 3, 7)
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def period_first_day(k, freq: str = "D") -> np.ndarray:
    """Day number (days since 1970-01-01) of the first day of periods ``k`` — the inverse of
    :func:`day_period` on a period's first day."""
    f = check_freq(freq)
    k = np.asarray(k, dtype=np.int64)
    if f == "D":
        return k
    if f == "W":
        return 7 * k - 3
    return k.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


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
