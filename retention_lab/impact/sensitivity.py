"""Sensitivity of the effect on members to unmeasured confounding: E-values and benchmarks.

The self-selected design's effect on members rests on *no unmeasured confounding*: given the
pre-launch behaviour and customer attributes, joining is as good as random. This module says how
strong a confounder that the data do not contain would have to be to overturn an estimate.

E-values (VanderWeele & Ding 2017, *Ann. Intern. Med.* 167:268–274)
-------------------------------------------------------------------
For a risk ratio ``RR ≥ 1`` (``RR < 1``: use ``1/RR``) the E-value is

    ``E = RR + sqrt(RR · (RR − 1))``,

the minimum strength of association, on the risk-ratio scale, that an unmeasured confounder
would need with *both* the exposure (joining) and the outcome, conditional on the measured
covariates, to fully explain away the estimate. The E-value of the interval is that of the
confidence limit closest to the null, and 1 when the interval includes the null. It follows
from the bounding factor of Ding & VanderWeele (2016, *Epidemiology* 27:368–377): a confounder
with associations ``RR_EU`` (exposure–confounder: ``max_u P(u | E=1) / P(u | E=0)``) and
``RR_UD`` (confounder–outcome: ``max_{u,u'} E[Y | E=0, u] / E[Y | E=0, u']``; for the effect on
the treated only the untreated stratum matters) can shift a ratio
by at most ``B = RR_EU · RR_UD / (RR_EU + RR_UD − 1)``, and ``B ≥ RR`` needs
``max(RR_EU, RR_UD) ≥ E``. The bound uses only that the stratum means are non-negative, so it
applies to the ratio of mean counts (purchases) as to a risk ratio.

Other scales are first converted to an approximate risk ratio, as in the paper's Table 2 and the
R package EValue (``evalues.OR``, ``evalues.HR``, ``evalues.MD``):

* rate ratio: used as a risk ratio;
* odds ratio: ``OR`` if the outcome is rare (< 15 % at the end of follow-up), else ``sqrt(OR)``;
* hazard ratio: ``HR`` if rare, else ``(1 − 0.5^sqrt(HR)) / (1 − 0.5^sqrt(1/HR))``;
* difference in means of a continuous outcome: standardized ``d = difference / SD`` and
  ``RR ≈ exp(0.91 d)`` with the interval ``exp(0.91 d_low), exp(0.91 d_high)`` (VanderWeele
  2017, *Epidemiology* 28(4) e-appendix; EValue uses ``exp(0.91 d ± 1.78 se)``, the same at
  95 %). ``SD`` here is the pooled within-group SD of members and weighted non-members.

Benchmarks from the measured covariates
---------------------------------------
An E-value of 1.8 means little without a yardstick. For each measured covariate (numeric ones cut
into quartiles among the eligible, categorical ones by level) :func:`covariate_benchmarks`
computes, among the eligible customers kept by the propensity model, its association with
joining, ``RR_EU = max_u P(u | member) / P(u | non-member)`` (or of the reverse ratio, whichever
is larger, so that the bound covers a bias in either direction), and with the outcome among the
non-members, ``RR_UD = max_u mean(Y | u) / min_u mean(Y | u)`` on the metric's scale (risk or
mean ratio; ``exp(0.91 · range / SD)`` for continuous outcomes), and the bias factor ``B`` they
imply. These are *crude* associations — not conditional on the other covariates as the E-value's
are — so they describe how strong the measured confounders were before adjustment, not exactly
what an unmeasured one "like them" would add after it (Cinelli & Hazlett 2020, *JRSS-B* 82, warn
against reading informal benchmarks more precisely than that). The report names the covariate
with the largest ``B`` and says whether a confounder as strong as it could explain the estimate
away (``B ≥ RR``) or move its interval to the null (``B ≥`` the limit closest to the null).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .outcomes import COVARIATES, categorical_columns

#: how a rare outcome is told from a common one (VanderWeele & Ding 2017: 15 % at the end of
#: follow-up)
RARE_THRESHOLD = 0.15
#: 0.91 converts a standardized mean difference to a log risk ratio (VanderWeele 2017)
SMD_TO_LOG_RR = 0.91

SCALES = ("risk ratio", "rate ratio", "odds ratio", "hazard ratio", "standardized mean difference")

COVARIATE_LABELS = {"pre_orders": "pre-launch purchase frequency",
                    "pre_spend": "pre-launch spend", "tenure_days": "tenure at launch",
                    "recency_days": "days since the last pre-launch purchase",
                    "acquisition_channel": "acquisition channel", "region": "region",
                    "tier": "tier"}


@dataclass
class EValue:
    """An estimate on its own ``scale`` with its interval, the approximate risk ratio it maps to
    (``rr``, ``rr_ci``) and the E-values of the point estimate and of the interval."""

    scale: str
    estimate: float
    ci_low: float
    ci_high: float
    rr: float
    rr_ci_low: float
    rr_ci_high: float
    evalue: float
    evalue_ci: float
    method: str

    def to_dict(self) -> dict:
        return asdict(self)


def evalue(rr: float) -> float:
    """E-value of one risk ratio: ``RR + sqrt(RR (RR − 1))`` for ``RR ≥ 1``, of ``1/RR``
    below 1 (VanderWeele & Ding 2017, eq. in Table 1). NaN for a missing or non-positive RR."""
    rr = float(rr)
    if not np.isfinite(rr) or rr <= 0:
        return float("nan")
    if rr < 1:
        rr = 1.0 / rr
    return float(rr + np.sqrt(rr * (rr - 1.0)))


def bias_factor(rr_eu, rr_ud):
    """The largest factor by which a confounder with exposure association ``rr_eu`` and outcome
    association ``rr_ud`` (both ≥ 1) can shift a risk ratio: ``RR_EU RR_UD / (RR_EU + RR_UD − 1)``
    (Ding & VanderWeele 2016, *Epidemiology* 27:368, Result 1). Scalars or arrays."""
    a, b = np.asarray(rr_eu, float), np.asarray(rr_ud, float)
    out = a * b / (a + b - 1.0)
    return float(out) if out.ndim == 0 else out


def _evalues(scale, est, lo, hi, rr, rr_lo, rr_hi, method) -> EValue:
    if not (np.isfinite(rr) and rr > 0):
        return EValue(scale, est, lo, hi, rr, rr_lo, rr_hi, np.nan, np.nan, method)
    point = evalue(rr)
    if rr > 1:
        limit = rr_lo
        e_ci = 1.0 if not limit > 1 else evalue(limit)
    elif rr < 1:
        limit = rr_hi
        e_ci = 1.0 if not limit < 1 else evalue(limit)
    else:
        e_ci = 1.0
    if not np.isfinite(limit if rr != 1 else 1.0):
        e_ci = np.nan
    return EValue(scale, float(est), float(lo), float(hi), float(rr), float(rr_lo),
                  float(rr_hi), point, float(e_ci), method)


def evalues_rr(est: float, lo: float = np.nan, hi: float = np.nan, *,
               scale: str = "risk ratio") -> EValue:
    """E-values of a risk ratio (or a rate ratio, or a ratio of means of a non-negative outcome)
    and its interval: the E-value of the point estimate and of the limit closest to 1 (1 if the
    interval includes 1). As ``EValue::evalues.RR`` (VanderWeele & Ding 2017)."""
    _check_interval(est, lo, hi)
    return _evalues(scale, est, lo, hi, est, lo, hi,
                    f"E-value of the {scale} (VanderWeele & Ding 2017)")


def or_to_rr(odds_ratio, rare: bool):
    """Approximate risk ratio of an odds ratio: itself if the outcome is rare, else its square
    root (VanderWeele 2017, *Biometrics* 73; VanderWeele & Ding 2017, Table 2)."""
    x = np.asarray(odds_ratio, float)
    return x if rare else np.sqrt(x)


def hr_to_rr(hazard_ratio, rare: bool):
    """Approximate risk ratio of a hazard ratio: itself if the outcome is rare, else
    ``(1 − 0.5^sqrt(HR)) / (1 − 0.5^sqrt(1/HR))`` (VanderWeele 2020, *Epidemiology* 31;
    VanderWeele & Ding 2017, Table 2)."""
    x = np.asarray(hazard_ratio, float)
    return x if rare else (1 - 0.5 ** np.sqrt(x)) / (1 - 0.5 ** np.sqrt(1 / x))


def smd_to_rr(d):
    """Approximate risk ratio of a standardized mean difference: ``exp(0.91 d)``
    (VanderWeele 2017; Hasselblad & Hedges 1995)."""
    return np.exp(SMD_TO_LOG_RR * np.asarray(d, float))


def evalues_or(est: float, lo: float = np.nan, hi: float = np.nan, *, rare: bool) -> EValue:
    """E-values of an odds ratio through :func:`or_to_rr` (as ``EValue::evalues.OR``)."""
    _check_interval(est, lo, hi)
    rr, rlo, rhi = (float(or_to_rr(v, rare)) for v in (est, lo, hi))
    return _evalues("odds ratio", est, lo, hi, rr, rlo, rhi,
                    f"E-value of the odds ratio, {'rare' if rare else 'common'} outcome "
                    f"({'OR' if rare else 'sqrt(OR)'} as risk ratio; VanderWeele & Ding 2017)")


def evalues_hr(est: float, lo: float = np.nan, hi: float = np.nan, *, rare: bool) -> EValue:
    """E-values of a hazard ratio through :func:`hr_to_rr` (as ``EValue::evalues.HR``)."""
    _check_interval(est, lo, hi)
    rr, rlo, rhi = (float(hr_to_rr(v, rare)) for v in (est, lo, hi))
    how = "HR as risk ratio" if rare else "RR ≈ (1 − 0.5^√HR)/(1 − 0.5^√(1/HR))"
    return _evalues("hazard ratio", est, lo, hi, rr, rlo, rhi,
                    f"E-value of the hazard ratio, {'rare' if rare else 'common'} outcome ({how}; "
                    "VanderWeele & Ding 2017)")


def evalues_md(d: float, se: float | None = None, lo: float | None = None,
               hi: float | None = None, *, alpha: float = 0.05) -> EValue:
    """E-values of a standardized mean difference ``d`` (difference in means ÷ outcome SD)
    through ``RR ≈ exp(0.91 d)``. The interval is ``(lo, hi)`` on the ``d`` scale, or
    ``d ± z se`` when ``se`` is given (EValue::evalues.MD uses ``exp(0.91 d ± 1.78 se)``)."""
    from scipy import stats
    if se is not None:
        if se < 0:
            raise ValueError("standard error cannot be negative")
        z = stats.norm.ppf(1 - alpha / 2)
        lo, hi = d - z * se, d + z * se
    lo = np.nan if lo is None else lo
    hi = np.nan if hi is None else hi
    _check_interval(d, lo, hi)
    rr, rlo, rhi = (float(smd_to_rr(v)) for v in (d, lo, hi))
    return _evalues("standardized mean difference", d, lo, hi, rr, rlo, rhi,
                    "E-value of a standardized mean difference d through RR ≈ exp(0.91 d) "
                    "(VanderWeele 2017; VanderWeele & Ding 2017)")


def _check_interval(est, lo, hi):
    if np.isfinite(lo) and np.isfinite(hi) and lo > hi:
        raise ValueError(f"lower confidence limit {lo} exceeds the upper one {hi}")
    if (np.isfinite(lo) and est < lo) or (np.isfinite(hi) and est > hi):
        raise ValueError(f"point estimate {est} outside its interval [{lo}, {hi}]")


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
                       "rr_ci_low", "rr_ci_high", "evalue", "evalue_ci", "benchmark",
                       "benchmark_rr_eu", "benchmark_rr_ud", "benchmark_bias", "interpretation",
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
                      benchmarks: pd.DataFrame | None = None) -> pd.DataFrame:
    """E-values of every effect-on-members row of ``effects`` that rests on no unmeasured
    confounding (the doubly robust ATT rows, the weighted NB rate ratio, the IPW Cox hazard
    ratio; not the DiD row, which rests on parallel trends instead), each beside the strongest
    measured covariate of :func:`covariate_benchmarks`.

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
        b = benchmarks.loc[(benchmarks["metric"] == r["metric"]) &
                           benchmarks["bias_factor"].notna()]
        top = b.loc[b["bias_factor"].idxmax()] if len(b) else None
        row = dict(metric=r["metric"], estimand=r["estimand"], **{
            k: v for k, v in ev.to_dict().items() if k != "method"})
        row.update(benchmark=None if top is None else top["label"],
                   benchmark_rr_eu=np.nan if top is None else float(top["rr_eu"]),
                   benchmark_rr_ud=np.nan if top is None else float(top["rr_ud"]),
                   benchmark_bias=np.nan if top is None else float(top["bias_factor"]),
                   method=ev.method + "; benchmark: crude associations of the measured "
                                      "covariate with joining and with the outcome among "
                                      "non-members (Ding & VanderWeele 2016 bias factor)")
        row["interpretation"] = interpret(row, words)
        rows.append(row)
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def _far(rr: float) -> float:
    """A ratio on the side away from 1 (the bias factor is compared with it)."""
    return rr if rr >= 1 else 1.0 / rr


def interpret(row: dict, words: str) -> str:
    """One plain sentence (or three) about an E-value row and its benchmark."""
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
                f"measured covariates ({e_ci:.2f} to move the interval to include no effect).")
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
    return (f"{head} For comparison, the strongest measured covariate, {row['benchmark']}, is "
            f"associated with joining by {row['benchmark_rr_eu']:.2f} and with {words} by "
            f"{row['benchmark_rr_ud']:.2f} (crude); an unmeasured confounder as strong could shift "
            f"the ratio by a factor of at most {bias:.2f} — {verdict}.")
