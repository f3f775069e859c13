"""Pieces shared by the designs' analyses: costs, survival curves and Cox models, CLV rows,
and widening an interval by a parameter variance."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ... import formatting as fmt, ids
from .clv_effects import predicted_clv
from .estimators import z_interval
from .survival_effects import cox_hazard_ratio, km_curves


def _costs(data, cost_per_member, reward_rate, fixed_cost):
    p = getattr(data, "params", None) or {}
    return (float(p.get("cost_per_member", 0.0)) if cost_per_member is None else cost_per_member,
            float(p.get("reward_rate", 0.0)) if reward_rate is None else reward_rate,
            float(p.get("fixed_cost", 0.0)) if fixed_cost is None else fixed_cost)


def _add_param_var(row: dict, extra_var: float, alpha: float) -> dict:
    se = float(np.sqrt(row["se"] ** 2 + extra_var))
    row["ci_low"], row["ci_high"], row["p_value"] = z_interval(row["abs_diff"], se, alpha)
    scale = se / row["se"] if row["se"] > 0 else 1.0
    for k in ("rel_ci_low", "rel_ci_high"):  # widen the relative interval alike (log scale)
        rel = np.log1p(row["rel_lift"])
        row[k] = np.expm1(rel + (np.log1p(row[k]) - rel) * scale)
    row["se"] = se
    return row


def _members_note(n_members_not_eligible: int) -> dict:
    status = "pass" if n_members_not_eligible == 0 else "warn"
    return dict(id=ids.CHECK_ENROLLED_AT_PURCHASE_LAUNCH, check="members enrolled at a purchase after launch", status=status,
                value=float(n_members_not_eligible),
                detail=f"{n_members_not_eligible:,} members have no purchase on or after the "
                       "launch; the comparison assumes enrolment happens at a purchase")


def _km(out, groups, weights=None):
    return km_curves(out, groups, weights)


def _cox(out, treated, weights, alpha, estimand):
    try:
        return cox_hazard_ratio(out, treated, weights, alpha=alpha, estimand=estimand)
    except Exception as exc:  # convergence trouble must not sink the report
        warnings.warn(f"Cox model failed: {exc}", stacklevel=2)
        return None, None


def _clv_rows(data, out, groups, alpha, n_draws, seed, estimator, scale, checks,
              members: bool = True, store: dict | None = None):
    try:
        values, info = predicted_clv(data, out, groups, n_draws=n_draws, seed=seed)
    except Exception as exc:
        checks.append(dict(id=ids.CHECK_CLV_MODELS, check="CLV models (BG/NBD + Gamma-Gamma)", status="warn",
                           value=np.nan, detail=f"not fitted: {type(exc).__name__}: {exc}"))
        return pd.DataFrame()
    o = out.copy()
    o["clv"] = values
    if store is not None:   # per-customer CLV, for the sensitivity analysis
        store["clv"] = np.asarray(values, float)
    rows = estimator(o)
    if not members:
        rows = rows.loc[rows["estimand"] == "ITT"]
    pv = sum(v["param_var"] for v in info.values())
    out_rows = []
    for _, r in rows.iterrows():
        r = _add_param_var(r.to_dict(), pv * scale.get(r["estimand"], 1.0), alpha)
        r["method"] = ("BG/NBD + Gamma-Gamma fitted per group, expected discounted spend over "
                       "12 months after the observation end; interval: customer sampling + "
                       "delta method on the models' parameters; " + r["method"])
        out_rows.append(r)
    checks.append(dict(id=ids.CHECK_CLV_MODELS, check="CLV models (BG/NBD + Gamma-Gamma)", status="pass",
                       value=float(len(info)),
                       detail=_clv_detail(out_rows, info)))
    return pd.DataFrame(out_rows)


def _clv_detail(rows: list, info: dict) -> str:
    """The CLV check's text, quoting the CLV table's own levels (the design estimator's
    adjusted means of the per-customer predictions: one number, one source) and the size of
    each group the models were fitted to. Amounts are in the data's currency units, without a
    symbol: the report's currency is the display layer's (estimation does not read it)."""
    fitted = "; ".join(f"{k}: n = {fmt.count(v['n'])}" for k, v in info.items())
    levels = ""
    if rows:
        r = rows[0]
        levels = (f"{r['estimand']}: {fmt.money(r['treatment'])} vs "
                  f"{fmt.money(r['control'])} per customer, as in the CLV table (the "
                  "design's adjusted means of each customer's predicted CLV); ")
    return (f"{levels}models fitted per group ({fitted}) — BTYD models assume stationary "
            "behaviour, so a change at enrolment is only partly reflected")
