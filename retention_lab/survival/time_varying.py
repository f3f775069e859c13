"""Loyalty enrolment as a time-varying exposure: the long (start, stop] format and the Cox model
that compares members' and non-members' lapse hazards at the same customer age.

Why: a member must survive (stay active) until they enrol. Comparing *ever*-members with
never-members credits the programme with that pre-enrolment survival — immortal-time bias
(Suissa 2008; Lévesque et al. 2010) — and shows a benefit even when the programme does nothing.
Counting a member's time before enrolment as non-member time removes it (Andersen & Gill 1982;
Therneau & Grambsch 2000, ch. 3):

``h(t | member(t), x) = h0(t) exp(β · member(t) + xᵀγ)``, ``t`` = age since first purchase,
``member(t) = 1[enrolment age < t]``.

The time origin is the churn table's (first purchase). A customer enrolled at age ``e`` with
follow-up ``(0, d]`` contributes ``(0, e]`` as non-member and ``(e, d]`` as member; enrolment at
or before the first purchase makes them a member throughout; enrolment at or after the end of
follow-up (``e >= d``) means they were never a member while observed. Self-selection on
*baseline* characteristics is not removed by this model — adjust for covariates, and see
:mod:`retention_lab.impact` for the design-based corrections.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, CoxTimeVaryingFitter

from ..errors import DataError
from ._base import (SurvivalResult, check_survival_frame, collapse, design_matrix, p_words,
                    positive_durations, zero_note)
from .data import churn_frame, enrolment_ages  # noqa: F401  (re-exported)
from .regression import cox_summary

__all__ = ["enrolment_long_format", "time_varying_enrolment", "enrolment_effect",
           "EnrolmentEffect", "enrolment_ages"]

MEMBER = "member"
TV_METHOD = ("Cox model with loyalty membership as a time-varying covariate (members' time "
             "before enrolment counted as non-member time; lifelines CoxTimeVaryingFitter, Efron "
             "ties), Wald 95 % CI")
NAIVE_METHOD = ("naive Cox model with ever-member as a fixed covariate (immortal-time biased; "
                "shown for contrast), Wald 95 % CI")


def enrolment_long_format(table: pd.DataFrame, enrolment_age: str = "enrolment_age",
                          covariates=None, *, duration_col: str = "duration",
                          event_col: str = "churned", min_duration: float = 0.5,
                          collapse_rows: bool = True, reference: dict | None = None):
    """The churn table in lifelines' long format: ``start, stop, <event_col>, member``, the
    covariate columns (indicators for categorical ones) and ``weight`` (identical rows
    collapsed; ``collapse_rows=False`` keeps one row per episode with ``customer_id``).

    ``enrolment_age`` is a column of ages at enrolment in the unit of ``duration`` (NaN = never
    enrolled). Durations of 0 become ``min_duration`` (the (start, stop] format needs
    stop > start). Returns ``(long, info)``; ``info`` has the covariate coding and counts.
    """
    df = check_survival_frame(table, duration_col, event_col)
    if enrolment_age not in df.columns:
        raise DataError(f"churn table: missing column {enrolment_age!r}; rule 'required columns "
                        f"present'", table="churn table", column=enrolment_age,
                        rule="required columns present", n_rows=len(df))
    X, coding = design_matrix(df, covariates, reference=reference)
    d, n_zero = positive_durations(df[duration_col], min_duration)
    e = pd.to_numeric(df[enrolment_age], errors="coerce").to_numpy(float)
    ev = df[event_col].to_numpy(np.int64)
    always = np.isfinite(e) & (e <= 0)
    switch = np.isfinite(e) & (e > 0) & (e < d)
    ids = df.index.to_numpy()

    first = pd.DataFrame({"customer_id": ids, "start": 0.0, "stop": np.where(switch, e, d),
                          event_col: np.where(switch, 0, ev), MEMBER: always.astype(float)})
    first = pd.concat([first, X.reset_index(drop=True)], axis=1)
    second = pd.DataFrame({"customer_id": ids[switch], "start": e[switch], "stop": d[switch],
                           event_col: ev[switch], MEMBER: 1.0})
    second = pd.concat([second, X.loc[switch].reset_index(drop=True)], axis=1)
    long = pd.concat([first, second], ignore_index=True)
    info = dict(coding=coding, n_customers=len(df), n_zero_durations=n_zero,
                n_switch=int(switch.sum()), n_member_from_start=int(always.sum()),
                n_enrolled_after_followup=int((np.isfinite(e) & (e >= d) & ~always).sum()),
                n_events=int(ev.sum()), covariate_columns=list(X.columns))
    if collapse_rows:
        long = collapse(long, [c for c in long.columns if c != "customer_id"])
    return long, info


class EnrolmentEffect(SurvivalResult):
    """Hazard ratio of lapsing for members vs non-members at the same age.

    ``hazard_ratio``, ``ci``, ``p_value``, ``se`` (of the log-HR) from the time-varying model;
    ``naive_hazard_ratio``, ``naive_ci``, ``naive_p_value`` from the ever-member comparison;
    ``summary`` (one row each), ``model_summary`` (every coefficient of the time-varying model),
    ``value``/``ci``/``n`` for :func:`retention_lab.reporting.record_result`.
    """


def time_varying_enrolment(table: pd.DataFrame, enrolment_age: str = "enrolment_age",
                           covariates=None, *, duration_col: str = "duration",
                           event_col: str = "churned", alpha: float = 0.05,
                           min_duration: float = 0.5, penalizer: float = 0.0,
                           reference: dict | None = None) -> EnrolmentEffect:
    """Fit the time-varying and the naive model on a churn table with an ``enrolment_age``
    column (see :func:`enrolment_long_format`)."""
    long, info = enrolment_long_format(table, enrolment_age, covariates,
                                       duration_col=duration_col, event_col=event_col,
                                       min_duration=min_duration, reference=reference)
    if info["n_switch"] + info["n_member_from_start"] == 0:
        raise DataError("churn table: no customer was a member during follow-up; rule 'some "
                        "enrolment before the end of follow-up'", table="churn table",
                        column=enrolment_age, rule="some enrolment before the end of follow-up",
                        n_rows=0)
    ctv = CoxTimeVaryingFitter(penalizer=penalizer, alpha=alpha).fit(
        long, event_col=event_col, start_col="start", stop_col="stop", weights_col="weight")
    model_summary = cox_summary(ctv, TV_METHOD)

    # naive: ever-member as a fixed covariate on the original durations
    df = check_survival_frame(table, duration_col, event_col)
    X, _ = design_matrix(df, covariates, reference=reference)
    naive = pd.concat([X, df[[duration_col, event_col]]], axis=1)
    naive.insert(0, "ever_member", np.isfinite(
        pd.to_numeric(df[enrolment_age], errors="coerce").to_numpy(float)).astype(float))
    naive = collapse(naive, list(naive.columns))
    cph = CoxPHFitter(penalizer=penalizer, alpha=alpha).fit(
        naive, duration_col, event_col, weights_col="weight")
    naive_summary = cox_summary(cph, NAIVE_METHOD)

    tv, nv = model_summary.loc[MEMBER], naive_summary.loc["ever_member"]
    summary = pd.DataFrame([tv, nv], index=["member (time-varying)", "ever member (naive)"])
    summary.index.name = "model"
    notes = []
    if info["n_zero_durations"]:
        notes.append(zero_note(info["n_zero_durations"], min_duration))
    if info["n_enrolled_after_followup"]:
        notes.append(f"{info['n_enrolled_after_followup']:,} customer(s) enrolled at or after the"
                     f" end of their follow-up: non-members in the time-varying model, members "
                     f"in the naive one")
    adj = f", adjusted for {', '.join(covariates)}" if covariates else ""
    hr, lo, hi, p = (float(tv[k]) for k in ("hazard_ratio", "hr_lower", "hr_upper", "p_value"))
    nhr, nlo, nhi = (float(nv[k]) for k in ("hazard_ratio", "hr_lower", "hr_upper"))
    verdict = ("lower" if hi < 1 else "higher" if lo > 1 else "not clearly different from")
    interp = (f"At the same customer age{adj}, members lapse at {hr:.2f}× the hazard of "
              f"non-members (95 % CI {lo:.2f}–{hi:.2f}, {p_words(p)}): their lapse hazard is "
              f"{verdict}{' than' if verdict != 'not clearly different from' else ''} "
              f"non-members'. The naive ever-member comparison gives {nhr:.2f} ({nlo:.2f}–"
              f"{nhi:.2f}); the gap is the immortal time members had to survive to enrol.")
    out = EnrolmentEffect(summary=summary, method=TV_METHOD + adj, interpretation=interp,
                          notes=notes, value=hr, ci=(lo, hi), n=info["n_customers"])
    out.hazard_ratio, out.p_value, out.se = hr, p, float(tv["se"])
    out.naive_hazard_ratio, out.naive_ci = nhr, (nlo, nhi)
    out.naive_p_value, out.naive_method = float(nv["p_value"]), NAIVE_METHOD
    out.model_summary, out.naive_model_summary = model_summary, naive_summary
    out.n_members = info["n_switch"] + info["n_member_from_start"]
    out.n_events, out.info, out.long_ = info["n_events"], info, long
    out.fitter_, out.naive_fitter_ = ctv, cph
    return out


def enrolment_effect(data, inactivity_days: int = 90, covariates=None, *, alpha: float = 0.05,
                     min_duration: float = 0.5) -> EnrolmentEffect:
    """The retention hazard ratio of loyalty members from an ``ExperimentData`` bundle.

    Builds :func:`retention_lab.features.churn_table` (ages in days; lapse dated at the last
    purchase, censoring at ``observation_end − inactivity_days``), attaches each customer's age
    at ``customers.enrolled_at`` (NaT = never; enrolments after ``observation_end`` ignored) and
    the ``covariates`` from ``customers``, and fits :func:`time_varying_enrolment`.
    Returns ``.hazard_ratio``, ``.ci``, ``.p_value``, ``.summary``, ``.naive_hazard_ratio``,
    ``.naive_ci``, ``.method``, ``.interpretation``.

    Cost: lifelines' time-varying fitter loops over distinct lapse ages, each step touching all
    rows and the square of the covariate count. Without covariates ~2 s at 20,000 customers
    (identical episodes collapsed into weights); with channel, region and tier (8 indicator
    columns, 18k collapsed episodes) 4.3 s on an idle 2-core machine.
    """
    if "enrolled_at" not in data.customers.columns:
        raise DataError("customers: missing column 'enrolled_at'; rule 'required columns "
                        "present'", table="customers", column="enrolled_at",
                        rule="required columns present", n_rows=len(data.customers))
    table = churn_frame(data, inactivity_days, columns=covariates)
    out = time_varying_enrolment(table, "enrolment_age", covariates, alpha=alpha,
                                 min_duration=min_duration)
    out.method += (f"; churn = {inactivity_days} days without a purchase, lapse dated at the "
                   f"last purchase, censored at observation end − {inactivity_days} days")
    out.table_ = table
    return out
