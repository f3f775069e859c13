"""Acquisition-cohort retention: the share of each cohort that purchases k periods after joining."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..schema import validate_transactions
from .periods import customer_periods, in_window, period_index, runs_on_pandas


def _period_labels(periods: np.ndarray, freq: str) -> pd.PeriodIndex:
    if freq == "M":
        return pd.PeriodIndex(pd.to_datetime(periods.astype("datetime64[M]")), freq="M")
    days = periods * 7 - 3 if freq == "W" else periods
    return pd.PeriodIndex(pd.to_datetime(days, unit="D"), freq="W" if freq == "W" else "D")


def cohort_retention(tx: pd.DataFrame, freq: str = "M", observation_end=None, *,
                     counts: bool = False, complete_periods: bool = True,
                     validate: bool = True, engine: str = "auto") -> pd.DataFrame:
    """The cohort matrix: rows are acquisition cohorts (period of first purchase), columns are
    periods since acquisition ``k = 0, 1, …``, cells the share of the cohort's customers with at
    least one purchase in period ``k`` (``counts=True``: the number of such customers).

    Column 0 is 1 by construction. Cells not yet observed (after ``observation_end``) are NaN,
    not 0; with ``complete_periods`` (default) so are cells of a period that ``observation_end``
    cuts short (a month observed for two days would look like a collapse in retention). The cohort sizes are in
    ``attrs["cohort_size"]``, a dict cohort → customers (``pd.Series(attrs['cohort_size'])``).
    """
    freq = freq.upper()
    if not runs_on_pandas(tx, engine):  # the same matrix from DuckDB / Spark (retention_lab.engines)
        from .. import engines
        return engines.cohort_retention(tx, freq, observation_end, counts=counts,
                                        complete_periods=complete_periods, validate=validate,
                                        engine=engine)
    if validate:
        tx, _ = validate_transactions(tx)
    end = tx["date"].max() if observation_end is None else pd.Timestamp(observation_end)
    tx = tx.loc[in_window(tx["date"], end)]
    cp = customer_periods(tx, freq)
    first = cp.groupby("customer_id")["period"].transform("min")
    cp = cp.assign(cohort=first.to_numpy(), k=(cp["period"] - first).to_numpy())
    active = cp.groupby(["cohort", "k"]).size().unstack("k", fill_value=0)
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
    values.index = _period_labels(values.index.to_numpy(), freq)
    values.index.name = "cohort"
    values.columns.name = "periods_since_acquisition"
    # A dict, not a Series: pandas compares attrs with == when it concatenates (e.g. to print
    # a wide matrix), and a Series there raises "truth value of a Series is ambiguous".
    values.attrs["cohort_size"] = dict(zip(values.index, size.to_numpy().tolist()))
    return values
