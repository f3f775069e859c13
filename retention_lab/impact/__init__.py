"""Loyalty-programme impact: randomized (invite vs control) and self-selected designs.

``result = rl.impact.analyze(data, design=...)`` → an :class:`ImpactReport`: the numbers
(:class:`ImpactResult`: ``effects``, ``checks``, ``settings``, ``verdict``, keyed by the ids of
:mod:`retention_lab.ids`) with methods that render them through the display layer
(``summary_text()``, ``print_summary()``, ``record()``; :mod:`retention_lab.report.impact`).

The estimators a user calls on their own are exported here: the outcome table, the randomized
estimators (SRM, balance, ITT and the effect on members), the self-selected ones (propensity
model, doubly robust ATT, DiD, naive contrast), rolling enrolment, the NB rate ratio, survival,
CLV, the event study, ROI, segment effects, power and context, and the sensitivity of the
self-selected effects to unmeasured confounding (E-values with covariate benchmarks).
Helpers (``k_times``, ``bias_factor``, ``Means`` …) live in their modules
(:mod:`.core.sensitivity`, :mod:`.core.evalues`, :mod:`.core.estimators` …); their old names
here still work, with a DeprecationWarning.

Layout: :mod:`.core` (the estimators every design shares) ← :mod:`.randomized`,
:mod:`.launch`, :mod:`.rolling` (one design each) ← :mod:`.analyze` (which runs one),
:mod:`.result` (the numbers) and :mod:`.verdict`.
"""
import importlib
import warnings

from .analyze import analyze
from .core.clv_effects import membership_clv_effect, predicted_clv
from .core.context import context_table
from .core.design_io import DesignInput, DesignResult
from .core.evalues import evalue
from .core.event_study import EventStudyResult, event_panel, event_study
from .core.frequency import nb_rate_ratio
from .core.heterogeneity import segment_effects
from .core.outcomes import covariate_matrix, outcome_table
from .core.power import mde_table
from .core.propensity import (
    PropensityModel,
    att_effects,
    did_effect,
    fit_propensity,
    naive_effects,
    propensity_balance,
)
from .core.roi import programme_roi
from .core.sensitivity import sensitivity_table
from .core.survival_effects import cox_hazard_ratio, enrolment_hazard_ratio, km_curves
from .randomized.estimators import balance_table, itt_and_members, smd, srm_check
from .report import ImpactReport
from .result import ImpactResult
from .rolling.trials import RollingResult, choose_analysis, rolling_effects

__all__ = ["analyze", "ImpactResult", "ImpactReport", "DesignInput", "DesignResult",
           "outcome_table", "covariate_matrix", "srm_check", "smd", "balance_table",
           "itt_and_members", "PropensityModel", "fit_propensity", "att_effects",
           "naive_effects", "did_effect", "propensity_balance", "RollingResult",
           "choose_analysis", "rolling_effects", "nb_rate_ratio", "km_curves",
           "cox_hazard_ratio", "enrolment_hazard_ratio", "predicted_clv",
           "membership_clv_effect", "event_study", "event_panel", "EventStudyResult",
           "programme_roi", "segment_effects", "mde_table", "context_table", "evalue",
           "sensitivity_table"]

#: names this package exported before issue 21 that now live only in their modules
_MOVED = {
    "build_trials": ".rolling.trials", "Means": ".core.estimators",
    "arm_means": ".core.estimators", "effect_row": ".core.estimators",
    "cochran_q": ".core.heterogeneity", "retention_gain_value": ".core.context",
    "geometric_clv": ".core.context", "EValue": ".core.evalues",
    "evalues_rr": ".core.evalues", "evalues_or": ".core.evalues",
    "evalues_hr": ".core.evalues", "evalues_md": ".core.evalues",
    "bias_factor": ".core.evalues", "confounder_strength": ".core.sensitivity",
    "covariate_benchmarks": ".core.sensitivity", "conditional_benchmarks": ".core.sensitivity",
    "member_effects": ".core.sensitivity", "k_times": ".core.sensitivity",
    "covariate_groups": ".core.sensitivity",
}


def __getattr__(name):
    if name in _MOVED:
        module = _MOVED[name]
        warnings.warn(f"retention_lab.impact.{name} is deprecated: import it from "
                      f"retention_lab.impact{module}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module, __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
