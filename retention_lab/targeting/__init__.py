"""Whom to target: per-customer effects of an offer (CATE) on 12-month CLV in money, on
retention to a horizon under censoring and on spend in a window; a targeting rule, its doubly
robust value next to treat-everyone / no one / by churn risk / by CLV, Qini curves and the RATE
test of whether there is heterogeneity worth ranking on.

Estimation only (numbers keyed by stable ids); :mod:`retention_lab.report.targeting` and
:mod:`retention_lab.report.figures.targeting` turn them into sentences, tables and figures. Needs
scikit-learn (the ``targeting`` extra): see :mod:`retention_lab.targeting.learners` for why.
"""
from .analyze import TargetingReport, analyze  # noqa: F401,E402
from .learners import (  # noqa: F401
    DRLearner,
    censoring_survival,
    design_matrix,
    make_folds,
    require_sklearn,
    retention_outcomes,
)
from .policy import (  # noqa: F401
    BY_CLV,
    BY_RISK,
    EVERYONE,
    LEARNED,
    NO_ONE,
    POLICY_IDS,
    REC_EVERYONE,
    REC_EVERYONE_OR_NO_ONE,
    REC_NO_ONE,
    REC_RANK,
    policy_difference,
    policy_value,
    qini_curve,
    rate_test,
    recommendation,
    threshold_policy,
    top_k,
)
