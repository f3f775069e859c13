"""Survival-analysis churn models on lifelines.

A customer's *lifetime* is their age (time since first purchase) at their lapse — the last
purchase before ``inactivity_days`` without one — as built by
:func:`retention_lab.features.churn_table`. Everything here wraps lifelines in those terms,
guards its pitfalls (zero durations, ties, collinear covariates, non-convergence) and returns
results with a ``summary`` DataFrame (estimate, se, 95 % interval, p-value, method) and a
plain-language ``interpretation``.

* :mod:`.descriptive` — Kaplan–Meier retention curves per group, median lifetime, retention at
  horizons, log-rank test.
* :mod:`.regression` — Cox PH with the Schoenfeld PH check and a stratification / time-
  interaction fallback.
* :mod:`.time_varying` — loyalty enrolment as a time-varying covariate; ``enrolment_effect``
  (adjusted for the purchase history and counted from the launch: enrolment at a purchase).
* :mod:`.parametric` — Weibull / log-logistic / log-normal models chosen by AIC; extrapolated
  retention.
* :mod:`.effects` — hazard ratios, RMST and retention differences between groups.
* :mod:`.prediction` — churn probability within a horizon given current age; holdout
  concordance and calibration; the at-risk list.
"""
from ._base import SurvivalResult
from .data import churn_frame
from .descriptive import LogRankResult, RetentionCurves, km_at, logrank
from .effects import EffectResult, hazard_ratios, retention_difference, rmst, rmst_difference
from .parametric import MODELS as PARAMETRIC_MODELS, ParametricRetention
from .prediction import (
                         ChurnRiskModel,
                         HoldoutResult,
                         at_risk_list,
                         at_risk_summary,
                         concordance_se,
                         holdout_evaluation,
)
from .regression import ChurnCoxModel, cox_summary
from .simulate import simulate_enrolment, simulate_lifetimes
from .time_varying import (
                         EnrolmentEffect,
                         enrolment_ages,
                         enrolment_effect,
                         enrolment_long_format,
                         purchase_ages,
                         time_varying_enrolment,
)

__all__ = ["churn_frame", "SurvivalResult", "RetentionCurves", "logrank", "LogRankResult", "km_at",
           "ChurnCoxModel", "cox_summary", "enrolment_long_format", "time_varying_enrolment",
           "enrolment_effect", "EnrolmentEffect", "enrolment_ages", "ParametricRetention",
           "PARAMETRIC_MODELS", "rmst", "rmst_difference", "retention_difference",
           "hazard_ratios", "EffectResult", "ChurnRiskModel", "holdout_evaluation",
           "HoldoutResult", "at_risk_list", "at_risk_summary", "concordance_se",
           "simulate_lifetimes", "simulate_enrolment", "purchase_ages"]
