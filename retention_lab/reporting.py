"""Headline numbers that a notebook records for its report's ``metrics.json``.

A notebook calls :func:`record` (or :func:`record_result`) for each headline number. When the
report runner executes the notebook it sets ``RETENTION_LAB_METRICS`` to the path of the run's
``metrics.json``; every call rewrites that file, so a run that fails half-way still leaves what
it had recorded. Outside the runner the values are only kept in memory (:func:`recorded`).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

ENV_VAR = "RETENTION_LAB_METRICS"
_RECORDED: dict[str, dict] = {}


def _num(x):
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def record(name: str, value, ci=None, *, method: str | None = None, unit: str | None = None,
           n: int | None = None, **extra) -> dict:
    """Record one headline number (with its 95 % interval and the method that produced it)."""
    entry = {"value": _num(value)}
    if ci is not None:
        entry["ci_low"], entry["ci_high"] = _num(ci[0]), _num(ci[1])
    for key, val in (("method", method), ("unit", unit), ("n", n)):
        if val is not None:
            entry[key] = val
    entry.update(extra)
    _RECORDED[name] = entry
    path = os.environ.get(ENV_VAR)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(_RECORDED, indent=2, default=str))
    return entry


def record_result(name: str, result, **extra) -> dict:
    """Record a result object with ``value``, ``ci``, ``n`` and ``method`` attributes."""
    return record(name, result.value, getattr(result, "ci", None),
                  method=getattr(result, "method", None), n=getattr(result, "n", None), **extra)


def recorded() -> dict:
    """Everything recorded so far in this process."""
    return dict(_RECORDED)


def clear() -> None:
    _RECORDED.clear()
