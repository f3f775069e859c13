"""Incremental revenue and programme ROI.

``incremental revenue = effect on spend per customer × customers it applies to`` (randomized:
the ITT effect × invited customers; self-selected: the ATT × members), within the horizon.
``ROI = (margin × incremental revenue − costs) / costs`` with ``costs = reward_rate × members'
spend since enrolment + cost_per_member × enrolments in the window + fixed_cost`` (observed,
treated as known). The interval maps the spend effect's interval through this monotone formula.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def programme_roi(spend_row: dict, n_customers: int, out: pd.DataFrame, *, margin: float,
                  reward_rate: float, cost_per_member: float, fixed_cost: float) -> dict:
    """ROI table entries from the spend effect row (``abs_diff``, ``ci_low``, ``ci_high``)."""
    members = out["joined_in_window"].to_numpy() == 1
    reward_cost = reward_rate * float(out["member_spend"].sum())
    enrol_cost = cost_per_member * int(members.sum())
    costs = reward_cost + enrol_cost + fixed_cost
    inc = spend_row["abs_diff"] * n_customers
    inc_lo, inc_hi = spend_row["ci_low"] * n_customers, spend_row["ci_high"] * n_customers

    def roi(x):
        return (margin * x - costs) / costs if costs > 0 else np.nan
    return dict(customers=int(n_customers), incremental_revenue=inc,
                incremental_revenue_ci=(inc_lo, inc_hi), incremental_margin=margin * inc,
                reward_cost=reward_cost, enrolment_cost=enrol_cost, fixed_cost=fixed_cost,
                programme_cost=costs, net_benefit=margin * inc - costs,
                net_benefit_ci=(margin * inc_lo - costs, margin * inc_hi - costs),
                roi=roi(inc), roi_ci=(roi(inc_lo), roi(inc_hi)), margin=margin,
                p_positive_roi_one_sided=None,
                method="ROI = (margin × incremental revenue − costs) / costs; interval from the "
                       "spend effect's interval; costs observed")
