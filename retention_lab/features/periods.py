"""Calendar periods (the flooring ``freq``) — kept here for existing imports; the definitions
live in :mod:`retention_lab.periods` (shared with the SQL engines) and time units in
:mod:`retention_lab.units`.

``freq`` in :mod:`retention_lab.features` is the *period purchases are floored to* before they
are counted (pandas' and lifetimes' name): ``"D"`` day, ``"W"`` week starting Monday, ``"M"``
calendar month.
"""
from ..engines.summaries import customer_periods
from ..periods import FREQS, check_freq, in_window, period_index, window_end
from ..units import DAYS_PER_UNIT

#: Days per period code (deprecated name: use :data:`retention_lab.units.DAYS_PER_UNIT`).
DAYS_PER = {f: DAYS_PER_UNIT[f] for f in FREQS}

__all__ = ["FREQS", "check_freq", "period_index", "window_end", "in_window",
           "customer_periods", "DAYS_PER"]
