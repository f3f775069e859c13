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

from ... import formatting as fmt
from .outcomes import COVARIATES, categorical_columns
from .evalues import (RARE_THRESHOLD, SCALES, SMD_TO_LOG_RR, EValue, _check_interval,  # noqa: F401
                      _evalues, bias_factor, evalue, evalues_hr, evalues_md, evalues_or,
                      evalues_rr, hr_to_rr, or_to_rr, smd_to_rr)


COVARIATE_LABELS = {"pre_orders": "pre-launch purchase frequency",
                    "pre_spend": "pre-launch spend", "tenure_days": "tenure at launch",
                    "recency_days": "days since the last pre-launch purchase",
                    "acquisition_channel": "acquisition channel", "region": "region",
                    "tier": "tier"}


# --- the report's sensitivity table ---------------------------------------------------------

#: (metric, estimand) → (scale, per-customer outcome column, outcome words)
TARGETS = {
    ("purchases", "effect on members"): ("rate ratio", "orders", "purchases"),
    ("purchase rate", "effect on members (rate ratio)"): ("rate ratio", "orders",
                                                          "purchase frequency"),
    ("spend", "effect on members"): ("standardized mean difference", "spend", "spend"),
    ("retention", "effect on members"): ("risk ratio", "retained", "retention"),
    ("rmst", "effect on members"): ("standardized mean difference", "rmst_days",
                                    "active days"),
    ("lapse hazard ratio", "effect on members (IPW Cox)"): ("hazard ratio", "lapsed", "lapsing"),
    ("clv", "effect on members"): ("standardized mean difference", "clv", "CLV"),
    ("nps", "effect on members"): ("standardized mean difference", "nps_score", "NPS"),
    ("csat", "effect on members"): ("risk ratio", "csat_score", "satisfaction (CSAT 4–5)"),
}

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


def _groups(out: pd.DataFrame, mask: np.ndarray, min_size: int = 30) -> dict:
    """Covariate name → (n,) integer level codes (−1 outside ``mask`` or in a level with fewer
    than ``min_size`` customers): numeric covariates in quartiles among ``mask``."""
    res = {}
    for c in [c for c in COVARIATES if c in out.columns] + categorical_columns(out):
        s = out[c]
        codes = np.full(len(out), -1)
        if c in COVARIATES:
            q = pd.qcut(s[mask].astype(float), 4, labels=False, duplicates="drop")
            codes[mask] = np.nan_to_num(q.to_numpy(float), nan=-1).astype(int)
        else:
            codes[mask] = pd.factorize(s[mask].astype("string").fillna("missing"))[0]
        for k in np.unique(codes[codes >= 0]):
            if (codes == k).sum() < min_size:
                codes[codes == k] = -1
        if len(np.unique(codes[codes >= 0])) > 1:
            res[c] = codes
    return res


def confounder_strength(levels, treated, y, *, scale: str = "risk ratio", sd: float | None = None,
                        weights=None, min_size: int = 30) -> tuple[float, float]:
    """``(RR_EU, RR_UD)`` of a categorical variable (integer codes ``levels``, −1 = ignore):
    ``RR_EU = max_u P(u | treated) / P(u | untreated)``, ``RR_UD = max_u m_u / min_u m_u`` with
    ``m_u`` the mean of ``y`` among the untreated at level ``u`` (ratio scales), or
    ``exp(0.91 (max_u m_u − min_u m_u) / sd)`` for a standardized mean difference. ``weights``
    (e.g. ATT weights of a propensity model that did not see the variable) weight the
    untreated, which makes both associations conditional on what that model balanced."""
    levels = np.asarray(levels)
    t = np.asarray(treated, bool)
    y = np.asarray(y, float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, float)
    ok = (levels >= 0) & np.isfinite(y) & (w > 0)
    lv = [k for k in np.unique(levels[ok])
          if (ok & t & (levels == k)).sum() >= min_size and (ok & ~t & (levels == k)).sum() >= min_size]
    if len(lv) < 2:
        return np.nan, np.nan
    keep = ok & np.isin(levels, lv)
    wt, wc = keep & t, np.where(keep & ~t, w, 0.0)
    if wt.sum() == 0 or wc.sum() <= 0:   # nothing to compare (e.g. all weights zero)
        return np.nan, np.nan
    y = np.where(keep, y, 0.0)  # outside: weight 0, value unused (may be NaN)
    p1 = np.array([(wt & (levels == k)).sum() for k in lv], float) / wt.sum()
    p0 = np.array([wc[levels == k].sum() for k in lv]) / wc.sum()
    m = np.array([np.average(y[levels == k], weights=wc[levels == k]) for k in lv])
    rr_eu = float(np.max(np.maximum(p1 / p0, p0 / p1)))  # max over both codings of u
    if scale == "standardized mean difference":
        rr_ud = float(smd_to_rr((m.max() - m.min()) / sd)) if sd and sd > 0 else np.nan
    else:
        rr_ud = float(m.max() / m.min()) if m.min() > 0 else np.inf
    return rr_eu, rr_ud


def _pooled_sd(y, t, c, wc) -> float:
    if t.sum() < 2 or not np.sum(wc[c]) > 0:
        return float("nan")
    v_t = np.var(y[t], ddof=1) if t.sum() > 1 else np.nan
    v_c = np.average((y[c] - np.average(y[c], weights=wc[c])) ** 2, weights=wc[c])
    return float(np.sqrt((v_t + v_c) / 2))


def covariate_benchmarks(out: pd.DataFrame, ps, metrics=None, extra_outcomes: dict | None = None
                         ) -> pd.DataFrame:
    """Crude strength of every measured covariate as a confounder of each metric's effect on
    members: ``covariate, label, metric, scale, rr_eu, rr_ud, bias_factor`` (see the module
    docstring), among the eligible customers kept by the propensity model ``ps``."""
    y_all = _outcome_columns(out, extra_outcomes)
    kept = ps.kept_
    t = kept & ps.treated_
    c = kept & ~ps.treated_
    wc = np.where(c, ps.weights(), 0.0)
    groups = _groups(out, kept)
    rows = []
    for (metric, est), (scale, col, _) in TARGETS.items():
        if (metrics is not None and metric not in metrics) or col not in y_all:
            continue
        y = y_all[col]
        fin = np.isfinite(y)
        sd = _pooled_sd(y, t & fin, c & fin, wc) if scale == "standardized mean difference" \
            else None
        for cov, codes in groups.items():
            rr_eu, rr_ud = confounder_strength(codes, ps.treated_, np.where(kept, y, np.nan),
                                               scale=scale, sd=sd)
            rows.append(dict(covariate=cov, label=COVARIATE_LABELS.get(cov, cov), metric=metric,
                             estimand=est, scale=scale, rr_eu=rr_eu, rr_ud=rr_ud,
                             bias_factor=bias_factor(rr_eu, rr_ud) if np.isfinite(rr_eu) and
                             np.isfinite(rr_ud) else np.nan))
    return pd.DataFrame(rows, columns=["covariate", "label", "metric", "estimand", "scale",
                                       "rr_eu", "rr_ud", "bias_factor"])


def _outcome_columns(out: pd.DataFrame, extra: dict | None) -> dict:
    y = {c: out[c].to_numpy(float) for c in ("orders", "spend", "retained", "rmst_days",
                                              "nps_score", "csat_score") if c in out.columns}
    if "retained" in y:
        y["lapsed"] = 1.0 - y["retained"]
    for k, v in (extra or {}).items():
        y[k] = np.asarray(v, float)
    return y


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
        if scale == "risk ratio" or (scale == "rate ratio" and r["metric"] == "purchases"):
            if not (r["control"] > 0 and r["treatment"] >= 0):
                continue
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
                continue
            y = y_all[col]
            fin = np.isfinite(y)
            sd = _pooled_sd(y, t & fin, c & fin, wc)
            if not sd > 0:
                continue
            ev = evalues_md(r["abs_diff"] / sd, lo=r["ci_low"] / sd, hi=r["ci_high"] / sd)
            ev.method += (f"; d = difference ÷ pooled SD of members and weighted non-members "
                          f"({sd:.3g})")
        ev.estimate, ev.ci_low, ev.ci_high = ((float(r["abs_diff"]), float(r["ci_low"]),
                                               float(r["ci_high"]))
                                              if scale == "standardized mean difference" else
                                              (ev.estimate, ev.ci_low, ev.ci_high))
        row = dict(metric=r["metric"], estimand=r["estimand"], **{
            k: v for k, v in ev.to_dict().items() if k != "method"})
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
        row["method"] = ev.method + how
        row["interpretation"] = interpret(row, words)
        rows.append(row)
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def _far(rr: float) -> float:
    """A ratio on the side away from 1 (the bias factor is compared with it)."""
    return rr if rr >= 1 else 1.0 / rr


def format_estimate(scale: str, est: float) -> str:
    """An estimate as the sentences quote it: ratios as a relative change (``+11.9 %``), hazard
    ratios as such, differences in the metric's units."""
    if fmt.is_missing(est):
        return fmt.MISSING
    if scale == "hazard ratio":
        return f"a hazard ratio of {fmt.ratio(est)}"
    if scale == "standardized mean difference":
        return fmt.number(est, signed=True)
    return fmt.lift(est - 1)


def _times(k: float) -> str:
    if not np.isfinite(k):
        return "no amount of such a confounder would do it"
    if k > 100:
        return "more than 100 times as strong"
    return f"{k:.2f} times as strong" if k < 2 else f"{k:.1f} times as strong" if k < 10 \
        else f"{k:.0f} times as strong"


BENCHMARK_CAVEAT = ("Benchmarks inform judgement; they cannot show that no stronger confounder "
                    "is missing.")


def interpret(row: dict, words: str) -> str:
    """Plain sentences about an E-value row and its benchmark."""
    e, e_ci, rr = row["evalue"], row["evalue_ci"], row["rr"]
    if not np.isfinite(e):
        return "E-value not computed (no positive ratio)."
    if e_ci == 1.0:
        head = (f"The interval already includes no effect, so no confounding is needed to "
                f"explain it; for the point estimate an unmeasured confounder would need a "
                f"risk-ratio association of {e:.2f} with both joining and {words}, beyond the "
                "measured covariates.")
    else:
        head = (f"To explain the estimate away, an unmeasured confounder would need a risk-ratio "
                f"association of at least {e:.2f} with both joining and {words}, beyond the "
                f"measured covariates ({fmt.ratio(e_ci)} to move the interval to include no effect).")
    if not row.get("benchmark") or not np.isfinite(row.get("benchmark_bias", np.nan)):
        return head
    bias = row["benchmark_bias"]
    limit = row["rr_ci_low"] if rr > 1 else row["rr_ci_high"]
    if bias >= _far(rr):
        verdict = "enough, in the worst case, to explain the estimate away"
    elif e_ci > 1 and np.isfinite(limit) and bias >= _far(limit):
        verdict = "not enough to explain the estimate away, but enough, in the worst case, to " \
                  "move its interval to include no effect"
    else:
        verdict = "not enough to explain it away" + ("" if e_ci == 1.0 else
                                                     " or to move its interval to the null")
    conditional = row.get("benchmark_kind") == "conditional"
    k = row.get("benchmark_k_null", np.nan)
    need = (f" (it would take one {_times(k)}, on the log risk-ratio scale)"
            if bias < _far(rr) and np.isfinite(k) else "")
    text = (f"{head} For comparison, the strongest measured covariate, {row['benchmark']}, is "
            f"associated with joining by {row['benchmark_rr_eu']:.2f} and with {words} by "
            f"{row['benchmark_rr_ud']:.2f} "
            f"({'given the other covariates' if conditional else 'crude'}); an unmeasured confounder as strong could shift the ratio by a factor of at most "
            f"{bias:.2f} — {verdict}{need}.")
    if not conditional:
        return text
    scale = row["scale"]
    if np.isfinite(row.get("benchmark_shift", np.nan)):
        text += (f" Leaving {row['benchmark']} out of the adjustment moves the estimate from "
                 f"{format_estimate(scale, row['estimate'])} to "
                 f"{format_estimate(scale, row['benchmark_estimate_without'])}")
        ks = row["benchmark_k_shift"]
        text += (f"; {ks:.1f} such shifts towards no effect would reach it." if np.isfinite(ks)
                 and ks <= 100 else ".")
        if row.get("largest_shift") and row["largest_shift"] != row["benchmark"]:
            text += (f" The largest move comes from leaving out {row['largest_shift']} (to "
                     f"{format_estimate(scale, row['largest_shift_estimate_without'])}).")
    if np.isfinite(row.get("crude_benchmark_bias", np.nan)):
        text += (f" Crude associations, which ignore the other covariates, would point to "
                 f"{row['crude_benchmark']} ({row['crude_benchmark_rr_eu']:.2f} and "
                 f"{row['crude_benchmark_rr_ud']:.2f}, bias factor "
                 f"{row['crude_benchmark_bias']:.2f}); they include what the measured covariates "
                 "already adjust for, so they do not measure a confounder beyond them.")
    return f"{text} {BENCHMARK_CAVEAT}"


# --- conditional (leave-one-covariate-out) benchmarks ----------------------------------------

CONDITIONAL_COLUMNS = ["covariate", "label", "metric", "estimand", "scale", "rr_eu", "rr_ud",
                       "bias_factor", "k_null", "k_null_ci", "estimate", "estimate_without",
                       "diff_without",
                       "rr", "rr_without", "shift", "k_shift", "crude_rr_eu", "crude_rr_ud",
                       "crude_bias_factor"]


def covariate_groups(columns, out: pd.DataFrame) -> dict:
    """Measured covariate → its columns in a covariate matrix (``pre_orders`` with
    ``log_pre_orders``; a categorical column with all its dummies)."""
    cols = list(columns)
    res = {}
    for c in COVARIATES:
        g = [x for x in cols if x in (c, f"log_{c}")]
        if g:
            res[c] = g
    taken = {x for g in res.values() for x in g}
    for c in categorical_columns(out):
        g = [x for x in cols if x.startswith(f"{c}_") and x not in taken]
        if g:
            res[c] = g
            taken.update(g)
    return res


def member_effects(out: pd.DataFrame, ps, *, extra_outcomes: dict | None = None,
                   alpha: float = 0.05) -> pd.DataFrame:
    """Point estimates of the effects on members that rest on no unmeasured confounding, with the
    calls and arguments of :func:`retention_lab.impact.analyze` (self-selected design) for a
    given propensity model ``ps``: the doubly robust ATT of the core metrics, NPS/CSAT among the
    surveyed, CLV (``extra_outcomes["clv"]``) and the ATT-weighted negative-binomial rate ratio.
    The IPW Cox hazard ratio is not refitted (too slow to repeat per covariate)."""
    from .frequency import nb_rate_ratio
    from ..randomized.estimators import CORE
    from .propensity import att_effects
    D = ps.treated_
    rows = [att_effects(out, ps, CORE, alpha=alpha)]
    rows.append(pd.DataFrame([nb_rate_ratio(out["orders"], out["exposure_days"], D, ps.weights(),
                                            alpha=alpha,
                                            estimand="effect on members (rate ratio)")]))
    for metric, col in (("nps", "nps_score"), ("csat", "csat_score")):
        if col not in out.columns:
            continue
        sub = out[col].notna().to_numpy()
        if (sub & ps.kept_ & D).sum() > 10 and (sub & ps.kept_ & ~D).sum() > 10:
            rows.append(att_effects(out, ps, (metric,), alpha=alpha, subset=sub))
    if extra_outcomes and "clv" in extra_outcomes:
        rows.append(att_effects(out.assign(clv=np.asarray(extra_outcomes["clv"], float)), ps,
                                ("clv",), alpha=alpha))
    return pd.concat(rows, ignore_index=True)


def _row_ratio(r, scale: str, sd: float | None = None, rare: bool = False) -> tuple:
    """``(estimate on its own scale, approximate risk ratio)`` of one effects row, as
    :func:`sensitivity_table` reads it."""
    if scale == "risk ratio" or (scale == "rate ratio" and r["metric"] == "purchases"):
        est = r["treatment"] / r["control"] if r["control"] > 0 else np.nan
        return est, est
    if scale == "rate ratio":
        return 1 + r["rel_lift"], 1 + r["rel_lift"]
    if scale == "hazard ratio":
        return r["treatment"], float(hr_to_rr(r["treatment"], rare))
    return r["abs_diff"], float(smd_to_rr(r["abs_diff"] / sd)) if sd and sd > 0 else np.nan


def k_times(rr_eu: float, rr_ud: float, target: float) -> float:
    """Smallest ``k`` for which a confounder ``k`` times as strong as a benchmark on the log
    scale — associations ``rr_eu**k`` and ``rr_ud**k`` — has a bias factor of at least
    ``target`` (a ratio on either side of 1): ``inf`` if the benchmark has no association, NaN
    if unknown."""
    target = _far(target) if np.isfinite(target) and target > 0 else np.nan
    if not (np.isfinite(rr_eu) and np.isfinite(rr_ud) and np.isfinite(target)):
        return np.nan
    if target <= 1:
        return 0.0
    a, b = np.log(max(rr_eu, 1.0)), np.log(max(rr_ud, 1.0))
    if a <= 0 or b <= 0:
        return np.inf
    from scipy.optimize import brentq

    def f(k):
        ea, eb = np.exp(k * a), np.exp(k * b)
        return np.log(ea) + np.log(eb) - np.log(ea + eb - 1) - np.log(target)
    hi = 1.0
    while f(hi) < 0:
        hi *= 2
        if hi > 1e6:
            return np.inf
    return float(brentq(f, 0.0, hi, xtol=1e-10))


def conditional_benchmarks(out: pd.DataFrame, ps, effects: pd.DataFrame, X: pd.DataFrame = None,
                           *, refit=None, extra_outcomes: dict | None = None,
                           crude: pd.DataFrame | None = None, alpha: float = 0.05
                           ) -> pd.DataFrame:
    """Leave-one-covariate-out benchmarks: for each measured covariate (a categorical one with
    all its dummies) and each effect on members of ``effects`` (the rows of :data:`TARGETS`),
    its strength as a confounder *given the other measured covariates* — the scale of the
    E-value — and how much leaving it out of the adjustment moves the estimate.

    Following the benchmarking logic of Cinelli & Hazlett (2020, *JRSS-B* 82:39–67), the
    measured covariates serve as yardsticks for an unmeasured one, with every association taken
    conditional on the other covariates; the associations are expressed on the risk-ratio scale
    of the E-value and the Ding–VanderWeele bias factor (VanderWeele & Ding 2017) instead of the
    partial R² of their linear-model bounds. With ``X`` the covariate matrix of the propensity
    model ``ps`` and ``ps_-j`` the propensity model refitted without covariate ``j``:

    * ``rr_eu`` — association with joining: ``max_u P(u | member) / P_w(u | non-member)`` (or
      the reverse ratio) over the levels ``u`` of ``j`` (quartiles of a numeric covariate among
      the analysed customers, levels of a categorical one), non-members weighted by the ATT
      weights of ``ps_-j``. Those weights balance the *other* covariates, so what remains is
      the prevalence ratio of ``u`` given them — the ``RR_EU`` of Ding & VanderWeele (2016),
      averaged over the members' covariate distribution (quartiles cut among all eligible
      customers, each model's own trimmed customers left out).
    * ``rr_ud`` — association with the outcome among non-members: from the weighted
      least-squares outcome model of the doubly robust estimator (all covariates, fitted on the
      ATT-weighted non-members), the members' mean predicted outcome with ``j``'s columns set
      to their mean in level ``u`` and the other covariates at their observed values; ``rr_ud``
      is the largest over the smallest of these means (risk or mean ratio), or
      ``exp(0.91 · range / SD)`` for outcomes on the standardized-mean-difference scale (the
      same pooled SD as the E-value). For the NB rate ratio the purchases model is used, for the
      hazard ratio a model of lapsing.
    * ``bias_factor`` — ``B(rr_eu, rr_ud)``: the largest shift of the ratio an unmeasured
      confounder as strong as ``j`` could cause, beyond the measured covariates;
      ``k_null`` (``k_null_ci``) — how many times as strong on the log scale
      (``rr_eu**k``, ``rr_ud**k``) an unmeasured confounder would have to be to reach the
      estimate's risk ratio (the confidence limit closest to the null), see :func:`k_times`.
    * ``estimate_without``, ``rr_without``, ``diff_without`` (the difference in the metric's
      units) — the estimate with ``j`` dropped from the adjustment
      (propensity and outcome model alike: the same estimator, ``refit(ps_-j)``), and ``shift``
      ``= rr_without / rr``, the omitted-variable benchmark: what leaving out this measured
      confounder did. ``k_shift = |log rr| / |log shift|`` is how many such shifts, towards no
      effect, it would take to reach it.
    * ``crude_*`` — the crude associations of :func:`covariate_benchmarks`, for comparison.

    ``refit(ps) -> effects`` re-estimates the effects (default :func:`member_effects`);
    ``rr`` and ``shift`` are both taken from it, so the shift is exactly the difference between
    two runs of one estimator. Rows it does not re-estimate (the IPW Cox hazard ratio) get NaN
    shifts.

    These are benchmarks, not bounds on the actual bias: they say how an unmeasured confounder
    as strong as a measured one would matter; they cannot show that none stronger exists, and
    dropping a covariate also changes how the remaining ones adjust (Cinelli & Hazlett 2020,
    §6), so ``shift`` is a reading aid rather than an estimate of omitted-variable bias."""
    from .outcomes import covariate_matrix
    from .propensity import fit_propensity
    if X is None:  # the columns the propensity model was fitted on
        X = covariate_matrix(out)
        X = X[[x for x in ps.X_.columns if x != "const"]]
    refit = refit or (lambda p: member_effects(out, p, extra_outcomes=extra_outcomes,
                                               alpha=alpha))
    y_all = _outcome_columns(out, extra_outcomes)
    kept = ps.kept_
    t, c = kept & ps.treated_, kept & ~ps.treated_
    wc = np.where(c, ps.weights(), 0.0)
    # levels among all eligible customers: the refitted models trim different customers
    codes = _groups(out, ps.eligible_)
    cols_of = {g: cs for g, cs in covariate_groups(X.columns, out).items() if g in codes}
    # the outcome model's design: the standardized columns of the propensity model
    n = len(out)
    Z = pd.DataFrame(0.0, index=range(n), columns=ps.X_.columns)
    Z.iloc[np.flatnonzero(ps.eligible_)] = ps.X_.to_numpy(float)
    Zt = Z.to_numpy(float)

    def key(df):
        return {(r["metric"], r["estimand"]): r for _, r in df.iterrows()}
    rows_full = key(effects)
    base = key(refit(ps))
    lapse_share = float(np.nanmean(y_all["lapsed"][kept])) if "lapsed" in y_all else 1.0
    targets = []
    for k, (scale, col, _) in TARGETS.items():
        if k not in rows_full or col not in y_all:
            continue
        y = y_all[col]
        fin = np.isfinite(y)
        sd = _pooled_sd(y, t & fin, c & fin, wc) if scale == "standardized mean difference" \
            else None
        est, rr = _row_ratio(rows_full[k], scale, sd, lapse_share < RARE_THRESHOLD)
        r0 = base.get(k)
        rr_ref = _row_ratio(r0, scale, sd, lapse_share < RARE_THRESHOLD)[1] if r0 is not None \
            else np.nan
        lim = _interval_limit(rows_full[k], scale, sd, rr, lapse_share < RARE_THRESHOLD)
        # weighted least squares of y on the covariates among the weighted non-members (as the
        # doubly robust estimator's outcome model; NaN outcomes, e.g. unsurveyed, left out)
        m = c & fin & (wc > 0)
        A = Zt[m] * np.sqrt(wc[m])[:, None]
        coef = np.linalg.lstsq(A, y[m] * np.sqrt(wc[m]), rcond=None)[0]
        targets.append((k, scale, sd, est, rr, rr_ref, lim, coef, t & fin))
    rows = []
    crude_ix = crude.set_index(["covariate", "metric"]) if crude is not None and len(crude) \
        else None
    for g, gcols in cols_of.items():
        ps_g = fit_propensity(out, X.drop(columns=gcols), trim=ps.trim)
        lv = np.where(ps_g.kept_, codes[g], -1)
        w_g = np.where(ps_g.treated_, 1.0, ps_g.weights())
        rr_eu = confounder_strength(lv, ps_g.treated_, np.ones(n), weights=w_g)[0]
        refit_g = key(refit(ps_g))
        zcols = [x for x in gcols if x in ps.X_.columns]
        j = [ps.X_.columns.get_loc(x) for x in zcols]
        levels = [u for u in np.unique(codes[g]) if u >= 0]
        for k, scale, sd, est, rr, rr_ref, lim, coef, tm in targets:
            # members' mean prediction with j's columns at each level's mean: linear model,
            # so this equals the average over the level's own values
            base_pred = Zt[tm] @ coef
            zj_t = Zt[tm][:, j].mean(axis=0)
            means = np.array([base_pred.mean() + (Zt[kept & (codes[g] == u)][:, j].mean(axis=0)
                                                  - zj_t)
                              @ coef[j] for u in levels]) if j else np.array([np.nan])
            if scale == "standardized mean difference":
                rr_ud = float(smd_to_rr((means.max() - means.min()) / sd)) if sd else np.nan
            else:
                rr_ud = float(means.max() / means.min()) if means.min() > 0 else np.inf
            B = bias_factor(rr_eu, rr_ud) if np.isfinite(rr_eu) and np.isfinite(rr_ud) \
                else np.nan
            rg = refit_g.get(k)
            est_wo, rr_wo = (_row_ratio(rg, scale, sd, lapse_share < RARE_THRESHOLD)
                             if rg is not None else (np.nan, np.nan))
            shift = rr_wo / rr_ref if np.isfinite(rr_ref) and rr_ref > 0 else np.nan
            k_shift = abs(np.log(rr)) / abs(np.log(shift)) if np.isfinite(shift) and \
                shift != 1 and rr > 0 else (np.inf if shift == 1 else np.nan)
            cr = crude_ix.loc[(g, k[0])] if crude_ix is not None and (g, k[0]) in crude_ix.index \
                else None
            rows.append(dict(covariate=g, label=COVARIATE_LABELS.get(g, g), metric=k[0],
                             estimand=k[1], scale=scale, rr_eu=rr_eu, rr_ud=rr_ud,
                             bias_factor=B, k_null=k_times(rr_eu, rr_ud, rr),
                             k_null_ci=k_times(rr_eu, rr_ud, lim),
                             estimate=est, estimate_without=est_wo,
                             diff_without=np.nan if rg is None else float(rg["abs_diff"]),
                             rr=rr, rr_without=rr_wo,
                             shift=shift, k_shift=k_shift,
                             crude_rr_eu=np.nan if cr is None else float(cr["rr_eu"]),
                             crude_rr_ud=np.nan if cr is None else float(cr["rr_ud"]),
                             crude_bias_factor=np.nan if cr is None else float(cr["bias_factor"])))
    return pd.DataFrame(rows, columns=CONDITIONAL_COLUMNS)


def _interval_limit(r, scale: str, sd, rr: float, rare: bool = False) -> float:
    """The confidence limit closest to the null as a risk ratio (1 if the interval includes
    the null), as :func:`sensitivity_table` converts it."""
    if scale == "standardized mean difference":
        lo, hi = (float(smd_to_rr(r["ci_low"] / sd)), float(smd_to_rr(r["ci_high"] / sd))) \
            if sd and sd > 0 else (np.nan, np.nan)
    elif scale == "hazard ratio":
        lo, hi = (float(hr_to_rr(1 + r[x], rare)) for x in ("ci_low", "ci_high"))
    else:
        lo, hi = 1 + r["rel_ci_low"], 1 + r["rel_ci_high"]
    lim = lo if rr > 1 else hi
    if not np.isfinite(lim):
        return np.nan
    return lim if (lim - 1) * (rr - 1) > 0 else 1.0
