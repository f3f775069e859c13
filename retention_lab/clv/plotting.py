"""``plot_*`` methods of the BTYD fitters: thin wrappers of :mod:`retention_lab.report.figures.clv`.

Each returns the matplotlib ``Figure`` that the plotting function returns (drawn on ``ax``
when one is given) and never shows it; the numbers behind each figure come from
:mod:`retention_lab.clv.validation`. The display layer is imported when a method is called
(as lifelines hands printing to its ``Printer``), so the models depend neither on it nor on
matplotlib until a figure is asked for.
"""
from __future__ import annotations


def _plots():
    # display layer: imported on use, estimation never depends on it
    from ..report.figures import clv
    return clv


class BtydPlotsMixin:
    """Figures for a fitted BG/NBD, MBG/NBD, Pareto/NBD or BG/BB model."""

    def plot_frequency_recency_matrix(self, *, T=None, max_frequency=None, max_recency=None,
                                      t: float = 1.0, ax=None, **kwargs):
        """Expected purchases in the next ``t`` periods over (frequency, recency) for a customer
        of age ``T`` (default: the largest fitted age)."""
        return _plots().plot_frequency_recency_matrix(self, T=T, max_frequency=max_frequency,
                                                      max_recency=max_recency, t=t, ax=ax,
                                                      **kwargs)

    def plot_probability_alive_matrix(self, *, T=None, max_frequency=None, max_recency=None,
                                      ax=None, **kwargs):
        """P(alive) over (frequency, recency) for a customer of age ``T``."""
        return _plots().plot_probability_alive_matrix(self, T=T, max_frequency=max_frequency,
                                                      max_recency=max_recency, ax=ax, **kwargs)

    def plot_period_transactions(self, summary, *, max_frequency: int = 7, ax=None):
        """Customers by number of repeat purchases: actual vs the model."""
        return _plots().plot_period_transactions(self, self._as_btyd_summary(summary),
                                                 max_frequency=max_frequency, ax=ax)

    def plot_calibration_purchases_vs_holdout_purchases(self, cal_holdout, *,
                                                        max_frequency: int = 7, ax=None):
        """Mean holdout purchases by calibration frequency, actual vs predicted."""
        return _plots().plot_calibration_purchases_vs_holdout_purchases(
            self, cal_holdout, max_frequency=max_frequency, ax=ax)

    def plot_cumulative_transactions(self, transactions, calibration_end, observation_end=None,
                                     **kwargs):
        """Cumulative repeat purchases over time, actual vs the model."""
        return _plots().plot_cumulative_transactions(self, transactions, calibration_end,
                                                     observation_end, **kwargs)

    def _as_btyd_summary(self, summary):
        """The summary with the columns the validation tables read (BG/BB's ``n_periods`` is
        their ``T``; its ``weights`` their ``weight``)."""
        if "n_periods" in summary.columns and "T" not in summary.columns:
            summary = summary.rename(columns={"n_periods": "T", "weights": "weight"})
        return summary
