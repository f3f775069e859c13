"""The numbers of one impact analysis: :class:`ImpactResult`, what :func:`~.analyze` returns —
effects, checks, settings and the verdict, keyed by the stable metric, estimand and check ids of
:mod:`retention_lab.ids`. No words here: :mod:`retention_lab.report.impact` turns a result into
sentences, HTML and ``metrics.json`` entries."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .. import ids
from .verdict import decide, headline_family, main_estimand

#: the leading columns of ``effects``, in this order (other columns follow)
EFFECT_COLUMNS = ["metric", "estimand", "control", "treatment", "abs_diff", "rel_lift", "ci_low",
                  "ci_high", "p_value", "method", "n", "se", "rel_ci_low", "rel_ci_high"]
#: the headline metrics (ids)
PRIMARY = ids.PRIMARY_METRICS


@dataclass
class ImpactResult:
    """The numbers of :func:`~retention_lab.impact.analyze`.

    ``design`` is the study's design in the user's words — ``"randomized"`` (an invitation was
    randomized) or ``"self_selected"`` (customers chose to join); ``analysis`` is the method
    that ran — ``"randomized"``, ``"launch"`` (one launch date) or ``"rolling"`` (each member
    anchored at their own enrolment); ``settings["design_requested"]`` is the ``design``
    argument as given.

    ``effects``: one row per metric id and estimand id (:data:`EFFECT_COLUMNS`); ``checks``: one
    row per check (``id``, ``check`` its label, ``status`` pass/warn/fail, ``value``,
    ``detail``); ``verdict``: the claim, evidence, robustness and reasons (check ids) decided by
    :func:`retention_lab.impact.verdict.decide`; ``settings``: the analysis' settings
    (``horizon_days``, ``alpha`` = 1 − confidence, costs, dates, ``identified`` …);
    ``segments``, ``roi``, ``take_up``, ``holdout``, ``context``, ``retention_value``; and the
    diagnostics the figures show (``naive``, ``balance``, ``power``, ``curves``,
    ``propensity``, ``event_study``, ``rolling``).

    ``sensitivity`` (self-selected design only; ``None`` for a randomized study, whose ITT rests
    on the randomization and needs no such analysis): one row per effect on members with its
    estimate, interval and scale, the approximate risk ratio, the E-values of the estimate and of
    the interval (VanderWeele & Ding 2017), the strongest measured covariate as a benchmark —
    its associations with joining and the outcome given the other covariates, and the estimate
    without it (Cinelli & Hazlett 2020 benchmarking); ``conditional_benchmarks`` those
    leave-one-covariate-out numbers for every measured covariate
    (:func:`retention_lab.impact.core.sensitivity.conditional_benchmarks`);
    ``confounder_benchmarks`` the crude strength of every measured covariate
    (:func:`retention_lab.impact.core.sensitivity.covariate_benchmarks`)."""

    design: str
    effects: pd.DataFrame
    checks: pd.DataFrame
    segments: pd.DataFrame
    roi: dict
    naive: pd.DataFrame = field(default_factory=pd.DataFrame)
    balance: pd.DataFrame = field(default_factory=pd.DataFrame)
    power: pd.DataFrame = field(default_factory=pd.DataFrame)
    context: pd.DataFrame = field(default_factory=pd.DataFrame)
    retention_value: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)
    propensity: object = None
    take_up: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    sensitivity: pd.DataFrame | None = None
    confounder_benchmarks: pd.DataFrame = field(default_factory=pd.DataFrame)
    conditional_benchmarks: pd.DataFrame = field(default_factory=pd.DataFrame)
    analysis: str = ""
    event_study: object = None
    rolling: object = None
    verdict: dict = field(default_factory=dict)
    holdout: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.verdict:   # a result built by hand: decide from its ids now
            _ = self.claim

    @property
    def identified(self) -> bool:
        """False when a check that decides identification failed (history before enrolment,
        overlap, enrolment timing of a launch design): the report then makes no causal claim."""
        if self.verdict:
            return self.verdict.get("claim") != ids.CLAIM_NOT_IDENTIFIED
        return bool(self.settings.get("identified", True))

    @property
    def claim(self) -> str:
        """The verdict's claim id (:data:`retention_lab.ids.CLAIMS`); decided in estimation
        (:func:`retention_lab.impact.verdict.decide`), recomputed only for a result built
        without one."""
        if not self.verdict:
            self.verdict = decide(self.effects, self.checks, self.design,
                                  sensitivity=self.sensitivity,
                                  alpha=self.settings.get("alpha", 0.05))
        return self.verdict["claim"]

    @property
    def suggestive(self) -> bool:
        return self.claim == ids.CLAIM_SUGGESTIVE

    @property
    def member_estimand(self) -> str:
        return ids.MEMBERS

    @property
    def main_estimand(self) -> str:
        """The estimand id the verdict is about: ITT in a randomized study, else the effect on
        members."""
        return main_estimand(self.design)

    def headline(self) -> pd.DataFrame:
        """The primary rows: purchases, spend, retention (ITT and/or effect on members)."""
        e = self.effects
        keep = e["metric"].isin(PRIMARY) & e["estimand"].isin([ids.ITT, ids.MEMBERS])
        return e.loc[keep].reset_index(drop=True)

    def effect(self, metric: str, estimand: str | None = None) -> pd.Series:
        """The effect row of a metric id and estimand id (default: :attr:`main_estimand`)."""
        est = estimand or self.main_estimand
        rows = self.effects.loc[(self.effects["metric"] == metric) &
                                (self.effects["estimand"] == est)]
        if rows.empty:
            raise KeyError(f"no effect row for metric {metric!r}, estimand {est!r}")
        return rows.iloc[0]

    def check(self, check_id: str) -> pd.Series:
        """The check row with this id (:data:`retention_lab.ids.CHECK_IDS`)."""
        rows = self.checks.loc[self.checks["id"] == check_id] if "id" in self.checks else []
        if len(rows) == 0:
            raise KeyError(f"no check with id {check_id!r}")
        return rows.iloc[0]

    def check_labels(self, check_ids) -> list[str]:
        """The display labels of the checks with these ids (the id itself when unknown)."""
        c = self.checks
        labels = dict(zip(c["id"], c["check"])) if "id" in c.columns else {}
        return [str(labels.get(i, i)) for i in check_ids]

    def failed_checks(self) -> pd.DataFrame:
        return self.checks.loc[self.checks["status"] == "fail"]

    def headline_family(self) -> pd.DataFrame:
        """The headline effects (purchases, spend, retention × the design's estimands) with
        Holm-adjusted p-values across that family (Holm 1979): the summary says "raised" or
        "lowered" only where the adjusted p-value is below ``alpha``."""
        return headline_family(self.effects, self.design)
