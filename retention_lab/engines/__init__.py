"""Run the transaction → customer aggregations where the data lives.

The summaries that :mod:`retention_lab.features` exports — the BTYD summary, the
calibration–holdout split, the churn table, the cohort matrix — are written once in pandas
(:mod:`.pandas_engine`, the reference) and once as SQL (:mod:`.sql`) run on DuckDB (embedded,
out-of-core: a memory limit and spill to disk) or Spark SQL (local or a cluster); on DuckDB the
BTYD summary of integer ids runs as a one-pass kernel (:mod:`.kernels`). The engine is chosen
here and only here (:mod:`.summaries`). The numbers are the same on every engine
(tests/engines/test_engines.py checks every column of every customer).

``engine="auto"`` picks pandas for DataFrames under 2M rows, DuckDB for files, DuckDB tables
and large frames, Spark for Spark DataFrames and tables (see :mod:`.sources`). The data contract
is checked inside the engine (:mod:`.contract`). Results carry ``attrs["engine"]`` and
``attrs["n_rows"]`` (transactions read); every ``attrs`` value is JSON (Parquet/Feather keep
them), the quality ledger included (:func:`retention_lab.quality`).

The one-pass kernel is a small C library built at install (:mod:`.native`), else numba's build
of the same loop (compiled into its cache once per machine), else numpy: :func:`warm` (run by
``make setup``) builds both compiled ones; ``kernels.KERNEL_SOURCE`` says which counts.

Distributed vs driver: on Spark only the aggregation runs on the cluster; the result (one row
per customer, or with ``collapse=True`` one row per distinct (frequency, recency, T) — a few
thousand rows for millions of customers) comes to the driver, where the models are fitted.
"""
from .backends import DUCKDB_CONFIG, SPARK_CONFIG, configure, spark_session
from .kernels import warm
from .pandas_engine import collapse_churn, collapse_summary
from .sources import (
                      AUTO_PANDAS_MAX_ROWS,
                      Source,
                      is_engine_input,
                      pick_engine,
                      reads_in_engine,
                      source,
)
from .summaries import (
                      calibration_holdout,
                      churn_table,
                      cohort_retention,
                      customer_periods,
                      read_transactions,
                      rfm_summary,
)

__all__ = ["rfm_summary", "calibration_holdout", "churn_table", "cohort_retention",
           "customer_periods", "collapse_churn", "collapse_summary", "read_transactions", "reads_in_engine", "source", "Source", "pick_engine",
           "is_engine_input", "spark_session", "configure", "DUCKDB_CONFIG", "SPARK_CONFIG",
           "AUTO_PANDAS_MAX_ROWS", "warm"]
