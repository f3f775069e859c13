"""Summary tables built from transactions: the BTYD (RFM) summary, the calibration–holdout split,
the churn (survival) table, the cohort retention matrix and RFM scores with named segments."""
from .periods import customer_periods, period_index, window_end
from .rfm import calibration_holdout, collapse_summary, rfm_summary
from .churn import churn_table
from .cohort import cohort_retention
from .segments import rfm_scores, SEGMENT_RULES

__all__ = ["rfm_summary", "calibration_holdout", "collapse_summary", "churn_table",
           "cohort_retention", "rfm_scores", "SEGMENT_RULES", "customer_periods",
           "period_index", "window_end"]
