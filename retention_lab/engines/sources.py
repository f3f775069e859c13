"""Where transactions live, and which engine reads them.

:func:`source` turns any supported input into a :class:`Source` — a view in an engine plus what
is known about it — or says that pandas should run:

==========================================  ======================  ==========================
input                                       ``engine="auto"``       notes
==========================================  ======================  ==========================
pandas DataFrame, < 2M rows                 pandas                  the features functions
pandas DataFrame, ≥ 2M rows                 duckdb                  scanned in place (Arrow)
``"tx.parquet"``, ``"dir/"``, ``"*.parquet"``  duckdb               hive partitions read
``"tx.csv"`` (``.csv.gz``, ``.tsv``)        duckdb                  header row expected
``"duckdb:///path/db.duckdb::table"``       duckdb                  or ``("path.duckdb", "table")``
ibis table                                  its backend             duckdb / pyspark; others
                                                                    are streamed into DuckDB
Spark DataFrame, ``"spark:db.table"``       spark                   the active session
==========================================  ======================  ==========================

``engine="spark"`` also reads files (``spark.read``); ``engine="pandas"`` reads anything into a
DataFrame (small data only).
"""
from __future__ import annotations

import glob as _glob
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .backends import Backend, DuckDBBackend, SparkBackend, new_name, spark_session

ENGINES = ("auto", "pandas", "duckdb", "spark")
#: ``engine="auto"`` keeps DataFrames with fewer rows than this on pandas.
AUTO_PANDAS_MAX_ROWS = 2_000_000
DUCKDB_URL = "duckdb://"
SPARK_PREFIX = "spark:"
#: Bytes per transaction row that pandas holds at the peak of a summary (the frame, the
#: validated copy, period numbers, the group-by's keys and output), measured at 10M rows (2.0 GiB).
PANDAS_BYTES_PER_ROW = 210
_PARQUET = (".parquet", ".pq", ".parq")
_CSV = (".csv", ".csv.gz", ".tsv", ".txt", ".txt.gz")


@dataclass(eq=False)
class Source:
    """Transactions as a view in an engine (DuckDB or Spark), read lazily.

    ``len(source)`` / :attr:`n_rows` counts the rows (one cheap query, cached);
    :meth:`to_pandas` brings the table to pandas (small data only).
    """

    backend: Backend
    view: str
    description: str
    origin: object = None
    _n_rows: int | None = None
    _clean: dict = field(default_factory=dict)
    _last_ts: dict = field(default_factory=dict)
    _bounds: dict = field(default_factory=dict)

    @property
    def engine(self) -> str:
        return self.backend.name

    @property
    def n_rows(self) -> int:
        if self._n_rows is None:
            self._n_rows = int(self.backend.row(f"SELECT COUNT(*) AS n FROM {self.view}")["n"])
        return self._n_rows

    def __len__(self) -> int:
        return self.n_rows

    @property
    def columns(self) -> list[str]:
        return list(self.backend.columns(self.view))

    def to_pandas(self, columns=None) -> pd.DataFrame:
        """The table in pandas; refused (:func:`check_fits_in_pandas`) when it would not fit."""
        check_fits_in_pandas(self.n_rows, self.description)
        cols = "*" if columns is None else ", ".join(self.backend.quote(c) for c in columns)
        return self.backend.query(f"SELECT {cols} FROM {self.view}")

    def __repr__(self) -> str:
        n = f"{self._n_rows:,} rows" if self._n_rows is not None else "rows not counted yet"
        return f"Source(engine={self.engine!r}, {self.description}, {n})"


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable`` of ``/proc/meminfo``);
    ``None`` where that is not known."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_fits_in_pandas(n_rows: int, what: str) -> None:
    """Raise :class:`MemoryError` — with the estimate and the way out — before ``n_rows``
    transactions are brought into pandas when their summaries would need more than 60 % of the
    available memory (:data:`PANDAS_BYTES_PER_ROW`), instead of letting the process be killed."""
    avail = available_memory()
    need = int(n_rows) * PANDAS_BYTES_PER_ROW
    if avail is not None and need > 0.6 * avail:
        raise MemoryError(
            f"{what}: {int(n_rows):,} transactions would need about {need / 2**30:.1f} GiB in "
            f"pandas ({avail / 2**30:.1f} GiB available). Summarise them where they are: "
            "rl.engines.rfm_summary / calibration_holdout / churn_table / cohort_retention with "
            "engine='duckdb' (or 'auto'), or engine='spark' on a cluster.")


def _is_spark_frame(data) -> bool:
    return type(data).__module__.startswith("pyspark.sql") and hasattr(data, "createOrReplaceTempView")


def _is_ibis_table(data) -> bool:
    # An ibis table exists only once ibis is imported; importing it here (0.4 s) to test a path
    # string would cost more than a 10M-row summary's contract checks.
    if not type(data).__module__.startswith("ibis"):
        return False
    import ibis.expr.types as ir  # optional: ibis only when a table is given
    return isinstance(data, ir.Table)


def parse_duckdb_url(data) -> tuple[str, str] | None:
    """``"duckdb:///abs/path.duckdb::table"``, ``"duckdb://rel/path.db::table"`` or a
    ``(database_path, table)`` tuple → ``(path, table)``; anything else → ``None``."""
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(x, (str, Path)) for x in data):
        path = str(data[0])
        if path.startswith(DUCKDB_URL):
            path = path[len(DUCKDB_URL):]
        return path, str(data[1])
    if isinstance(data, str) and data.startswith(DUCKDB_URL):
        rest = data[len(DUCKDB_URL):]
        if "::" not in rest:
            raise DataError(f"transactions: {data}: a DuckDB source names its table "
                            "('duckdb:///path/db.duckdb::table'); rule 'a table named after ::'",
                            table="transactions", column="*", rule="a table named after ::",
                            n_rows=0)
        path, table = rest.rsplit("::", 1)
        return path, table
    return None


def _file_kind(path: str) -> tuple[str, str]:
    """(``parquet``|``csv``, the glob DuckDB should read) for a file, directory or glob."""
    p = path.lower()
    if os.path.isdir(path):
        base = path.rstrip("/")
        if _glob.glob(os.path.join(base, "**", "*.parquet"), recursive=True):
            return "parquet", f"{base}/**/*.parquet"
        if _glob.glob(os.path.join(base, "**", "*.csv"), recursive=True):
            return "csv", f"{base}/**/*.csv"
        raise _source_error(path, "no .parquet or .csv files under this directory",
                            "a directory of .parquet or .csv files")
    if p.endswith(_PARQUET) or "parquet" in os.path.basename(p):
        kind = "parquet"
    elif p.endswith(_CSV):
        kind = "csv"
    else:
        raise ValueError(f"cannot tell the format of {path!r}: expected .parquet or .csv "
                         "(a file, a directory or a glob)")
    if not any(ch in path for ch in "*?[") and not os.path.exists(path):
        raise _source_error(path, "no such file", "file exists")
    if any(ch in path for ch in "*?[") and not _glob.glob(path, recursive=True):
        raise _source_error(path, f"the pattern matches no file (a relative pattern is read "
                            f"from the working directory {os.getcwd()})",
                            "the pattern matches at least one file")
    return kind, path


def _source_error(path: str, problem: str, rule: str, column: str = "*") -> DataError:
    """A transactions source that cannot be read, as a DataError naming it."""
    return DataError(f"transactions: {path}: {problem}; rule '{rule}'", table="transactions",
                     column=column, rule=rule, n_rows=0)


def _spark_missing(what: str) -> DataError:
    return DataError(f"transactions: {what}: a Spark source needs pyspark, which is not "
                     "installed; rule "
                     "'pyspark installed': pip install 'retention-lab[spark]' (the spark extra; "
                     "Spark also needs a Java runtime)", table="transactions", column="*",
                     rule="pyspark installed", n_rows=0)


def _sql_string(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def is_engine_input(data) -> bool:
    """True for inputs that only an engine reads (paths, URLs, Spark/ibis tables, Sources)."""
    return (isinstance(data, (Source, str, Path)) or _is_spark_frame(data) or _is_ibis_table(data)
            or parse_duckdb_url(data) is not None)


def reads_in_engine(data) -> bool:
    """Inputs that :func:`retention_lab.io.load_data` hands to the engines: Parquet/CSV
    directories and globs, DuckDB tables, Spark DataFrames and tables, ibis tables, Sources
    (single files stay with :mod:`retention_lab.io`'s pandas readers)."""
    if isinstance(data, Source) or _is_spark_frame(data) or _is_ibis_table(data):
        return True
    if parse_duckdb_url(data) is not None:
        return True
    if isinstance(data, (str, Path)):
        text = str(data)
        return (text.startswith(SPARK_PREFIX) or os.path.isdir(text)
                or any(ch in text for ch in "*?["))
    return False


def pick_engine(data, engine: str = "auto") -> str:
    """The engine that ``engine="auto"`` chooses for ``data`` (or ``engine`` checked)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    if engine != "auto":
        return engine
    if isinstance(data, pd.DataFrame):
        return "pandas" if len(data) < AUTO_PANDAS_MAX_ROWS else "duckdb"
    if isinstance(data, Source):
        return data.engine
    if _is_spark_frame(data) or (isinstance(data, str) and data.startswith(SPARK_PREFIX)):
        return "spark"
    if _is_ibis_table(data):
        return "spark" if data._find_backend().name == "pyspark" else "duckdb"
    return "duckdb"


def source(data, engine: str = "auto", *, spark=None, **duckdb_settings) -> Source | pd.DataFrame:
    """Resolve ``data`` for ``engine``: a :class:`Source` (DuckDB / Spark) or, for pandas, a
    DataFrame. See the module docstring for the inputs; ``duckdb_settings`` (``memory_limit``,
    ``temp_directory``, ``threads``) apply to a new DuckDB connection."""
    eng = pick_engine(data, engine)
    if isinstance(data, Source):
        if eng == "pandas":
            return data.to_pandas()
        if eng == data.engine:
            return data
        if data.origin is None:
            raise ValueError(f"this {data.engine} source cannot be moved to {eng}")
        return source(data.origin, eng, spark=spark, **duckdb_settings)
    if eng == "pandas":
        return _to_pandas(data)
    if eng == "duckdb":
        return _duckdb_source(data, **duckdb_settings)
    return _spark_source(data, spark)


def _to_pandas(data) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if _is_spark_frame(data):
        return data.toPandas()
    if _is_ibis_table(data):
        return data.to_pandas()
    return _duckdb_source(data).to_pandas()


def _duckdb_source(data, **settings) -> Source:
    if _is_ibis_table(data):
        backend_name = data._find_backend().name
        if backend_name == "duckdb":
            import ibis  # optional: ibis only when a table is given
            be = DuckDBBackend(con=data._find_backend().con)
            view = be.create_view(new_name("ibis"), ibis.to_sql(data, dialect="duckdb"))
            return Source(be, view, "ibis table (its DuckDB connection)", origin=None)
        be = DuckDBBackend(**settings)
        view = be.register(new_name("ibis"), data.to_pyarrow_batches())
        return Source(be, view, f"ibis table ({backend_name}, streamed into DuckDB)", origin=None)
    be = DuckDBBackend(**settings)
    if isinstance(data, pd.DataFrame):
        view = be.register(new_name("frame"), data)
        return Source(be, view, "pandas DataFrame", origin=data, _n_rows=len(data))
    if _is_spark_frame(data):
        raise ValueError("a Spark DataFrame runs on engine='spark' (or 'auto')")
    db = parse_duckdb_url(data)
    if db is not None:
        path, table = db
        if not os.path.exists(path):
            raise _source_error(path, f"no such DuckDB database (a relative path is read from "
                                f"the working directory {os.getcwd()})", "database exists")
        import duckdb  # optional engine: imported when DuckDB is used
        alias = new_name("db")
        try:
            be.execute(f"ATTACH {_sql_string(path)} AS {alias} (READ_ONLY)")
        except duckdb.Error as exc:
            raise _source_error(path, f"is not a DuckDB database ({exc})",
                                "a DuckDB database") from None
        try:
            view = be.create_view(new_name("tx"), f"SELECT * FROM {alias}.{table}")
        except duckdb.CatalogException:
            tables = be.query(f"SELECT table_name FROM information_schema.tables WHERE "
                              f"table_catalog = {_sql_string(alias)}")["table_name"].tolist()
            raise _source_error(path, f"no table {table!r} in the database (it has: "
                                f"{', '.join(tables) or 'no tables'})", "table exists",
                                column=table) from None
        return Source(be, view, f"DuckDB table {table} in {path}", origin=data)
    if isinstance(data, (str, Path)):
        path = str(data)
        if path.startswith(SPARK_PREFIX):
            raise ValueError(f"{path!r} is a Spark table: use engine='spark' (or 'auto')")
        kind, pattern = _file_kind(path)
        if kind == "parquet":
            reader = f"read_parquet({_sql_string(pattern)}, hive_partitioning = true, union_by_name = true)"
        else:
            reader = f"read_csv({_sql_string(pattern)}, header = true)"
        import duckdb  # optional engine: imported when DuckDB is used
        try:
            view = be.create_view(new_name("tx"), f"SELECT * FROM {reader}")
        except (duckdb.IOException, duckdb.InvalidInputException) as exc:
            raise _source_error(path, f"cannot be read as {kind} ({str(exc).splitlines()[0]})",
                                f"a readable {kind} source") from None
        return Source(be, view, f"{kind} {path}", origin=data)
    raise TypeError(f"cannot read transactions from {type(data).__name__}")


def _spark_source(data, spark=None) -> Source:
    if _is_ibis_table(data) and data._find_backend().name == "pyspark":
        import ibis  # optional: ibis only when a table is given
        spark = data._find_backend()._session
        be = SparkBackend(spark)
        view = be.create_view(new_name("ibis"), ibis.to_sql(data, dialect="spark"))
        return Source(be, view, "ibis table (its Spark session)", origin=None)
    if _is_spark_frame(data):
        be = SparkBackend(data.sparkSession if spark is None else spark)
        view = new_name("tx")
        data.createOrReplaceTempView(view)
        return Source(be, view, "Spark DataFrame", origin=data)
    if spark is None:
        try:
            spark = spark_session()
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] == "pyspark":
                raise _spark_missing(data if isinstance(data, (str, Path)) else type(data).__name__) from None
            raise
    be = SparkBackend(spark)
    view = new_name("tx")
    if isinstance(data, pd.DataFrame):
        spark.createDataFrame(data).createOrReplaceTempView(view)
        return Source(be, view, "pandas DataFrame (sent to Spark)", origin=data, _n_rows=len(data))
    if isinstance(data, (str, Path)):
        path = str(data)
        if path.startswith(SPARK_PREFIX):
            table = path[len(SPARK_PREFIX):]
            spark.table(table).createOrReplaceTempView(view)
            return Source(be, view, f"Spark table {table}", origin=data)
        kind, _ = _file_kind(path)
        reader = spark.read.parquet(path) if kind == "parquet" else \
            spark.read.csv(path, header=True, inferSchema=True)
        reader.createOrReplaceTempView(view)
        return Source(be, view, f"{kind} {path} (spark.read)", origin=data)
    if _is_ibis_table(data):
        spark.createDataFrame(data.to_pandas()).createOrReplaceTempView(view)
        return Source(be, view, "ibis table (sent to Spark)", origin=None)
    raise TypeError(f"cannot read transactions from {type(data).__name__} on Spark")
