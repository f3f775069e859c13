"""Survey outcomes of the rolling design: each trial row's first NPS/CSAT answer in its outcome
window and, for comparison rows, the weight of an answer given before enrolling — the inverse
of the fitted probability of not having enrolled by then (the enrolment hazard of
:mod:`retention_lab.impact.rolling.hazard`; Robins & Finkelstein 2000, *Biometrics* 56).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .hazard import _enrolment_hazard, _ipcw_outcomes


def _surveys(data, rows, frame, horizon_days):
    """First survey answered in the outcome window of each row: nps_score, csat_score."""
    out = pd.DataFrame(index=rows.index, data={"nps_score": np.nan, "csat_score": np.nan,
                                               "survey_day": np.nan})
    s = getattr(data, "surveys", None)
    if s is None or len(s) == 0:
        return out
    code = frame["codes"].get_indexer(s["customer_id"])
    sd = (pd.to_datetime(s["date"]).dt.normalize() - frame["origin"]).dt.days.to_numpy()
    ok = code >= 0
    sv = pd.DataFrame({"code": code[ok], "day": sd[ok]})
    for col, fn in (("nps", lambda v: 100.0 * ((v >= 9).astype(float) - (v <= 6))),
                    ("csat", lambda v: (v >= 4).astype(float))):
        sv[col] = fn(pd.to_numeric(s[col], errors="coerce").to_numpy(float)[ok]) \
            if col in s.columns else np.nan
        sv.loc[pd.to_numeric(s[col], errors="coerce").isna().to_numpy()[ok]
               if col in s.columns else slice(None), col] = np.nan
    sv = sv.sort_values(["code", "day"]).reset_index(drop=True)
    K = frame["end_day"] + 10 ** 6
    key = sv["code"].to_numpy(np.int64) * K + sv["day"].to_numpy(np.int64) + 10 ** 5
    rc = rows["code"].to_numpy(np.int64)
    rd = rows["day"].to_numpy(np.int64)
    p = np.searchsorted(key, rc * K + rd + 10 ** 5, side="right")
    hit = p < len(key)
    pp = np.minimum(p, len(key) - 1)
    hit &= (sv["code"].to_numpy()[pp] == rc) & (sv["day"].to_numpy()[pp] <= rd + horizon_days)
    for col, name in (("nps", "nps_score"), ("csat", "csat_score")):
        out[name] = np.where(hit, sv[col].to_numpy()[pp], np.nan)
    out["survey_day"] = np.where(hit, sv["day"].to_numpy()[pp], np.nan)
    return out


def _survey_weights(data, rows, H, frame, Xcat_c, cats, ref, code, comp, horizon_days):
    """Each row's first survey in its window and, for comparison rows, the weight of a survey
    answered before enrolling (inverse probability of not having enrolled by then). Returns
    ``(hday, enrol_h, follow_end, surveys, survey_w)`` (days on the history's scale)."""
    hday = rows["day"].to_numpy(np.int64) + frame["shift"]
    enrol_h = rows["enrol_day"].to_numpy(float) + frame["shift"]
    sv = _surveys(data, rows, frame, horizon_days)
    survey_h = sv["survey_day"].to_numpy(float) + frame["shift"]
    follow_end = rows["follow_end_day"].to_numpy(np.int64) + frame["shift"]
    # surveys of comparison customers: inverse probability of not having enrolled by then. A
    # row's weight depends on its own purchases only, and is 0 without a survey answer: the
    # enrolment hazard (a logit over every purchase day at risk) is fitted only when some
    # comparison row has an answer, and the weights computed for those rows (issue 22)
    survey_w = np.ones(len(rows))
    survey_w[comp] = 0.0
    has = np.flatnonzero(comp & np.isfinite(survey_h))
    if has.size:
        log_surv, _h = _enrolment_hazard(H, frame, Xcat_c, cats, ref)
        *_, survey_w[has] = _ipcw_outcomes(H, log_surv, code[has], hday[has], enrol_h[has],
                                           horizon_days, follow_end[has], survey_h[has])
    return hday, enrol_h, follow_end, sv, survey_w
