"""Retention as survival from the launch: Kaplan–Meier curves per group, the Cox hazard ratio of
lapsing (ITT: invited vs control), its proportional-hazards check, and — for members — the
time-varying Cox model of :func:`retention_lab.survival.enrolment_effect`.

Time origin is the launch; a customer's "lifetime" ends at their last purchase up to
``observation_end``; a lapse is confirmed when no purchase follows within the retention window
``(launch + horizon, observation_end]``, otherwise the customer is censored at ``horizon``
(same definitions as :mod:`retention_lab.impact.core.outcomes`, so KM at ``horizon`` equals the
retention share).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import proportional_hazard_test

from ... import ids, survival
from ...formatting import p_text


def launch_survival_table(out: pd.DataFrame, min_duration: float = 0.5) -> pd.DataFrame:
    """``duration`` (days from launch to the last purchase, at least ``min_duration``),
    ``churned`` (1 = lapse confirmed before the horizon) from the outcome table."""
    h = out.attrs.get("horizon", 365)
    lapsed = out["retained"].to_numpy() == 0
    d = np.where(lapsed, np.minimum(out["rmst_days"].to_numpy(float), h), float(h))
    return pd.DataFrame({"duration": np.maximum(d, min_duration),
                         "churned": lapsed.astype(int)}, index=out.index)


def km_curves(out: pd.DataFrame, groups: dict, weights=None) -> dict:
    """Kaplan–Meier retention curves (DataFrame per group: timeline, survival, lower, upper)."""
    tab = launch_survival_table(out)
    curves = {}
    for name, mask in groups.items():
        mask = np.asarray(mask, bool)
        kmf = KaplanMeierFitter()
        w = None if weights is None else np.asarray(weights, float)[mask]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kmf.fit(tab["duration"][mask], tab["churned"][mask], weights=w, label=name)
        ci = kmf.confidence_interval_survival_function_
        curves[name] = pd.DataFrame({"timeline": kmf.survival_function_.index,
                                     "survival": kmf.survival_function_.iloc[:, 0].to_numpy(),
                                     "lower": ci.iloc[:, 0].to_numpy(),
                                     "upper": ci.iloc[:, 1].to_numpy()})
    return curves


def cox_hazard_ratio(out: pd.DataFrame, treated, weights=None, *, alpha: float = 0.05,
                     estimand: str = "ITT") -> tuple[dict, dict]:
    """Hazard ratio of lapsing (treated vs control) from a Cox model, and a PH check (Grambsch–
    Therneau test on rank-transformed time). Returns ``(row, check)``."""
    tab = launch_survival_table(out)
    tab["treated"] = np.asarray(treated, float)
    w = None
    if weights is not None:
        tab["w"] = np.asarray(weights, float)
        tab = tab.loc[tab["w"] > 0]
        w = "w"
    # identical *censored* rows collapse to a weight (most customers are censored at the
    # horizon); lapses keep one row each, because lifelines' Efron tie correction and its PH
    # test count lapses by rows — merging tied lapses changes the estimate and blinds the test
    keys = ["duration", "churned", "treated"]
    if w is None:
        lapsed = tab["churned"].to_numpy() == 1
        kept = tab.loc[~lapsed].groupby(keys, as_index=False).size().rename(
            columns={"size": "w"})
        tab = pd.concat([tab.loc[lapsed, keys].assign(w=1.0), kept], ignore_index=True)
    else:  # the robust (sandwich) SE needs one row per customer
        tab = tab[keys + ["w"]].reset_index(drop=True)
    cph = CoxPHFitter(alpha=alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cph.fit(tab, "duration", "churned", weights_col="w", robust=weights is not None)
    s = cph.summary.loc["treated"]
    hr = float(s["exp(coef)"])
    lo, hi = float(s[f"exp(coef) lower {1 - alpha:.0%}"]), float(s[f"exp(coef) upper {1 - alpha:.0%}"])
    row = dict(metric="lapse hazard ratio", estimand=estimand, control=1.0, treatment=hr,
               abs_diff=hr - 1, rel_lift=hr - 1, ci_low=lo - 1, ci_high=hi - 1,
               p_value=float(s["p"]), se=float(s["se(coef)"]), rel_ci_low=lo - 1,
               rel_ci_high=hi - 1, n=int(tab["w"].sum() if w is None else len(tab)),
               method="Cox proportional hazards (lifelines, Efron ties), time from launch to the "
                      "last purchase" + (", ATT weights, robust SE" if weights is not None else ""),
               hazard_ratio=hr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = proportional_hazard_test(cph, tab, time_transform="rank")
    p_ph = float(np.asarray(test.p_value).ravel()[0])
    status = "pass" if p_ph >= 0.01 else "warn"
    check = dict(id=ids.CHECK_PH, check="proportional hazards (Cox)", status=status, value=p_ph,
                 detail=f"Grambsch–Therneau test {p_text(p_ph)}; a small p means the hazard "
                        "ratio changes over time — read it as an average, and rely on retention "
                        "at the horizon and RMST instead")
    return row, check


def enrolment_hazard_ratio(data, out: pd.DataFrame, *, alpha: float = 0.05) -> tuple[dict, dict]:
    """Members' lapse hazard ratio with enrolment as a time-varying covariate
    (:func:`retention_lab.survival.enrolment_effect`), inactivity window = the retention window.
    Returns ``(row, naive_row)``."""
    end, h_end = out.attrs["observation_end"], out.attrs["horizon_end"]
    res = survival.enrolment_effect(data, inactivity_days=int((end - h_end).days), alpha=alpha)
    rows = []
    for est, hr, ci, p in (("effect on members (time-varying Cox)", res.hazard_ratio, res.ci,
                            getattr(res, "p_value", np.nan)),
                           ("naive (ever-member Cox)", res.naive_hazard_ratio, res.naive_ci,
                            getattr(res, "naive_p_value", np.nan))):
        rows.append(dict(metric="lapse hazard ratio", estimand=est, control=1.0, treatment=hr,
                         abs_diff=hr - 1, rel_lift=hr - 1, ci_low=ci[0] - 1, ci_high=ci[1] - 1,
                         p_value=p, se=np.nan, rel_ci_low=ci[0] - 1, rel_ci_high=ci[1] - 1,
                         method=res.method if "naive" not in est else "Cox with ever-member as a "
                         "fixed covariate (immortal-time biased)", n=int(res.n),
                         hazard_ratio=hr))
    return rows[0], rows[1]
