"""Figures for the BTYD / CLV models: holdout calibration, cumulative-purchase tracking, the
frequency/recency and P(alive) matrices, the repeat-purchase distribution, the CLV
distribution and the sBG retention projection.

The numbers behind each figure come from :mod:`retention_lab.clv.validation` (so they can be
tested and tabulated); these functions only draw. Each returns a ``Figure`` (drawn on ``ax``
when one is given) and never calls ``plt.show()``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ... import formatting as fmt
from ...clv.validation import (
    calibration_holdout_table,
    frequency_recency_matrix,
    period_transactions_table,
    probability_alive_matrix,
    tracking_table,
)
from ._base import money_unit, new_figure as _figure, plain_log_ticks

__all__ = ["plot_calibration_purchases_vs_holdout_purchases", "plot_cumulative_transactions",
           "plot_frequency_recency_matrix", "plot_probability_alive_matrix",
           "plot_period_transactions", "plot_clv_distribution", "plot_retention_projection"]


def plot_calibration_purchases_vs_holdout_purchases(model, cal_holdout: pd.DataFrame, *,
                                                    max_frequency: int = 7, ax=None) -> Figure:
    """Mean actual vs predicted holdout purchases by calibration-period repeat purchases
    (FHL 2005, Figure 4). ``cal_holdout`` from :func:`retention_lab.features.calibration_holdout`."""
    table = calibration_holdout_table(model, cal_holdout, max_frequency)
    fig, ax = _figure(ax, (6.5, 4.5))
    ax.plot(table.index, table["actual"], "o-", color="black", label="actual")
    ax.plot(table.index, table["predicted"], "s--", color="tab:blue",
            label=f"predicted ({type(model).__name__.replace('Fitter', '')})")
    labels = [str(i) for i in table.index]
    labels[-1] = f"{labels[-1]}+"
    ax.set_xticks(table.index, labels)
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel("mean purchases in the holdout period")
    ax.set_title("Calibration vs holdout")
    ax.legend()
    return fig


def plot_cumulative_transactions(model, transactions: pd.DataFrame, calibration_end,
                                 observation_end=None, *, freq: str = "D",
                                 freq_multiplier: float = 7, ax=None) -> Figure:
    """Cumulative repeat purchases over time, actual vs model, with the end of the
    calibration period marked (FHL 2005, Figure 2). ``freq``/``freq_multiplier`` are those
    of the summary the model was fitted to."""
    table = tracking_table(model, transactions, calibration_end, observation_end, freq,
                           freq_multiplier)
    fig, ax = _figure(ax, (7, 4.5))
    ax.plot(table.index, table["actual"], color="black", label="actual")
    ax.plot(table.index, table["expected"], "--", color="tab:blue",
            label=f"model ({type(model).__name__.replace('Fitter', '')})")
    ax.axvline(table.attrs["calibration_period"], color="grey", ls=":",
               label="end of calibration")
    unit = table.attrs["unit_days"]
    ax.set_xlabel(f"periods of {unit:g} days since the first acquisition")
    ax.set_ylabel("cumulative repeat purchases")
    ax.set_title("Tracking cumulative repeat purchases")
    ax.legend()
    return fig


def _unit_name(days_per_unit) -> str:
    """``"weeks"`` for a model fitted in 7-day periods (``model.time_unit_``)."""
    if days_per_unit is None:
        return "periods"
    names = {1.0: "days", 7.0: "weeks", 365.25 / 12: "months", 365.25: "years"}
    for d, name in names.items():
        if abs(float(days_per_unit) - d) < 1e-6:
            return name
    return f"periods of {float(days_per_unit):g} days"


def _matrix_plot(matrix: pd.DataFrame, title: str, label: str, ax, cmap: str,
                 unit: str = "periods") -> Figure:
    fig, ax = _figure(ax, (7, 5))
    image = ax.imshow(np.ma.masked_invalid(matrix.to_numpy(float)), aspect="auto", origin="lower",
                      cmap=cmap, interpolation="nearest",
                      extent=(matrix.columns.min() - 0.5, matrix.columns.max() + 0.5,
                              matrix.index.min() - 0.5, matrix.index.max() + 0.5))
    ax.set_xlabel(f"recency: age at the last purchase, {unit} (customer age T = "
                  f"{matrix.attrs['T']:.3g} {unit})")
    ax.set_ylabel("frequency (repeat purchases)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=label)
    return fig


def plot_frequency_recency_matrix(model, *, T: float | None = None, max_frequency=None,
                                  max_recency=None, t: float = 1.0, ax=None,
                                  cmap: str = "viridis") -> Figure:
    """Expected purchases in the next ``t`` periods over (frequency, recency) for a customer of
    age ``T``: the best customers bought often and recently (top right)."""
    m = frequency_recency_matrix(model, T, max_frequency, max_recency, t)
    unit = _unit_name(getattr(model, "time_unit_", None))
    return _matrix_plot(m, f"Expected purchases in the next {t:g} {unit}", "expected purchases",
                        ax, cmap, unit)


def plot_probability_alive_matrix(model, *, T: float | None = None, max_frequency=None,
                                  max_recency=None, ax=None, cmap: str = "RdYlGn") -> Figure:
    """P(alive) over (frequency, recency) for a customer of age ``T``: frequent buyers who have
    not bought for a long time are the likeliest to have left (top left)."""
    m = probability_alive_matrix(model, T, max_frequency, max_recency)
    return _matrix_plot(m, "Probability that the customer is still active", "P(alive)", ax, cmap,
                        _unit_name(getattr(model, "time_unit_", None)))


def plot_period_transactions(model, summary: pd.DataFrame, *, max_frequency: int = 7,
                             ax=None) -> Figure:
    """Customers by number of repeat purchases in the calibration period: actual vs model."""
    table = period_transactions_table(model, summary, max_frequency)
    fig, ax = _figure(ax, (6.5, 4.5))
    pos = np.arange(len(table))
    ax.bar(pos - 0.2, table["actual"], 0.4, color="0.3", label="actual")
    ax.bar(pos + 0.2, table["expected"], 0.4, color="tab:blue", label="model")
    labels = [str(i) for i in table.index]
    labels[-1] = f"{labels[-1]}+"
    ax.set_xticks(pos, labels)
    ax.set_xlabel("repeat purchases")
    ax.set_ylabel("customers")
    ax.set_title("Repeat-purchase distribution")
    ax.legend()
    return fig


def plot_clv_distribution(result, *, ax=None, bins: int = 50, log: bool = True,
                          currency=None) -> Figure:
    """Histogram of the customers' expected CLV (a :class:`retention_lab.clv.CLVResult` or a
    Series), with the mean and its 95 % interval in the title when known; money in
    ``currency`` (default: the report's, :func:`retention_lab.report.recording.set_currency`)."""
    values = result.customers["clv"] if hasattr(result, "customers") else pd.Series(result)
    cur = money_unit(currency)
    code = None if cur == "money" else cur
    fig, ax = _figure(ax, (6.5, 4.5))
    ax.hist(values.to_numpy(float), bins=bins, color="tab:blue", alpha=0.8, log=log)
    ax.axvline(values.mean(), color="black", ls="--",
               label=f"mean {fmt.money(values.mean(), code)}")
    ax.set_xlabel(f"expected CLV ({cur} per customer)")
    ax.set_ylabel("customers" + (" (log scale)" if log else ""))
    if log:
        lo, hi = ax.get_ylim()
        plain_log_ticks(ax.yaxis, [v for v in (1, 10, 100, 1000, 10_000, 100_000, 1_000_000)
                                   if v <= hi] or (1,))
    title = "CLV distribution"
    if hasattr(result, "mean_ci"):
        title += (f" — mean {fmt.estimate(result.mean, *result.mean_ci, 'money', currency=code)}")
    ax.set_title(title)
    ax.legend(frameon=False)
    return fig


def plot_retention_projection(model, actual_survivors, *, n_fitted: int | None = None,
                              periods: int | None = None, ax=None) -> Figure:
    """sBG: actual survivors vs the model's projection (Fader & Hardie 2007, Figure 3).
    ``n_fitted`` marks the number of periods the model was fitted on."""
    actual = np.asarray(actual_survivors, float)
    periods = len(actual) - 1 if periods is None else periods
    proj = model.expected_survivors(np.arange(periods + 1), cohort_size=actual[0])
    fig, ax = _figure(ax, (6.5, 4.5))
    ax.plot(np.arange(len(actual)), actual, "o-", color="black", label="actual")
    ax.plot(proj.index, proj.to_numpy(), "--", color="tab:blue", label="sBG")
    if n_fitted is not None:
        ax.axvline(n_fitted, color="grey", ls=":", label="end of fitting period")
    ax.set_xlabel("period")
    ax.set_ylabel("customers still active")
    ax.set_title("Retention projection")
    ax.legend()
    return fig
