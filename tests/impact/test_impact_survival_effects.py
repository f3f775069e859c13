"""The impact report's lapse hazard ratio (``retention_lab.impact.core.survival_effects``) on tied
whole-day data built here: the Cox fit and its PH check are lifelines' per-customer ones
(issue 13, defect 1: merging tied lapses into weights moved the estimate and hid PH failures)."""
import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.statistics import proportional_hazard_test

from retention_lab.impact.core.survival_effects import cox_hazard_ratio, launch_survival_table


def _outcomes(seed, n, shape_treated, horizon=365):
    """An outcome table as ``impact.outcomes`` builds it: ``retained`` and ``rmst_days`` (days
    from launch to the last purchase, whole days); treated customers' lapse ages are Weibull
    with ``shape_treated`` (PH holds at 1)."""
    rng = np.random.default_rng(seed)
    treated = rng.random(n) < 0.5
    u = rng.random(n)
    t = np.where(treated, 250 * (-np.log(u)) ** (1 / shape_treated), 250 * -np.log(u) / 0.8)
    lapsed = t < horizon
    out = pd.DataFrame({"retained": (~lapsed).astype(int),
                        "rmst_days": np.where(lapsed, np.floor(t), float(horizon))})
    out.attrs["horizon"] = horizon
    return out, treated


@pytest.mark.parametrize("shape, seed", [(1.0, 3), (1.3, 4)])
def test_lapse_hazard_ratio_and_ph_check_are_per_customer(shape, seed):
    out, treated = _outcomes(seed, 3000, shape)
    row, check = cox_hazard_ratio(out, treated)
    tab = launch_survival_table(out).assign(treated=treated.astype(float))
    ref = CoxPHFitter().fit(tab, "duration", "churned")
    assert row["hazard_ratio"] == pytest.approx(float(np.exp(ref.params_["treated"])), rel=1e-9)
    assert row["se"] == pytest.approx(float(ref.standard_errors_["treated"]), rel=1e-9)
    assert row["n"] == 3000
    p = float(proportional_hazard_test(ref, tab, time_transform="rank").p_value[0])
    assert check["value"] == pytest.approx(p, rel=1e-6)
    if shape == 1.3:           # Weibull 1.3 against exponential: the check must warn
        assert check["status"] == "warn" and p < 1e-3
