"""Bundled real data (CDNOW), the loyalty-experiment simulator with known truth and the
targeting-campaign simulator with known per-customer effects."""
from .cdnow import load_cdnow
from .donations import load_donations
from .holdout import HoldoutData, simulate_holdout
from .simulate import simulate_loyalty_experiment
from .targeting import simulate_targeting_campaign

__all__ = ["load_cdnow", "load_donations", "simulate_loyalty_experiment", "simulate_targeting_campaign",
           "HoldoutData", "simulate_holdout"]
