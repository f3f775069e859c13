"""NPS and CSAT differences from the survey sample.

Each response is scored as a number whose mean is the metric: NPS ``100·(1[score ≥ 9] −
1[score ≤ 6])`` (Reichheld 2003), CSAT ``1[score ≥ 4]`` — so the same mean/IV/IPW machinery
gives differences with delta-method intervals. One response per customer (the latest).
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def survey_scores(surveys: pd.DataFrame | None, index: pd.Index, launch=None) -> pd.DataFrame:
    """Per customer of ``index``: ``nps_score``, ``csat_score`` (NaN if not surveyed) from the
    latest response on or after ``launch``."""
    out = pd.DataFrame(index=index)
    if surveys is None or len(surveys) == 0:
        return out.assign(nps_score=np.nan, csat_score=np.nan)
    s = surveys
    if launch is not None:
        s = s.loc[pd.to_datetime(s["date"]) >= launch]
    s = s.sort_values("date").drop_duplicates("customer_id", keep="last").set_index("customer_id")
    if "nps" in s.columns:
        v = pd.to_numeric(s["nps"], errors="coerce").astype(float)
        out["nps_score"] = (100.0 * ((v >= 9).astype(float) - (v <= 6).astype(float))).where(
            v.notna()).reindex(index)
    else:
        out["nps_score"] = np.nan
    if "csat" in s.columns:
        v = pd.to_numeric(s["csat"], errors="coerce").astype(float)
        out["csat_score"] = (v >= 4).astype(float).where(v.notna()).reindex(index)
    else:
        out["csat_score"] = np.nan
    return out
