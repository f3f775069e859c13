"""Stable ids of metrics, estimands, checks and verdict claims: each defined once, for the whole
package (a leaf module: no package imports).

Estimation keys its numbers by these ids; identification, the verdict, sensitivity, plots,
segments and tests select by them. Labels ("propensity overlap (rolling)", "12-month CLV") are
display text only: rewriting every label changes no decision (``tests`` check this).

Every check is a dict with at least ``id`` (one of :data:`CHECK_IDS`), ``check`` (its label),
``status`` (``pass`` / ``warn`` / ``fail``), ``value`` and ``detail``.
"""
from __future__ import annotations

# --- metrics (the ``metric`` column of ``ImpactReport.effects``) ------------------------------
PURCHASES = "purchases"
SPEND = "spend"
AOV = "aov"
RETENTION = "retention"
RMST = "rmst"
PURCHASE_RATE = "purchase rate"
LAPSE_HR = "lapse hazard ratio"
CLV = "clv"
NPS = "nps"
CSAT = "csat"
METRIC_IDS = (PURCHASES, SPEND, AOV, RETENTION, RMST, PURCHASE_RATE, LAPSE_HR, CLV, NPS, CSAT)
#: the headline family (the verdict's claim is about these)
PRIMARY_METRICS = (PURCHASES, SPEND, RETENTION)

# --- estimands (the ``estimand`` column) ------------------------------------------------------
ITT = "ITT"
MEMBERS = "effect on members"
ESTIMAND_IDS = (ITT, MEMBERS)

# --- checks (the ``id`` key of every check) ---------------------------------------------------
# randomized design
CHECK_SRM = "srm"
CHECK_BALANCE_RANDOMIZED = "balance_randomized"
CHECK_CONTROL_NOT_ENROLLED = "control_not_enrolled"
CHECK_TAKE_UP = "take_up"
CHECK_SURVEY_BALANCE = "survey_balance"
# single-launch self-selected design
CHECK_ENROLLED_AT_PURCHASE_LAUNCH = "enrolled_at_purchase_launch"
CHECK_OVERLAP_LAUNCH = "overlap_launch"
CHECK_BALANCE_BEFORE_LAUNCH = "balance_before_launch"
CHECK_BALANCE_AFTER_LAUNCH = "balance_after_launch"
CHECK_ENROLMENT_TIMING = "enrolment_timing_launch"
CHECK_SENSITIVITY = "sensitivity"
# rolling enrolment
CHECK_HISTORY = "history_before_enrolment"
CHECK_OVERLAP_ROLLING = "overlap_rolling"
CHECK_BALANCE_ROLLING = "balance_rolling"
CHECK_CENSORING_ROLLING = "later_enrolment_censoring"
CHECK_ENROLLED_AT_PURCHASE_ROLLING = "enrolled_at_purchase_rolling"
CHECK_COMPLETION_MODEL = "completion_model_rolling"
CHECK_PRETRENDS = "pretrends_event_study"
# models shared by the designs
CHECK_PH = "proportional_hazards"
CHECK_TV_COX = "time_varying_cox"
CHECK_CLV_MODELS = "clv_models"
CHECK_CLV_MEMBERSHIP = "clv_membership_model"

CHECK_IDS = (CHECK_SRM, CHECK_BALANCE_RANDOMIZED, CHECK_CONTROL_NOT_ENROLLED, CHECK_TAKE_UP,
             CHECK_SURVEY_BALANCE, CHECK_ENROLLED_AT_PURCHASE_LAUNCH, CHECK_OVERLAP_LAUNCH,
             CHECK_BALANCE_BEFORE_LAUNCH, CHECK_BALANCE_AFTER_LAUNCH, CHECK_ENROLMENT_TIMING,
             CHECK_SENSITIVITY, CHECK_HISTORY, CHECK_OVERLAP_ROLLING, CHECK_BALANCE_ROLLING,
             CHECK_CENSORING_ROLLING, CHECK_ENROLLED_AT_PURCHASE_ROLLING, CHECK_COMPLETION_MODEL,
             CHECK_PRETRENDS, CHECK_PH, CHECK_TV_COX, CHECK_CLV_MODELS, CHECK_CLV_MEMBERSHIP)

#: checks whose failure means the data cannot separate selection from effect: the report is then
#: "not identified" and makes no causal claim
IDENTIFICATION_CHECK_IDS = frozenset({CHECK_HISTORY, CHECK_OVERLAP_ROLLING, CHECK_OVERLAP_LAUNCH,
                                      CHECK_ENROLMENT_TIMING})
#: checks whose failure leaves only the effect on members of a randomized study unidentified
#: (control customers enrolled: no first stage for the Wald estimator); the ITT rests on the
#: randomization and keeps its claim
MEMBER_IDENTIFICATION_CHECK_IDS = frozenset({CHECK_CONTROL_NOT_ENROLLED})

# --- the verdict ------------------------------------------------------------------------------
CLAIM_EFFECT = "effect"
CLAIM_SUGGESTIVE = "suggestive"
CLAIM_NONE = "no effect detected"
CLAIM_NOT_IDENTIFIED = "not identified"
CLAIMS = (CLAIM_EFFECT, CLAIM_SUGGESTIVE, CLAIM_NONE, CLAIM_NOT_IDENTIFIED)
EVIDENCE_RANDOMIZED = "randomized"
EVIDENCE_OBSERVATIONAL = "observational"
#: reasons of a verdict that are not check ids
REASON_HOLM = "holm_significant"            # a headline effect survives the Holm correction
REASON_NOT_SIGNIFICANT = "not_significant"  # no headline effect survives it
REASON_ROBUST = "robust_to_benchmark"       # survives an unmeasured trait as strong as the
#                                             strongest measured covariate
REASON_FRAGILE = "fragile_to_benchmark"     # does not
REASON_NO_BENCHMARK = "no_benchmark"        # robustness could not be assessed


def check_ids(checks) -> list[str]:
    """The ``id`` of each check dict (a list of dicts or a DataFrame with an ``id`` column)."""
    if hasattr(checks, "columns"):
        return list(checks["id"]) if "id" in checks.columns else []
    return [c.get("id") for c in checks]

# --- running holdouts: the decision of a look (:mod:`retention_lab.monitor.decision`) ----------
STOP_SRM = "stop_srm"
STOP_EFFICACY = "stop_efficacy"
STOP_HARM = "stop_harm"
STOP_FUTILITY = "stop_futility"
KEEP_RUNNING = "keep_running"
DECISIONS = (STOP_SRM, STOP_EFFICACY, STOP_HARM, STOP_FUTILITY, KEEP_RUNNING)

# --- targeting: policies compared and the recommendation (:mod:`retention_lab.targeting`) -----
POLICY_LEARNED = "learned"
POLICY_EVERYONE = "everyone"
POLICY_NO_ONE = "no_one"
POLICY_BY_RISK = "churn_risk"
POLICY_BY_CLV = "clv"
POLICY_IDS = (POLICY_LEARNED, POLICY_EVERYONE, POLICY_NO_ONE, POLICY_BY_RISK, POLICY_BY_CLV)
REC_RANK = "rank_by_effect"
REC_EVERYONE = "target_everyone"
REC_NO_ONE = "target_no_one"
REC_EVERYONE_OR_NO_ONE = "target_everyone_or_no_one"
