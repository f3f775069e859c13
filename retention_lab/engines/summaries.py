"""The summary tables on any engine: ``rfm_summary``, ``calibration_holdout``, ``churn_table``,
``cohort_retention``, ``customer_periods`` — same signatures, conventions and numbers as
:mod:`retention_lab.features`, which *is* the pandas engine.

Each result says where it ran: ``attrs["engine"]`` (``pandas``/``duckdb``/``spark``),
``attrs["n_rows"]`` (transactions read) and ``attrs["source"]``, next to the usual
``attrs["quality"]`` ledger. ``collapse=True`` returns the table a fitter needs, grouped in the
engine: ``frequency, recency, T, weight`` (BTYD) or ``duration, churned, weight`` (survival), so
a 10M-customer summary never reaches pandas row by row.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import features
from ..errors import DataQuality
from ..features.periods import DAYS_PER, period_index
from . import contract, sql
from .sources import Source, check_fits_in_pandas, pick_engine, source

TABLE = "transactions"


def _tag(out: pd.DataFrame, engine: str, n_rows, description: str) -> pd.DataFrame:
    out.attrs.update(engine=engine, n_rows=None if n_rows is None else int(n_rows),
                     source=description)
    return out


def _pandas(data) -> tuple[pd.DataFrame, str]:
    tx = source(data, "pandas")
    desc = "pandas DataFrame" if isinstance(data, pd.DataFrame) else f"{data!r} read into pandas"
    return tx, desc


def _prepare(data, engine, validate, returns, spark, settings):
    src = source(data, engine, spark=spark, **settings)
    clean, quality, n = contract.clean_view(src, validate=validate, returns=returns)
    return src, clean, quality, n


def _window(src: Source, clean: str, observation_end) -> tuple[pd.Timestamp, int]:
    """The window end (default: the last transaction) and the rows after it — from the contract
    scan's last timestamp when that settles it, else one more scan."""
    last, exact = contract.last_timestamp(src, clean)
    if observation_end is None:
        if exact:
            return last, 0
        row = src.backend.row(f"SELECT MAX(ts) AS max_ts FROM {clean}")
        return pd.Timestamp(row["max_ts"]), 0
    end = pd.Timestamp(observation_end)
    if last is not None and (last < end + pd.Timedelta(days=1) if end == end.normalize()
                             else last <= end):  # sql.in_window's rule: a date includes its day
        return end, 0
    row = src.backend.row(sql.WINDOW_COUNTS.format(where=sql.in_window(end), clean=clean))
    return end, int(row["outside"] or 0)


def _period(src: Source, freq: str) -> str:
    """SQL for the period number of ``ts`` in the backend's dialect."""
    return sql.period_sql(freq, src.backend.day("ts"))


def _periods_sql(src: Source, clean: str, freq: str, where: str) -> str:
    return sql.CUSTOMER_PERIODS.format(period=_period(src, freq), clean=clean, where=where)


def _ranked_sql(src: Source, clean: str, freq: str, where: str) -> str:
    return sql.RANKED_PERIODS.format(period=_period(src, freq), clean=clean, where=where)


def _summary_sql(src, clean, freq, freq_multiplier, end, where, include_first_transaction) -> str:
    end_period = int(period_index([end], freq)[0])
    columns = sql.summary_columns(sql.double(freq_multiplier), end_period,
                                  include_first_transaction)
    return sql.SUMMARY.format(columns=columns, ranked=_ranked_sql(src, clean, freq, where))


#: Bytes of DuckDB window state per transaction (customer, period, amount and the sort's
#: overhead): a summary is split into ``ceil(rows * this / (0.9 * memory_limit))`` customer-hash
#: passes so that each pass ranks in memory. Measured on 100M transactions (10M customers):
#: one pass 17.7 s within a 3 GB limit (two passes 20.6 s); with a 1.5 GB limit one spilling
#: pass took 19.4 s and two passes 17.3 s.
BYTES_PER_ROW = 24


def n_partitions(src: Source, n_rows: int) -> int:
    """Customer-hash passes for a DuckDB summary of ``n_rows`` transactions (1 on Spark)."""
    if src.engine != "duckdb" or not n_rows:
        return 1
    try:
        limit = src.backend.memory_limit()
    except Exception:  # noqa: BLE001 - an unusual setting: no partitioning
        return 1
    return max(1, int(np.ceil(n_rows * BYTES_PER_ROW / (0.9 * limit))))


def _frame(df: pd.DataFrame, index: str = "customer_id") -> pd.DataFrame:
    out = df.set_index(index)
    if not out.index.is_monotonic_increasing:
        out = out.sort_index()
    return out


def rfm_summary(data, observation_end=None, freq: str = "D", freq_multiplier: float = 1, *,
                include_first_transaction: bool = False, validate: bool = True,
                returns: str = "net", engine: str = "auto", collapse: bool = False, spark=None,
                partitions: int | None = None, **duckdb_settings) -> pd.DataFrame:
    """:func:`retention_lab.features.rfm_summary` on ``engine`` (``auto``, ``pandas``,
    ``duckdb``, ``spark``); ``data`` is anything :func:`~retention_lab.engines.source` reads.

    ``collapse=True`` returns ``frequency, recency, T, weight`` (one row per distinct triple,
    grouped in the engine) — what the BTYD fitters take. ``partitions``: customer-hash passes
    (default: DuckDB splits tables too big for its memory limit, see :func:`n_partitions`).
    """
    freq = freq.upper()
    eng = pick_engine(data, engine)
    if eng == "pandas":
        tx, desc = _pandas(data)
        out = features.rfm_summary(tx, observation_end, freq, freq_multiplier,
                                   include_first_transaction=include_first_transaction,
                                   validate=validate, returns=returns, engine="pandas")
        if collapse:
            attrs = dict(out.attrs)
            out = features.collapse_summary(out)
            out.attrs.update(attrs)
        return _tag(out, "pandas", len(tx), desc)
    src, clean, quality, n = _prepare(data, eng, validate, returns, spark, duckdb_settings)
    end, outside = _window(src, clean, observation_end)
    quality.record(TABLE, "date", f"date <= observation_end ({end.date()})", outside,
                   action="outside window", note="after the summary's observation end")
    k = n_partitions(src, n) if partitions is None else int(partitions)
    parts = []
    for part in range(k):
        where = sql.in_window(end)
        if k > 1:
            where += " AND " + src.backend.bucket("customer_id", part, k)
        query = _summary_sql(src, clean, freq, freq_multiplier, end, where,
                             include_first_transaction)
        if collapse:
            parts.append(src.backend.query(
                sql.COLLAPSE.format(columns="frequency, recency, T", inner=query)))
        else:
            parts.append(src.backend.query(query + (" ORDER BY customer_id" if k == 1 else "")))
    out = parts[0] if k == 1 else pd.concat(parts, ignore_index=True)
    if collapse:
        if k > 1:
            out = out.groupby(["frequency", "recency", "T"], as_index=False)["weight"].sum()
        out["weight"] = out["weight"].astype(np.int64)
    else:
        out = _frame(out)
    out.attrs.update(quality=quality, freq=freq, freq_multiplier=freq_multiplier,
                     observation_end=end)
    return _tag(out, src.engine, n, src.description)


def calibration_holdout(data, calibration_end, observation_end=None, freq: str = "D",
                        freq_multiplier: float = 1, *, validate: bool = True, returns: str = "net",
                        engine: str = "auto", spark=None, **duckdb_settings) -> pd.DataFrame:
    """:func:`retention_lab.features.calibration_holdout` on ``engine``."""
    freq = freq.upper()
    eng = pick_engine(data, engine)
    if eng == "pandas":
        tx, desc = _pandas(data)
        out = features.calibration_holdout(tx, calibration_end, observation_end, freq,
                                           freq_multiplier, validate=validate, returns=returns,
                                           engine="pandas")
        return _tag(out, "pandas", len(tx), desc)
    src, clean, quality, n = _prepare(data, eng, validate, returns, spark, duckdb_settings)
    cal_end = pd.Timestamp(calibration_end)
    obs_end, outside = _window(src, clean, observation_end)
    if obs_end <= cal_end:
        raise ValueError(f"observation_end ({obs_end.date()}) must be after calibration_end "
                         f"({cal_end.date()})")
    quality.record(TABLE, "date", f"date <= observation_end ({obs_end.date()})", outside,
                   action="outside window", note="after the holdout's observation end")
    in_cal, in_hold = sql.in_window(cal_end), sql.in_window(obs_end, start=cal_end)
    delta = int(period_index([obs_end], freq)[0] - period_index([cal_end], freq)[0])
    fm = sql.double(freq_multiplier)
    ranked = sql.RANKED_SPLIT.format(period=_period(src, freq), clean=clean, in_cal=in_cal,
                                     in_hold=in_hold)
    query = sql.HOLDOUT.format(
        calibration=sql.summary_columns(fm, int(period_index([cal_end], freq)[0]), False,
                                        rows="hold = 0"),
        duration=f"CAST({delta} AS DOUBLE) / {fm}", ranked=ranked)
    both = src.backend.query(query + " ORDER BY customer_id")
    acquired = both["n_calibration_rows"].to_numpy() > 0
    quality.record(TABLE, "customer_id", "customer acquired by calibration_end",
                   int(both.loc[~acquired, "n_holdout_rows"].sum()), action="outside window",
                   note="holdout purchases of customers first seen in the holdout")
    out = _frame(both.loc[acquired].drop(columns=["n_calibration_rows", "n_holdout_rows"]))
    out.attrs.update(quality=quality, freq=freq, freq_multiplier=freq_multiplier,
                     observation_end=obs_end, calibration_end=cal_end)
    return _tag(out, src.engine, n, src.description)


def collapse_churn(table: pd.DataFrame) -> pd.DataFrame:
    """``duration, churned, weight``: identical (duration, churned) rows of a churn table
    counted — lifelines' ``weights_col`` input (``KaplanMeierFitter.fit(..., weights=)``,
    ``CoxPHFitter.fit(..., weights_col="weight")`` without covariates)."""
    out = table.groupby(["duration", "churned"], as_index=False).size()
    return out.rename(columns={"size": "weight"}).astype({"weight": np.int64})


def churn_table(data, inactivity_days: int = 90, observation_end=None, *, unit: str = "D",
                validate: bool = True, returns: str = "net", engine: str = "auto",
                collapse: bool = False, spark=None, **duckdb_settings) -> pd.DataFrame:
    """:func:`retention_lab.features.churn_table` on ``engine``; ``collapse=True`` returns
    ``duration, churned, weight`` grouped in the engine."""
    if inactivity_days <= 0:
        raise ValueError(f"inactivity_days must be positive, not {inactivity_days}")
    unit = unit.upper()
    eng = pick_engine(data, engine)
    if eng == "pandas":
        tx, desc = _pandas(data)
        out = features.churn_table(tx, inactivity_days, observation_end, unit=unit,
                                   validate=validate, returns=returns)
        if collapse:
            attrs = dict(out.attrs)
            out = collapse_churn(out)
            out.attrs.update(attrs)
        return _tag(out, "pandas", len(tx), desc)
    src, clean, quality, n = _prepare(data, eng, validate, returns, spark, duckdb_settings)
    end, outside = _window(src, clean, observation_end)
    quality.record(TABLE, "date", f"date <= observation_end ({end.date()})", outside,
                   action="outside window")
    cutoff = end.normalize() - pd.Timedelta(days=int(inactivity_days))
    cutoff_day = int(period_index([cutoff], "D")[0])
    churn_sql = sql.CHURN.format(ranked=_ranked_sql(src, clean, "D", sql.in_window(end)))
    rule = f"first purchase on or before the confirmation cutoff ({cutoff.date()})"
    note = "customers too new for a lapse to be confirmed"
    if collapse:
        out = src.backend.query(sql.CHURN_COLLAPSED.format(
            cutoff=cutoff_day, days_per=sql.double(DAYS_PER[unit]), churn=churn_sql))
        too_new = out["churned"] < 0
        quality.record(TABLE, "customer_id", rule, int(out.loc[too_new, "weight"].sum()), note=note)
        out = out.loc[~too_new].sort_values(["duration", "churned"]).reset_index(drop=True)
        out = out.astype({"duration": float, "churned": np.int64, "weight": np.int64})
    else:
        raw = _frame(src.backend.query(churn_sql + " ORDER BY customer_id"))
        too_new = raw["first_day"].to_numpy() > cutoff_day
        quality.record(TABLE, "customer_id", rule, int(too_new.sum()), note=note)
        raw = raw.loc[~too_new]
        first, last = raw["first_day"].to_numpy(np.int64), raw["last_day"].to_numpy(np.int64)
        churned = last <= cutoff_day
        follow = np.where(churned, last, cutoff_day)
        out = pd.DataFrame({
            "first_purchase": _days_to_datetime(first),
            "last_purchase": _days_to_datetime(last),
            "n_purchases": raw["n_purchases"].to_numpy(np.int64),
            "followup_end": _days_to_datetime(follow),
            "duration": (follow - first).astype(float) / DAYS_PER[unit],
            "churned": churned.astype(np.int64),
        }, index=raw.index)
    out.attrs.update(quality=quality, cutoff=cutoff, inactivity_days=int(inactivity_days),
                     unit=unit, observation_end=end)
    return _tag(out, src.engine, n, src.description)


def _days_to_datetime(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[ns]")


def cohort_retention(data, freq: str = "M", observation_end=None, *, counts: bool = False,
                     complete_periods: bool = True, validate: bool = True, engine: str = "auto",
                     spark=None, **duckdb_settings) -> pd.DataFrame:
    """:func:`retention_lab.features.cohort_retention` on ``engine``: the (cohort, k) customer
    counts are computed in the engine; the small matrix is shaped in pandas exactly as there."""
    freq = freq.upper()
    eng = pick_engine(data, engine)
    if eng == "pandas":
        tx, desc = _pandas(data)
        out = features.cohort_retention(tx, freq, observation_end, counts=counts,
                                        complete_periods=complete_periods, validate=validate)
        return _tag(out, "pandas", len(tx), desc)
    src, clean, quality, n = _prepare(data, eng, validate, "net", spark, duckdb_settings)
    end, _ = _window(src, clean, observation_end)
    long = src.backend.query(sql.COHORT.format(period=_period(src, freq), clean=clean,
                                               where=sql.in_window(end)))
    active = long.pivot(index="cohort", columns="k", values="customers").fillna(0).astype(np.int64)
    active = active.sort_index().sort_index(axis=1)
    active.index, active.columns = active.index.astype(np.int64), active.columns.astype(np.int64)
    size = active[0]
    # From here on, the same steps as rl.features.cohort_retention.
    end_period = int(period_index([end], freq)[0])
    last_observed = end_period
    if complete_periods and period_index([end + pd.Timedelta(days=1)], freq)[0] == end_period:
        last_observed -= 1
    ks = np.arange(int(end_period - active.index.min()) + 1)
    active = active.reindex(columns=ks, fill_value=0)
    observed = (active.index.to_numpy()[:, None] + ks[None, :]) <= last_observed
    values = active.astype(float) if counts else active.div(size, axis=0)
    values = values.where(observed)
    values.index = features.cohort._period_labels(values.index.to_numpy(), freq)
    values.index.name = "cohort"
    values.columns.name = "periods_since_acquisition"
    values.attrs["cohort_size"] = dict(zip(values.index, size.to_numpy().tolist()))
    return _tag(values, src.engine, n, src.description)


def customer_periods(data, freq: str = "D", *, validate: bool = True, returns: str = "net",
                     engine: str = "auto", spark=None, **duckdb_settings) -> pd.DataFrame:
    """:func:`retention_lab.features.customer_periods` on ``engine``: one row per (customer,
    period) — ``customer_id, period, amount, n`` — sorted. The engines validate (they must parse
    dates anyway); the pandas function takes its frame as it is."""
    freq = freq.upper()
    eng = pick_engine(data, engine)
    if eng == "pandas":
        tx, desc = _pandas(data)
        return _tag(features.customer_periods(tx, freq), "pandas", len(tx), desc)
    src, clean, quality, n = _prepare(data, eng, validate, returns, spark, duckdb_settings)
    out = src.backend.query(_periods_sql(src, clean, freq, "TRUE") + " ORDER BY customer_id, period")
    out = out.astype({"period": np.int64, "n": np.int64, "amount": float})
    out.attrs["quality"] = quality
    return _tag(out, src.engine, n, src.description)


def read_transactions(data, *, observation_end=None, engine: str = "auto",
                      returns: str = "net", spark=None,
                      **duckdb_settings) -> tuple[pd.DataFrame, DataQuality, dict]:
    """Validated transactions (``customer_id, date, amount``) read by ``engine`` into pandas:
    :func:`retention_lab.schema.validate_transactions` run in the engine (rows after
    ``observation_end`` excluded before returns are netted, as there).

    For a Parquet directory that is DuckDB reading only the three columns; what
    :func:`retention_lab.io.load_data` uses for inputs that only an engine reads. Returns
    ``(frame, quality, info)`` with ``info`` = ``{"engine", "n_rows" (rows read), "source"}``.
    """
    eng = pick_engine(data, engine)
    if eng == "pandas":
        from ..schema import validate_transactions
        tx, desc = _pandas(data)
        clean, quality = validate_transactions(tx, observation_end=observation_end,
                                               returns=returns)
        return clean, quality, {"engine": "pandas", "n_rows": len(tx), "source": desc}
    src = source(data, eng, spark=spark, **duckdb_settings)
    clean, quality, n = contract.clean_view(src, returns=returns, observation_end=observation_end)
    check_fits_in_pandas(n, src.description)
    out = src.backend.query(f"SELECT customer_id, ts AS date, amount FROM {clean}")
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    return out, quality, {"engine": src.engine, "n_rows": int(n), "source": src.description}
