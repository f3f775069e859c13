"""Power and the minimum detectable effect (MDE) for this sample (statsmodels.stats.power).

Two-sample z-test on standardized effects (``NormalIndPower``): the MDE at ``power`` is the
standardized effect ``d`` solved for, times the outcome's pooled SD, times the CUPED variance
ratio (``se_adjusted / se_unadjusted``) when covariate adjustment shrank the SE. For the effect
on members the ITT MDE is divided by the take-up (Wald scaling)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.power import NormalIndPower


def mde_table(out: pd.DataFrame, treated, control, *, columns: dict, alpha: float = 0.05,
              power: float = 0.8, variance_ratio: dict | None = None, take_up=None,
              n_control_effective: float | None = None) -> pd.DataFrame:
    """One row per metric: ``n_treated``, ``n_control``, ``sd``, ``mde_abs``, ``mde_rel`` (vs the
    control mean), ``mde_members_abs`` (÷ take-up) when given."""
    t, c = np.asarray(treated, bool), np.asarray(control, bool)
    n1, n0 = int(t.sum()), int(c.sum()) if n_control_effective is None else n_control_effective
    d = NormalIndPower().solve_power(effect_size=None, nobs1=n1, alpha=alpha, power=power,
                                     ratio=n0 / n1, alternative="two-sided")
    rows = []
    for metric, col in columns.items():
        y = out[col].to_numpy(float)
        ok = np.isfinite(y)
        sd = np.sqrt((np.var(y[t & ok], ddof=1) + np.var(y[c & ok], ddof=1)) / 2)
        vr = (variance_ratio or {}).get(metric, 1.0)
        mde = d * sd * vr
        base = float(np.mean(y[c & ok]))
        row = dict(metric=metric, n_treated=n1, n_control=n0, sd=sd, cuped_se_ratio=vr,
                   mde_abs=mde, mde_rel=mde / base if base else np.nan, alpha=alpha,
                   power=power)
        if take_up:
            row["mde_members_abs"] = mde / take_up
            row["mde_members_rel"] = row["mde_members_abs"] / base if base else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
