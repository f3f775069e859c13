"""Figures of the targeting report: Qini curves with bootstrap bands, and the policies' net
gains with their intervals (:class:`retention_lab.targeting.TargetingReport`)."""
from __future__ import annotations

import numpy as np

from ._base import legend_outside, new_figure as _figure

__all__ = ["plot_qini", "plot_policy_values"]

CURVE_LABELS = {"learned": "estimated effect (the rule's ranking)", "churn_risk": "churn risk",
                "clv": "model CLV"}
POLICY_LABELS = {"learned": "targeting rule", "everyone": "contact everyone",
                 "no_one": "contact no one", "churn_risk": "by churn risk", "clv": "by CLV"}


def _money_label(text, currency):
    return f"{text} ({currency})" if currency else text


def plot_qini(curves: dict, ax=None, currency=None, margin: float = 1.0):
    """Qini curves: incremental outcome per customer of the base (× ``margin``) when the top
    share by each ranking is contacted; the band is the 95 % Poisson-bootstrap interval of the
    rule's ranking; the dashed line is random targeting."""
    fig, ax = _figure(ax, (7.5, 4))
    for i, (key, c) in enumerate(curves.items()):
        x = 100 * c["share"].to_numpy()
        ax.plot(x, margin * c["gain"], color=f"C{i}", lw=2 if key == "learned" else 1.3,
                label=f"{CURVE_LABELS.get(key, key)} — AUUC {margin * c.attrs['auuc']:,.2f}")
        if key == "learned" and np.isfinite(c["lower"]).all():
            ax.fill_between(x, margin * c["lower"], margin * c["upper"], color="C0", alpha=0.2,
                            lw=0, label="95 % bootstrap band")
    first = next(iter(curves.values()))
    ax.plot(100 * first["share"], margin * first["random"], color="grey", ls="--", lw=1,
            label="random targeting")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("share of customers contacted, best first (%)")
    ax.set_ylabel(_money_label("incremental gross margin per customer", currency))
    ax.set_title("Qini curves: who gains most from the offer, by ranking")
    legend_outside(ax)
    return fig


def plot_policy_values(policies, ax=None, currency=None):
    """Net gain per customer of the base of each policy, with its 95 % interval."""
    p = policies.reset_index(drop=True)
    fig, ax = _figure(ax, (7, 0.5 * len(p) + 1.2))
    y = np.arange(len(p))[::-1]
    colors = ["C0" if k == "learned" else "C7" for k in p["policy"]]
    v, lo, hi = (p[c].to_numpy(float) for c in ("value", "ci_low", "ci_high"))
    for yi, vi, low, high, c in zip(y, v, lo, hi, colors):
        ax.errorbar([vi], [yi], xerr=[[vi - low], [high - vi]], fmt="o", color=c, capsize=3)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{POLICY_LABELS.get(k, k)} ({int(n):,} contacts)"
                        for k, n in zip(p["policy"], p["n_treated"])], fontsize=8)
    ax.set_xlabel(_money_label("net gain per customer of the base (95 % interval)", currency))
    ax.set_title("Net gain of each policy over contacting no one")
    return fig
