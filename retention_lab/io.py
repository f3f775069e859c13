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
from .errors import DataError, DataQuality
from .experiment_data import ExperimentData

#: File suffixes understood by :func:`read_table` (compressed CSVs are read by pandas).
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")

#: ``load_data`` sources that name a bundled data set rather than a path.
CDNOW_SOURCES = {"cdnow": True, "cdnow_sample": True, "cdnow_full": False}


def _file_error(table: str, path: Path, problem: str, rule: str) -> DataError:
    return DataError(f"{table}: {path}: {problem}; rule '{rule}'", table=table, column="*",
                     rule=rule, n_rows=0)


def read_table(source, table: str = "table") -> pd.DataFrame:
    """A raw (unvalidated) table from a DataFrame or a CSV / Parquet path, chosen by suffix.

    A relative path is read from the current working directory; every problem with the file
    (missing, empty, not the format its suffix says, an unknown suffix, not a table at all) is a
    :class:`~retention_lab.DataError` naming the absolute path and what was expected."""
    if isinstance(source, pd.DataFrame):
        return source
    expected = (f"a CSV ({', '.join(CSV_SUFFIXES)}) or Parquet ({', '.join(PARQUET_SUFFIXES)}) "
                "file, or a DataFrame")
    if not isinstance(source, (str, PathLike)):
        raise DataError(f"{table}: expected {expected}, got {type(source).__name__}; rule "
                        "'a table or a path'", table=table, column="*",
                        rule="a table or a path", n_rows=0)
    path = Path(source).expanduser().absolute()
    if not path.exists():
        raise _file_error(table, path, f"no such file (expected {expected}; a relative path is "
                          f"read from the working directory {Path.cwd()})", "file exists")
    if path.is_dir():
        raise _file_error(table, path, f"is a directory (expected {expected})", "a file")
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        import pyarrow
        try:
            return pd.read_parquet(path)
        except (pyarrow.ArrowException, OSError) as exc:
            raise _file_error(table, path, f"is not a readable Parquet file ({exc})",
                              "a Parquet file") from None
    if name.endswith(CSV_SUFFIXES):
        try:
            return pd.read_csv(path)
        except pd.errors.EmptyDataError:
            raise _file_error(table, path, "the file is empty (expected a CSV with a header "
                              "row and at least one row of data)", "a non-empty CSV") from None
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
            raise _file_error(table, path, f"is not a readable CSV file ({exc})",
                              "a CSV file") from None
    raise _file_error(table, path, f"cannot tell the format from the name {path.name!r} "
                      f"(expected {expected})", "a known file suffix")


def read_transactions(source, *, observation_end=None, returns: schema.Returns = "net",
                      quality: DataQuality | None = None, date_format: str | None = None
                      ) -> tuple[pd.DataFrame, DataQuality]:
    """Read and validate transactions (see :func:`retention_lab.schema.validate_transactions`)."""
    return schema.validate_transactions(read_table(source, "transactions"),
                                        observation_end=observation_end, returns=returns,
                                        quality=quality, date_format=date_format)


def read_customers(source, *, observation_end=None, quality: DataQuality | None = None,
                   date_format: str | None = None) -> tuple[pd.DataFrame, DataQuality]:
    """Read and validate customers (see :func:`retention_lab.schema.validate_customers`)."""
    return schema.validate_customers(read_table(source, "customers"),
                                     observation_end=observation_end, quality=quality,
                                     date_format=date_format)


def read_surveys(source, *, observation_end=None, quality: DataQuality | None = None,
                 date_format: str | None = None) -> tuple[pd.DataFrame, DataQuality]:
    """Read and validate surveys (see :func:`retention_lab.schema.validate_surveys`)."""
    return schema.validate_surveys(read_table(source, "surveys"),
                                   observation_end=observation_end, quality=quality,
                                   date_format=date_format)


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


#: Study designs :func:`read_experiment` accepts (see :func:`retention_lab.impact.analyze`).
DESIGNS = (None, "randomized", "self_selected", "launch", "rolling")


def read_experiment(transactions, customers=None, surveys=None, observation_end=None,
                    launch_date=None, design: str | None = None, returns: schema.Returns = "net",
                    date_format: str | None = None) -> ExperimentData:
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
        When the programme started. Without it, the analyses that need one take the day before
        the first ``enrolled_at`` and say so.
    design : {"randomized", "self_selected", "launch", "rolling"}, optional
        With ``"randomized"`` a customers table is required, every customer needs an ``arm``
        and both arms need customers.
    returns : {"net", "exclude", "error"}
        The policy for negative amounts (:func:`retention_lab.schema.validate_transactions`).
    date_format : str, optional
        How every date column of the three tables is written: ``"ISO8601"``, ``"dayfirst"``
        (dd/mm/yyyy), ``"monthfirst"`` (mm/dd/yyyy) or a strftime format (``"%d.%m.%Y"``).
        Without it ISO dates are read as such, and numeric day/month text only where the data
        decide the order (a day above 12); ambiguous or mixed dates are a ``DataError``
        (:func:`retention_lab.schema.parse_dates`).

    Raises
    ------
    DataError
        Any broken rule of the data contract, including customers who appear in
        ``transactions`` but not in ``customers`` (their arm would be unknown).

    Returns
    -------
    ExperimentData whose ``quality`` holds the ledgers of every table.
    """
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {', '.join(map(repr, DESIGNS))}, not {design!r}")
    if design == "randomized" and customers is None:
        raise DataError("customers: no customers table was given, but a randomized design needs "
                        "one with an 'arm' column (control/treatment) for every customer; pass "
                        "customers= (in a notebook: the customers_path parameter); rule "
                        "'customers table given'", table="customers", column="arm",
                        rule="customers table given", n_rows=0)
    quality = DataQuality()
    tx, _ = read_transactions(transactions, observation_end=observation_end, returns=returns,
                              quality=quality, date_format=date_format)
    end = (tx["date"].max().normalize() if observation_end is None
           else pd.Timestamp(observation_end))
    if customers is None:
        cust = customers_from_transactions(tx)
    else:
        cust = read_table(customers, "customers")
    sv = None if surveys is None else read_table(surveys, "surveys")
    tx, cust, sv = _same_id_kind(tx, cust, sv)
    cust, _ = schema.validate_customers(cust, observation_end=end, quality=quality,
                                        date_format=date_format)
    if sv is not None:
        sv, _ = schema.validate_surveys(sv, observation_end=end, quality=quality,
                                        date_format=date_format)
    schema.check_customers_known(tx, cust)
    if design == "randomized":
        schema.check_arms(cust)
    params = {"transactions": _describe(transactions),
              "customers": "derived from transactions" if customers is None
              else _describe(customers),
              "surveys": None if surveys is None else _describe(surveys),
              "returns": returns, "date_format": date_format}
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
              launch_date=None, design: str | None = None, n_customers: int = 20_000,
              seed: int = 1, date_format: str | None = None, **simulate_kwargs
              ) -> ExperimentData:
    """The data a notebook analyses, chosen by its ``data_source`` parameter.

    ``source``:

    * ``"simulated"`` (default) — :func:`retention_lab.datasets.simulate_loyalty_experiment`
      with ``n_customers``, ``design`` (default ``"randomized"``), ``seed``, ``launch_date`` (if
      given) and ``simulate_kwargs``;
    * ``"cdnow"`` / ``"cdnow_sample"`` — the CDNOW 1/10 sample (2,357 customers), observed to
      1998-06-30 (or ``observation_end``); ``"cdnow_full"`` — the master file (23,570). Customers
      are derived from the transactions (no arms, so ``design`` is None);
    * anything else — a DataFrame or path of transactions for :func:`read_experiment`, with
      ``customers``, ``surveys``, ``observation_end``, ``launch_date``, ``design`` (default:
      ``"randomized"`` with a customers table, none without) and ``date_format``. Asking for a
      randomized design without a customers table is a ``DataError`` that says so.
    * a Parquet directory or glob, ``"duckdb:///path.duckdb::table"`` or ``"spark:db.table"`` —
      read and checked in DuckDB / Spark by :func:`retention_lab.engines.read_transactions`;
      ``params["engine"]`` and ``params["n_rows_read"]`` say which engine read how many rows.

    An argument the chosen source does not use (e.g. ``customers`` with ``"simulated"``) is a
    ``TypeError`` rather than silently ignored.
    """
    if isinstance(source, str) and source == "simulated":
        _unused(source, customers=customers, surveys=surveys, observation_end=observation_end,
                date_format=date_format)
        from . import datasets  # lazy: the simulator is only paid for when used
        if launch_date is not None:
            simulate_kwargs["launch_date"] = launch_date
        return datasets.simulate_loyalty_experiment(n_customers=n_customers,
                                                    design=design or "randomized",
                                                    seed=seed, **simulate_kwargs)
    if isinstance(source, str) and source in CDNOW_SOURCES:
        _unused(source, customers=customers, surveys=surveys, date_format=date_format,
                **simulate_kwargs)
        from .datasets import cdnow
        tx = cdnow.load_cdnow(sample=CDNOW_SOURCES[source])
        data = read_experiment(tx, observation_end=observation_end or cdnow.OBSERVATION_END,
                               launch_date=launch_date, design=None)
        data.params["transactions"] = source
        return data
    if design is None and customers is not None:
        design = "randomized"
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
                               design=design, date_format=date_format)
        data.quality = tx_quality.extend(data.quality)
        data.params.update(transactions=info["source"], engine=info["engine"],
                           n_rows_read=info["n_rows"])
        return data
    return read_experiment(source, customers=customers, surveys=surveys,
                           observation_end=observation_end, launch_date=launch_date,
                           design=design, date_format=date_format)
