"""Shared by every design: the metric table (outcome columns of each metric), covariate balance
(standardized mean differences, Austin 2009) and the overlap limits under which a self-selected
comparison is refused as not identified."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import DataError

#: metric name -> (numerator column, denominator column or None) in the outcome table
METRICS = {"purchases": ("orders", None), "spend": ("spend", None), "rmst": ("rmst_days", None),
           "aov": ("spend", "orders"), "retention": ("retained", None),
           "nps": ("nps_score", None), "csat": ("csat_score", None), "clv": ("clv", None)}

#: the primary metrics computed from transactions
CORE = ("purchases", "spend", "aov", "retention", "rmst")

#: the overlap check fails when more than this share of members is trimmed (no comparable rows)
OVERLAP_FAIL_SHARE = 0.10
#: ... or when the effective number of weighted comparison rows is below this
MIN_EFFECTIVE_COMPARISON = 50


def smd(x, treated, weights=None) -> float:
    """Standardized mean difference (treated − control) / sqrt((s_t^2 + s_c^2)/2), weighted if
    ``weights`` are given; the denominator uses the unweighted variances (Austin 2009)."""
    x = np.asarray(x, float)
    t = np.asarray(treated, bool)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    for name, side in (("treated", t), ("control", ~t)):
        if not side.any() or not w[side].sum() > 0:
            raise DataError(f"customers: the {name} group is empty (or has zero weight); rule "
                            "'both compared groups have customers' (a standardized difference "
                            "needs both)", table="customers", column="*",
                            rule="both compared groups have customers", n_rows=0)
    mt = np.average(x[t], weights=w[t])
    mc = np.average(x[~t], weights=w[~t])
    s = np.sqrt((x[t].var(ddof=1) + x[~t].var(ddof=1)) / 2)
    return float((mt - mc) / s) if s > 0 else 0.0


def balance_table(X: pd.DataFrame, treated, weights=None) -> pd.DataFrame:
    """SMD of each covariate, unweighted and (if given) weighted."""
    rows = []
    for c in X.columns:
        row = dict(covariate=c, mean_treated=float(X.loc[np.asarray(treated, bool), c].mean()),
                   mean_control=float(X.loc[~np.asarray(treated, bool), c].mean()),
                   smd=smd(X[c], treated))
        if weights is not None:
            row["smd_weighted"] = smd(X[c], treated, weights)
        rows.append(row)
    return pd.DataFrame(rows)


def balance_check(table: pd.DataFrame, column: str = "smd", limit: float = 0.1,
                  name: str = "covariate balance", check_id: str | None = None) -> dict:
    worst = table.loc[table[column].abs().idxmax()] if len(table) else None
    if worst is None:
        return dict(id=check_id, check=name, status="warn", value=np.nan, detail="no covariates")
    v = abs(worst[column])
    status = "pass" if v < limit else ("warn" if v < 2 * limit else "fail")
    return dict(id=check_id, check=name, status=status, value=float(v),
                detail=f"largest |SMD| {v:.3f} ({worst['covariate']}); threshold {limit}")
