"""The customer-metrics overview of notebook 01: every business metric of one period in a table.

Each row comes from :mod:`retention_lab.metrics` with its 95 % interval and method; the table is
what the notebook shows and what it records for ``metrics.json``.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from . import metrics
from .experiment_data import ExperimentData


@dataclass
class MetricsOverview:
    """``table``: one row per metric (value, ci_low, ci_high, n, method); ``results``: the
    :class:`~retention_lab.metrics.MetricResult` objects; ``period``: the period they cover."""

    table: pd.DataFrame
    results: dict
    period_start: pd.Timestamp
    period_end: pd.Timestamp

    def _repr_html_(self) -> str:
        return self.table.to_html(float_format=lambda x: f"{x:.4g}")


def customer_metrics(data: ExperimentData, *, period_days: int = 365, inactivity_days: int = 90,
                     period_end=None, time_unit: str = "year", n_boot: int = 300,
                     seed: int = 0) -> MetricsOverview:
    """The business metrics of the ``period_days`` ending at ``period_end`` (default: the
    observation end): retention and churn rate (the seed formula, customers counted as active
    if they bought in the trailing ``inactivity_days``), repeat-purchase rate, NPS and CSAT
    (when surveys exist, responses in the period), and the simple CLTV over the whole window."""
    end = pd.Timestamp(period_end if period_end is not None else
                       (data.observation_end or data.transactions["date"].max())).normalize()
    start = end - pd.Timedelta(days=int(period_days))
    tx = data.transactions
    counts = metrics.customer_counts(tx, start, end, inactivity_days, validate=False)
    results = {
        "retention_rate": metrics.retention_rate(*counts[:3]),
        "churn_rate": metrics.churn_rate(counts.customers_start,
                                         counts.customers_start - (counts.customers_end
                                                                   - counts.new_customers)),
        "repeat_purchase_rate": metrics.repeat_purchase_rate(tx, end, validate=False),
    }
    if data.surveys is not None and len(data.surveys):
        s = data.surveys
        recent = s.loc[(s["date"] > start) & (s["date"] <= end)]
        if len(recent) == 0:
            recent = s
        for col, fn in (("nps", metrics.nps), ("csat", metrics.csat)):
            if col in recent.columns and recent[col].notna().any():
                results[col] = fn(recent[col])
    results["simple_cltv"] = metrics.simple_cltv_from_transactions(
        tx, inactivity_days, end, time_unit=time_unit, n_boot=n_boot, seed=seed, validate=False)
    rows = []
    for key, r in results.items():
        rows.append(dict(metric=key, value=r.value, ci_low=r.ci[0], ci_high=r.ci[1], n=r.n,
                         unit=r.unit, method=r.method))
    table = pd.DataFrame(rows).set_index("metric")
    return MetricsOverview(table, results, start, end)


def segment_table(scores: pd.DataFrame) -> pd.DataFrame:
    """RFM segments (from :func:`retention_lab.features.rfm_scores`) with their size, share,
    mean recency and purchases, and total spend."""
    g = scores.groupby("segment")
    out = pd.DataFrame({"customers": g.size(), "mean_recency_days": g["recency_days"].mean(),
                        "mean_purchases": g["n_purchases"].mean(),
                        "total_spend": g["total_spend"].sum()})
    out["share"] = out["customers"] / out["customers"].sum()
    out["spend_share"] = out["total_spend"] / out["total_spend"].sum()
    return out.sort_values("total_spend", ascending=False)
