"""Randomized design (invite vs control): sample-ratio-mismatch, covariate balance, intention-to-
treat effects and the effect on those who joined (Wald / IV), with CUPED adjustment.

* ITT: difference of arm means of each outcome, adjusted for pre-launch behaviour (CUPED / Lin
  2013) when a pre-period exists;
* effect on members: with imperfect take-up the invitation is an instrument for enrolment; the
  Wald estimator ``ITT_Y / ITT_D`` is the average effect on compliers (Imbens & Angrist 1994;
  Angrist, Imbens & Rubin 1996) — with one-sided non-compliance (the control arm cannot enrol)
  this is the effect of the programme on the treated (those who enrolled). Complier means under
  each arm follow Abadie (2003, *J. Econometrics* 113) so the table can show levels, not only
  differences; AOV for compliers is the ratio of their spend and order levels.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ... import ids
from ...formatting import p_text
from ..core.balance import CORE, METRICS, balance_check, balance_table, smd  # noqa: F401 (were defined here)
from ..core.estimators import arm_means, effect_row
from ..core.outcomes import covariate_matrix


def srm_check(arm_treated, expected_share: float = 0.5, threshold: float = 0.001) -> dict:
    """Sample-ratio mismatch: chi-square goodness-of-fit of the arm sizes against the planned
    allocation (Fabijan et al. 2019, KDD). Fails below ``threshold`` (the usual 0.001)."""
    z = np.asarray(arm_treated, float)
    n_t, n = z.sum(), len(z)
    chi2, p = stats.chisquare([n_t, n - n_t], [n * expected_share, n * (1 - expected_share)])
    status = "fail" if p < threshold else "pass"
    return dict(id=ids.CHECK_SRM, check="sample ratio (SRM)", status=status, value=float(p),
                detail=f"{int(n_t):,} invited vs {int(n - n_t):,} control; planned share "
                       f"{expected_share:.0%}; chi-square {p_text(p)} (fail below {threshold:g})")


def _levels(metric: str):
    num, den = METRICS[metric]

    def level(m, key):
        return m[f"{num}|{key}"] / m[f"{den}|{key}"] if den else m[f"{num}|{key}"]
    return level


def _complier(m, col, treated: bool):
    """Abadie (2003) complier mean of ``col`` under treatment (``treated``) or control."""
    take = m["D|t"] - m["D|c"]
    if treated:
        return (m[f"{col}_D|t"] - m[f"{col}_D|c"]) / take
    return ((m[f"{col}|c"] - m[f"{col}_D|c"]) - (m[f"{col}|t"] - m[f"{col}_D|t"])) / take


def itt_and_members(out: pd.DataFrame, metrics=CORE, *, adjust: bool = True,
                    alpha: float = 0.05, covariates: pd.DataFrame | None = None):
    """ITT and effect-on-members rows for ``metrics`` (a DataFrame), and the take-up estimate.

    ``out`` is the outcome table with ``arm_treated`` and ``enrolled``."""
    z = out["arm_treated"].to_numpy() == 1
    D = out["enrolled"].to_numpy()
    cols = sorted({c for mname in metrics for c in METRICS[mname] if c})
    Y = {"D": D}
    for c in cols:
        y = out[c].to_numpy(float)
        Y[c] = y
        Y[f"{c}_D"] = y * D
    X = None
    if adjust:
        X = covariate_matrix(out) if covariates is None else covariates
        X = X.to_numpy(float) if X.shape[1] else None
    m = arm_means(Y, {"t": z, "c": ~z}, X)
    how = "CUPED/Lin-adjusted difference of means" if X is not None else "difference of means"
    rows = []
    with np.errstate(divide="ignore", invalid="ignore"):  # take-up 0: member rows are NaN
        for name in metrics:
            rows.extend(_rows(m, name, how, len(out), alpha))
    take_up, se, _ = m.delta(lambda mm: mm["D|t"] - mm["D|c"])
    return pd.DataFrame(rows), dict(take_up=take_up, se=se, means=m)


def _rows(m, name, how, n, alpha):
    """The ITT and effect-on-members rows of one metric."""
    num, den = METRICS[name]
    lvl = _levels(name)

    def comp(mm, treated):
        v = _complier(mm, num, treated)
        return v / _complier(mm, den, treated) if den else v
    rows = [effect_row(name, "ITT", m, lambda mm: lvl(mm, "c"), lambda mm: lvl(mm, "t"),
                       method=f"{how}, delta-method SE", n=n, alpha=alpha),
            effect_row(name, "effect on members", m, lambda mm: comp(mm, False),
                       lambda mm: comp(mm, True),
                       method=f"Wald/IV (invitation as instrument), {how}", n=n, alpha=alpha)]
    return rows
