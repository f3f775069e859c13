"""``ExperimentData``: the bundle every analysis takes — the simulator's output and the user's own
tables read by :func:`retention_lab.io.read_experiment` have the same shape."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .errors import DataQuality


@dataclass
class ExperimentData:
    """Validated transactions, customers and surveys of one loyalty-programme study.

    Attributes
    ----------
    transactions : DataFrame
        ``customer_id, date, amount`` (+ ``order_id``, ``quantity``, ``channel``).
    customers : DataFrame
        ``customer_id`` (+ ``signup_date``, ``arm``, ``enrolled_at``, ``tier``, covariates).
    surveys : DataFrame or None
        ``customer_id, date, nps, csat``.
    observation_end : Timestamp
        The last day observed; nothing after it is in the tables.
    launch_date : Timestamp or None
        When the programme started (invites sent / enrolment opened); behaviour before it is
        the pre-period used for CUPED and difference-in-differences.
    design : str or None
        ``"randomized"`` or ``"self_selected"`` (or ``"launch"`` / ``"rolling"``) when known;
        :func:`retention_lab.io.load_data` infers it from the customers table's columns
        (``arm`` → randomized, ``enrolled_at`` → self_selected). None: no impact design — the
        customers table, if any, only carries covariates.
    truth : dict or None
        The true effects (simulated data only).
    quality : DataQuality
        Every row excluded or changed while reading.
    params : dict
        Anything else the producer wants to record (simulation settings, file paths, costs).
    """

    transactions: pd.DataFrame
    customers: pd.DataFrame
    surveys: pd.DataFrame | None = None
    observation_end: pd.Timestamp | None = None
    launch_date: pd.Timestamp | None = None
    design: str | None = None
    truth: dict | None = None
    quality: DataQuality = field(default_factory=DataQuality)
    params: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        n_s = 0 if self.surveys is None else len(self.surveys)
        end = None if self.observation_end is None else self.observation_end.date()
        read = ""
        if "engine" in self.params:  # read and checked by retention_lab.engines
            read = (f", read_by={self.params['engine']!r}, "
                    f"rows_read={int(self.params.get('n_rows_read', 0)):,}")
        return (f"ExperimentData(design={self.design!r}, customers={len(self.customers):,}, "
                f"transactions={len(self.transactions):,}, surveys={n_s:,}, "
                f"observation_end={end}, excluded_rows={self.quality.n_excluded():,}{read})")
