"""Summary tables built from transactions: the BTYD (RFM) summary, the calibration–holdout split,
the churn (survival) table, the cohort retention matrix and RFM scores with named segments.

``retention_lab.features`` is the public home of these tables (DESIGN.md's API: users, notebooks
and the models call ``rl.features.rfm_summary``); :mod:`retention_lab.engines` is how they are
computed. The four transaction → customer tables are ``engines``' functions (the same objects:
one signature, ``engine="auto"`` by default), so that the choice of engine is made in one place
and the pandas implementation (:mod:`retention_lab.engines.pandas_engine`) never dispatches.
Data flows one way: ``periods`` → ``engines`` → ``features``.

The submodules ``rfm``, ``churn``, ``cohort`` and ``periods`` only re-export ``engines`` and
``retention_lab.periods``, each with the documentation of its table; ``segments`` and ``spend``
are computed here. Import from ``retention_lab.features`` itself.
"""
from .churn import churn_table, collapse_churn
from .cohort import cohort_retention
from .periods import customer_periods, period_index, window_end
from .rfm import calibration_holdout, collapse_summary, rfm_summary
from .segments import SEGMENT_RULES, rfm_scores
from .spend import exclude_nonpositive_spend

__all__ = ["rfm_summary", "calibration_holdout", "collapse_summary", "churn_table",
           "collapse_churn", "cohort_retention", "rfm_scores", "SEGMENT_RULES",
           "customer_periods", "period_index", "window_end", "exclude_nonpositive_spend"]
