"""The BTYD summary (frequency, recency, T, monetary value) and the calibration–holdout split.

``rfm_summary`` and ``calibration_holdout`` are :mod:`retention_lab.engines`' functions: one
signature whatever the engine (``engine="auto"`` runs pandas for frames under 2M rows, DuckDB
for files and bigger frames, Spark for Spark data). The conventions — lifetimes' and Fader,
Hardie & Lee's (2005), and where we differ from lifetimes on purpose — are documented in
:mod:`retention_lab.engines.pandas_engine`, the pandas reference implementation.
"""
from ..engines.pandas_engine import SUMMARY_COLUMNS, collapse_summary
from ..engines.summaries import calibration_holdout, rfm_summary

__all__ = ["rfm_summary", "calibration_holdout", "collapse_summary", "SUMMARY_COLUMNS"]
