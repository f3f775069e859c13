"""Loyalty-programme impact: randomized (invite vs control) and self-selected designs.

``report = rl.impact.analyze(data, design=...)`` → :class:`ImpactReport`.
"""
from .analyze import analyze, ImpactReport
from .outcomes import outcome_table, covariate_matrix
from .estimators import Means, arm_means, effect_row
from .randomized import srm_check, smd, balance_table, itt_and_members
from .self_selected import (PropensityModel, fit_propensity, att_effects, naive_effects,
                            did_effect, propensity_balance)

__all__ = ["analyze", "ImpactReport", "outcome_table", "covariate_matrix", "Means", "arm_means", "effect_row",
           "srm_check", "smd", "balance_table", "itt_and_members", "PropensityModel",
           "fit_propensity", "att_effects", "naive_effects", "did_effect", "propensity_balance"]
