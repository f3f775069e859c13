"""The typed input and output of a design's analysis (:func:`~retention_lab.impact.randomized.
design.analyze_randomized`, :func:`~retention_lab.impact.launch.design.analyze_launch`,
:func:`~retention_lab.impact.rolling.design.analyze_rolling`): one :class:`DesignInput` in, one
:class:`DesignResult` out, which :func:`~retention_lab.impact.analyze` assembles into the
:class:`~retention_lab.impact.result.ImpactResult`."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Callable

import pandas as pd


@dataclass(frozen=True)
class DesignInput:
    """What every design's analysis reads: the study (``data``), its outcome table ``out``
    (:func:`~retention_lab.impact.core.outcomes.outcome_table`) and covariate matrix ``X``
    (:func:`~retention_lab.impact.core.outcomes.covariate_matrix`), and the settings of
    :func:`~retention_lab.impact.analyze` (``alpha`` = 1 − confidence; ``horizon_days`` the
    outcome window; ``segment_column`` and ``correction`` those of the segment effects; the
    rest switch parts on or off)."""

    data: object
    out: pd.DataFrame
    X: pd.DataFrame
    alpha: float = 0.05
    horizon_days: int = 365
    clv: bool = True
    survival: bool = True
    sensitivity: bool = True
    event_study: bool = True
    n_draws: int = 100
    seed: int = 0
    trim: float = 0.01
    planned_share: float | None = None
    retention_days: int | None = None
    segment_column: str | None = None
    correction: str = "holm"


@dataclass
class DesignResult:
    """What a design's analysis returns: ``effects`` (one row per metric id and estimand id),
    ``checks`` (dicts keyed by check id), the diagnostics the figures show, ``take_up``, and
    ``segment_estimator(mask, metrics) -> effects`` for the segment effects (``segments``: those
effects already computed by the design, for ``segment_column``, when it had the time for them). ``roi_table``:
    the rows the ROI is computed over, when the design defines them (rolling: one per analysed
    member)."""

    effects: pd.DataFrame
    checks: list
    segment_estimator: Callable
    take_up: dict = field(default_factory=dict)
    balance: pd.DataFrame = field(default_factory=pd.DataFrame)
    power: pd.DataFrame = field(default_factory=pd.DataFrame)
    curves: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    propensity: object = None
    naive: pd.DataFrame = field(default_factory=pd.DataFrame)
    sensitivity: pd.DataFrame | None = None
    confounder_benchmarks: pd.DataFrame | None = field(default_factory=pd.DataFrame)
    conditional_benchmarks: pd.DataFrame | None = field(default_factory=pd.DataFrame)
    rolling: object = None
    event_study: object = None
    roi_table: pd.DataFrame | None = None
    segments: pd.DataFrame | None = None

    #: fields that are not part of the result handed to :class:`ImpactResult`
    _INTERNAL = ("effects", "checks", "segment_estimator", "roi_table", "segments")

    def diagnostics(self) -> dict:
        """The fields :class:`~retention_lab.impact.result.ImpactResult` takes as they are
        (everything but effects, checks, the segment estimator and the ROI rows)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in self._INTERNAL}
