"""Acquisition-cohort retention: the share of each cohort that purchases k periods after joining.

``cohort_retention`` is :func:`retention_lab.engines.cohort_retention` (pandas, DuckDB or Spark;
the pandas implementation is :func:`retention_lab.engines.pandas_engine.cohort_retention`).
"""
from ..engines.summaries import cohort_retention

__all__ = ["cohort_retention"]
