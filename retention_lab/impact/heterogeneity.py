"""Heterogeneous effects: the effect within each level of a segment column (tier, channel,
region, …), p-values corrected for multiplicity (Holm 1979 for the family-wise error rate, or
Benjamini & Hochberg 1995 for the false discovery rate; statsmodels ``multipletests``), and
Cochran's Q test of whether the effect differs between levels at all."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests


def cochran_q(est, se) -> tuple[float, float]:
    """Cochran's Q for heterogeneity of independent estimates: ``(Q, p)`` on k − 1 df."""
    est, se = np.asarray(est, float), np.asarray(se, float)
    ok = np.isfinite(est) & (se > 0)
    if ok.sum() < 2:
        return np.nan, np.nan
    w = 1 / se[ok] ** 2
    pooled = np.sum(w * est[ok]) / w.sum()
    q = float(np.sum(w * (est[ok] - pooled) ** 2))
    return q, float(stats.chi2.sf(q, ok.sum() - 1))


def segment_effects(out: pd.DataFrame, segment_column: str, estimate, *,
                    metrics=("purchases", "spend", "retention"), correction: str = "holm",
                    min_size: int = 50) -> pd.DataFrame:
    """Effects by segment. ``estimate(mask, metrics)`` returns effect rows (a DataFrame) for the
    customers in ``mask``; rows of every level and metric get ``segment``, ``level``,
    ``p_adjusted`` (within each metric, over levels) and ``q_p`` (Cochran's Q p-value). A level
    that is too small or whose estimator fails keeps one row per metric with NaN estimates and
    the reason in ``note`` (never silently dropped)."""
    if segment_column not in out.columns:
        return pd.DataFrame()
    seg = out[segment_column].astype("string").fillna("missing")
    frames = []
    for level in sorted(seg.unique()):
        mask = (seg == level).to_numpy()
        note = None
        if mask.sum() < min_size:
            note = f"not estimated: {int(mask.sum())} customers (fewer than {min_size})"
        else:
            try:
                rows = estimate(mask, metrics)
            except (ValueError, np.linalg.LinAlgError, ZeroDivisionError) as exc:
                note = f"not estimated: {type(exc).__name__}: {exc}"
        if note is not None:   # a level without an estimate is shown with the reason
            rows = pd.DataFrame({"metric": list(metrics), "estimand": "—"})
            frames.append(rows.assign(segment=segment_column, level=level, n=int(mask.sum()),
                                      note=note))
            continue
        frames.append(rows.assign(segment=segment_column, level=level, n=int(mask.sum()),
                                  note=""))
    if not frames:
        return pd.DataFrame()
    res = pd.concat(frames, ignore_index=True)
    method = {"holm": "holm", "bh": "fdr_bh", "fdr_bh": "fdr_bh"}[correction.lower()]
    res["p_adjusted"] = np.nan
    res["q_p"] = np.nan
    for c in ("abs_diff", "se", "p_value"):
        if c not in res.columns:
            res[c] = np.nan
    for (metric, estimand), g in res.loc[res["note"] == ""].groupby(["metric", "estimand"]):
        ok = g["p_value"].notna()
        if ok.any():
            res.loc[g.index[ok], "p_adjusted"] = multipletests(g.loc[ok, "p_value"],
                                                               method=method)[1]
        res.loc[g.index, "q_p"] = cochran_q(g["abs_diff"], g["se"])[1]
    res["correction"] = "Holm" if method == "holm" else "Benjamini–Hochberg"
    cols = ["segment", "level", "metric", "estimand", "control", "treatment", "abs_diff",
            "rel_lift", "ci_low", "ci_high", "p_value", "p_adjusted", "q_p", "correction", "n",
            "note"]
    return res[[c for c in cols if c in res.columns]]
