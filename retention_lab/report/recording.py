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
``currency`` replaced by the report's currency, else one inferred from the metric's name
(:func:`infer_unit`).

The currency is an argument: ``record(..., currency="EUR")``, and every table and figure that
shows money takes ``currency=``. :func:`set_currency` is kept, not deprecated, as the run's
documented default: a notebook sets it once from its ``currency`` parameter, and a call that
passes no currency uses it (:func:`resolve_currency`); an explicit argument always wins.

The tables for people live in :mod:`retention_lab.report.tables`; this module does not import
them. Their names under the old path (``rl.reporting.effects_table``, …) still resolve, with a
:class:`DeprecationWarning` (:func:`__getattr__`).
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
    """Set the run's default currency (``"USD"``, ``"EUR"``, a symbol such as ``"€"``).

    The default of every call that shows or records money and is given no ``currency=``: tables,
    the verdict card, figures' axis labels and the money units of ``metrics.json``. Kept (not
    deprecated) so that a notebook states its currency once; library code never reads it except
    through :func:`resolve_currency`, and an explicit ``currency=`` always wins."""
    _CURRENCY[0] = currency or None


def get_currency() -> str | None:
    """The run's default currency (:func:`set_currency`), or ``None``."""
    return _CURRENCY[0]


def resolve_currency(currency: str | None = None) -> str | None:
    """The currency a call shows money in: ``currency`` when given (``""`` means none), else
    the run's default (:func:`set_currency`)."""
    if currency is not None:
        return currency or None
    return get_currency()


def metric_key(name: str) -> str:
    """The ``metrics.json`` key of a metric name: runs of anything but letters, digits, ``.``
    and ``-`` become one ``_`` (``"lapse hazard ratio_itt"`` → ``"lapse_hazard_ratio_itt"``)."""
    key = re.sub(r"[^0-9A-Za-z.\-]+", "_", str(name)).strip("_")
    if not key:
        raise ValueError(f"metric name {name!r} has no letters or digits")
    return key


def _currency_unit(unit: str, currency: str | None = None) -> str:
    cur = resolve_currency(currency)
    return re.sub(r"\bcurrency\b", cur, unit) if cur else unit


def infer_unit(key: str, currency: str | None = None) -> str | None:
    """The unit of a metric from its key (:data:`UNIT_RULES`), or ``None``; money in
    ``currency`` (default: the run's, :func:`resolve_currency`)."""
    for pattern, unit in UNIT_RULES:
        if re.search(pattern, key):
            return unit.replace("{currency}", resolve_currency(currency) or "currency")
    return None


def record(name: str, value, ci=None, *, method: str | None = None, unit: str | None = None,
           n: int | None = None, currency: str | None = None, **extra) -> dict:
    """Record one headline number (with its 95 % interval, the method that produced it and its
    unit) under the key :func:`metric_key` of ``name``. The word ``currency`` in ``unit`` (and
    an inferred money unit) becomes ``currency``, else the run's default (:func:`set_currency`)."""
    key = metric_key(name)
    unit = _currency_unit(unit, currency) if unit else infer_unit(key, currency)
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


def record_result(name: str, result, *, currency: str | None = None, **extra) -> dict:
    """Record a result object with ``value``, ``ci``, ``n``, ``method`` (and ``unit``); money
    units in ``currency`` (default: the run's)."""
    unit = getattr(result, "unit", None) or None  # "" means no unit
    return record(name, result.value, getattr(result, "ci", None),
                  method=getattr(result, "method", None), unit=unit,
                  n=getattr(result, "n", None), currency=currency, **extra)


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



#: Table names this module re-exported before the display layer was split (``rl.reporting.<name>``,
#: used by old notebooks); they now live in :mod:`retention_lab.report.tables` only.
TABLE_NAMES = frozenset({
    "Table", "checks_table", "context_table", "data_summary", "effects_table",
    "hazard_ratio_table", "key_values", "kind_of_metric", "metric_label", "metrics_table",
    "paragraphs", "power_table", "quality_table", "recorded_table", "retention_value_table",
    "roi_sentence", "roi_table", "sensitivity_table", "table", "unit_kind", "verdict_card",
    "wide_estimates"})


def __getattr__(name: str):
    """``recording.<table function>`` (the old ``rl.reporting.effects_table``): the function from
    :mod:`retention_lab.report.tables`, with a :class:`DeprecationWarning`."""
    if name not in TABLE_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"{__name__}.{name} is deprecated: use retention_lab.report.tables.{name}",
                  DeprecationWarning, stacklevel=2)
    # The one function-level import that is right here: the tables import this module (for the
    # run's currency and the recorded numbers), so importing them at module level would make a
    # cycle; they are imported only when an old name is asked for.
    from . import tables
    return getattr(tables, name)
