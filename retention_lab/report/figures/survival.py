"""Survival figures: retention curves per group with 95 % bands, the hazard-ratio forest plot,
the proportional-hazards diagnostic (scaled Schoenfeld residuals against age) and the
calibration plot of predicted vs observed churn risk.

Each function returns a matplotlib ``Figure`` (drawn on ``ax`` when one is given) and never
calls ``plt.show()``; a notebook shows each figure once (:mod:`._base`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._base import legend_outside, new_figure as _figure, plain_log_ticks

__all__ = ["plot_retention_by_group", "plot_hazard_ratios", "plot_ph_diagnostics",
           "plot_churn_calibration"]

_UNITS = {"D": "days", "W": "weeks", "M": "months"}


def plot_retention_by_group(curves, *, ax=None, horizons=None, parametric=None,
                          title: str = "Retention by customer age (Kaplan–Meier, 95 % band)"
                          ) -> Figure:
    """Kaplan–Meier retention per group (a fitted :class:`~retention_lab.survival.
    RetentionCurves`) with shaded 95 % bands; dotted lines at ``horizons``; optionally the
    population curve of a fitted :class:`~retention_lab.survival.ParametricRetention` extended
    beyond the follow-up (dashed)."""
    fig, ax = _figure(ax, (7.5, 4.5))
    for label, kmf in curves.fitters_.items():
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_survival_function_
        line, = ax.step(sf.index, sf.to_numpy(), where="post", label=str(label))
        ax.fill_between(ci.index, ci.iloc[:, 0], ci.iloc[:, 1], step="post", alpha=0.2,
                        color=line.get_color(), linewidth=0)
    if parametric is not None:
        t = np.linspace(0, 1.5 * parametric.max_followup_, 200)
        ax.plot(t, parametric.survival_function_at(t), "k--", lw=1,
                label=f"{parametric.best_} (all customers, extrapolated)")
        ax.axvline(parametric.max_followup_, color="grey", lw=0.8)
    for h in np.atleast_1d(horizons) if horizons is not None else []:
        ax.axvline(float(h), color="grey", ls=":", lw=0.8)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"customer age ({_UNITS.get(getattr(curves, 'unit_', 'D'), '')})")
    ax.set_ylabel("share not yet lapsed")
    ax.set_title(title)
    legend_outside(ax, title=getattr(curves, "group_", None))
    ax.grid(alpha=0.3)
    return fig


def plot_hazard_ratios(model_or_summary, *, ax=None,
                       title: str = "Hazard ratios of lapsing (95 % CI)") -> Figure:
    """Forest plot of hazard ratios on a log axis: a :class:`ChurnCoxModel`, an
    :class:`EnrolmentEffect` (time-varying vs naive) or any DataFrame with ``hazard_ratio``,
    ``hr_lower``, ``hr_upper``. Left of 1 = lapses less."""
    s = getattr(model_or_summary, "summary", model_or_summary)
    s = s[["hazard_ratio", "hr_lower", "hr_upper"]].astype(float)
    fig, ax = _figure(ax, (7, 0.45 * len(s) + 1.5))
    y = np.arange(len(s))[::-1]
    ax.errorbar(s["hazard_ratio"], y, xerr=[s["hazard_ratio"] - s["hr_lower"],
                                            s["hr_upper"] - s["hazard_ratio"]],
                fmt="o", color="C0", capsize=3)
    ax.axvline(1.0, color="grey", lw=1)
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_yticks(y, [str(i) for i in s.index])
    ax.set_xlabel("hazard ratio (log scale; < 1 = lapses less)")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    return fig


def plot_ph_diagnostics(model, *, columns=None, max_points: int = 3000, seed: int = 0,
                        title: str = "Proportional-hazards check: scaled Schoenfeld residuals"
                        ) -> Figure:
    """Scaled Schoenfeld residuals of a fitted :class:`ChurnCoxModel` against the rank of the
    lapse age, one panel per covariate column, with a moving-average trend: a flat trend means
    the hazard ratio is constant over age; the panel title gives the test's p-value."""
    fitter = model.fitter_
    frame = model.frame_
    resid = fitter.compute_residuals(frame, kind="scaled_schoenfeld")
    cols = list(columns or resid.columns)
    times = frame.loc[resid.index, model.duration_col].to_numpy(float)
    rank = pd.Series(times).rank().to_numpy()
    n = len(cols)
    ncols = min(3, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = _figure(None, (4.2 * ncols, 3.0 * nrows), ncols=ncols, nrows=nrows, squeeze=False)
    rng = np.random.default_rng(seed)
    show = np.sort(rng.choice(len(rank), min(max_points, len(rank)), replace=False))
    order = np.argsort(rank)
    for ax, col in zip(axes.ravel(), cols):
        r = resid[col].to_numpy(float)
        ax.scatter(rank[show], r[show], s=4, alpha=0.3, color="C0")
        win = max(25, len(r) // 20)
        trend = pd.Series(r[order]).rolling(win, center=True, min_periods=5).mean()
        ax.plot(rank[order], trend.to_numpy(), color="C3", lw=1.5)
        ax.axhline(fitter.params_[col], color="grey", ls="--", lw=0.8)
        p = model.ph_test_.loc[col, "p_value"] if getattr(model, "ph_test_", None) is not None \
            and col in model.ph_test_.index else np.nan
        ax.set_title(f"{col} (p = {p:.3g})", fontsize=9)
        ax.set_xlabel("rank of lapse age", fontsize=8)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


def plot_churn_calibration(holdout, *, ax=None, title: str | None = None) -> Figure:
    """Predicted vs Kaplan–Meier observed lapse risk by risk group of a
    :func:`~retention_lab.survival.holdout_evaluation` result, with the observed 95 % bands
    and the diagonal of perfect calibration."""
    cal = holdout.calibration
    fig, ax = _figure(ax, (5, 5))
    ax.errorbar(cal["predicted"], cal["observed"],
                yerr=[cal["observed"] - cal["observed_lower"],
                      cal["observed_upper"] - cal["observed"]], fmt="o", capsize=3)
    hi = float(np.nanmax(cal[["predicted", "observed_upper"]].to_numpy())) * 1.05
    ax.plot([0, hi], [0, hi], color="grey", ls="--", lw=1)
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    ax.set_xlabel("predicted risk of lapsing")
    ax.set_ylabel("observed (Kaplan–Meier)")
    ax.set_title(title or f"Calibration at {holdout.horizon:g} days (C = {holdout.c_index:.3f})")
    ax.grid(alpha=0.3)
    return fig
