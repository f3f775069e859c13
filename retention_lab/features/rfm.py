"""The BTYD summary (frequency, recency, T, monetary value) and the calibration–holdout split.

Conventions are those of ``lifetimes`` (Davidson-Pilon et al.), which follow Fader, Hardie & Lee
(2005, "Counting your customers the easy way", Marketing Science 24(2)):

* ``frequency`` — the number of *repeat* purchase periods (distinct periods with a purchase − 1);
* ``recency`` — the customer's age at their last purchase (last − first purchase period);
* ``T`` — the customer's age at the end of the window (window end − first purchase period);
* ``monetary_value`` — the mean spend per repeat purchase period (0 without repeat purchases).

Where we differ from lifetimes 0.11.3, on purpose (tests/test_features.py shows each case):

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
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataQuality
from ..schema import validate_transactions
from .periods import customer_periods, in_window, period_index, runs_on_pandas

SUMMARY_COLUMNS = ["frequency", "recency", "T", "monetary_value"]


def _prepare(tx: pd.DataFrame, validate: bool, returns: str) -> tuple[pd.DataFrame, DataQuality]:
    if validate:
        return validate_transactions(tx, returns=returns)
    return tx, DataQuality()


def _summary_from_periods(cp: pd.DataFrame, end_period: int, freq_multiplier: float,
                          include_first_transaction: bool = False) -> pd.DataFrame:
    """Per-customer summary from the sorted (customer, period, amount) table."""
    ids = cp["customer_id"].to_numpy()
    periods = cp["period"].to_numpy()
    amounts = cp["amount"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)] - 1
    count = ends - starts + 1
    first, last = periods[starts], periods[ends]
    total = np.add.reduceat(amounts, starts)
    frequency = count if include_first_transaction else count - 1
    if include_first_transaction:
        monetary = total / count
    else:
        repeat_total = total - amounts[starts]
        with np.errstate(invalid="ignore", divide="ignore"):
            monetary = np.where(count > 1, repeat_total / np.maximum(count - 1, 1), 0.0)
    out = pd.DataFrame({
        "frequency": frequency.astype(float),
        "recency": (last - first) / freq_multiplier,
        "T": (end_period - first) / freq_multiplier,
        "monetary_value": monetary.astype(float),
    }, index=pd.Index(ids[starts], name="customer_id"))
    return out


def rfm_summary(tx: pd.DataFrame, observation_end=None, freq: str = "D",
                freq_multiplier: float = 1, *, include_first_transaction: bool = False,
                validate: bool = True, returns: str = "net", engine: str = "auto") -> pd.DataFrame:
    """The BTYD summary of each customer who purchased by ``observation_end``.

    Parameters
    ----------
    tx : DataFrame
        Transactions (``customer_id, date, amount``); validated against the data contract
        unless ``validate=False``.
    observation_end : date-like, optional
        End of the window (a date includes its whole day); default the last transaction date.
        Transactions after it are outside the window (counted in ``summary.attrs['quality']``).
    freq : {"D", "W", "M"}
        The period that purchases are floored to (lifetimes' ``freq``).
    freq_multiplier : float
        Divides ages, e.g. ``freq="D", freq_multiplier=7`` for fractional weeks.
    include_first_transaction : bool
        Count the first purchase in ``frequency`` and ``monetary_value`` (lifetimes' option).
    engine : str
        ``"auto"`` (default): pandas for frames under 2M rows, else DuckDB (the same numbers,
        :mod:`retention_lab.engines`); ``"pandas"``, ``"duckdb"``, ``"spark"`` force one.

    Returns
    -------
    DataFrame indexed by ``customer_id`` with ``frequency, recency, T, monetary_value``; its
    ``attrs['quality']`` is the :class:`~retention_lab.DataQuality` ledger of the input.
    """
    if not runs_on_pandas(tx, engine):
        from .. import engines
        return engines.rfm_summary(tx, observation_end=observation_end, freq=freq,
                                   freq_multiplier=freq_multiplier, engine=engine,
                                   include_first_transaction=include_first_transaction,
                                   validate=validate, returns=returns)
    tx, quality = _prepare(tx, validate, returns)
    end = tx["date"].max() if observation_end is None else pd.Timestamp(observation_end)
    inside = in_window(tx["date"], end)
    quality.record("transactions", "date", f"date <= observation_end ({end.date()})",
                   int((~inside).sum()), action="outside window",
                   note="after the summary's observation end")
    cp = customer_periods(tx.loc[inside], freq)
    end_period = int(period_index([end], freq)[0])
    out = _summary_from_periods(cp, end_period, freq_multiplier, include_first_transaction)
    out.attrs["quality"] = quality
    out.attrs["freq"] = freq
    out.attrs["freq_multiplier"] = freq_multiplier
    out.attrs["observation_end"] = end
    return out


def calibration_holdout(tx: pd.DataFrame, calibration_end, observation_end=None,
                        freq: str = "D", freq_multiplier: float = 1, *, validate: bool = True,
                        returns: str = "net", engine: str = "auto") -> pd.DataFrame:
    """The BTYD summary at ``calibration_end`` plus what each customer did in the holdout.

    Mirrors ``lifetimes.utils.calibration_and_holdout_data`` (with the calibration columns
    unsuffixed so that the frame goes straight into a fitter): ``frequency, recency, T,
    monetary_value`` over the calibration window, then

    * ``frequency_holdout`` — distinct purchase periods in ``(calibration_end, observation_end]``;
    * ``monetary_value_holdout`` — mean spend per holdout purchase period (0 if none);
    * ``duration_holdout`` — holdout length in periods (``/ freq_multiplier``).

    Only customers acquired by ``calibration_end`` appear (later ones are counted in the
    quality ledger as acquired in the holdout).
    """
    if not runs_on_pandas(tx, engine):
        from .. import engines
        return engines.calibration_holdout(tx, calibration_end=calibration_end,
                                           observation_end=observation_end, freq=freq,
                                           freq_multiplier=freq_multiplier, engine=engine,
                                           validate=validate, returns=returns)
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
    out.attrs.update(cal.attrs)
    out.attrs["quality"] = quality
    out.attrs["calibration_end"] = cal_end
    out.attrs["observation_end"] = obs_end
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
