"""Loyalty-programme impact: randomized (invite vs control) and self-selected designs.

``report = rl.impact.analyze(data, design=...)`` → :class:`ImpactReport` with ``effects``,
``checks``, ``segments``, ``roi``, ``assumptions``, ``summary_text()``, ``print_summary()``.
The building blocks are public for analysts who want one piece: the outcome table, the
randomized estimators (SRM, balance, ITT, Wald/IV with CUPED), the self-selected ones
(propensity model, doubly robust ATT, DiD, naive contrast), the NB rate ratio, survival, CLV,
ROI, segment effects with multiplicity correction, power and context, and the sensitivity of
the self-selected effects to unmeasured confounding (E-values with covariate benchmarks).
"""
from .analyze import analyze, ImpactReport
from .rolling.trials import RollingResult, build_trials, choose_analysis, rolling_effects
from .core.outcomes import outcome_table, covariate_matrix
from .core.estimators import Means, arm_means, effect_row
from .randomized.estimators import srm_check, smd, balance_table, itt_and_members
from .core.propensity import (PropensityModel, fit_propensity, att_effects, naive_effects,
                            did_effect, propensity_balance)
from .core.frequency import nb_rate_ratio
from .core.survival_effects import km_curves, cox_hazard_ratio, enrolment_hazard_ratio
from .core.clv_effects import membership_clv_effect, predicted_clv
from .core.event_study import event_study, event_panel, EventStudyResult
from .core.roi import programme_roi
from .core.heterogeneity import segment_effects, cochran_q
from .core.power import mde_table
from .core.context import context_table, retention_gain_value, geometric_clv
from .core.sensitivity import (EValue, evalue, evalues_rr, evalues_or, evalues_hr, evalues_md,
                          bias_factor, confounder_strength, covariate_benchmarks,
                          conditional_benchmarks, member_effects, k_times, covariate_groups,
                          sensitivity_table)

__all__ = ["analyze", "ImpactReport", "RollingResult", "build_trials", "choose_analysis",
           "rolling_effects", "outcome_table", "covariate_matrix", "Means", "arm_means",
           "effect_row", "srm_check", "smd", "balance_table", "itt_and_members",
           "PropensityModel", "fit_propensity", "att_effects", "naive_effects", "did_effect",
           "propensity_balance", "nb_rate_ratio", "km_curves", "cox_hazard_ratio",
           "enrolment_hazard_ratio", "predicted_clv", "event_study", "event_panel",
           "membership_clv_effect",
           "EventStudyResult", "programme_roi", "segment_effects",
           "cochran_q", "mde_table", "context_table", "retention_gain_value", "geometric_clv",
           "EValue", "evalue", "evalues_rr", "evalues_or", "evalues_hr", "evalues_md",
           "bias_factor", "confounder_strength", "covariate_benchmarks",
           "conditional_benchmarks", "member_effects", "k_times", "covariate_groups",
           "sensitivity_table"]
