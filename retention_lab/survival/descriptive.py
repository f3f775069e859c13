"""Kaplan–Meier retention curves per group, median customer lifetime, retention at horizons and
the multi-group log-rank test — lifelines' ``KaplanMeierFitter`` and
``multivariate_logrank_test`` framed in churn terms.

Retention ``S(t)`` is the probability that a customer has not lapsed by age ``t`` (Kaplan &
Meier 1958). Intervals are lifelines' exponential-Greenwood (log(−log)) 95 % bands; the standard
error reported beside them is Greenwood's (Kalbfleisch & Prentice 2002, eq. 1.9). Identical
(duration, churned) rows are collapsed into case weights, which leaves every estimate unchanged.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import median_survival_times

from ._base import SurvivalResult, check_survival_frame, collapse, p_words
from .regression import require_events

__all__ = ["RetentionCurves", "logrank", "LogRankResult", "km_at"]

KM_METHOD = "Kaplan–Meier; 95 % exponential-Greenwood band; Greenwood SE (lifelines)"


def km_at(kmf: KaplanMeierFitter, horizon: float) -> dict:
    """Retention of a fitted ``KaplanMeierFitter`` at ``horizon``: estimate, Greenwood SE and
    the band's interval. NaN beyond the last observed duration (KM is undefined there)."""
    et = kmf.event_table
    if horizon > et.index.max():
        return dict(estimate=np.nan, se=np.nan, lower=np.nan, upper=np.nan)
    s = float(kmf.survival_function_at_times(horizon).iloc[0])
    upto = et.loc[et.index <= horizon]
    n, d = upto["at_risk"].to_numpy(float), upto["observed"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where((d > 0) & (n > d), d / (n * (n - d)), 0.0)
    se = s * np.sqrt(terms.sum())
    ci = kmf.confidence_interval_survival_function_
    row = ci.loc[ci.index <= horizon].iloc[-1]
    return dict(estimate=s, se=float(se), lower=float(row.iloc[0]), upper=float(row.iloc[1]))


class RetentionCurves:
    """Kaplan–Meier retention per group.

    Parameters
    ----------
    alpha : float
        1 − confidence level of the bands.

    Attributes (after ``fit``)
    --------------------------
    fitters_ : dict
        group label → fitted ``lifelines.KaplanMeierFitter``.
    summary : DataFrame
        per group: customers, churned, censored, median lifetime with its 95 % interval.
    """

    def __init__(self, alpha: float = 0.05):
        self.alpha = alpha

    def fit(self, table: pd.DataFrame, group: str | None = None, *,
            duration_col: str = "duration", event_col: str = "churned",
            weights_col: str | None = None, unit: str | None = None) -> "RetentionCurves":
        extra = [group] if group else []
        df = check_survival_frame(table, duration_col, event_col, weights_col, extra)
        self.group_, self.unit_ = group, unit or table.attrs.get("unit", "D")
        self.duration_col, self.event_col = duration_col, event_col
        labels = sorted(df[group].unique(), key=str) if group else ["all customers"]
        self.fitters_, rows = {}, []
        for label in labels:
            part = df[df[group] == label] if group else df
            c = collapse(part, [duration_col, event_col], weights_col)
            kmf = KaplanMeierFitter(alpha=self.alpha).fit(
                c[duration_col], c[event_col], weights=c["weight"], label=str(label))
            self.fitters_[label] = kmf
            med = kmf.median_survival_time_
            band = median_survival_times(kmf.confidence_interval_)
            n = float(c["weight"].sum())
            ev = float((c["weight"] * c[event_col]).sum())
            rows.append(dict(group=label, customers=n, churned=ev, censored=n - ev,
                             median_lifetime=float(med), median_lower=float(band.iloc[0, 0]),
                             median_upper=float(band.iloc[0, 1]),
                             max_followup=float(c[duration_col].max())))
        self.summary = pd.DataFrame(rows).set_index("group")
        self.summary.attrs["method"] = KM_METHOD
        self.method = KM_METHOD
        return self

    def retention_at(self, horizons) -> pd.DataFrame:
        """Retention at each horizon per group: estimate, se, lower/upper 95 %, method.
        NaN (with a note in ``method``) beyond a group's last follow-up."""
        rows = []
        for label, kmf in self.fitters_.items():
            for h in np.atleast_1d(horizons):
                r = km_at(kmf, float(h))
                rows.append(dict(group=label, horizon=float(h), estimate=r["estimate"],
                                 se=r["se"], **{"lower 95%": r["lower"], "upper 95%": r["upper"]},
                                 method=KM_METHOD if np.isfinite(r["estimate"]) else
                                 "beyond follow-up: KM undefined, see ParametricRetention"))
        return pd.DataFrame(rows)

    def interpretation(self, horizon: float | None = None) -> str:
        unit = {"D": "days", "W": "weeks", "M": "months"}.get(self.unit_, self.unit_)
        parts = []
        for label, row in self.summary.iterrows():
            med = row["median_lifetime"]
            if np.isfinite(med):
                txt = (f"{label}: half of the customers have lapsed by age {med:.0f} {unit} "
                       f"(95 % CI {row['median_lower']:.0f}–{row['median_upper']:.0f})")
            else:
                txt = f"{label}: fewer than half had lapsed by the end of follow-up"
            if horizon is not None:
                r = km_at(self.fitters_[label], horizon)
                txt += (f"; {100 * r['estimate']:.1f} % are still active at {horizon:g} {unit} "
                        f"({100 * r['lower']:.1f}–{100 * r['upper']:.1f} %)")
            parts.append(txt + ".")
        return "\n".join(parts)

    def plot(self, ax=None, horizons=None):
        """The retention curves (:func:`retention_lab.report.figures.plot_retention_by_group`)."""
        # display layer: imported on use, estimation never depends on it
        from ..report.figures.survival import plot_retention_by_group
        return plot_retention_by_group(self, ax=ax, horizons=horizons)


class LogRankResult(SurvivalResult):
    """Multi-group log-rank test: ``statistic``, ``df``, ``p_value``, ``summary``."""

    statistic: float
    df: int
    p_value: float


def logrank(table: pd.DataFrame, group: str, *, duration_col: str = "duration",
            event_col: str = "churned", weights_col: str | None = None,
            weightings: str | None = None) -> LogRankResult:
    """H0: every group has the same lapse hazard at every age (Peto & Peto 1972;
    lifelines ``multivariate_logrank_test``). ``weightings`` selects a weighted variant
    (``"wilcoxon"``, ``"tarone-ware"``, ``"peto"``) that stresses early differences."""
    df = check_survival_frame(table, duration_col, event_col, weights_col, [group])
    require_events(df[event_col], df[weights_col] if weights_col else None, column=event_col,
                   model="the log-rank test")
    c = collapse(df, [group, duration_col, event_col], weights_col)
    res = multivariate_logrank_test(c[duration_col], c[group], c[event_col],
                                    weights=c["weight"], weightings=weightings)
    k = int(c[group].nunique())
    stat, p = float(res.test_statistic), float(res.p_value)
    name = f"log-rank ({weightings})" if weightings else "log-rank"
    method = f"{name} test of equal lapse hazards across {k} groups of '{group}' (lifelines)"
    summary = pd.DataFrame([dict(test=name, groups=k, statistic=stat, df=k - 1, p_value=p,
                                 method=method)])
    words = ("The groups' retention curves differ" if p < 0.05 else
             "No evidence that the groups' retention curves differ")
    interp = f"{words} ({name} χ² = {stat:.1f} on {k - 1} df, {p_words(p)})."
    out = LogRankResult(summary=summary, method=method, interpretation=interp,
                        value=stat, n=int(round(c["weight"].sum())))
    out.statistic, out.df, out.p_value, out.lifelines_result_ = stat, k - 1, p, res
    return out
