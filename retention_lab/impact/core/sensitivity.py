"""Sensitivity of the effect on members to unmeasured confounding: E-values and benchmarks.

The self-selected design's effect on members rests on *no unmeasured confounding*: given the
pre-launch behaviour and customer attributes, joining is as good as random. This module says how
strong a confounder that the data do not contain would have to be to overturn an estimate.

E-values (VanderWeele & Ding 2017)
----------------------------------
The formulas, and the conversions of odds ratios, hazard ratios and mean differences to an
approximate risk ratio, are in :mod:`retention_lab.impact.core.evalues` (pure functions, no data);
this module applies them to a report's effects on members.

Benchmarks from the measured covariates
---------------------------------------
An E-value of 1.8 means little without a yardstick; the measured covariates provide one
(benchmarking as in Cinelli & Hazlett 2020, "Making sense of sensitivity: extending omitted
variable bias", *JRSS-B* 82:39–67, carried over to the risk-ratio scale of the E-value).

*Conditional, leave-one-covariate-out* (:func:`conditional_benchmarks`; the report's benchmark).
The E-value is defined conditional on the measured covariates, so each covariate is scored given
the others: its association with joining from the ATT weights of the propensity model refitted
without it (the prevalence ratio of its quartiles or levels, members vs weighted non-members),
its association with the outcome from the doubly robust estimator's outcome model (members'
mean prediction with the covariate at each quartile/level, the others as observed), the
Ding–VanderWeele bias factor ``B`` of the two, the multiple ``k`` of that strength (on the log
scale) an unmeasured confounder would need to explain the estimate away, and the observed shift
of the estimate when the covariate is left out of the adjustment (the same estimator run
without it). The report names the covariate with the largest ``B`` and says whether a
confounder as strong could explain the estimate away (``B ≥ RR``) or move its interval to the
null (``B ≥`` the limit closest to the null).

*Crude* (:func:`covariate_benchmarks`; kept for comparison). Numeric covariates cut into
quartiles among the eligible, categorical ones by level, among the customers kept by the
propensity model: ``RR_EU = max_u P(u | member) / P(u | non-member)`` (or the reverse ratio,
whichever is larger, so that the bound covers a bias in either direction) and, among the
non-members, ``RR_UD = max_u mean(Y | u) / min_u mean(Y | u)`` on the metric's scale (risk or
mean ratio; ``exp(0.91 · range / SD)`` for continuous outcomes). These are not conditional on the
other covariates, so for covariates correlated with others they mostly restate what the
adjustment already removed: on the default simulation pre-launch purchase frequency has a crude
joining association of 2.96 but 1.27 given the other covariates.

Benchmarks inform judgement; they are not bounds on the actual bias and cannot show that no
confounder stronger than the measured ones is missing (Cinelli & Hazlett 2020 warn against
reading informal benchmarks more precisely than that).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .benchmarks import (  # noqa: F401
    CONDITIONAL_COLUMNS,
    COVARIATE_LABELS,
    TARGETS,
    _far,
    _groups,
    _interval_limit,
    _outcome_columns,
    _pooled_sd,
    _row_ratio,
    conditional_benchmarks,
    confounder_strength,
    covariate_benchmarks,
    covariate_groups,
    k_times,
    member_effects,
)
from .evalues import (  # noqa: F401
    RARE_THRESHOLD,
    SCALES,
    SMD_TO_LOG_RR,
    EValue,
    _check_interval,
    _evalues,
    bias_factor,
    evalue,
    evalues_hr,
    evalues_md,
    evalues_or,
    evalues_rr,
    hr_to_rr,
    or_to_rr,
    smd_to_rr,
)
from .sensitivity_words import BENCHMARK_CAVEAT, _times, format_estimate, interpret  # noqa: F401

SENSITIVITY_COLUMNS = ["metric", "estimand", "scale", "estimate", "ci_low", "ci_high", "rr",
                       "rr_ci_low", "rr_ci_high", "evalue", "evalue_ci", "benchmark_kind",
                       "benchmark", "benchmark_rr_eu", "benchmark_rr_ud", "benchmark_bias",
                       "benchmark_k_null", "benchmark_estimate_without",
                       "benchmark_diff_without", "benchmark_shift",
                       "benchmark_k_shift", "largest_shift", "largest_shift_estimate_without",
                       "largest_shift_diff_without",
                       "largest_shift_factor", "crude_benchmark", "crude_benchmark_rr_eu",
                       "crude_benchmark_rr_ud", "crude_benchmark_bias", "interpretation",
                       "method"]


def sensitivity_table(effects: pd.DataFrame, out: pd.DataFrame, ps, *,
                      extra_outcomes: dict | None = None,
                      benchmarks: pd.DataFrame | None = None,
                      conditional: pd.DataFrame | bool | None = None) -> pd.DataFrame:
    """E-values of every effect-on-members row of ``effects`` that rests on no unmeasured
    confounding (the doubly robust ATT rows, the weighted NB rate ratio, the IPW Cox hazard
    ratio; not the DiD row, which rests on parallel trends instead), each beside the strongest
    measured covariate as a benchmark.

    The benchmark (``benchmark_*``, ``benchmark_kind = "conditional"``) is the covariate with the
    largest bias factor among the conditional, leave-one-covariate-out benchmarks of
    :func:`conditional_benchmarks` (``conditional``: that table, or ``None`` to compute it with
    the covariate matrix of ``ps``), with the shift of the estimate when it is dropped from the
    adjustment; ``largest_shift_*`` name the covariate whose omission moved the estimate most.
    ``conditional=False`` falls back to the crude benchmark only (``benchmark_kind = "crude"``).
    The crude benchmark of :func:`covariate_benchmarks` (``benchmarks``) is kept beside it
    (``crude_benchmark_*``).

    Scales: purchases and the purchase rate as rate ratios, retention and CSAT as risk ratios,
    the lapse hazard ratio converted for a rare or common outcome (lapse share among the
    analysed customers vs 15 %), spend, RMST, CLV and NPS as standardized mean differences.
    ``extra_outcomes``: per-customer values of metrics not in ``out`` (``{"clv": array}``)."""
    y_all = _outcome_columns(out, extra_outcomes)
    kept = ps.kept_
    t = kept & ps.treated_
    c = kept & ~ps.treated_
    wc = np.where(c, ps.weights(), 0.0)
    if benchmarks is None:
        benchmarks = covariate_benchmarks(out, ps, extra_outcomes=extra_outcomes)
    if conditional is None:
        conditional = conditional_benchmarks(out, ps, effects, extra_outcomes=extra_outcomes,
                                             crude=benchmarks)
    elif conditional is False:
        conditional = None
    rows = []
    for _, r in effects.iterrows():
        key = (r["metric"], r["estimand"])
        if key not in TARGETS:
            continue
        scale, col, words = TARGETS[key]
        ev = _row_evalue(r, scale, col, y_all, kept, t, c, wc)
        if ev is None:
            continue
        row = dict(metric=r["metric"], estimand=r["estimand"], **{
            k: v for k, v in ev.to_dict().items() if k != "method"})
        how = _benchmark_fields(row, r, ev, benchmarks, conditional)
        row["method"] = ev.method + how
        row["interpretation"] = interpret(row, words)
        rows.append(row)
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def _row_evalue(r, scale: str, col: str, y_all: dict, kept, t, c, wc) -> EValue | None:
    """The E-values of one effects row on its scale (``None`` when they cannot be formed: a
    level that is not positive, an outcome without variance); differences keep the metric's
    units as the estimate."""
    if scale == "risk ratio" or (scale == "rate ratio" and r["metric"] == "purchases"):
        if not (r["control"] > 0 and r["treatment"] >= 0):
            return None
        ev = evalues_rr(r["treatment"] / r["control"], 1 + r["rel_ci_low"],
                        1 + r["rel_ci_high"], scale=scale)
        ev.method += ("; ratio of the doubly robust means, log-scale delta-method interval"
                      if r["metric"] == "purchases" else "")
    elif scale == "rate ratio":
        ev = evalues_rr(1 + r["rel_lift"], 1 + r["rel_ci_low"], 1 + r["rel_ci_high"],
                        scale=scale)
    elif scale == "hazard ratio":
        share = float(np.nanmean(y_all["lapsed"][kept])) if "lapsed" in y_all else 1.0
        ev = evalues_hr(r["treatment"], 1 + r["ci_low"], 1 + r["ci_high"],
                        rare=share < RARE_THRESHOLD)
        ev.method += f"; lapse share {share:.0%} among the analysed customers"
    else:
        if col not in y_all:
            return None
        y = y_all[col]
        fin = np.isfinite(y)
        sd = _pooled_sd(y, t & fin, c & fin, wc)
        if not sd > 0:
            return None
        ev = evalues_md(r["abs_diff"] / sd, lo=r["ci_low"] / sd, hi=r["ci_high"] / sd)
        ev.method += (f"; d = difference ÷ pooled SD of members and weighted non-members "
                      f"({sd:.3g})")
    ev.estimate, ev.ci_low, ev.ci_high = ((float(r["abs_diff"]), float(r["ci_low"]),
                                           float(r["ci_high"]))
                                          if scale == "standardized mean difference" else
                                          (ev.estimate, ev.ci_low, ev.ci_high))
    return ev


def _benchmark_fields(row: dict, r, ev: EValue, benchmarks: pd.DataFrame, conditional) -> str:
    """Add the benchmark of one row to ``row`` (conditional when there is one, else crude;
    the crude one beside it) and return the method note that names it."""
    b = benchmarks.loc[(benchmarks["metric"] == r["metric"]) &
                       benchmarks["bias_factor"].notna()]
    crude_top = b.loc[b["bias_factor"].idxmax()] if len(b) else None
    row.update(crude_benchmark=None if crude_top is None else crude_top["label"],
               **{f"crude_benchmark_{k}": np.nan if crude_top is None else
                  float(crude_top[f]) for k, f in (("rr_eu", "rr_eu"), ("rr_ud", "rr_ud"),
                                                   ("bias", "bias_factor"))})
    cb = None if conditional is None else conditional.loc[
        (conditional["metric"] == r["metric"]) & (conditional["estimand"] == r["estimand"])]
    if cb is not None and cb["bias_factor"].notna().any():
        top = cb.loc[cb["bias_factor"].idxmax()]
        moved = cb.loc[cb["shift"].notna()]
        big = moved.loc[np.abs(np.log(moved["shift"])).idxmax()] if len(moved) else None
        row.update(benchmark_kind="conditional", benchmark=top["label"],
                   benchmark_rr_eu=float(top["rr_eu"]), benchmark_rr_ud=float(top["rr_ud"]),
                   benchmark_bias=float(top["bias_factor"]),
                   benchmark_k_null=float(top["k_null"]),
                   benchmark_estimate_without=float(top["estimate_without"]),
                   benchmark_diff_without=float(top.get("diff_without", np.nan)),
                   benchmark_shift=float(top["shift"]),
                   benchmark_k_shift=float(top["k_shift"]),
                   largest_shift=None if big is None else big["label"],
                   largest_shift_estimate_without=np.nan if big is None else
                   float(big["estimate_without"]),
                   largest_shift_diff_without=np.nan if big is None else
                   float(big.get("diff_without", np.nan)),
                   largest_shift_factor=np.nan if big is None else float(big["shift"]))
        how = ("; benchmark: the measured covariate with the largest bias factor given the "
               "other covariates (leave-one-covariate-out: association with joining from "
               "the refitted propensity model's weights, with the outcome from the doubly "
               "robust estimator's outcome model; Cinelli & Hazlett 2020 benchmarking, "
               "Ding & VanderWeele 2016 bias factor), and the estimate without it")
    else:
        row.update(benchmark_kind=None if crude_top is None else "crude",
                   benchmark=row["crude_benchmark"],
                   benchmark_rr_eu=row["crude_benchmark_rr_eu"],
                   benchmark_rr_ud=row["crude_benchmark_rr_ud"],
                   benchmark_bias=row["crude_benchmark_bias"],
                   benchmark_k_null=np.nan if crude_top is None else k_times(
                       crude_top["rr_eu"], crude_top["rr_ud"], ev.rr),
                   benchmark_estimate_without=np.nan, benchmark_diff_without=np.nan,
                   benchmark_shift=np.nan,
                   benchmark_k_shift=np.nan, largest_shift=None,
                   largest_shift_estimate_without=np.nan, largest_shift_diff_without=np.nan,
                   largest_shift_factor=np.nan)
        how = ("; benchmark: crude associations of the measured covariate with joining and "
               "with the outcome among non-members (Ding & VanderWeele 2016 bias factor)")
    return how
