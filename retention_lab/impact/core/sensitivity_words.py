"""The sensitivity table's plain interpretation of each row (its ``interpretation`` column):
the E-values beside the strongest measured covariate (VanderWeele & Ding 2017; Cinelli &
Hazlett 2020)."""
from __future__ import annotations

import numpy as np

from ... import formatting as fmt
from .benchmarks import _far


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
