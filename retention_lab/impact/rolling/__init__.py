"""Rolling enrolment: sequential trial emulation (:mod:`.trials`) and the design's analysis
(:func:`.design.analyze_rolling`)."""
from .design import analyze_rolling
from .trials import (
                     HISTORY_LABELS,
                     MIN_EFFECTIVE_COMPARISON,
                     OVERLAP_FAIL_SHARE,
                     RETENTION_DAYS,
                     ROLLING_METRICS,
                     RollingResult,
                     build_trials,
                     choose_analysis,
                     completion_model_check,
                     late_enrolment_check,
                     rolling_effects,
)

__all__ = ["HISTORY_LABELS", "MIN_EFFECTIVE_COMPARISON", "OVERLAP_FAIL_SHARE", "RETENTION_DAYS",
           "ROLLING_METRICS", "RollingResult", "analyze_rolling", "build_trials", "choose_analysis",
           "completion_model_check", "late_enrolment_check", "rolling_effects"]
