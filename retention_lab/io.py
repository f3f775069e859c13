"""Reading the user's tables (CSV, Parquet or DataFrames) into the validated bundle every analysis
takes, and :func:`load_data`, the one entry point notebooks call with their ``data_source``.

Every reader validates its table against the data contract (:mod:`retention_lab.schema`) and
returns the clean frame with its :class:`~retention_lab.DataQuality` ledger: nothing is dropped
uncounted. :func:`read_experiment` adds the cross-table rules and returns an
:class:`~retention_lab.experiment_data.ExperimentData`, the same bundle the simulator returns.
"""
from __future__ import annotations

import warnings
from os import PathLike
from pathlib import Path

import pandas as pd
import pyarrow

from . import datasets, engines, schema
from .errors import DataError, DataQuality, DuplicateRowsWarning
from .experiment_data import ExperimentData

#: File suffixes understood by :func:`read_table` (compressed CSVs are read by pandas).
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")

#: ``load_data`` sources that name a bundled data set rather than a path.
CDNOW_SOURCES = {"cdnow": True, "cdnow_sample": True, "cdnow_full": False}


def _file_error(table: str, path: Path, problem: str, rule: str) -> DataError:
    return DataError(f"{table}: {path}: {problem}; rule '{rule}'", table=table, column="*",
                     rule=rule, n_rows=0)


#: columns read as text from a CSV, whatever they look like: ids are names, not numbers
#: ("007" is not "7"), and amounts are parsed by :func:`retention_lab.schema.parse_numbers`
TEXT_COLUMNS = ("customer_id", "order_id", "amount")
_OTHER_SEPARATORS = (";", "\t", "|", ",")


def _csv_header(path: Path, table: str, sep: str, encoding: str | None) -> list[str]:
    """The header row as written (pandas would rename a repeated ``amount`` to ``amount.1``)."""
    head = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, encoding=encoding,
                       keep_default_na=False)
    names = [str(v) for v in head.iloc[0].tolist()]
    if len(names) == 1:
        for other in _OTHER_SEPARATORS:
            if other != sep and other in names[0]:
                shown = "\\t" if other == "\t" else other
                raise _file_error(table, path, f"the header {names[0]!r} is one column with "
                                  f"{other!r} in it: the file looks {other!r}-separated, not "
                                  f"{sep!r}-separated; pass sep='{shown}'",
                                  "the separator given by sep")
    schema.check_unique_columns(names, table, f": {path}")
    return names


def read_table(source, table: str = "table", *, sep: str | None = None,
               decimal: str | None = None, thousands: str | None = None,
               encoding: str | None = None) -> pd.DataFrame:
    """A raw (unvalidated) table from a DataFrame or a CSV / Parquet path, chosen by suffix.

    A relative path is read from the current working directory; every problem with the file
    (missing, empty, not the format its suffix says, an unknown suffix, not a table at all) is a
    :class:`~retention_lab.DataError` naming the absolute path and what was expected.

    CSV only: ``sep`` (default ``","``; ``";"`` for many European files, ``"\\t"``),
    ``decimal`` / ``thousands`` (``decimal=","``, ``thousands="."`` for 1.234,56) and
    ``encoding`` (default UTF-8; ``"latin-1"``, ``"cp1252"``, ``"utf-16"``). A header that is
    one column holding another separator names the ``sep`` to pass; a repeated column name is
    a DataError (pandas would silently rename the copy ``amount.1``); ``customer_id``,
    ``order_id`` and ``amount`` are read as text (ids are never coerced to numbers;
    amounts are parsed by :func:`retention_lab.schema.parse_numbers`, which refuses a notation
    it would have to guess)."""
    if isinstance(source, pd.DataFrame):
        schema.check_unique_columns(source.columns, table)
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
        try:
            return pd.read_parquet(path)
        except (pyarrow.ArrowException, OSError) as exc:
            raise _file_error(table, path, f"is not a readable Parquet file ({exc})",
                              "a Parquet file") from None
    if name.endswith(CSV_SUFFIXES):
        sep = "," if sep is None else sep
        try:
            header = _csv_header(path, table, sep, encoding)
            text = {c: str for c in TEXT_COLUMNS if c in header}
            return pd.read_csv(path, sep=sep, decimal=decimal or ".", thousands=thousands,
                               encoding=encoding, dtype=text)
        except pd.errors.EmptyDataError:
            raise _file_error(table, path, "the file is empty (expected a CSV with a header "
                              "row and at least one row of data)", "a non-empty CSV") from None
        except UnicodeDecodeError as exc:
            raise _file_error(table, path, f"is not {encoding or 'utf-8'} text ({exc}); pass "
                              "encoding= (e.g. 'latin-1', 'cp1252' or 'utf-16')",
                              "text in the encoding given by encoding") from None
        except LookupError as exc:   # an encoding Python does not know
            raise _file_error(table, path, f"{exc}", "a known encoding") from None
        except (pd.errors.ParserError, OSError) as exc:
            raise _file_error(table, path, f"is not a readable CSV file ({exc})",
                              "a CSV file") from None
    raise _file_error(table, path, f"cannot tell the format from the name {path.name!r} "
                      f"(expected {expected})", "a known file suffix")


def read_transactions(source, *, observation_end=None, returns: schema.Returns = "net",
                      quality: DataQuality | None = None, date_format: str | None = None,
                      sep: str | None = None, decimal: str | None = None,
                      thousands: str | None = None, encoding: str | None = None,
                      duplicates: schema.Duplicates = "keep"
                      ) -> tuple[pd.DataFrame, DataQuality]:
    """Read and validate transactions (see :func:`retention_lab.schema.validate_transactions`;
    ``sep``, ``decimal``, ``thousands``, ``encoding`` as in :func:`read_table`).

    ``duplicates``: exact duplicate rows are ``"keep"`` (default: kept, counted in the ledger,
    a :class:`~retention_lab.errors.DuplicateRowsWarning`), ``"drop"`` (counted as excluded)
    or ``"error"``. Without ``observation_end``, dates more than a year after the bulk of the
    data are a DataError (:func:`retention_lab.schema.check_far_dates`)."""
    tx, q = schema.validate_transactions(
        read_table(source, "transactions", sep=sep, decimal=decimal, thousands=thousands,
                   encoding=encoding),
        observation_end=observation_end, returns=returns, quality=quality,
        date_format=date_format, decimal=decimal, thousands=thousands, duplicates=duplicates)
    if observation_end is None:
        schema.check_far_dates(tx)
    return tx, q


def read_customers(source, *, observation_end=None, quality: DataQuality | None = None,
                   date_format: str | None = None, sep: str | None = None,
                   decimal: str | None = None, thousands: str | None = None,
                   encoding: str | None = None) -> tuple[pd.DataFrame, DataQuality]:
    """Read and validate customers (see :func:`retention_lab.schema.validate_customers`)."""
    return schema.validate_customers(read_table(source, "customers", sep=sep, decimal=decimal,
                                                thousands=thousands, encoding=encoding),
                                     observation_end=observation_end, quality=quality,
                                     date_format=date_format)


def read_surveys(source, *, observation_end=None, quality: DataQuality | None = None,
                 date_format: str | None = None, sep: str | None = None,
                 decimal: str | None = None, thousands: str | None = None,
                 encoding: str | None = None) -> tuple[pd.DataFrame, DataQuality]:
    """Read and validate surveys (see :func:`retention_lab.schema.validate_surveys`)."""
    return schema.validate_surveys(read_table(source, "surveys", sep=sep, decimal=decimal,
                                              thousands=thousands, encoding=encoding),
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


#: Study designs :func:`read_experiment` accepts (see :func:`retention_lab.impact.analyze`);
#: ``"infer"`` takes it from the customers table's columns (:func:`infer_design`).
DESIGNS = (None, "randomized", "self_selected", "launch", "rolling", "infer")
_ENROLMENT_DESIGNS = ("self_selected", "launch", "rolling")


def infer_design(customers: pd.DataFrame | None) -> str | None:
    """The design a customers table's columns imply: ``arm`` → ``"randomized"``; else
    ``enrolled_at`` → ``"self_selected"``; neither (covariates only, or no table) → None: no
    impact design, the table only describes the customers."""
    if customers is None:
        return None
    if "arm" in customers.columns:
        return "randomized"
    if "enrolled_at" in customers.columns:
        return "self_selected"
    return None


def read_experiment(transactions, customers=None, surveys=None, observation_end=None,
                    launch_date=None, design: str | None = None, returns: schema.Returns = "net",
                    date_format: str | None = None, *, sep: str | None = None,
                    decimal: str | None = None, thousands: str | None = None,
                    encoding: str | None = None, duplicates: schema.Duplicates | None = "keep"
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
        When the programme started. Without it, the analyses that need one take the day before
        the first ``enrolled_at`` and say so.
    design : {"randomized", "self_selected", "launch", "rolling", "infer"}, optional
        With ``"randomized"`` a customers table is required, every customer needs an ``arm``
        and both arms need customers; the self-selected designs need an ``enrolled_at``
        column. ``"infer"``: from the customers table's columns (:func:`infer_design`: ``arm``
        → randomized, ``enrolled_at`` → self_selected, neither → None, covariates only).
    returns : {"net", "exclude", "error"}
        The policy for negative amounts (:func:`retention_lab.schema.validate_transactions`).
    date_format : str, optional
        How every date column of the three tables is written: ``"ISO8601"``, ``"dayfirst"``
        (dd/mm/yyyy), ``"monthfirst"`` (mm/dd/yyyy) or a strftime format (``"%d.%m.%Y"``).
        Without it ISO dates are read as such, and numeric day/month text only where the data
        decide the order (a day above 12); ambiguous or mixed dates are a ``DataError``
        (:func:`retention_lab.schema.parse_dates`). ``observation_end`` and ``launch_date``
        are read by the same rules (:func:`retention_lab.schema.parse_date_param`): a value
        that is not a date is a ``DataError`` naming the parameter.
    sep, decimal, thousands, encoding : str, optional
        How CSV files are written (:func:`read_table`): ``sep=";"``, ``decimal=","``,
        ``thousands="."``, ``encoding="latin-1"``. Without ``decimal`` / ``thousands``, amounts
        whose reading depends on the notation (``12,50``, ``1.234,56``, or ``1.234`` when every
        dotted value has three decimals) are a ``DataError`` naming the parameter to pass.
    duplicates : {"keep", "drop", "error"}
        Exact duplicate transaction rows: kept and counted with a warning (default), dropped
        and counted, or a ``DataError``.

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
    if design == "infer":
        cust_in = None if customers is None else read_table(customers, "customers", sep=sep,
                                                            decimal=decimal,
                                                            thousands=thousands,
                                                            encoding=encoding)
        design = infer_design(cust_in)
        customers_source, customers = customers, cust_in
    else:
        customers_source = customers
    observation_end = schema.parse_date_param(observation_end, "observation_end", date_format)
    launch_date = schema.parse_date_param(launch_date, "launch_date", date_format)
    if design == "randomized" and customers is None:
        raise DataError("customers: no customers table was given, but a randomized design needs "
                        "one with an 'arm' column (control/treatment) for every customer; pass "
                        "customers= (in a notebook: the customers_path parameter); rule "
                        "'customers table given'", table="customers", column="arm",
                        rule="customers table given", n_rows=0)
    quality = DataQuality()
    csv = dict(sep=sep, decimal=decimal, thousands=thousands, encoding=encoding)
    tx, _ = read_transactions(transactions, observation_end=observation_end, returns=returns,
                              quality=quality, date_format=date_format, duplicates=duplicates,
                              **csv)
    end = tx["date"].max().normalize() if observation_end is None else observation_end
    if customers is None:
        cust = customers_from_transactions(tx)
    else:
        cust = read_table(customers, "customers", **csv)
    sv = None if surveys is None else read_table(surveys, "surveys", **csv)
    if design in _ENROLMENT_DESIGNS and "enrolled_at" not in cust.columns:
        raise DataError(f"customers: missing required column(s) 'enrolled_at'; rule 'required "
                        f"columns present' (design={design!r} needs the enrolment date of each "
                        "member, empty for non-members; has: "
                        f"{', '.join(map(str, cust.columns))})", table="customers",
                        column="enrolled_at", rule="required columns present", n_rows=len(cust))
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
              else _describe(customers_source),
              "surveys": None if surveys is None else _describe(surveys),
              "returns": returns, "date_format": date_format, "duplicates": duplicates,
              **{k: v for k, v in csv.items() if v is not None}}
    return ExperimentData(
        transactions=tx, customers=cust, surveys=sv, observation_end=end,
        launch_date=launch_date, design=design, quality=quality, params=params)


def _unused(source: str, **arguments) -> None:
    given = sorted(name for name, value in arguments.items() if value is not None)
    if given:
        raise TypeError(f"load_data({source!r}) does not use {', '.join(given)}: they apply to "
                        "the user's own tables (or, for simulate_kwargs, to the simulator)")


def load_data(source="simulated", *, customers=None, surveys=None, observation_end=None,
              launch_date=None, design: str | None = None, n_customers: int = 20_000,
              seed: int = 1, date_format: str | None = None, sep: str | None = None,
              decimal: str | None = None, thousands: str | None = None,
              encoding: str | None = None, duplicates: schema.Duplicates | None = None,
              **simulate_kwargs) -> ExperimentData:
    """The data a notebook analyses, chosen by its ``data_source`` parameter.

    ``source``:

    * ``"simulated"`` (default) — :func:`retention_lab.datasets.simulate_loyalty_experiment`
      with ``n_customers``, ``design`` (default ``"randomized"``), ``seed``, ``launch_date`` (if
      given) and ``simulate_kwargs``;
    * ``"cdnow"`` / ``"cdnow_sample"`` — the CDNOW 1/10 sample (2,357 customers), observed to
      1998-06-30 (or ``observation_end``); ``"cdnow_full"`` — the master file (23,570). Customers
      are derived from the transactions (no arms, so ``design`` is None). CDNOW's identical
      rows (21 in the sample, 255 in the full file: separate orders of one amount on one day)
      are kept and counted in the ledger, without a warning;
    * anything else — a DataFrame or path of transactions for :func:`read_experiment`, with
      ``customers``, ``surveys``, ``observation_end``, ``launch_date``, ``design``,
      ``date_format``, ``sep``, ``decimal``, ``thousands``, ``encoding`` and ``duplicates``
      (default ``"keep"``: kept, counted and warned about; ``"drop"``; ``"error"``). Without
      ``design`` it is inferred from the customers table's columns (:func:`infer_design`):
      ``arm`` → randomized, ``enrolled_at`` → self_selected, neither (a table of covariates
      only) or no table → None. Asking for a randomized design without a customers table is a
      ``DataError`` that says so.
    * a Parquet directory or glob, ``"duckdb:///path.duckdb::table"`` or ``"spark:db.table"`` —
      read and checked in DuckDB / Spark by :func:`retention_lab.engines.read_transactions`;
      ``params["engine"]`` and ``params["n_rows_read"]`` say which engine read how many rows.
      A missing database, table or file, or Spark without pyspark, is a ``DataError`` naming
      it (and the ``spark`` extra). The engines read CSVs with their own detection and only
      ``customer_id, date, amount``: ``sep`` / ``decimal`` / ``thousands`` / ``encoding`` are a
      ``TypeError`` there, and exact duplicates are not looked for.

    An argument the chosen source does not use (e.g. ``customers`` with ``"simulated"``) is a
    ``TypeError`` rather than silently ignored.
    """
    csv = dict(sep=sep, decimal=decimal, thousands=thousands, encoding=encoding)
    if isinstance(source, str) and source == "simulated":
        _unused(source, customers=customers, surveys=surveys, observation_end=observation_end,
                date_format=date_format, duplicates=duplicates, **csv)
        if launch_date is not None:
            simulate_kwargs["launch_date"] = schema.parse_date_param(launch_date, "launch_date")
        return datasets.simulate_loyalty_experiment(n_customers=n_customers,
                                                    design=design or "randomized",
                                                    seed=seed, **simulate_kwargs)
    if isinstance(source, str) and source in CDNOW_SOURCES:
        _unused(source, customers=customers, surveys=surveys, date_format=date_format,
                duplicates=duplicates, **csv, **simulate_kwargs)
        tx = datasets.load_cdnow(sample=CDNOW_SOURCES[source])
        with warnings.catch_warnings():   # CDNOW's identical rows are separate orders: counted
            warnings.simplefilter("ignore", DuplicateRowsWarning)
            data = read_experiment(tx, observation_end=observation_end or datasets.cdnow.OBSERVATION_END,
                                   launch_date=launch_date, design=None, duplicates="keep")
        data.params["transactions"] = source
        return data
    observation_end = schema.parse_date_param(observation_end, "observation_end", date_format)
    launch_date = schema.parse_date_param(launch_date, "launch_date", date_format)
    design = "infer" if design is None else design
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {', '.join(map(repr, DESIGNS))}, not {design!r}")
    if simulate_kwargs:
        raise TypeError(f"unexpected argument(s) for source {_describe(source)!r}: "
                        f"{', '.join(sorted(simulate_kwargs))} (only the simulator takes them)")
    if engines.reads_in_engine(source):
        given = sorted(k for k, v in csv.items() if v is not None)
        if given:
            raise TypeError(f"load_data({_describe(source)!r}) reads in an engine (DuckDB / "
                            f"Spark), which does not take {', '.join(given)}: they apply to "
                            "one CSV file read by pandas")
        # A Parquet directory or glob, "duckdb:///db.duckdb::table", a Spark table/DataFrame or
        # an ibis table: the engine checks the contract and nets returns, and only the validated
        # customer_id, date, amount come to pandas. params say which engine read how many rows.
        tx, tx_quality, info = engines.read_transactions(source, observation_end=observation_end,
                                                         returns="net")
        data = read_experiment(tx, customers=customers, surveys=surveys,
                               observation_end=observation_end, launch_date=launch_date,
                               design=design, date_format=date_format, duplicates=None)
        data.quality = tx_quality.extend(data.quality)
        data.params.update(transactions=info["source"], engine=info["engine"],
                           n_rows_read=info["n_rows"])
        return data
    return read_experiment(source, customers=customers, surveys=surveys,
                           observation_end=observation_end, launch_date=launch_date,
                           design=design, date_format=date_format,
                           duplicates="keep" if duplicates is None else duplicates, **csv)
