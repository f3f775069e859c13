"""impact figures: effect summary, segment forest plot, covariate balance (love) plot,
propensity overlap and retention curves. Each returns a matplotlib Figure; none calls show()."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ... import formatting as fmt
from ._base import legend_outside, money_unit, new_figure as _figure

__all__ = ["plot_effect_summary", "plot_segment_forest", "plot_balance",
           "plot_propensity_overlap", "plot_retention_curves", "plot_metric_levels"]

_LABELS = {"purchases": "purchases / customer", "spend": "spend / customer",
           "aov": "average order value", "retention": "retention at horizon",
           "rmst": "restricted mean active days", "purchase rate": "purchase rate (NB)",
           "lapse hazard ratio": "lapse hazard (HR − 1)", "clv": "12-month CLV", "nps": "NPS",
           "csat": "CSAT (share 4–5)"}


def plot_effect_summary(effects: pd.DataFrame, estimand: str = "ITT", ax=None,
                        quoted: dict | None = None, exclude=("nps",), verdict: dict | None = None):
    """Relative lift of every metric of one ``estimand`` with its 95 % interval (percent);
    ``quoted`` {metric: (low, high)} shades practitioners' quoted ranges. ``exclude``: metrics
    whose relative lift is not meaningful (NPS sits near 0 on its −100…100 scale).
    ``verdict`` (``report.verdict``): a suggestive or not-identified study is titled as
    differences between members and comparison customers, not as effects."""
    e = effects.loc[effects["estimand"].str.startswith(estimand) &
                    effects["rel_lift"].notna() &
                    ~effects["metric"].isin(exclude)].reset_index(drop=True)
    fig, ax = _figure(ax, (7, 0.45 * max(len(e), 3) + 1))
    y = np.arange(len(e))[::-1]
    lo = 100 * (e["rel_lift"] - e["rel_ci_low"])
    hi = 100 * (e["rel_ci_high"] - e["rel_lift"])
    ax.errorbar(100 * e["rel_lift"], y, xerr=[lo, hi], fmt="o", color="C0", capsize=3)
    for i, m in enumerate(e["metric"]):
        if quoted and m in quoted:
            a, b = quoted[m]
            ax.fill_betweenx([y[i] - 0.3, y[i] + 0.3], 100 * a, 100 * b, color="C2", alpha=0.25,
                             lw=0)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{_LABELS.get(m, m)}\n({s})" if s != estimand else _LABELS.get(m, m)
                        for m, s in zip(e["metric"], e["estimand"])], fontsize=8)
    ax.set_xlabel("relative lift, % (95 % interval)")
    claim = (verdict or {}).get("claim")
    head = {"suggestive": "Differences, members vs comparable non-members\n(suggestive, not "
                          "proven)",
            "not identified": "Differences, members vs comparison customers\n(not identified)"
            }.get(claim, f"Effects: {estimand}")
    ax.set_title(head + (" — green: quoted ranges" if quoted else ""), fontsize=9 if claim in
                 ("suggestive", "not identified") else None)
    return fig


_KINDS = {"purchases": "number", "spend": "money", "aov": "money", "retention": "share",
          "rmst": "days", "clv": "money", "nps": "nps", "csat": "share"}


def _unit_label(metric: str, currency=None) -> str:
    kind = _KINDS.get(metric, "number")
    unit = {"money": money_unit(currency), "share": "share", "days": "days", "nps": "score"}.get(kind)
    label = _LABELS.get(metric, metric)
    return f"{label} ({unit})" if unit else label


def plot_metric_levels(effects: pd.DataFrame, metric: str, ax=None, currency=None):
    """Control vs treatment level of one metric for each estimand. The error bar on each
    treatment bar is the 95 % interval of the effect, placed on the control level (control +
    [low, high]); the difference and its interval, in the metric's unit, label each pair."""
    e = effects.loc[(effects["metric"] == metric) & effects["ci_low"].notna()].reset_index(
        drop=True)
    fig, ax = _figure(ax, (6.5, 3))
    x = np.arange(len(e))
    kind = _KINDS.get(metric, "number")
    cur = None if kind != "money" else (currency if currency is not None else money_unit())
    cur = None if cur == "money" else cur
    scale = 100 if kind == "share" else 1
    ax.bar(x - 0.2, scale * e["control"], 0.4, label="control / counterfactual", color="C7")
    ax.bar(x + 0.2, scale * e["treatment"], 0.4, label="treatment / members", color="C0")
    # numpy, not Series: matplotlib's errorbar calls float() on Series elements (a pandas
    # FutureWarning printed into the report)
    lo = scale * (e["control"] + e["ci_low"]).to_numpy(float)
    hi = scale * (e["control"] + e["ci_high"]).to_numpy(float)
    mid = scale * e["treatment"].to_numpy(float)
    ax.errorbar(x + 0.2, mid, yerr=[mid - lo, hi - mid], fmt="none", ecolor="black", capsize=4,
                lw=1.2, label="95 % CI of the effect")
    ax.set_xticks(x)
    # the interval on a line of its own: two estimands side by side in a half-width chart
    # ran "Δ +$11.95 [+$5.44, +$18.46]" into its neighbour's label
    ax.set_xticklabels([f"{s}\nΔ {fmt.value(d, kind, currency=cur, signed=True)}\n"
                        f"{fmt.interval(a, b, kind, currency=cur, signed=True)}"
                        for s, d, a, b in zip(e["estimand"], e["abs_diff"], e["ci_low"],
                                              e["ci_high"])], fontsize=8,
                       parse_math=False)   # "[+$5.78, +$34.89]" is money, not mathtext
    label = _unit_label(metric, currency)
    ax.set_ylabel(label.replace("(share)", "(%)"))
    ax.set_title(f"{_LABELS.get(metric, metric).capitalize()}: control vs treatment", fontsize=10)
    legend_outside(ax)
    return fig


def plot_segment_forest(segments: pd.DataFrame, metric: str = "purchases",
                        estimand: str | None = None, ax=None):
    """Forest plot of the effect on ``metric`` in each segment level, with the multiplicity-
    adjusted p-value beside each row."""
    s = segments.loc[segments["metric"] == metric]
    if estimand is not None:
        s = s.loc[s["estimand"] == estimand]
    s = s.reset_index(drop=True)
    fig, ax = _figure(ax, (7, 0.45 * max(len(s), 3) + 1))
    y = np.arange(len(s))[::-1]
    ax.errorbar(s["abs_diff"], y, xerr=[s["abs_diff"] - s["ci_low"], s["ci_high"] - s["abs_diff"]],
                fmt="s", color="C1", capsize=3)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{lvl} ({est}, n={n:,})" for lvl, est, n in
                        zip(s["level"], s["estimand"], s["n"])], fontsize=8)
    for yi, (_, r) in zip(y, s.iterrows()):
        ax.annotate(f"p (adj.) {fmt.p_value(r['p_adjusted'])}", (1.01, yi),
                    xycoords=("axes fraction", "data"), fontsize=7, va="center")
    corr = s["correction"].iloc[0] if len(s) else ""
    ax.set_xlabel(f"effect on {_unit_label(metric)} (95 % interval)")
    ax.set_title(f"By {s['segment'].iloc[0] if len(s) else 'segment'} — {corr}-adjusted p")
    return fig


def plot_balance(balance: pd.DataFrame, ax=None, threshold: float = 0.1):
    """Love plot: |standardized mean difference| of each covariate, before and (if present)
    after weighting, with the usual 0.1 threshold."""
    b = balance.reset_index(drop=True)
    fig, ax = _figure(ax, (6, 0.3 * max(len(b), 4) + 1))
    y = np.arange(len(b))[::-1]
    ax.scatter(b["smd"].abs(), y, label="unweighted", color="C3")
    if "smd_weighted" in b.columns:
        ax.scatter(b["smd_weighted"].abs(), y, label="weighted", color="C0", marker="D")
    ax.axvline(threshold, color="grey", ls="--", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels(b["covariate"], fontsize=8)
    ax.set_xlabel("|standardized mean difference| (dashed: threshold)")
    legend_outside(ax)
    ax.set_title("Covariate balance")
    return fig


def plot_propensity_overlap(propensity, ax=None, bins: int = 40):
    """Histograms of the propensity score of members and eligible non-members."""
    e, t, k = propensity.score_, propensity.treated_, propensity.eligible_
    fig, ax = _figure(ax, (6, 3))
    edges = np.linspace(0, 1, bins + 1)
    ax.hist(e[k & t], edges, alpha=0.6, density=True, label="members", color="C0")
    ax.hist(e[k & ~t], edges, alpha=0.6, density=True, label="eligible non-members", color="C7")
    ax.axvline(1 - propensity.trim, color="C3", ls="--", lw=1, label="trim")
    ax.set_xlabel("propensity score (probability of enrolling)")
    ax.set_ylabel("density")
    legend_outside(ax)
    ax.set_title("Overlap of propensity scores")
    return fig


def plot_retention_curves(curves: dict, ax=None, horizon: float | None = None):
    """Kaplan–Meier retention curves from the launch, one per group, with 95 % bands."""
    fig, ax = _figure(ax, (6, 3.5))
    for i, (name, c) in enumerate(curves.items()):
        ax.step(c["timeline"], c["survival"], where="post", label=name, color=f"C{i}")
        ax.fill_between(c["timeline"], c["lower"], c["upper"], step="post", alpha=0.2,
                        color=f"C{i}")
    if horizon:
        ax.axvline(horizon, color="grey", ls=":", lw=1)
    ax.set_xlabel("days since launch")
    ax.set_ylabel("share not yet lapsed")
    legend_outside(ax)
    ax.set_title("Retention after the launch (Kaplan–Meier)")
    return fig
