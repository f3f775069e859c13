"""Planning and always-valid monitoring of a running holdout (issue 24).

* :mod:`.plan` — customers and weeks for a relative MDE (CUPED-adjusted), the MDE by a date,
  the margin forgone and the value of knowing;
* :mod:`.sequential` — asymptotic confidence sequences (Waudby-Smith et al. 2023) for the ITT
  difference with predictable regression adjustment; the sequential SRM check;
* :mod:`.survival` — the KM retention difference at a horizon, with late entry and censoring;
* :mod:`.decision` — the stopping rule stated in advance;
* :mod:`.data` — :func:`read_holdout`, your own tables;
* :mod:`.holdout` — :func:`monitor_holdout`, everything at one look;
* the words and tables (display) are :mod:`retention_lab.report.monitor`.
"""
from .data import read_holdout
from .decision import DECISIONS, StoppingRule, decide
from .holdout import MonitorResult, monitor_holdout
from .plan import (
    forgone_margin,
    history_stats,
    mde_by_week,
    plan_holdout,
    sequential_mde,
    sequential_n,
    share_stats,
    value_of_knowing,
)
from .sequential import (
    asympcs_halfwidth,
    eta_for,
    itt_sequence,
    mixture_halfwidth,
    rho2_for,
    sequential_srm,
)
from .survival import km_sequence, lapse_times

__all__ = ["read_holdout", "DECISIONS", "StoppingRule", "decide", "MonitorResult", "monitor_holdout",
           "forgone_margin", "value_of_knowing", "share_stats", "history_stats", "mde_by_week", "plan_holdout", "sequential_mde",
           "sequential_n", "asympcs_halfwidth", "eta_for", "itt_sequence", "mixture_halfwidth",
           "rho2_for", "sequential_srm", "km_sequence", "lapse_times"]
