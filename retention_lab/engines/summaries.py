"""The summary tables on any engine: ``rfm_summary``, ``calibration_holdout``, ``churn_table``,
``cohort_retention``, ``customer_periods`` — one signature per table whatever the engine (the
public names are :mod:`retention_lab.features`' ones, which are these functions).

``engine="auto"`` picks pandas for DataFrames under 2M rows (:mod:`.pandas_engine`, the
reference implementation), DuckDB for files, tables and big frames, Spark for Spark data
(:func:`~retention_lab.engines.pick_engine`); ``"pandas"``, ``"duckdb"``, ``"spark"`` force one.
On DuckDB the BTYD summary of integer customer ids runs in one pass over the rows
(:mod:`.kernels`); otherwise the SQL of :mod:`.sql` runs.

Each result says where it ran: ``attrs["engine"]`` (``pandas``/``duckdb``/``spark``),
``attrs["n_rows"]`` (transactions read) and ``attrs["source"]``, next to ``attrs["quality"]``
(the data-quality ledger as records: :func:`retention_lab.quality`). Every ``attrs`` value is
JSON, so the tables save to Parquet and Feather. ``collapse=True`` returns the table a fitter
needs: ``frequency, recency, T, weight`` (BTYD) or ``duration, churned, weight`` (survival).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataQuality
from ..periods import check_freq, period_index
from ..schema import validate_transactions
from ..units import days_per, unit_code
from . import contract, kernels, pandas_engine, sql
from .one_pass import (  # noqa: F401  (moved there; re-exported)
    BATCH_ROWS,
    ONE_READ_MAX_BYTES,
    _frame_one_pass,
    _one_pass_summary,
    _plain_arrays,
    _table_one_pass,
    _to_int,
)
from .pandas_engine import collapse_churn, collapse_summary, json_attrs
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
    """The BTYD summary of each customer who purchased by ``observation_end``.

    Parameters
    ----------
    data : DataFrame, path, table, Source
        Transactions (``customer_id, date, amount``): a DataFrame, a Parquet/CSV file, directory
        or glob, a DuckDB or Spark table, an ibis table (:func:`retention_lab.engines.source`).
        Validated against the data contract unless ``validate=False``.
    observation_end : date-like, optional
        End of the window (a date includes its whole day); default the last transaction date.
        Transactions after it are outside the window (counted in the quality ledger).
    freq : {"D", "W", "M"}
        The period purchases are floored to before they are counted (pandas' and lifetimes'
        name): calendar day, week starting Monday, calendar month. Several purchases in one
        period are one purchase occasion, with their summed amount. Not the unit of the ages
        unless ``freq_multiplier`` is 1.
    freq_multiplier : float
        Divides ages (period differences), e.g. ``freq="D", freq_multiplier=7`` for ages in
        fractional weeks counted from days.
    include_first_transaction : bool
        Count the first purchase in ``frequency`` and ``monetary_value`` (lifetimes' option).
    returns : {"net", "exclude", "error"}
        Negative amounts: netted into their order, excluded (counted), or an error.
    engine : {"auto", "pandas", "duckdb", "spark"}
        ``"auto"`` (default): pandas for frames under 2M rows, DuckDB for bigger frames, files
        and DuckDB tables, Spark for Spark data. The numbers are the same on every engine.
    collapse : bool
        Return ``frequency, recency, T, weight``: one row per distinct triple (what the BTYD
        fitters take), grouped where the data is.
    spark, partitions, **duckdb_settings
        The Spark session; customer-hash passes of the SQL path (default: as DuckDB's memory
        limit needs); DuckDB settings (``memory_limit``, ``threads``, ``temp_directory``).

    Returns
    -------
    DataFrame indexed by ``customer_id`` with ``frequency, recency, T, monetary_value`` (BTYD
    conventions: :mod:`retention_lab.engines.pandas_engine`). ``attrs`` (JSON values): ``freq``,
    ``freq_multiplier``, ``observation_end`` (ISO date), ``engine``, ``n_rows``, ``source`` and
    ``quality`` — the data-quality ledger as records, :func:`retention_lab.quality` gives it back
    as a :class:`~retention_lab.DataQuality`.
    """
    freq = check_freq(freq)
    eng = pick_engine(data, engine)
    if eng == "pandas":
        tx, desc = _pandas(data)
        out = pandas_engine.rfm_summary(tx, observation_end, freq, freq_multiplier,
                                        include_first_transaction=include_first_transaction,
                                        validate=validate, returns=returns)
        if collapse:
            out = _collapsed(out)
        return _tag(out, "pandas", len(tx), desc)
    fast = None
    if eng == "duckdb" and partitions is None:
        kernels.preload()  # numba's import and cache load overlap DuckDB's reading (GIL free)
    if eng == "duckdb" and partitions is None and validate:
        fast = _frame_one_pass(data, observation_end, freq, freq_multiplier,
                               include_first_transaction)
    if fast is not None:  # a clean in-memory frame: checked and counted in numpy, no DuckDB
        out, quality, end = fast
        if collapse:
            out = collapse_summary(out).astype({"weight": np.int64})
        out.attrs = json_attrs(quality, freq=freq, freq_multiplier=freq_multiplier,
                               observation_end=end)
        return _tag(out, "duckdb", len(data), "pandas DataFrame (checked and counted in place)")
    src = source(data, eng, spark=spark, **duckdb_settings)
    if eng == "duckdb" and partitions is None and validate:
        fast = _table_one_pass(src, observation_end, freq, freq_multiplier,
                               include_first_transaction)
    if fast is not None:  # a clean typed table: read once, checked in Arrow, counted
        out, quality, end, n = fast
        if collapse:
            out = collapse_summary(out).astype({"weight": np.int64})
        out.attrs = json_attrs(quality, freq=freq, freq_multiplier=freq_multiplier,
                               observation_end=end)
        return _tag(out, "duckdb", n, src.description)
    clean, quality, n = contract.clean_view(src, validate=validate, returns=returns)
    end, outside = _window(src, clean, observation_end)
    quality.record(TABLE, "date", f"date <= observation_end ({end.date()})", outside,
                   action="outside window", note="after the summary's observation end")
    end_period = int(period_index([end], freq)[0])
    out = None
    if partitions is None:
        out = _one_pass_summary(src, clean, end, freq, freq_multiplier, end_period,
                                include_first_transaction, n)
    if out is not None:
        if collapse:
            out = collapse_summary(out).astype({"weight": np.int64})
    else:
        out = _sql_summary(src, clean, freq, freq_multiplier, end, include_first_transaction,
                           collapse, n if partitions is None else None, partitions)
    out.attrs = json_attrs(quality, freq=freq, freq_multiplier=freq_multiplier,
                           observation_end=end)
    return _tag(out, src.engine, n, src.description)



def _collapsed(out: pd.DataFrame) -> pd.DataFrame:
    attrs = dict(out.attrs)
    out = collapse_summary(out)
    out.attrs = attrs
    return out


def _sql_summary(src, clean, freq, freq_multiplier, end, include_first_transaction, collapse,
                 n_rows, partitions) -> pd.DataFrame:
    """The summary as SQL (dense_rank window), in ``partitions`` customer-hash passes."""
    k = n_partitions(src, n_rows) if partitions is None else int(partitions)
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
        return out
    return _frame(out)


def calibration_holdout(data, calibration_end, observation_end=None, freq: str = "D",
                        freq_multiplier: float = 1, *, validate: bool = True, returns: str = "net",
                        engine: str = "auto", spark=None, **duckdb_settings) -> pd.DataFrame:
    """The BTYD summary at ``calibration_end`` plus what each customer did in the holdout.

    Mirrors ``lifetimes.utils.calibration_and_holdout_data`` (with the calibration columns
    unsuffixed so that the frame goes straight into a fitter): ``frequency, recency, T,
    monetary_value`` over the calibration window (see :func:`rfm_summary`; ``freq`` is the
    period purchases are floored to), then

    * ``frequency_holdout`` — distinct purchase periods in ``(calibration_end, observation_end]``;
    * ``monetary_value_holdout`` — mean spend per holdout purchase period (0 if none);
    * ``duration_holdout`` — holdout length in periods (``/ freq_multiplier``).

    Only customers acquired by ``calibration_end`` appear (later ones are counted in the
    quality ledger as acquired in the holdout). ``engine`` as in :func:`rfm_summary`; ``attrs``
    as there, plus ``calibration_end``.
    """
    freq = check_freq(freq)
    eng = pick_engine(data, engine)
    if eng == "pandas":
        tx, desc = _pandas(data)
        out = pandas_engine.calibration_holdout(tx, calibration_end, observation_end, freq,
                                                freq_multiplier, validate=validate,
                                                returns=returns)
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
    out.attrs = json_attrs(quality, freq=freq, freq_multiplier=freq_multiplier,
                           observation_end=obs_end, calibration_end=cal_end)
    return _tag(out, src.engine, n, src.description)


def churn_table(data, inactivity_days: int = 90, observation_end=None, *, unit: str = "D",
                validate: bool = True, returns: str = "net", engine: str = "auto",
                collapse: bool = False, spark=None, **duckdb_settings) -> pd.DataFrame:
    """One row per customer: ``first_purchase, last_purchase, n_purchases, followup_end,
    duration, churned`` — the churn (survival) table of :mod:`retention_lab.features.churn`.

    Parameters
    ----------
    data : DataFrame, path, table, Source
        Transactions (``customer_id, date, amount``), as for :func:`rfm_summary`.
    inactivity_days : int
        Days without a purchase that confirm a lapse.
    observation_end : date-like, optional
        Default: the last transaction date. A date includes its whole day.
    unit : {"D", "W", "M", "Y"}
        The unit of ``duration``: days, weeks, mean Gregorian months or years
        (:data:`retention_lab.units.DAYS_PER_UNIT`).
    engine : {"auto", "pandas", "duckdb", "spark"}
        As in :func:`rfm_summary`.
    collapse : bool
        Return ``duration, churned, weight`` grouped where the data is (lifelines' weights).

    Returns
    -------
    DataFrame indexed by ``customer_id``: ``duration`` (age at the lapse or at censoring, in
    ``unit``), ``churned`` (1 = lapse confirmed, 0 = censored), ``followup_end`` (the date the
    duration ends at). ``attrs`` (JSON values): ``quality`` (records), ``cutoff`` and
    ``observation_end`` (ISO dates), ``inactivity_days``, ``unit``, ``engine``, ``n_rows``.
    """
    if inactivity_days <= 0:
        raise ValueError(f"inactivity_days must be positive, not {inactivity_days}")
    unit = unit_code(unit)
    eng = pick_engine(data, engine)
    if eng == "pandas":
        tx, desc = _pandas(data)
        out = pandas_engine.churn_table(tx, inactivity_days, observation_end, unit=unit,
                                        validate=validate, returns=returns)
        if collapse:
            attrs = dict(out.attrs)
            out = collapse_churn(out)
            out.attrs = attrs
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
    per = days_per(unit)
    if collapse:
        out = src.backend.query(sql.CHURN_COLLAPSED.format(
            cutoff=cutoff_day, days_per=sql.double(per), churn=churn_sql))
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
            "duration": (follow - first).astype(float) / per,
            "churned": churned.astype(np.int64),
        }, index=raw.index)
    out.attrs = json_attrs(quality, cutoff=cutoff, inactivity_days=int(inactivity_days),
                           unit=unit, observation_end=end)
    return _tag(out, src.engine, n, src.description)


def _days_to_datetime(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[ns]")


def cohort_retention(data, freq: str = "M", observation_end=None, *, counts: bool = False,
                     complete_periods: bool = True, validate: bool = True, engine: str = "auto",
                     spark=None, **duckdb_settings) -> pd.DataFrame:
    """The cohort matrix: rows are acquisition cohorts (the ``freq`` period of the first
    purchase: ``"D"`` day, ``"W"`` week starting Monday, ``"M"`` calendar month), columns the
    periods since acquisition ``k = 0, 1, …``, cells the share of the cohort's customers with at
    least one purchase in period ``k`` (``counts=True``: the number of such customers).

    Column 0 is 1 by construction. Cells not yet observed (after ``observation_end``) are NaN,
    not 0; with ``complete_periods`` (default) so are cells of a period that ``observation_end``
    cuts short (a month observed for two days would look like a collapse in retention). The
    cohort sizes are in ``attrs["cohort_size"]``, a dict cohort label (``str(period)``) →
    customers. On DuckDB / Spark the (cohort, k) counts are computed in the engine.
    """
    freq = check_freq(freq)
    eng = pick_engine(data, engine)
    if eng == "pandas":
        tx, desc = _pandas(data)
        out = pandas_engine.cohort_retention(tx, freq, observation_end, counts=counts,
                                             complete_periods=complete_periods, validate=validate)
        return _tag(out, "pandas", len(tx), desc)
    src, clean, quality, n = _prepare(data, eng, validate, "net", spark, duckdb_settings)
    end, _ = _window(src, clean, observation_end)
    long = src.backend.query(sql.COHORT.format(period=_period(src, freq), clean=clean,
                                               where=sql.in_window(end)))
    active = long.pivot(index="cohort", columns="k", values="customers").fillna(0).astype(np.int64)
    active = active.sort_index().sort_index(axis=1)
    active.index, active.columns = active.index.astype(np.int64), active.columns.astype(np.int64)
    values = pandas_engine.cohort_matrix(active, end, freq, counts, complete_periods)
    return _tag(values, src.engine, n, src.description)


def customer_periods(data, freq: str = "D", *, validate: bool = True, returns: str = "net",
                     engine: str = "auto", spark=None, **duckdb_settings) -> pd.DataFrame:
    """One row per (customer, period) — ``customer_id, period, amount, n`` — sorted, on
    ``engine``. The engines validate (they must parse dates anyway); the pandas path takes its
    frame as it is (:func:`retention_lab.engines.pandas_engine.customer_periods`)."""
    freq = check_freq(freq)
    eng = pick_engine(data, engine)
    if eng == "pandas":
        tx, desc = _pandas(data)
        return _tag(pandas_engine.customer_periods(tx, freq), "pandas", len(tx), desc)
    src, clean, quality, n = _prepare(data, eng, validate, returns, spark, duckdb_settings)
    out = src.backend.query(_periods_sql(src, clean, freq, "TRUE") + " ORDER BY customer_id, period")
    out = out.astype({"period": np.int64, "n": np.int64, "amount": float})
    out.attrs = json_attrs(quality)
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
