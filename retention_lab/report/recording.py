"""Headline numbers that a notebook records for its report's ``metrics.json``.

A notebook calls :func:`record` (or :func:`record_result`) for each headline number. When the
report runner executes the notebook it sets ``RETENTION_LAB_METRICS`` to the path of the run's
``metrics.json``; every call rewrites that file, so a run that fails half-way still leaves what
it had recorded. Outside the runner the values are only kept in memory (:func:`recorded`).

Files that belong beside the report but not inside it (an at-risk list with customer ids, a
scored table) go to :func:`output_path`: the runner sets ``RETENTION_LAB_RUN_DIR`` to the run's
folder, so ``df.to_csv(rl.report.recording.output_path("at_risk.csv"))`` lands in
``reports/<name>/<run-id>/at_risk.csv``. Privacy rule: HTML reports never show raw customer
identifiers; print counts and aggregates, and write id-level lists through :func:`output_path`.

Keys of ``metrics.json`` never contain spaces (``lapse hazard ratio_itt`` is recorded as
``lapse_hazard_ratio_itt``) and every entry carries a ``unit``: the caller's, with the word
``currency`` replaced by the report's currency (:func:`set_currency`), else one inferred from the
metric's name (:func:`infer_unit`).

The presentation layer for tables and the verdict card lives in :mod:`retention_lab.report.tables`
and is re-exported here: :func:`table`, :func:`effects_table`, :func:`key_values`,
:func:`checks_table`, :func:`verdict_card`.
"""
from __future__ import annotations

import json
import math
import os
import re
import warnings
from pathlib import Path

ENV_VAR = "RETENTION_LAB_METRICS"
RUN_DIR_ENV = "RETENTION_LAB_RUN_DIR"
_RECORDED: dict[str, dict] = {}
_CURRENCY: list = [None]
UNSPECIFIED = "unspecified"
#: (pattern on the metric key, unit) tried in order when a caller gives no unit; ``{currency}``
#: is the report's currency.
UNIT_RULES = (
    (r"(^|_)p_value$|(^|_)p$", "probability"),
    (r"hazard_ratio", "hazard ratio"),
    (r"rate_ratio|^purchase_rate", "rate ratio"),
    (r"evalue", "risk ratio"),
    (r"c_index", "concordance (0-1)"),
    (r"(^|_)roi($|_)", "ratio"),
    (r"(^|_)nps($|_)", "NPS points"),
    (r"(^|_)(retention|churn|csat|take_up|share|repeat_purchase_rate)($|_)", "proportion"),
    (r"^(spend|clv|cltv|simple_cltv)($|_)", "{currency} per customer"),
    (r"^aov($|_)", "{currency} per order"),
    (r"(^|_)(spend|aov|clv|cltv|revenue|margin|cost)($|_)", "{currency}"),
    (r"(^|_)(rmst|days?)($|_)|_days?(_|$)|\d+d($|_)", "days"),
    (r"^purchases_", "purchases per customer"),
    (r"^holdout_purchases", "repeat purchases (all customers)"),
    (r"^(bgnbd|pareto|paretonbd|bgbb|mbgnbd|gamma_gamma|gg|sbg)_", "model parameter"),
    (r"(^|_)customers($|_)", "customers"),
)


def _num(x):
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def set_currency(currency: str | None) -> None:
    """The report's currency (``"USD"``, ``"EUR"``, a symbol such as ``"€"``): used by the tables
    and the verdict card when no ``currency`` is passed, and for money units in ``metrics.json``."""
    _CURRENCY[0] = currency or None


def get_currency() -> str | None:
    return _CURRENCY[0]


def metric_key(name: str) -> str:
    """The ``metrics.json`` key of a metric name: runs of anything but letters, digits, ``.``
    and ``-`` become one ``_`` (``"lapse hazard ratio_itt"`` → ``"lapse_hazard_ratio_itt"``)."""
    key = re.sub(r"[^0-9A-Za-z.\-]+", "_", str(name)).strip("_")
    if not key:
        raise ValueError(f"metric name {name!r} has no letters or digits")
    return key


def _currency_unit(unit: str) -> str:
    cur = get_currency()
    return re.sub(r"\bcurrency\b", cur, unit) if cur else unit


def infer_unit(key: str) -> str | None:
    """The unit of a metric from its key (:data:`UNIT_RULES`), or ``None``."""
    for pattern, unit in UNIT_RULES:
        if re.search(pattern, key):
            return unit.replace("{currency}", get_currency() or "currency")
    return None


def record(name: str, value, ci=None, *, method: str | None = None, unit: str | None = None,
           n: int | None = None, **extra) -> dict:
    """Record one headline number (with its 95 % interval, the method that produced it and its
    unit) under the key :func:`metric_key` of ``name``."""
    key = metric_key(name)
    unit = _currency_unit(unit) if unit else infer_unit(key)
    if unit is None:
        warnings.warn(f"metric {key!r} recorded without a unit; pass unit=...", stacklevel=2)
        unit = UNSPECIFIED
    entry = {"value": _num(value)}
    if ci is not None:
        entry["ci_low"], entry["ci_high"] = _num(ci[0]), _num(ci[1])
    for k, val in (("method", method), ("unit", unit), ("n", n)):
        if val is not None:
            entry[k] = val
    entry.update(extra)
    _RECORDED[key] = entry
    _write()
    return entry


def _write() -> None:
    path = os.environ.get(ENV_VAR)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(_RECORDED, indent=2, default=str))


VERDICT_KEY = "verdict"


def record_verdict(verdict: dict, name: str = VERDICT_KEY) -> dict:
    """Record an impact study's verdict (``ImpactReport.verdict``: ``claim``, ``evidence``,
    ``robustness``, ``reasons`` — ids of :mod:`retention_lab.ids`) under ``name`` in
    ``metrics.json``; ``value`` repeats the claim and ``unit`` is ``"claim"``, so that readers
    of ``metrics.json`` that show every entry's value and unit show the claim."""
    key = metric_key(name)
    entry = {"value": verdict.get("claim"), "unit": "claim", **verdict}
    _RECORDED[key] = entry
    _write()
    return entry


def record_result(name: str, result, **extra) -> dict:
    """Record a result object with ``value``, ``ci``, ``n``, ``method`` (and ``unit``)."""
    unit = getattr(result, "unit", None) or None  # "" means no unit
    return record(name, result.value, getattr(result, "ci", None),
                  method=getattr(result, "method", None), unit=unit,
                  n=getattr(result, "n", None), **extra)


def recorded() -> dict:
    """Everything recorded so far in this process."""
    return dict(_RECORDED)


def clear() -> None:
    _RECORDED.clear()


def run_dir() -> Path:
    """The folder of the current report run (``RETENTION_LAB_RUN_DIR``), else the working
    directory (a notebook opened interactively writes beside itself)."""
    return Path(os.environ.get(RUN_DIR_ENV) or ".")


def output_path(filename: str) -> Path:
    """Where a notebook writes an extra output file of its run, e.g. ``"at_risk.csv"``.

    ``filename`` is a relative path inside the run folder (no ``..``, not absolute); missing
    sub-folders are created.
    """
    rel = Path(filename)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"output_path needs a relative file name inside the run folder, got {filename!r}")
    path = run_dir() / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


from .tables import (Table, checks_table, data_summary, effects_table,  # noqa: E402,F401
                           hazard_ratio_table, key_values, kind_of_metric, metric_label,
                           metrics_table, paragraphs, power_table, context_table,
                           quality_table, recorded_table, retention_value_table,
                           roi_sentence, roi_table, unit_kind,
                           sensitivity_table,
                           table, verdict_card, wide_estimates)
