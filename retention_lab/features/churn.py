"""The churn (survival) table of a non-contractual business.

A customer *lapses* (churns) when they buy nothing for ``inactivity_days``. The inactivity window
**confirms** a lapse, it does not **date** it: the customer lapsed after their last purchase, so

* the event time is the customer's age at their **last purchase** (``last − first``);
* a lapse can be confirmed only for last purchases at least ``inactivity_days`` before the
  observation end, i.e. on or before the *confirmation cutoff* ``observation_end −
  inactivity_days``;
* every other customer is right-censored **at the cutoff** (``cutoff − first``): at the cutoff we
  know they had not yet made their last purchase, and a fixed administrative censoring time is
  non-informative — censoring at the last purchase would tie censoring to the purchase process;
* customers first seen after the cutoff carry no information about lapses and are excluded
  (counted in ``attrs['quality']``).

Dating the churn at the end of the inactivity window instead would add ``inactivity_days`` of
phantom survival to every churner and bias any time-varying analysis (e.g. of loyalty enrolment)
that compares exposure during that phantom window.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..schema import validate_transactions
from .periods import DAYS_PER, in_window, runs_on_pandas
from ..errors import DataQuality


def churn_table(tx: pd.DataFrame, inactivity_days: int = 90, observation_end=None, *,
                unit: str = "D", validate: bool = True, returns: str = "net",
                engine: str = "auto") -> pd.DataFrame:
    """One row per customer: ``first_purchase, last_purchase, n_purchases, followup_end,
    duration, churned``.

    Parameters
    ----------
    tx : DataFrame
        Transactions (``customer_id, date, amount``).
    inactivity_days : int
        Days without a purchase that confirm a lapse.
    observation_end : date-like, optional
        Default: the last transaction date. A date includes its whole day.
    unit : {"D", "W", "M"}
        The unit of ``duration`` (days, weeks, mean months).
    engine : str
        ``"auto"`` (default): pandas for frames under 2M rows, else DuckDB; ``"pandas"``,
        ``"duckdb"``, ``"spark"`` force one (see :func:`~retention_lab.features.periods.runs_on_pandas`).

    Returns
    -------
    DataFrame indexed by ``customer_id``: ``duration`` (age at the lapse or at censoring, in
    ``unit``), ``churned`` (1 = lapse confirmed, 0 = censored), ``followup_end`` (the date the
    duration ends at). ``attrs`` hold ``quality``, ``cutoff``, ``inactivity_days`` and ``unit``.
    """
    if inactivity_days <= 0:
        raise ValueError(f"inactivity_days must be positive, not {inactivity_days}")
    if not runs_on_pandas(tx, engine):
        from .. import engines
        return engines.churn_table(tx, inactivity_days, observation_end, unit=unit,
                                   validate=validate, returns=returns, engine=engine)
    quality = DataQuality()
    if validate:
        tx, quality = validate_transactions(tx, returns=returns)
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
    out["duration"] = age_days / DAYS_PER[unit.upper()]
    out["churned"] = churned.astype(np.int64)
    out["n_purchases"] = out["n_purchases"].astype(np.int64)
    out.index.name = "customer_id"
    out.attrs.update(quality=quality, cutoff=cutoff, inactivity_days=int(inactivity_days),
                     unit=unit.upper(), observation_end=end)
    return out
