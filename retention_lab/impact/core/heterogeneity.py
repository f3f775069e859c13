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


#: a segment column with more levels than this is not a segmentation (an id, a date, a
#: free-text field): segment_effects refuses it with a reason
MAX_LEVELS = 50
COLUMNS = ["segment", "level", "metric", "estimand", "control", "treatment", "abs_diff",
           "rel_lift", "ci_low", "ci_high", "p_value", "p_adjusted", "q_p", "correction", "n",
           "note"]


def _empty(reason: str) -> pd.DataFrame:
    res = pd.DataFrame(columns=COLUMNS)
    res.attrs["reason"] = reason
    return res


def segment_effects(out: pd.DataFrame, segment_column: str, estimate, *,
                    metrics=("purchases", "spend", "retention"), correction: str = "holm",
                    min_size: int = 50, max_levels: int = MAX_LEVELS) -> pd.DataFrame:
    """Effects by segment. ``estimate(mask, metrics)`` returns effect rows (a DataFrame) for the
    customers in ``mask``; rows of every level and metric get ``segment``, ``level``,
    ``p_adjusted`` (within each metric, over levels) and ``q_p`` (Cochran's Q p-value). A level
    that is too small or whose estimator fails keeps one row per metric with NaN estimates and
    the reason in ``note`` (never silently dropped).

    No section can be estimated — an empty frame (with every column) whose ``attrs["reason"]``
    says why, for the report to show — when the column is not among the customers' columns
    (a typo such as ``"tierr"``: the reason lists the columns there are; not a DataError,
    because the default ``"tier"`` is often absent from a user's data), when it has more than
    ``max_levels`` (50) levels, or when no level has ``min_size`` customers (e.g. one customer
    per level)."""
    if segment_column not in out.columns:
        have = [str(c) for c in out.columns
                if not pd.api.types.is_numeric_dtype(out[c])
                and not pd.api.types.is_datetime64_any_dtype(out[c])
                and out[c].nunique() <= max_levels]
        return _empty(f"no customer column {segment_column!r} in the data (columns that could "
                      f"segment: {', '.join(have) or 'none'}); pass segment_column= one of "
                      "them, or None")
    seg = out[segment_column].astype("string").fillna("missing")
    n_levels = seg.nunique()
    if n_levels > max_levels:
        return _empty(f"{segment_column!r} has {n_levels:,} distinct values (more than "
                      f"{max_levels}): it is not a segmentation (an id or a free-text field?)")
    if not (seg.value_counts() >= min_size).any():
        return _empty(f"no level of {segment_column!r} has {min_size} customers (largest: "
                      f"{int(seg.value_counts().max()):,} customers, {n_levels:,} levels)")
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
    res = pd.concat(frames, ignore_index=True)
    for c in COLUMNS:   # levels without an estimate still give every column
        if c not in res.columns and c not in ("p_adjusted", "q_p", "correction"):
            res[c] = np.nan
    method = {"holm": "holm", "bh": "fdr_bh", "fdr_bh": "fdr_bh"}[correction.lower()]
    res["p_adjusted"] = np.nan
    res["q_p"] = np.nan
    for c in ("abs_diff", "se", "p_value"):
        if c not in res.columns:
            res[c] = np.nan
    for _, g in res.loc[res["note"] == ""].groupby(["metric", "estimand"]):
        ok = g["p_value"].notna()
        if ok.any():
            res.loc[g.index[ok], "p_adjusted"] = multipletests(g.loc[ok, "p_value"],
                                                               method=method)[1]
        res.loc[g.index, "q_p"] = cochran_q(g["abs_diff"], g["se"])[1]
    res["correction"] = "Holm" if method == "holm" else "Benjamini–Hochberg"
    if (res["note"] != "").all():   # every level failed: say so once
        return _empty(f"no level of {segment_column!r} could be estimated: "
                      + "; ".join(sorted(set(res["note"]))))
    return res[COLUMNS]
