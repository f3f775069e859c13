"""The impact report's numbers for people and machines: the headline table (strings rounded to
significant figures, shares in points) and the ``metrics.json`` entries
(:func:`retention_lab.report.recording.record`) — functions of an
:class:`~retention_lab.impact.result.ImpactResult`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import formatting as fmt, ids
from . import recording as reporting
from .impact_format import POINTS, PRIMARY, RATIO_METRICS, UNITS, _float, _fmt, _pct, _pts
from .recording import metric_key


def headline_table(res, digits: int = 3) -> pd.DataFrame:
    """Headline effects rounded to ``digits`` significant figures (strings), for display
    and output checks: metric, estimand, control, treatment, difference, interval, lift.
    Shares (retention, CSAT) and NPS are differences in points (percentage points; NPS
    points on its −100…100 scale) and get no relative lift — a relative change of a share
    or of a score that can be negative misleads."""
    rows = []
    for _, r in res.effects.iterrows():
        if r["metric"] not in PRIMARY + ("aov", "rmst", "clv", "nps", "csat") or \
                r["estimand"] not in (ids.ITT, ids.MEMBERS):
            continue
        if r["metric"] in POINTS:
            k = POINTS[r["metric"]]
            rows.append(dict(metric=r["metric"], estimand=r["estimand"],
                             control=_pts(r["control"], k, digits),
                             treatment=_pts(r["treatment"], k, digits),
                             difference=_pts(r["abs_diff"], k, digits, sign=True) + " pts",
                             ci=f"[{_pts(r['ci_low'], k, digits, sign=True)}, "
                                f"{_pts(r['ci_high'], k, digits, sign=True)}] pts",
                             rel_lift="—"))
            continue
        rows.append(dict(metric=r["metric"], estimand=r["estimand"],
                         control=_fmt(r["control"], digits),
                         treatment=_fmt(r["treatment"], digits),
                         difference=_fmt(r["abs_diff"], digits),
                         ci=f"[{_fmt(r['ci_low'], digits)}, {_fmt(r['ci_high'], digits)}]",
                         rel_lift=_pct(r["rel_lift"])))
    return pd.DataFrame(rows)


def record(res, prefix: str = "") -> dict:
    """Record the headline numbers with :func:`retention_lab.report.recording.record` (for the
    report's ``metrics.json``): the verdict (key ``verdict``,
    :func:`retention_lab.report.recording.record_verdict`), every ITT / effect-on-members row
    (each with the verdict's ``claim``, so that no estimate travels without it), take-up, ROI
    and, for a
    self-selected study, the E-value of each effect on members (``<metric>_members_evalue``,
    with ``evalue_ci``, the scale and the risk ratio it was computed from)."""
    out = {}
    claim = res.claim
    out[f"{prefix}verdict"] = reporting.record_verdict(res.verdict, f"{prefix}verdict")
    for _, r in res.effects.iterrows():
        if r["estimand"] not in (ids.ITT, ids.MEMBERS):
            continue
        name = metric_key(f"{prefix}{r['metric']}_"
                          f"{'itt' if r['estimand'] == 'ITT' else 'members'}")
        unit = UNITS.get(r["metric"])
        if r["metric"] in RATIO_METRICS:
            # the ratio itself with its interval (the effects table stores ratio − 1)
            ratio = r.get(RATIO_METRICS[r["metric"]], np.nan)
            ratio = float(r["rel_lift"]) + 1 if fmt.is_missing(ratio) else float(ratio)
            out[name] = reporting.record(name, ratio, (r["rel_ci_low"] + 1,
                                                       r["rel_ci_high"] + 1),
                                         method=r["method"], unit=unit, n=int(r["n"]),
                                         p_value=_float(r["p_value"]), claim=claim)
            continue
        out[name] = reporting.record(name, r["abs_diff"], (r["ci_low"], r["ci_high"]),
                                     method=r["method"], unit=unit, n=int(r["n"]),
                                     control=_float(r["control"]),
                                     treatment=_float(r["treatment"]),
                                     rel_lift=_float(r["rel_lift"]),
                                     p_value=_float(r["p_value"]), claim=claim)
    tu = res.take_up
    if "ci" in tu:
        out[f"{prefix}take_up"] = reporting.record(f"{prefix}take_up", tu["take_up"], tu["ci"],
                                                   method="share of invited who enrolled",
                                                   unit="proportion")
    if res.roi:
        out[f"{prefix}roi"] = reporting.record(f"{prefix}roi", res.roi["roi"],
                                               res.roi["roi_ci"], method=res.roi["method"],
                                               unit="ratio", claim=claim)
    if res.sensitivity is not None:
        for _, r in res.sensitivity.iterrows():
            name = f"{prefix}{r['metric']}_members_evalue"
            out[name] = reporting.record(
                name, r["evalue"], method=r["method"], unit="risk ratio",
                evalue_ci=None if not np.isfinite(r["evalue_ci"]) else float(r["evalue_ci"]),
                scale=r["scale"], rr=float(r["rr"]),
                rr_ci=[float(r["rr_ci_low"]), float(r["rr_ci_high"])],
                benchmark=r["benchmark"], benchmark_kind=r["benchmark_kind"],
                benchmark_bias=None if not np.isfinite(r["benchmark_bias"])
                else float(r["benchmark_bias"]),
                benchmark_shift=None if not np.isfinite(r["benchmark_shift"])
                else float(r["benchmark_shift"]),
                crude_benchmark_bias=None if not np.isfinite(r["crude_benchmark_bias"])
                else float(r["crude_benchmark_bias"]))
    return out
