"""Measured covariates as benchmarks for an unmeasured confounder (Cinelli & Hazlett 2020,
*JRSS-B* 82:39–67, carried over to the risk-ratio scale of the E-value): the crude strength of
each covariate (:func:`covariate_benchmarks`) and its strength given the other covariates with
the shift of the estimate when it is left out (:func:`conditional_benchmarks`, the report's
benchmark); :func:`k_times`, how many times as strong an unmeasured confounder must be. The
method and its caveats: :mod:`.sensitivity`."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from .balance import CORE
from .evalues import RARE_THRESHOLD, bias_factor, hr_to_rr, smd_to_rr
from .frequency import nb_rate_ratio
from .outcomes import COVARIATES, categorical_columns, covariate_matrix
from .propensity import att_effects, fit_propensity

#: display labels of the measured covariates (the benchmarks' names)
COVARIATE_LABELS = {"pre_orders": "pre-launch purchase frequency",
                    "pre_spend": "pre-launch spend", "tenure_days": "tenure at launch",
                    "recency_days": "days since the last pre-launch purchase",
                    "acquisition_channel": "acquisition channel", "region": "region",
                    "tier": "tier"}


# --- the effects the sensitivity analysis covers ---------------------------------------------

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


def _far(rr: float) -> float:
    """A ratio on the side away from 1 (the bias factor is compared with it)."""
    return rr if rr >= 1 else 1.0 / rr


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
    lapse_share = float(np.nanmean(y_all["lapsed"][kept])) if "lapsed" in y_all else 1.0
    rare = lapse_share < RARE_THRESHOLD
    targets = _targets(_by_key(effects), _by_key(refit(ps)), y_all, t, c, wc, Zt, rare)
    rows = []
    crude_ix = crude.set_index(["covariate", "metric"]) if crude is not None and len(crude) \
        else None
    for g, gcols in cols_of.items():
        ps_g = fit_propensity(out, X.drop(columns=gcols), trim=ps.trim)
        lv = np.where(ps_g.kept_, codes[g], -1)
        w_g = np.where(ps_g.treated_, 1.0, ps_g.weights())
        rr_eu = confounder_strength(lv, ps_g.treated_, np.ones(n), weights=w_g)[0]
        refit_g = _by_key(refit(ps_g))
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
            cr = crude_ix.loc[(g, k[0])] if crude_ix is not None and (g, k[0]) in crude_ix.index \
                else None
            rows.append(_conditional_row(g, k, scale, sd, est, rr, rr_ref, lim, rr_eu, rr_ud,
                                         refit_g.get(k), cr, rare))
    return pd.DataFrame(rows, columns=CONDITIONAL_COLUMNS)


def _by_key(df: pd.DataFrame) -> dict:
    """Effects rows by (metric id, estimand id)."""
    return {(r["metric"], r["estimand"]): r for _, r in df.iterrows()}


def _targets(rows_full: dict, base: dict, y_all: dict, t, c, wc, Zt, rare: bool) -> list:
    """Per effect of :data:`TARGETS`: its scale, pooled SD, estimate and risk ratio, the
    refitted estimator's risk ratio, the interval limit nearest the null, and the coefficients
    of the weighted least-squares outcome model among the weighted non-members (as the doubly
    robust estimator's; NaN outcomes, e.g. unsurveyed, left out)."""
    targets = []
    for k, (scale, col, _) in TARGETS.items():
        if k not in rows_full or col not in y_all:
            continue
        y = y_all[col]
        fin = np.isfinite(y)
        sd = _pooled_sd(y, t & fin, c & fin, wc) if scale == "standardized mean difference" \
            else None
        est, rr = _row_ratio(rows_full[k], scale, sd, rare)
        r0 = base.get(k)
        rr_ref = _row_ratio(r0, scale, sd, rare)[1] if r0 is not None else np.nan
        lim = _interval_limit(rows_full[k], scale, sd, rr, rare)
        # weighted least squares of y on the covariates among the weighted non-members (as the
        # doubly robust estimator's outcome model; NaN outcomes, e.g. unsurveyed, left out)
        m = c & fin & (wc > 0)
        A = Zt[m] * np.sqrt(wc[m])[:, None]
        coef = np.linalg.lstsq(A, y[m] * np.sqrt(wc[m]), rcond=None)[0]
        targets.append((k, scale, sd, est, rr, rr_ref, lim, coef, t & fin))
    return targets


def _conditional_row(g, k, scale, sd, est, rr, rr_ref, lim, rr_eu, rr_ud, rg, cr,
                     rare: bool) -> dict:
    """One row of :func:`conditional_benchmarks`: covariate ``g``'s strength for effect ``k``,
    and the estimate without it (``rg``, the refitted row) beside the crude benchmark ``cr``."""
    B = bias_factor(rr_eu, rr_ud) if np.isfinite(rr_eu) and np.isfinite(rr_ud) else np.nan
    est_wo, rr_wo = _row_ratio(rg, scale, sd, rare) if rg is not None else (np.nan, np.nan)
    shift = rr_wo / rr_ref if np.isfinite(rr_ref) and rr_ref > 0 else np.nan
    k_shift = abs(np.log(rr)) / abs(np.log(shift)) if np.isfinite(shift) and \
        shift != 1 and rr > 0 else (np.inf if shift == 1 else np.nan)
    return dict(covariate=g, label=COVARIATE_LABELS.get(g, g), metric=k[0],
                estimand=k[1], scale=scale, rr_eu=rr_eu, rr_ud=rr_ud,
                bias_factor=B, k_null=k_times(rr_eu, rr_ud, rr),
                k_null_ci=k_times(rr_eu, rr_ud, lim),
                estimate=est, estimate_without=est_wo,
                diff_without=np.nan if rg is None else float(rg["abs_diff"]),
                rr=rr, rr_without=rr_wo,
                shift=shift, k_shift=k_shift,
                crude_rr_eu=np.nan if cr is None else float(cr["rr_eu"]),
                crude_rr_ud=np.nan if cr is None else float(cr["rr_ud"]),
                crude_bias_factor=np.nan if cr is None else float(cr["bias_factor"]))


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
