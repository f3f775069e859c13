"""Tables for people about the data, fitted models and recorded numbers.

What a report analysed (:func:`data_summary`, :func:`quality_table`), metrics with their
intervals (:func:`metrics_table`, :func:`wide_estimates`, :func:`hazard_ratio_table`) and the
headline numbers recorded for ``metrics.json`` (:func:`recorded_table`).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .. import formatting as fmt
from .recording import recorded
from .table_base import (
    _SUP,
    CI_LABEL,
    MISSING_NOTE,
    Table,
    _currency,
    _humanize,
    kind_of_metric,
    metric_label,
    table,
)


def metrics_table(frame: pd.DataFrame, *, currency: str | None = None,
                  caption: str | None = None) -> Table:
    """One row per metric (a ``metric`` column or index; ``value``, ``ci_low``, ``ci_high``,
    ``n``, ``method``): each value and interval in its metric's unit, the methods as footnotes."""
    df = frame.reset_index() if "metric" not in frame.columns else frame.copy()
    df = df.drop(columns=[c for c in ("unit",) if c in df.columns])
    kinds = {c: (lambda r: kind_of_metric(r["metric"])) for c in ("value", "estimate")
             if c in df.columns}
    t = table(df, formats=kinds, currency=currency, caption=caption)
    for row in t.rows:
        marker = row[0][len(row[0].rstrip("⁰¹²³⁴⁵⁶⁷⁸⁹")):]
        row[0] = metric_label(row[0][:len(row[0]) - len(marker)]) + marker
    return t



def data_summary(data, *, caption: str | None = "The data") -> Table:
    """What a report analysed (an :class:`~retention_lab.ExperimentData`), for people: design,
    table sizes, the study's dates and how many rows were excluded while reading."""
    def day(ts):
        return fmt.MISSING if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d")
    tx = data.transactions
    rows = [["Design", {"randomized": "randomized (invitation at random)",
                        "self_selected": "self-selected (customers chose to join)"}.get(
                            data.design, data.design or "not a programme study")],
            ["Customers", fmt.count(len(data.customers))],
            ["Transactions", fmt.count(len(tx))],
            ["Survey responses", fmt.count(0 if data.surveys is None else len(data.surveys))]]
    if len(tx) and "date" in tx:
        rows.append(["First transaction", day(tx["date"].min())])
    if getattr(data, "launch_date", None) is not None:
        rows.append(["Programme launch", day(data.launch_date)])
    rows.append(["Observation end", day(data.observation_end)])
    rows.append(["Rows excluded while reading", fmt.count(data.quality.n_excluded())])
    params = getattr(data, "params", {}) or {}
    if "engine" in params:
        rows.append(["Read by", f"{params['engine']} ({fmt.count(params.get('n_rows_read', 0))} "
                                "rows read)"])
    return Table(["", "Value"], rows, [False, True], [], caption)


def quality_table(quality) -> Table:
    """The data-quality ledger (:class:`~retention_lab.errors.DataQuality` or its table): every row
    a documented policy excluded or changed, with the rule; a sentence when there is none."""
    if isinstance(quality, pd.DataFrame):
        frame = quality
    elif isinstance(quality, dict):  # a ledger saved as a dict of its entries
        frame = pd.DataFrame(quality.get("entries", quality.get("table", [])))
    elif isinstance(quality, list):
        frame = pd.DataFrame(quality)
    else:
        frame = quality.table
    if not len(frame):
        return Table(["Data quality"], [["No row was excluded or changed while reading."]],
                     [False])
    return table(frame, formats={"n_rows": "count"}, labels={"n_rows": "Rows"})


def wide_estimates(frame: pd.DataFrame, index: str, columns: str, kind: str = "share", *,
                   estimate: str = "estimate", low: str = "lower 95%", high: str = "upper 95%",
                   column_label: str = "{:g} days", currency: str | None = None,
                   caption: str | None = None) -> Table:
    """Estimates laid out ``index`` × ``columns`` (e.g. group × horizon), each cell
    ``73.4% [71.7%, 74.9%]``: one table instead of three blocks of estimate / lower / upper."""
    currency = _currency(currency)
    cols = list(dict.fromkeys(frame[columns]))
    rows = []
    for key, grp in frame.groupby(index, sort=False):
        by = grp.set_index(columns)
        row = [str(key)]
        for c in cols:
            if c in by.index:
                r = by.loc[c]
                row.append(fmt.estimate(r[estimate], r[low], r[high], kind, currency=currency))
            else:
                row.append(fmt.MISSING)
        rows.append(row)
    header = [_humanize(index)] + [column_label.format(c) if isinstance(c, (int, float, np.number))
                                   else str(c) for c in cols]
    notes = [f"Estimate [{CI_LABEL}]."]
    if any(fmt.MISSING in r for r in rows):
        notes.append(MISSING_NOTE)
    return Table(header, rows, [False] + [True] * len(cols), notes, caption)


def hazard_ratio_table(summary: pd.DataFrame, caption: str | None = None) -> Table:
    """A Cox model's summary for people: hazard ratio with its 95 % CI and p (the log-scale
    coefficient, its SE and z are left to the model's ``summary``); methods as footnotes."""
    drop = [c for c in ("coef", "se", "lower 95%", "upper 95%", "z", "se(coef)") if c in summary]
    return table(summary.drop(columns=drop), formats={"hazard_ratio": "ratio", "hr_lower": "ratio"},
                 labels={"hazard_ratio": "Hazard ratio"}, caption=caption)


#: How a ``metrics.json`` unit is shown (a kind of :mod:`retention_lab.formatting`).
UNIT_KINDS = {"proportion": "share", "share": "share", "probability": "p", "hazard ratio": "ratio",
              "rate ratio": "ratio", "risk ratio": "ratio", "ratio": "lift", "days": "days",
              "customers": "count", "NPS points": "nps", "points": "nps"}


def unit_kind(unit: str | None) -> tuple[str, str | None, str]:
    """``(kind, currency, unit left to show)`` for a ``metrics.json`` unit: ``"USD per
    customer"`` → money in USD, shown unit ``"per customer"``; ``"proportion"`` → a share."""
    unit = str(unit or "")
    kind = UNIT_KINDS.get(unit)
    if kind is not None:
        return kind, None, ("" if kind in ("share", "p", "lift", "days", "count") else unit)
    m = re.fullmatch(r"([A-Z]{3}|[$€£¥])(?: (per .*))?", unit)
    if m:
        return "money", m.group(1), m.group(2) or ""
    return "number", None, unit


def recorded_table(entries: dict | None = None, caption: str | None = None) -> Table:
    """The headline numbers recorded for ``metrics.json`` (default: all recorded so far), each
    in its unit with its 95 % interval; methods as footnotes."""
    if entries is None:
        entries = recorded()
    rows, methods = [], {}
    for key, v in entries.items():
        v = v if isinstance(v, dict) else {"value": v}
        kind, cur, unit = unit_kind(v.get("unit"))
        label = key
        if v.get("method"):
            methods.setdefault(v["method"], len(methods) + 1)
            label += str(methods[v["method"]]).translate(_SUP)
        signed = "control" in v and "treatment" in v  # an effect: treatment − control
        rows.append([label, fmt.value(v.get("value"), kind, currency=cur, signed=signed),
                     fmt.interval(v.get("ci_low"), v.get("ci_high"), kind, currency=cur,
                                  signed=signed),
                     unit, fmt.count(v["n"]) if v.get("n") is not None else fmt.MISSING])
    notes = [f"{str(i).translate(_SUP)} {m}" for m, i in methods.items()]
    if any(fmt.MISSING in r for r in rows):
        notes.append("— no interval or sample size recorded for this number.")
    return Table(["Metric", "Estimate", CI_LABEL, "Unit", "n"], rows,
                 [False, True, True, False, True], notes, caption)
