"""Bundled real data (CDNOW) and the loyalty-experiment simulator with known truth."""
from .cdnow import load_cdnow
from .donations import load_donations
from .simulate import simulate_loyalty_experiment
from .holdout import HoldoutData, simulate_holdout

__all__ = ["load_cdnow", "load_donations", "simulate_loyalty_experiment",
           "HoldoutData", "simulate_holdout"]
