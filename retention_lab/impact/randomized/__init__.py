"""The randomized design (invite vs control): its estimators (:mod:`.estimators`: SRM, balance,
ITT and the effect on members) and its analysis (:func:`.design.analyze_randomized`)."""
from .design import analyze_randomized
from .estimators import CORE, METRICS, balance_check, balance_table, itt_and_members, smd, srm_check

__all__ = ["CORE", "METRICS", "analyze_randomized", "balance_check", "balance_table",
           "itt_and_members", "smd", "srm_check"]
