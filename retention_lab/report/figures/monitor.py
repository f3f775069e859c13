"""Holdout-monitor figures: the confidence sequence of each metric over calendar time, and the
plan against the actual enrolment. Each returns a Figure; none calls show()."""
from __future__ import annotations

import numpy as np

from ._base import legend_outside, money_unit, new_figure as _figure

__all__ = ["plot_confidence_sequences", "plot_plan_vs_actual"]

_TITLES = {"purchases": "purchases / customer", "spend": "spend / customer",
           "retention": "retention at the horizon (points)"}


def plot_confidence_sequences(result, metrics=None, truth: bool = True, currency=None):
    """One panel per metric: the ITT estimate over calendar time with its always-valid 95 %
    confidence sequence (shaded) and, dotted, the fixed-horizon interval (valid for one planned
    look only); 0 and, for the primary metric, the smallest effect worth having. ``truth``: the
    simulation's true effect, when known."""
    metrics = [m for m in (metrics or result.sequences) if len(result.sequences.get(m, ()))]
    fig, axes = _figure(None, (9, 2.4 * max(len(metrics), 1)), nrows=max(len(metrics), 1),
                        squeeze=False)
    axes = axes[:, 0]
    for ax, m in zip(axes, metrics):
        s = result.sequences[m]
        scale = 100 if m == "retention" else 1
        ok = np.isfinite(s["lower"]) & np.isfinite(s["upper"])
        s = s.loc[ok]
        x = s["date"].to_numpy()
        ax.fill_between(x, scale * s["lower"].to_numpy(float), scale * s["upper"].to_numpy(float),
                        color="C0", alpha=0.25, lw=0, label="always-valid 95 % interval")
        ax.plot(x, scale * s["estimate"].to_numpy(float), color="C0", lw=1.5, label="estimate")
        ax.plot(x, scale * s["naive_lower"].to_numpy(float), color="C1", ls=":", lw=1,
                label="fixed-horizon interval")
        ax.plot(x, scale * s["naive_upper"].to_numpy(float), color="C1", ls=":", lw=1)
        ax.axhline(0, color="grey", lw=1)
        if m == result.rule.primary:
            ax.axhline(scale * result.decision["min_effect_abs"], color="C2", ls="--", lw=1,
                       label="smallest effect worth having")
        if truth and result.truth.get(m):
            ax.axhline(scale * result.truth[m]["abs_diff"], color="C3", ls="-.", lw=1,
                       label="true effect (simulation)")
        unit = f" ({money_unit(currency)})" if m == "spend" else ""
        ax.set_title(f"ITT effect on {_TITLES.get(m, m)}{unit}", fontsize=10)
        # the first days' intervals are very wide: show the range of the later half
        if len(s) > 4:
            tail = s.iloc[len(s) // 3:]
            lo = min(scale * tail["lower"].min(), 0)
            hi = max(scale * tail["upper"].max(), 0)
            pad = 0.1 * (hi - lo)
            ax.set_ylim(lo - pad, hi + pad)
        legend_outside(ax)
    axes[-1].set_xlabel("date")
    fig.autofmt_xdate()
    return fig


def plot_plan_vs_actual(result, ax=None):
    """Customers whose outcome window is complete, by date, against the plan's line (planned
    enrolment rate) and the always-valid plan's target for the primary metric."""
    fig, ax = _figure(ax, (7.5, 3))
    prim = result.rule.primary
    s = result.sequences[prim]
    ax.plot(s["date"], s["n"], color="C0", lw=2, label="customers with a complete window")
    plan = result.plan.set_index("metric").loc[prim]
    w = result.settings["window_days"]
    days = np.arange(0, max(int(plan["weeks_sequential"] * 7), int(s["day"].max()) + 1) + 1)
    planned = np.maximum(days - w + 1, 0) * plan["enrol_per_week"] / 7
    dates = result.start + np.array(days, dtype="timedelta64[D]")
    ax.plot(dates, planned, color="grey", ls="--", lw=1, label="plan")
    ax.axhline(plan["n_sequential"], color="C2", ls=":", lw=1,
               label="needed (always valid)")
    ax.axvline(result.as_of, color="black", lw=0.8)
    ax.set_ylabel("customers")
    ax.set_title("Plan against actuals", fontsize=10)
    legend_outside(ax)
    fig.autofmt_xdate()
    return fig
