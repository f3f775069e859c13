"""The verdict of an impact study: what the data let us claim, graded by the kind of evidence.

``decide(...)`` returns ``{"claim", "evidence", "robustness", "reasons"}`` with ids from
:mod:`retention_lab.ids` only (no words: the display layer, :mod:`.report` and
:mod:`retention_lab.report.tables`, turns them into sentences). Every decision reads check
``id``s and metric ids, never labels.

Rules, in order:

1. **Not identified.** Any failed check in :data:`retention_lab.ids.IDENTIFICATION_CHECK_IDS`
   → ``claim = "not identified"``; ``reasons`` are the failed checks' ids.
2. **Significance.** The headline family is the primary metrics
   (:data:`retention_lab.ids.PRIMARY_METRICS`: purchases, spend, retention) of the design's
   estimands (randomized: ITT and the effect on members; otherwise the effect on members), with
   Holm-adjusted p-values across the family (Holm 1979). No headline effect of the design's main
   estimand (ITT, or the effect on members) below ``alpha`` after the adjustment →
   ``"no effect detected"`` (reason ``not_significant``).
3. **Randomized designs** claim ``"effect"`` when a headline ITT effect survives Holm (reason
   ``holm_significant``): the comparison rests on the randomization.
4. **Observational designs** (members chose to join) claim ``"effect"`` only if *every*
   Holm-significant headline effect survives an unmeasured confounder as strong as the strongest
   measured covariate (the benchmark of the sensitivity section,
   :mod:`retention_lab.impact.core.sensitivity`). With ``RR_b`` the confidence limit nearer the null
   as a risk ratio (the sensitivity table's ``rr_ci_low`` for an increase, ``rr_ci_high`` for a
   decrease; spend on the standardized-mean-difference scale ``exp(0.91 d)``, VanderWeele 2017)
   and ``B = RR_EU · RR_UD / (RR_EU + RR_UD − 1)`` the benchmark's bias factor (Ding &
   VanderWeele 2016, *Epidemiology* 27:368, Result 1), the effect survives when

       ``max(RR_b, 1/RR_b) / B > 1``,

   i.e. dividing the limit by the largest bias such a confounder could cause still excludes the
   null. Equivalently the limit's E-value exceeds the benchmark's equal-strength E-value
   ``E_B = B + sqrt(B (B − 1))`` (both sides are increasing in the ratio, and a confounder of
   strength ``E_B`` on both associations has bias factor ``E_B² / (2 E_B − 1) = B``).
   Otherwise the claim is ``"suggestive"`` (reason ``fragile_to_benchmark``). If a significant
   effect has no benchmark (sensitivity not computed, or no covariate could be scored) the claim
   is ``"suggestive"`` with reason ``no_benchmark`` — never ``"effect"``.

The benchmark is the sensitivity section's: for a single-launch design the strongest covariate
*given the others* (leave-one-covariate-out, :func:`~retention_lab.impact.core.sensitivity.
conditional_benchmarks`); for rolling enrolment the strongest history covariate's *crude*
associations (:func:`~retention_lab.impact.rolling.design.rolling_sensitivity`), which include
what the adjustment already removed — there the rule errs towards "suggestive".

Why this rule and not a p-value: when the selection into membership runs through a trait the
data do not record, no estimator can separate "keener customers" from "a programme that works";
the E-value bounds how strong that trait would have to be, and the measured covariates are the
only yardstick of what "strong" means here (Cinelli & Hazlett 2020 benchmarking). Benchmarks
cannot show that no stronger trait is missing, so ``"effect"`` from observational data still
says less than a randomized ``"effect"``; ``evidence`` says which it is.

``robustness`` (observational designs with a sensitivity table; ``None`` otherwise): metric id →
``bound`` (the limit nearer the null, as a risk ratio), ``evalue_bound`` (its E-value),
``benchmark`` (the covariate's label, display text), ``benchmark_bias`` (``B``),
``benchmark_strength`` (``E_B``) and ``survives`` (the rule above), for each primary metric of
the sensitivity table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from .. import ids
from .core.evalues import evalue


def headline_family(effects: pd.DataFrame, design: str) -> pd.DataFrame:
    """The primary rows of the design's estimands with Holm-adjusted p-values across them."""
    estimands = (ids.ITT, ids.MEMBERS) if design == "randomized" else (ids.MEMBERS,)
    e = effects
    h = e.loc[e["metric"].isin(ids.PRIMARY_METRICS) & e["estimand"].isin(estimands)].copy()
    h = h.reset_index(drop=True)
    h["p_holm"] = np.nan
    ok = h["p_value"].notna()
    if ok.any():
        h.loc[ok, "p_holm"] = multipletests(h.loc[ok, "p_value"], method="holm")[1]
    return h


def main_estimand(design: str) -> str:
    return ids.ITT if design == "randomized" else ids.MEMBERS


def significant(effects: pd.DataFrame, design: str, alpha: float = 0.05) -> list[str]:
    """Metric ids of the main estimand's headline effects that survive Holm, in
    :data:`~retention_lab.ids.PRIMARY_METRICS` order."""
    fam = headline_family(effects, design)
    rows = fam.loc[(fam["estimand"] == main_estimand(design)) & (fam["p_holm"] < alpha)]
    return [m for m in ids.PRIMARY_METRICS if m in set(rows["metric"])]


def benchmark_strength(bias: float) -> float:
    """The equal-strength association ``E_B`` whose bias factor is ``bias``: the E-value of
    ``bias`` (``E_B² / (2 E_B − 1) = B``)."""
    return evalue(bias) if np.isfinite(bias) and bias >= 1 else float("nan")


def robustness(sensitivity: pd.DataFrame | None) -> dict | None:
    """Per primary metric of a sensitivity table: the limit nearer the null, its E-value, the
    benchmark and whether the limit survives it (module docstring, rule 4)."""
    if sensitivity is None:
        return None
    out = {}
    s = sensitivity
    if "estimand" in s.columns:
        s = s.loc[s["estimand"] == ids.MEMBERS]
    for _, r in s.iterrows():
        m = r["metric"]
        if m not in ids.PRIMARY_METRICS or m in out:
            continue
        rr = _get(r, "rr")
        bound = _get(r, "rr_ci_low" if rr >= 1 else "rr_ci_high") if np.isfinite(rr) \
            else np.nan
        if np.isfinite(bound) and (bound - 1) * (rr - 1) <= 0:
            bound = 1.0   # the interval includes the null
        far = bound if not np.isfinite(bound) or bound >= 1 else 1.0 / bound
        bias = _get(r, "benchmark_bias")
        label = r.get("benchmark")
        out[m] = dict(bound=_num(bound), evalue_bound=_num(evalue(bound) if np.isfinite(bound)
                                                          and bound > 0 else np.nan),
                      benchmark=label if isinstance(label, str) else None,
                      benchmark_bias=_num(bias), benchmark_strength=_num(benchmark_strength(bias)),
                      survives=(bool(far / bias > 1) if np.isfinite(far) and np.isfinite(bias)
                                else None))
    return out


def _get(row, key) -> float:
    x = row.get(key, np.nan)
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _num(x):
    return None if x is None or not np.isfinite(x) else float(x)


def decide(effects: pd.DataFrame, checks, design: str, *, sensitivity: pd.DataFrame | None = None,
           alpha: float = 0.05) -> dict:
    """The verdict (module docstring): ``claim``, ``evidence``, ``robustness``, ``reasons``."""
    checks = pd.DataFrame(checks)
    evidence = ids.EVIDENCE_RANDOMIZED if design == "randomized" else ids.EVIDENCE_OBSERVATIONAL
    failed = []
    if len(checks) and "id" in checks.columns:
        failed = list(checks.loc[checks["id"].isin(ids.IDENTIFICATION_CHECK_IDS) &
                                 (checks["status"] == "fail"), "id"])
    rob = None if evidence == ids.EVIDENCE_RANDOMIZED else robustness(sensitivity)
    if failed:
        return dict(claim=ids.CLAIM_NOT_IDENTIFIED, evidence=evidence, robustness=rob,
                    reasons=failed)
    sig = significant(effects, design, alpha)
    if not sig:
        return dict(claim=ids.CLAIM_NONE, evidence=evidence, robustness=rob,
                    reasons=[ids.REASON_NOT_SIGNIFICANT])
    if evidence == ids.EVIDENCE_RANDOMIZED:
        return dict(claim=ids.CLAIM_EFFECT, evidence=evidence, robustness=None,
                    reasons=[ids.REASON_HOLM])
    reasons = [ids.REASON_HOLM]
    verdicts = [(rob or {}).get(m, {}).get("survives") for m in sig]
    if any(v is None for v in verdicts):
        reasons.append(ids.REASON_NO_BENCHMARK)
        skipped = [] if not len(checks) or "id" not in checks.columns else list(
            checks.loc[(checks["id"] == ids.CHECK_SENSITIVITY), "id"])
        reasons += skipped
    if any(v is False for v in verdicts):
        reasons.append(ids.REASON_FRAGILE)
    if all(v is True for v in verdicts):
        return dict(claim=ids.CLAIM_EFFECT, evidence=evidence, robustness=rob,
                    reasons=reasons + [ids.REASON_ROBUST])
    return dict(claim=ids.CLAIM_SUGGESTIVE, evidence=evidence, robustness=rob, reasons=reasons)
