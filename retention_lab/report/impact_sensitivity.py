"""The sensitivity paragraph of an impact report: the E-values of the effects on members beside
the strongest measured covariate (VanderWeele & Ding 2017; Cinelli & Hazlett 2020), and the
fragility sentence of a suggestive verdict — functions of an
:class:`~retention_lab.impact.result.ImpactResult`."""
from __future__ import annotations

import numpy as np

from .. import formatting as fmt, ids
from ..impact.core.sensitivity import BENCHMARK_CAVEAT
from .impact_format import PRIMARY, _currency, _join, estimate_text
from .tables import kind_of_metric


def fragility_sentence(res) -> str:
    """One sentence: how strong an unmeasured difference between members and non-members
    would have to be to explain the headline away, against the strongest measured covariate
    (``verdict["robustness"]``)."""
    rob = res.verdict.get("robustness") or {}
    alpha = res.settings.get("alpha", 0.05)
    fam = res.headline_family()
    sig = [r["metric"] for _, r in fam.iterrows() if r["estimand"] == ids.MEMBERS and
           np.isfinite(r["p_holm"]) and r["p_holm"] < alpha]
    fragile = [m for m in sig if (rob.get(m) or {}).get("survives") is False]
    if not fragile:
        return ("Whether an unmeasured difference between members and non-members explains "
                "this could not be assessed: no measured covariate could serve as a "
                "benchmark.")
    m = fragile[0]
    r = rob[m]
    what = {"purchases": "the purchases difference", "spend": "the spend difference",
            "retention": "the retention difference"}[m]
    others = [x for x in fragile[1:]]
    also = f" (and the {_join(others)} difference{'s' if len(others) > 1 else ''})" \
        if others else ""
    return (f"Fragile: an unmeasured difference between members and non-members as strong "
            f"as {r['benchmark']} could explain {what}{also} away — the end of its interval "
            f"nearest no effect needs an unmeasured trait of strength "
            f"{fmt.ratio(r['evalue_bound'])} (E-value), less than the "
            f"{fmt.ratio(r['benchmark_strength'])} that {r['benchmark']} implies.")


def sensitivity_sentence(res) -> str:
    """The executive summary's one sentence on unmeasured confounding: the E-values of the
    primary effects on members, pointing to the sensitivity section for the benchmarks."""
    if res.sensitivity is None:
        return sensitivity_text(res)
    sv = res.sensitivity.set_index("metric")
    prim = [m for m in PRIMARY if m in sv.index and not fmt.is_missing(sv.loc[m, "evalue"])]
    if not prim:
        return ("Sensitivity to unmeasured confounding: no E-value could be computed (see the "
                "sensitivity section).")
    ev = _join([f"{fmt.ratio(sv.loc[m, 'evalue'])} for {m}" for m in prim])
    ci = _join([fmt.ratio(sv.loc[m, "evalue_ci"]) for m in prim])
    # both E-values, named: the verdict's fragility sentence quotes the interval's, and a
    # reader comparing the two paragraphs must not find two numbers for one thing
    return (f"Sensitivity to unmeasured confounding (E-values, VanderWeele & Ding 2017): an "
            f"unmeasured trait would need a risk-ratio association of at least {ev} with both "
            "joining and the outcome to explain the estimated differences away, and "
            f"{ci} to bring each interval to no effect — the sensitivity section compares "
            "this with the strongest measured covariates.")


def sensitivity_text(res, currency: str | None = None) -> str:
    """The sensitivity section's paragraph: the E-values of the primary effects on members
    (VanderWeele & Ding 2017) and the strongest measured covariate as a benchmark."""
    currency = _currency(currency)
    if res.sensitivity is None:
        if res.design == "self_selected":
            return ("The sensitivity analysis for unmeasured confounding was not computed "
                    "(analyze(..., sensitivity=False)).")
        return ("Randomized study: the effect of the invitation rests on the randomization, so "
                "no sensitivity analysis for unmeasured confounding is needed.")
    sv = res.sensitivity.set_index("metric")
    prim = [m for m in PRIMARY if m in sv.index and not fmt.is_missing(sv.loc[m, "evalue"])]
    if not prim:
        return "Sensitivity to unmeasured confounding: no E-value could be computed."
    ev = _join([f"{fmt.ratio(sv.loc[m, 'evalue'])} for {m}" for m in prim])
    ci = _join([fmt.ratio(sv.loc[m, "evalue_ci"]) for m in prim])
    text = (f"Sensitivity to unmeasured confounding (E-values, VanderWeele & Ding 2017): to "
            f"explain the effects on members away, an unmeasured trait would have to be "
            f"associated with both joining and the outcome by a risk ratio of at least {ev} "
            f"beyond the measured covariates (for the interval to reach no effect: {ci}).")
    m = _sensitivity_metric(res, prim)
    r = sv.loc[m]
    if isinstance(r["benchmark"], str) and not fmt.is_missing(r["benchmark_bias"]):
        rr = r["rr"] if r["rr"] >= 1 else 1 / r["rr"]
        enough = r["benchmark_bias"] >= rr
        cond = r["benchmark_kind"] == "conditional"
        text += (f" The strongest measured covariate, {r['benchmark']}, is associated with "
                 f"joining by {fmt.ratio(r['benchmark_rr_eu'])} and with {m} by "
                 f"{fmt.ratio(r['benchmark_rr_ud'])} "
                 f"({'given the other covariates' if cond else 'crude'}): a confounder as "
                 f"strong could shift the {m} estimate by a factor of at most "
                 f"{fmt.ratio(r['benchmark_bias'])} — "
                 f"{'enough, in the worst case,' if enough else 'not enough'} to explain it "
                 "away.")
        if cond and not fmt.is_missing(r["benchmark_shift"]):
            headline = m in PRIMARY and not fmt.is_missing(r.get("benchmark_diff_without"))

            def est(x, diff=None):
                if headline and not fmt.is_missing(diff):   # the headline's units
                    return fmt.value(diff, kind_of_metric(m), currency=currency,
                                     signed=True) if m != "retention" else \
                        fmt.points(diff, scale=100)
                return estimate_text(r["scale"], m, x, currency)
            text += (f" Leaving it out of the adjustment moves the {m} estimate from "
                     f"{est(r['estimate'], res.effect(m)['abs_diff'] if headline else None)}"
                     f" to {est(r['benchmark_estimate_without'], r.get('benchmark_diff_without'))}"
                     + (f"; the largest move, leaving out {r['largest_shift']}, is to "
                        f"{est(r['largest_shift_estimate_without'], r.get('largest_shift_diff_without'))}."
                        if isinstance(r["largest_shift"], str) and
                        r["largest_shift"] != r["benchmark"] else "."))
        if cond and not fmt.is_missing(r["crude_benchmark_bias"]):
            text += (f" (Crude associations, which ignore the other covariates, give "
                     f"{r['crude_benchmark']} a bias factor of "
                     f"{fmt.ratio(r['crude_benchmark_bias'])}.)")
        text += f" {BENCHMARK_CAVEAT}"
    return text


def _sensitivity_metric(res, prim: list) -> str:
    """The metric the sensitivity paragraph discusses: the one that decided the verdict (the
    first significant headline effect that does not survive its benchmark, else the first
    significant one), else retention, else the first with an E-value."""
    rob = res.verdict.get("robustness") or {}
    alpha = res.settings.get("alpha", 0.05)
    fam = res.headline_family()
    sig = [r["metric"] for _, r in fam.iterrows() if r["estimand"] == ids.MEMBERS and
           np.isfinite(r["p_holm"]) and r["p_holm"] < alpha and r["metric"] in prim]
    fragile = [m for m in sig if (rob.get(m) or {}).get("survives") is False]
    for choice in (fragile, sig, [m for m in ("retention",) if m in prim], prim):
        if choice:
            return choice[0]
    return prim[0]
