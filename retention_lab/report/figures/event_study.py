"""The enrolment event-study figure: effect by month since enrolment with its intervals, the
placebo months before enrolment in grey and the pre-trend verdict in the title (red when it
fails). Takes any result with ``estimates`` / ``pretrend`` / ``overall`` (an
:class:`~retention_lab.impact.core.event_study.EventStudyResult`); returns the Axes."""
from __future__ import annotations

import numpy as np

from ._base import legend_outside, new_figure as _figure

__all__ = ["plot_event_study"]

_UNITS = {"purchases": "orders per customer-month", "spend": "spend per customer-month",
          "active": "share active in the month"}
FAIL_COLOUR = "#c0392b"


def plot_event_study(result, ax=None, truth=None):
    """Event-time estimates with pointwise intervals; returns the Axes.

    ``truth`` (simulated data): a DataFrame with ``event_time`` and a column named like the
    outcome (e.g. ``exp.truth["event_time"]``), drawn as crosses over the estimated range."""
    est = result.estimates
    fig, ax = _figure(ax, (8, 4))
    level = int(round(100 * (1 - result.alpha)))
    for period, colour, label in (("pre", "0.45", "before enrolment (placebo)"),
                                  ("post", "C0", "after enrolment")):
        e = est[est["period"] == period]
        if not len(e):
            continue
        ax.errorbar(e["event_time"], e["estimate"],
                    yerr=[e["estimate"] - e["ci_low"], e["ci_high"] - e["estimate"]],
                    fmt="o", color=colour, ecolor=colour, capsize=3, ms=5, lw=1.2,
                    label=f"{label}, {level} % CI")
    if truth is not None and result.outcome in truth:
        t = truth[truth["event_time"].between(est["event_time"].min(),
                                              est["event_time"].max())]
        ax.plot(t["event_time"], t[result.outcome], "x", color="black", ms=7,
                label="true effect (simulation)")
    ax.axhline(0, color="grey", lw=1)
    ax.axvline(-0.5, color="grey", lw=1, ls="--")
    o = result.overall
    if np.isfinite(o.get("estimate", np.nan)) and o.get("months"):
        lo, hi = min(o["months"]), max(o["months"])
        ax.hlines(o["estimate"], lo - 0.3, hi + 0.3, color="C1", lw=1.5,
                  label=f"mean effect, months {lo}–{hi}: {o['estimate']:.3g} "
                        f"[{o['ci_low']:.3g}, {o['ci_high']:.3g}]")
    ax.set_xlabel("months since enrolment (0 = enrolment month)")
    ax.set_ylabel(f"effect on {_UNITS.get(result.outcome, result.outcome)}")
    p = result.pretrend
    if p["status"] in ("pass", "fail"):
        title = (f"Event study — pre-trend test {p['status']} "
                 f"(χ²({p['df']}) = {p['statistic']:.1f}, p = {p['p_value']:.2g})")
    else:
        title = "Event study — pre-trend not tested"
    ax.set_title(title, color=FAIL_COLOUR if p["status"] == "fail" else "black", fontsize=11)
    ticks = est["event_time"].to_numpy()
    if len(ticks):
        ax.set_xticks(np.arange(ticks.min(), ticks.max() + 1))
    legend_outside(ax)
    return ax
