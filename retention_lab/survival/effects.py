"""Effect measures between groups of customers: restricted mean survival time (RMST) and its
difference, retention difference at a horizon, and hazard ratios.

* **RMST** up to ``tau``: ``μ(τ) = ∫₀^τ S(t) dt``, the expected number of active days (weeks,
  …) in the first ``τ`` of a customer's life (Royston & Parmar 2013). The point estimate is
  lifelines' ``restricted_mean_survival_time`` of the Kaplan–Meier curve; its variance is the
  Greenwood-type estimator ``Var μ̂(τ) = Σ_{t_i ≤ τ} A_i² d_i / (n_i (n_i − d_i))`` with
  ``A_i = ∫_{t_i}^τ Ŝ(u) du`` (Klein & Moeschberger 2003, eq. 4.5.2) — lifelines' own
  ``return_variance`` is the variance of min(T, τ) across customers, not of the estimate — or a
  bootstrap over customers (``method="bootstrap"``).
* **Retention difference** at horizon ``h``: ``Ŝ_B(h) − Ŝ_A(h)`` with Greenwood SEs (independent
  groups), Wald interval.
* **Hazard ratios**: the Cox model's (:class:`~retention_lab.survival.ChurnCoxModel`).

Differences are "group minus reference"; with more than two groups each is compared with the
reference and the headline (``value``/``ci``) is the first comparison.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time
from scipy.stats import norm

from ..units import z_value
from ._base import SurvivalResult, check_survival_frame, collapse, p_words
from .descriptive import km_at
from .regression import COX_METHOD, cox_summary

__all__ = ["rmst", "rmst_difference", "retention_difference", "hazard_ratios",
           "EffectResult"]


class EffectResult(SurvivalResult):
    """A difference between groups: ``value``, ``ci``, ``se``, ``p_value``, ``summary`` (one row
    per comparison), ``groups`` (per-group estimates), ``method``, ``interpretation``."""


def _km(durations, events, weights=None) -> KaplanMeierFitter:
    return KaplanMeierFitter().fit(durations, events, weights=weights)


def _rmst_var(kmf: KaplanMeierFitter, tau: float) -> float:
    et = kmf.event_table
    et = et.loc[(et.index <= tau) & (et["observed"] > 0)]
    if et.empty:
        return 0.0
    sf = kmf.survival_function_
    times, s = sf.index.to_numpy(float), sf.iloc[:, 0].to_numpy(float)
    # ∫_{t}^{τ} S(u) du for the step function S
    grid = np.append(times[times < tau], tau)
    steps = np.diff(grid) * s[: len(grid) - 1]
    tail = np.concatenate([np.cumsum(steps[::-1])[::-1], [0.0]])
    a = tail[np.searchsorted(grid, et.index.to_numpy(float), side="left")]
    n, d = et["at_risk"].to_numpy(float), et["observed"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n > d, a ** 2 * d / (n * (n - d)), 0.0)
    return float(terms.sum())


def _rmst_counts(t: np.ndarray, e: np.ndarray, w: np.ndarray, tau: float) -> np.ndarray:
    """RMST of the KM curve for many weight vectors at once (rows of ``w``), on rows sorted by
    time — the bootstrap's inner loop; equal to lifelines' value (tested)."""
    times = np.unique(t)
    idx = np.searchsorted(times, t)
    n_t = len(times)
    deaths = np.zeros((w.shape[0], n_t))
    total = np.zeros((w.shape[0], n_t))
    np.add.at(deaths.T, idx, (w * e).T)
    np.add.at(total.T, idx, w.T)
    at_risk = np.cumsum(total[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(at_risk > 0, 1 - deaths / at_risk, 1.0)
    surv = np.cumprod(factor, axis=1)              # S just after each time
    grid = np.append(times[times < tau], tau)
    left = np.concatenate([np.ones((w.shape[0], 1)), surv[:, : len(grid) - 1]], axis=1)
    widths = np.diff(np.concatenate([[0.0], grid]))
    return (left * widths).sum(axis=1)


def _groups(table, group, duration_col, event_col, weights_col, reference):
    extra = [group] if group else []
    df = check_survival_frame(table, duration_col, event_col, weights_col, extra)
    if group is None:
        return df, ["all customers"], None
    levels = sorted(df[group].unique(), key=str)
    if len(levels) < 2 and reference is not None:
        raise ValueError(f"'{group}' has a single level {levels}")
    ref = levels[0] if reference is None else reference
    if ref not in levels:
        raise ValueError(f"reference {ref!r} is not a level of '{group}' ({levels})")
    return df, [ref] + [lv for lv in levels if lv != ref], ref


def _part(df, group, label, duration_col, event_col, weights_col):
    part = df if group is None else df[df[group] == label]
    return collapse(part, [duration_col, event_col], weights_col)


def rmst(table: pd.DataFrame, tau: float, group: str | None = None, *,
         duration_col: str = "duration", event_col: str = "churned",
         weights_col: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """RMST up to ``tau`` per group: estimate, se, lower/upper 95 %, n, method."""
    df, levels, _ = _groups(table, group, duration_col, event_col, weights_col, None)
    z, rows = z_value(alpha), []
    for lv in levels:
        c = _part(df, group, lv, duration_col, event_col, weights_col)
        kmf = _km(c[duration_col], c[event_col], c["weight"])
        est = float(restricted_mean_survival_time(kmf, t=tau))
        se = float(np.sqrt(_rmst_var(kmf, tau)))
        rows.append(dict(group=lv, tau=float(tau), estimate=est, se=se,
                         **{"lower 95%": est - z * se, "upper 95%": est + z * se},
                         n=float(c["weight"].sum()),
                         method="RMST of the Kaplan–Meier curve (lifelines), Greenwood-type SE"))
    return pd.DataFrame(rows).set_index("group")


def _difference_result(per_group, ref, diffs, ses, name, unit_txt, method, alpha, n,
                       scale=1.0, fmt="{:.1f}"):
    z = z_value(alpha)
    rows = []
    for lv, dlt, se in zip([k for k in per_group.index if k != ref], diffs, ses):
        p = float(2 * norm.sf(abs(dlt / se))) if se > 0 else float("nan")
        rows.append(dict(comparison=f"{lv} − {ref}", estimate=dlt, se=se,
                         **{"lower 95%": dlt - z * se, "upper 95%": dlt + z * se},
                         p_value=p, method=method))
    summary = pd.DataFrame(rows).set_index("comparison")
    first = summary.iloc[0]
    lo, hi = first["lower 95%"], first["upper 95%"]
    f = lambda x: fmt.format(scale * x)  # noqa: E731
    interp = (f"{name}: {summary.index[0]} = {f(first['estimate'])}{unit_txt} (95 % CI "
              f"{f(lo)} to {f(hi)}, {p_words(first['p_value'])})" +
              ("; the interval excludes 0." if lo > 0 or hi < 0 else
               "; the interval includes 0 (no clear difference)."))
    out = EffectResult(summary=summary, method=method, interpretation=interp,
                       value=float(first["estimate"]), ci=(float(lo), float(hi)), n=n)
    out.se, out.p_value, out.groups = float(first["se"]), float(first["p_value"]), per_group
    return out


def rmst_difference(table: pd.DataFrame, group: str, tau: float, *, reference=None,
                    duration_col: str = "duration", event_col: str = "churned",
                    weights_col: str | None = None, method: str = "analytic",
                    n_boot: int = 500, seed: int = 0, alpha: float = 0.05) -> EffectResult:
    """RMST difference (group − reference) up to ``tau`` with a 95 % interval.

    ``method="analytic"``: Greenwood-type variances of the two independent KM estimates;
    ``"bootstrap"``: percentile interval and SD of ``n_boot`` resamples of customers within each
    group (case weights resampled as multinomial counts)."""
    df, levels, ref = _groups(table, group, duration_col, event_col, weights_col, reference)
    per = rmst(table, tau, group, duration_col=duration_col, event_col=event_col,
               weights_col=weights_col, alpha=alpha).loc[levels]
    diffs = [per.loc[lv, "estimate"] - per.loc[ref, "estimate"] for lv in levels[1:]]
    unit = {"D": "days", "W": "weeks", "M": "months"}.get(table.attrs.get("unit", "D"), "")
    label = f"RMST difference up to {tau:g} {unit} (group − {ref})"
    if method == "analytic":
        ses = [float(np.hypot(per.loc[lv, "se"], per.loc[ref, "se"])) for lv in levels[1:]]
        how = f"{label}: KM RMST (lifelines) with Greenwood-type SEs, Wald 95 % CI"
        out = _difference_result(per, ref, diffs, ses, "RMST difference", f" {unit}", how,
                                 alpha, int(per["n"].sum()))
    elif method == "bootstrap":
        rng = np.random.default_rng(seed)
        parts = {lv: _part(df, group, lv, duration_col, event_col, weights_col) for lv in levels}
        boots = {}
        for lv, c in parts.items():
            w = c["weight"].to_numpy(float)
            counts = rng.multinomial(int(round(w.sum())), w / w.sum(), size=n_boot)
            boots[lv] = _rmst_counts(c[duration_col].to_numpy(float),
                                     c[event_col].to_numpy(float), counts.astype(float), tau)
        ses, cis = [], []
        for lv in levels[1:]:
            dist = boots[lv] - boots[ref]
            ses.append(float(dist.std(ddof=1)))
            cis.append(np.quantile(dist, [alpha / 2, 1 - alpha / 2]))
        how = f"{label}: KM RMST (lifelines), bootstrap over customers ({n_boot} resamples), " \
              f"percentile 95 % CI"
        out = _difference_result(per, ref, diffs, ses, "RMST difference", f" {unit}", how,
                                 alpha, int(per["n"].sum()))
        out.summary["lower 95%"] = [c[0] for c in cis]
        out.summary["upper 95%"] = [c[1] for c in cis]
        out.ci = (float(cis[0][0]), float(cis[0][1]))
    else:
        raise ValueError(f"method must be 'analytic' or 'bootstrap', not {method!r}")
    out.tau = float(tau)
    return out


def retention_difference(table: pd.DataFrame, group: str, horizon: float, *, reference=None,
                         duration_col: str = "duration", event_col: str = "churned",
                         weights_col: str | None = None, alpha: float = 0.05) -> EffectResult:
    """Difference in Kaplan–Meier retention at ``horizon`` (group − reference), Greenwood SEs,
    Wald 95 % interval. ``groups`` holds each group's retention with its band."""
    df, levels, ref = _groups(table, group, duration_col, event_col, weights_col, reference)
    rows = []
    for lv in levels:
        c = _part(df, group, lv, duration_col, event_col, weights_col)
        r = km_at(_km(c[duration_col], c[event_col], c["weight"]), float(horizon))
        rows.append(dict(group=lv, horizon=float(horizon), estimate=r["estimate"], se=r["se"],
                         **{"lower 95%": r["lower"], "upper 95%": r["upper"]},
                         n=float(c["weight"].sum())))
    per = pd.DataFrame(rows).set_index("group")
    diffs = [per.loc[lv, "estimate"] - per.loc[ref, "estimate"] for lv in levels[1:]]
    ses = [float(np.hypot(per.loc[lv, "se"], per.loc[ref, "se"])) for lv in levels[1:]]
    how = (f"Kaplan–Meier retention difference at {horizon:g} (group − {ref}), Greenwood SEs, "
           f"Wald 95 % CI")
    out = _difference_result(per, ref, diffs, ses, f"Retention difference at {horizon:g}",
                             " points", how, alpha, int(per["n"].sum()), scale=100.0)
    out.horizon = float(horizon)
    return out


def hazard_ratios(model) -> pd.DataFrame:
    """Hazard ratios with 95 % intervals from a :class:`ChurnCoxModel`, an
    :class:`EnrolmentEffect` or a fitted lifelines Cox fitter."""
    if hasattr(model, "hazard_ratios"):
        return model.hazard_ratios()
    if hasattr(model, "model_summary"):
        s = model.model_summary
    else:
        s = cox_summary(model, COX_METHOD)
    return s[["hazard_ratio", "hr_lower", "hr_upper", "p_value", "method"]]
