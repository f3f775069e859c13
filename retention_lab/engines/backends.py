"""The two SQL engines behind :mod:`retention_lab.engines`: DuckDB (embedded, out-of-core) and
Spark SQL (local or a cluster).

A backend knows how to register an input as a view, run a query into pandas, describe a view's
columns, and the handful of dialect functions the one SQL text needs (:attr:`Backend.day`,
:meth:`Backend.parse_yyyymmdd`). Everything else in the SQL is common to both dialects.
"""
from __future__ import annotations

import itertools
import os
import re
import tempfile

import pandas as pd

_ids = itertools.count()

#: DuckDB settings used for every connection the engines open (``configure()`` changes them).
#: ``memory_limit`` caps DuckDB's buffer manager; beyond it aggregations spill to
#: ``temp_directory``, so a 100M-row summary runs in a few GiB.
DUCKDB_CONFIG = {
    "memory_limit": os.environ.get("RETENTION_LAB_DUCKDB_MEMORY_LIMIT", "3GB"),
    "temp_directory": os.environ.get("RETENTION_LAB_DUCKDB_TEMP",
                                     os.path.join(tempfile.gettempdir(), "retention_lab_duckdb")),
    "threads": int(os.environ.get("RETENTION_LAB_DUCKDB_THREADS", "0")) or None,
    "preserve_insertion_order": False,
}

#: Spark settings applied when the engines create the session (an existing session is reused).
SPARK_CONFIG = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Dates are floored to days in the session time zone: UTC, as in the pandas path.
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.memory": os.environ.get("RETENTION_LAB_SPARK_DRIVER_MEMORY", "2g"),
}


def configure(**duckdb_settings) -> dict:
    """Change the DuckDB settings of connections opened from now on (``memory_limit="4GB"``,
    ``temp_directory=...``, ``threads=2``); returns the settings in force."""
    unknown = set(duckdb_settings) - set(DUCKDB_CONFIG)
    if unknown:
        raise ValueError(f"unknown DuckDB setting(s) {sorted(unknown)}; known: {sorted(DUCKDB_CONFIG)}")
    DUCKDB_CONFIG.update(duckdb_settings)
    return dict(DUCKDB_CONFIG)


def parse_bytes(text: str) -> int:
    """``"3GB"``, ``"2.7 GiB"``, ``"512MB"`` → bytes."""

    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)(i?)B?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"cannot read a memory size from {text!r}")
    base = 1024 if m.group(3) else 1000
    power = " KMGT".index(m.group(2).upper() or " ")
    return int(float(m.group(1)) * base ** power)


def new_name(prefix: str) -> str:
    return f"rl_{prefix}_{os.getpid()}_{next(_ids)}"


def type_class(type_name: str) -> str:
    """Map an engine's column type name to ``ts``, ``tstz``, ``str``, ``int``, ``float``, ``other``."""
    t = str(type_name).lower()
    if t.startswith("timestamp with time zone") or t == "timestamptz":
        return "tstz"
    if t.startswith("timestamp") or t == "date":
        return "ts"
    if t in ("varchar", "string", "text", "char") or t.startswith(("varchar", "char", "string")):
        return "str"
    if t in ("tinyint", "smallint", "integer", "int", "bigint", "hugeint", "utinyint",
             "usmallint", "uinteger", "ubigint", "uhugeint", "long", "short", "byte"):
        return "int"
    if t in ("double", "float", "real") or t.startswith("decimal"):
        return "float"
    return "other"


class Backend:
    """Interface of an engine; see :class:`DuckDBBackend` and :class:`SparkBackend`."""

    name = "?"

    def quote(self, ident: str) -> str:
        raise NotImplementedError

    def day(self, ts: str) -> str:
        """SQL for the day number (days since 1970-01-01) of timestamp ``ts``."""
        raise NotImplementedError

    def parse_yyyymmdd(self, text: str) -> str:
        raise NotImplementedError

    def utc(self, ts: str) -> str:
        return ts

    def bucket(self, expr: str, k: int, n: int) -> str:
        """SQL: ``expr`` hashes into bucket ``k`` of ``n`` (partitioned aggregation)."""
        raise NotImplementedError

    def columns(self, view: str) -> dict[str, str]:
        raise NotImplementedError

    def query(self, sql: str) -> pd.DataFrame:
        raise NotImplementedError

    def create_view(self, name: str, sql: str) -> str:
        self.execute(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {sql}")
        return name

    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def row(self, sql: str) -> dict:
        frame = self.query(sql)
        return {k: (None if pd.isna(v) else v) for k, v in frame.iloc[0].items()}


class DuckDBBackend(Backend):
    """DuckDB in-process. ``con`` defaults to a fresh in-memory connection with
    :data:`DUCKDB_CONFIG` (memory limit + spill directory)."""

    name = "duckdb"

    def __init__(self, con=None, **settings):
        import duckdb  # optional engine: imported when DuckDB is used

        if con is None:
            cfg = {**DUCKDB_CONFIG, **settings}
            config = {k: v for k, v in cfg.items() if v is not None}
            if "temp_directory" in config:
                os.makedirs(config["temp_directory"], exist_ok=True)
            con = duckdb.connect(":memory:", config=config)
        self.con = con
        self._keep = []  # registered Python objects must outlive the views over them

    def quote(self, ident: str) -> str:
        return '"' + str(ident).replace('"', '""') + '"'

    def day(self, ts: str) -> str:
        return f"CAST(CAST({ts} AS DATE) - DATE '1970-01-01' AS BIGINT)"

    def parse_yyyymmdd(self, text: str) -> str:
        return f"TRY_STRPTIME({text}, '%Y%m%d')"

    def utc(self, ts: str) -> str:
        return f"timezone('UTC', {ts})"

    def bucket(self, expr: str, k: int, n: int) -> str:
        return f"hash({expr}) % {n} = {k}"

    def memory_limit(self) -> int:
        """DuckDB's memory limit in bytes."""
        text = self.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        return parse_bytes(text)

    def register(self, name: str, obj) -> str:
        self._keep.append(obj)
        self.con.register(name, obj)
        return name

    def columns(self, view: str) -> dict[str, str]:
        rows = self.con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
        return {r[0]: r[1] for r in rows}

    def execute(self, sql: str) -> None:
        self.con.execute(sql)

    def query(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()


class SparkBackend(Backend):
    """Spark SQL on ``spark`` (a SparkSession, local or a cluster, classic or Connect)."""

    name = "spark"

    def __init__(self, spark):
        self.spark = spark

    def quote(self, ident: str) -> str:
        return "`" + str(ident).replace("`", "``") + "`"

    def day(self, ts: str) -> str:
        return f"CAST(unix_date(CAST({ts} AS DATE)) AS BIGINT)"

    def parse_yyyymmdd(self, text: str) -> str:
        return f"try_to_timestamp({text}, 'yyyyMMdd')"

    def bucket(self, expr: str, k: int, n: int) -> str:
        return f"pmod(hash({expr}), {n}) = {k}"

    def columns(self, view: str) -> dict[str, str]:
        return dict(self.spark.table(view).dtypes)

    def execute(self, sql: str) -> None:
        self.spark.sql(sql).collect()

    def query(self, sql: str) -> pd.DataFrame:
        return self.spark.sql(sql).toPandas()


def spark_session(master: str | None = None, remote: str | None = None, config: dict | None = None):
    """The Spark session the engines run on.

    Parameters
    ----------
    master : str, optional
        ``spark.master`` — ``"local[2]"`` (the default when no session is active),
        ``"spark://host:7077"``, ``"yarn"``, ``"k8s://…"``.
    remote : str, optional
        A Spark Connect URL (``"sc://host:15002"``); needs ``pyspark[connect]``.
    config : dict, optional
        Extra Spark settings, on top of :data:`SPARK_CONFIG`.

    An active session is reused as it is when neither ``master`` nor ``remote`` is given
    (``getOrCreate`` semantics); its time zone is set to UTC for the engines' queries.
    """
    from pyspark.sql import SparkSession  # heavy optional dependency (spark extra)

    master = master or os.environ.get("RETENTION_LAB_SPARK_MASTER")
    remote = remote or os.environ.get("RETENTION_LAB_SPARK_REMOTE")
    if not master and not remote:
        active = SparkSession.getActiveSession()
        if active is not None:
            active.conf.set("spark.sql.session.timeZone", "UTC")
            return active
    builder = SparkSession.builder
    builder = builder.remote(remote) if remote else builder.master(master or "local[2]")
    for key, value in {**SPARK_CONFIG, **(config or {})}.items():
        if remote and key in ("spark.ui.enabled", "spark.driver.memory"):
            continue
        builder = builder.config(key, value)
    builder = builder.appName("retention_lab")
    spark = builder.getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    return spark
