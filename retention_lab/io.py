"""Reading the user's tables (CSV, Parquet or DataFrames) into the validated bundle every analysis
takes, and :func:`load_data`, the one entry point notebooks call with their ``data_source``.

Every reader validates its table against the data contract (:mod:`retention_lab.schema`) and
returns the clean frame with its :class:`~retention_lab.DataQuality` ledger: nothing is dropped
uncounted. :func:`read_experiment` adds the cross-table rules and returns an
:class:`~retention_lab.experiment_data.ExperimentData`, the same bundle the simulator returns.
"""
from __future__ import annotations

from os import PathLike
from pathlib import Path

import pandas as pd

from . import schema
from .errors import DataQuality
from .experiment_data import ExperimentData

#: File suffixes understood by :func:`read_table` (compressed CSVs are read by pandas).
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")

#: ``load_data`` sources that name a bundled data set rather than a path.
CDNOW_SOURCES = {"cdnow": True, "cdnow_sample": True, "cdnow_full": False}


def read_table(source, table: str = "table") -> pd.DataFrame:
    """A raw (unvalidated) table from a DataFrame or a CSV / Parquet path, chosen by suffix."""
    if isinstance(source, pd.DataFrame):
        return source
    if not isinstance(source, (str, PathLike)):
        raise TypeError(f"{table}: expected a DataFrame or a path to a CSV or Parquet file, "
                        f"got {type(source).__name__}")
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{table}: no such file: {path}")
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return pd.read_parquet(path)
    if name.endswith(CSV_SUFFIXES):
        return pd.read_csv(path)
    raise ValueError(f"{table}: cannot tell the format of {path.name!r}; use a file ending in "
                     f"{', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}, or pass a DataFrame")


def read_transactions(source, *, observation_end=None, returns: schema.Returns = "net",
                      quality: DataQuality | None = None) -> tuple[pd.DataFrame, DataQuality]:
    """Read and validate transactions (see :func:`retention_lab.schema.validate_transactions`)."""
    return schema.validate_transactions(read_table(source, "transactions"),
                                        observation_end=observation_end, returns=returns,
                                        quality=quality)


def read_customers(source, *, observation_end=None,
                   quality: DataQuality | None = None) -> tuple[pd.DataFrame, DataQuality]:
    """Read and validate customers (see :func:`retention_lab.schema.validate_customers`)."""
    return schema.validate_customers(read_table(source, "customers"),
                                     observation_end=observation_end, quality=quality)


def read_surveys(source, *, observation_end=None,
                 quality: DataQuality | None = None) -> tuple[pd.DataFrame, DataQuality]:
    """Read and validate surveys (see :func:`retention_lab.schema.validate_surveys`)."""
    return schema.validate_surveys(read_table(source, "surveys"),
                                   observation_end=observation_end, quality=quality)


def customers_from_transactions(tx: pd.DataFrame) -> pd.DataFrame:
    """One row per customer: ``customer_id`` and ``signup_date`` = the day of the first purchase."""
    first = tx.groupby("customer_id", sort=True)["date"].min().dt.normalize()
    return pd.DataFrame({"customer_id": first.index.to_numpy(), "signup_date": first.to_numpy()})


def _same_id_kind(*frames: pd.DataFrame | None) -> list[pd.DataFrame | None]:
    """Ids read from a CSV may be numbers where the Parquet twin holds strings: compare as text."""
    present = [f for f in frames if f is not None and "customer_id" in f.columns]
    numeric = {pd.api.types.is_numeric_dtype(f["customer_id"]) for f in present}
    if len(numeric) < 2:
        return list(frames)
    return [f.assign(customer_id=f["customer_id"].astype(str))
            if f is not None and "customer_id" in f.columns else f for f in frames]


def _describe(source) -> str:
    return f"DataFrame({len(source):,} rows)" if isinstance(source, pd.DataFrame) else str(source)


def read_experiment(transactions, customers=None, surveys=None, observation_end=None,
                    launch_date=None, design: str | None = None, returns: schema.Returns = "net"
                    ) -> ExperimentData:
    """Read, validate and bundle one study's tables.

    Parameters
    ----------
    transactions, customers, surveys : DataFrame or path (CSV / Parquet)
        ``customers`` defaults to the customers seen in ``transactions`` (``signup_date`` = day of
        the first purchase; no arms). ``surveys`` is optional.
    observation_end : date-like, optional
        The last day observed (a date includes its whole day); default: the day of the last
        transaction. Rows after it are excluded and counted.
    launch_date : date-like, optional
        When the programme started.
    design : {"randomized", "self_selected"}, optional
        With ``"randomized"`` every customer needs an ``arm`` and both arms need customers.
    returns : {"net", "exclude", "error"}
        The policy for negative amounts (:func:`retention_lab.schema.validate_transactions`).

    Raises
    ------
    DataError
        Any broken rule of the data contract, including customers who appear in
        ``transactions`` but not in ``customers`` (their arm would be unknown).

    Returns
    -------
    ExperimentData whose ``quality`` holds the ledgers of every table.
    """
    if design not in (None, "randomized", "self_selected"):
        raise ValueError(f"design must be 'randomized', 'self_selected' or None, not {design!r}")
    quality = DataQuality()
    tx, _ = read_transactions(transactions, observation_end=observation_end, returns=returns,
                              quality=quality)
    end = (tx["date"].max().normalize() if observation_end is None
           else pd.Timestamp(observation_end))
    if customers is None:
        cust = customers_from_transactions(tx)
    else:
        cust = read_table(customers, "customers")
    sv = None if surveys is None else read_table(surveys, "surveys")
    tx, cust, sv = _same_id_kind(tx, cust, sv)
    cust, _ = schema.validate_customers(cust, observation_end=end, quality=quality)
    if sv is not None:
        sv, _ = schema.validate_surveys(sv, observation_end=end, quality=quality)
    schema.check_customers_known(tx, cust)
    if design == "randomized":
        schema.check_arms(cust)
    params = {"transactions": _describe(transactions),
              "customers": "derived from transactions" if customers is None
              else _describe(customers),
              "surveys": None if surveys is None else _describe(surveys),
              "returns": returns}
    return ExperimentData(
        transactions=tx, customers=cust, surveys=sv, observation_end=end,
        launch_date=None if launch_date is None else pd.Timestamp(launch_date),
        design=design, quality=quality, params=params)


def _unused(source: str, **arguments) -> None:
    given = sorted(name for name, value in arguments.items() if value is not None)
    if given:
        raise TypeError(f"load_data({source!r}) does not use {', '.join(given)}: they apply to "
                        "the user's own tables (or, for simulate_kwargs, to the simulator)")


def load_data(source="simulated", *, customers=None, surveys=None, observation_end=None,
              launch_date=None, design: str | None = "randomized", n_customers: int = 20_000,
              seed: int = 1, **simulate_kwargs) -> ExperimentData:
    """The data a notebook analyses, chosen by its ``data_source`` parameter.

    ``source``:

    * ``"simulated"`` (default) — :func:`retention_lab.datasets.simulate_loyalty_experiment`
      with ``n_customers``, ``design``, ``seed``, ``launch_date`` (if given) and
      ``simulate_kwargs``;
    * ``"cdnow"`` / ``"cdnow_sample"`` — the CDNOW 1/10 sample (2,357 customers), observed to
      1998-06-30 (or ``observation_end``); ``"cdnow_full"`` — the master file (23,570). Customers
      are derived from the transactions (no arms, so ``design`` is None);
    * anything else — a DataFrame or path of transactions for :func:`read_experiment`, with
      ``customers``, ``surveys``, ``observation_end``, ``launch_date`` and ``design`` (without a
      customers table there are no arms, and ``design`` is set to None).
    * a Parquet directory or glob, ``"duckdb:///path.duckdb::table"`` or ``"spark:db.table"`` —
      read and checked in DuckDB / Spark by :func:`retention_lab.engines.read_transactions`;
      ``params["engine"]`` and ``params["n_rows_read"]`` say which engine read how many rows.

    An argument the chosen source does not use (e.g. ``customers`` with ``"simulated"``) is a
    ``TypeError`` rather than silently ignored.
    """
    if isinstance(source, str) and source == "simulated":
        _unused(source, customers=customers, surveys=surveys, observation_end=observation_end)
        from . import datasets  # lazy: the simulator is only paid for when used
        if launch_date is not None:
            simulate_kwargs["launch_date"] = launch_date
        return datasets.simulate_loyalty_experiment(n_customers=n_customers, design=design,
                                                    seed=seed, **simulate_kwargs)
    if isinstance(source, str) and source in CDNOW_SOURCES:
        _unused(source, customers=customers, surveys=surveys, **simulate_kwargs)
        from .datasets import cdnow
        tx = cdnow.load_cdnow(sample=CDNOW_SOURCES[source])
        data = read_experiment(tx, observation_end=observation_end or cdnow.OBSERVATION_END,
                               launch_date=launch_date, design=None)
        data.params["transactions"] = source
        return data
    if simulate_kwargs:
        raise TypeError(f"unexpected argument(s) for source {_describe(source)!r}: "
                        f"{', '.join(sorted(simulate_kwargs))} (only the simulator takes them)")
    from . import engines  # lazy: DuckDB / Spark are paid for only by inputs that need them
    if engines.reads_in_engine(source):
        # A Parquet directory or glob, "duckdb:///db.duckdb::table", a Spark table/DataFrame or
        # an ibis table: the engine checks the contract and nets returns, and only the validated
        # customer_id, date, amount come to pandas. params say which engine read how many rows.
        tx, tx_quality, info = engines.read_transactions(source, observation_end=observation_end,
                                                         returns="net")
        data = read_experiment(tx, customers=customers, surveys=surveys,
                               observation_end=observation_end, launch_date=launch_date,
                               design=design if customers is not None else None)
        data.quality = tx_quality.extend(data.quality)
        data.params.update(transactions=info["source"], engine=info["engine"],
                           n_rows_read=info["n_rows"])
        return data
    return read_experiment(source, customers=customers, surveys=surveys,
                           observation_end=observation_end, launch_date=launch_date,
                           design=design if customers is not None else None)
