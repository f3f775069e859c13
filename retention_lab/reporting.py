"""Headline numbers that a notebook records for its report's ``metrics.json``.

A notebook calls :func:`record` (or :func:`record_result`) for each headline number. When the
report runner executes the notebook it sets ``RETENTION_LAB_METRICS`` to the path of the run's
``metrics.json``; every call rewrites that file, so a run that fails half-way still leaves what
it had recorded. Outside the runner the values are only kept in memory (:func:`recorded`).

Files that belong beside the report but not inside it (an at-risk list with customer ids, a
scored table) go to :func:`output_path`: the runner sets ``RETENTION_LAB_RUN_DIR`` to the run's
folder, so ``df.to_csv(rl.reporting.output_path("at_risk.csv"))`` lands in
``reports/<name>/<run-id>/at_risk.csv``. Privacy rule: HTML reports never show raw customer
identifiers; print counts and aggregates, and write id-level lists through :func:`output_path`.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

ENV_VAR = "RETENTION_LAB_METRICS"
RUN_DIR_ENV = "RETENTION_LAB_RUN_DIR"
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
