"""Kaplan–Meier curves, retention at horizons and the log-rank test: exactly lifelines' numbers
on its own datasets; Greenwood SEs by hand; input guards."""
import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_waltons
from lifelines.statistics import multivariate_logrank_test

import retention_lab as rl
from retention_lab import DataError


@pytest.fixture(scope="module")
def waltons():
    return load_waltons()


def test_km_per_group_is_exactly_lifelines(waltons):
    rc = rl.survival.RetentionCurves().fit(waltons, "group", duration_col="T", event_col="E")
    for label, part in waltons.groupby("group"):
        ref = KaplanMeierFitter().fit(part["T"], part["E"])
        got = rc.fitters_[label]
        np.testing.assert_allclose(got.survival_function_.to_numpy(),
                                   ref.survival_function_.to_numpy(), rtol=0, atol=1e-15)
        np.testing.assert_allclose(got.confidence_interval_.to_numpy(),
                                   ref.confidence_interval_.to_numpy(), rtol=0, atol=1e-15)
        assert rc.summary.loc[label, "median_lifetime"] == ref.median_survival_time_
    # published by lifelines' docs: medians 58 (control) and 26 (miR-137) days
    assert rc.summary["median_lifetime"].to_dict() == {"control": 58.0, "miR-137": 26.0}
    assert rc.summary.loc["control", "customers"] == 129
    assert rc.summary.loc["miR-137", "churned"] == 34


def test_retention_at_horizon_band_and_greenwood(waltons):
    rc = rl.survival.RetentionCurves().fit(waltons, "group", duration_col="T", event_col="E")
    tab = rc.retention_at([30, 50, 200]).set_index(["group", "horizon"])
    part = waltons[waltons.group == "control"]
    ref = KaplanMeierFitter().fit(part["T"], part["E"])
    s = float(ref.survival_function_at_times(50).iloc[0])
    assert tab.loc[("control", 50.0), "estimate"] == pytest.approx(s, abs=1e-15)
    ci = ref.confidence_interval_.loc[:50].iloc[-1]
    assert tab.loc[("control", 50.0), "lower 95%"] == pytest.approx(ci.iloc[0], abs=1e-15)
    assert tab.loc[("control", 50.0), "upper 95%"] == pytest.approx(ci.iloc[1], abs=1e-15)
    # Greenwood by hand
    et = ref.event_table.loc[:50]
    n, d = et["at_risk"], et["observed"]
    gw = s * np.sqrt((d / (n * (n - d))).sum())
    assert tab.loc[("control", 50.0), "se"] == pytest.approx(gw, rel=1e-12)
    # beyond the last follow-up (75 days) Kaplan–Meier says nothing
    assert np.isnan(tab.loc[("control", 200.0), "estimate"])
    assert "beyond follow-up" in tab.loc[("control", 200.0), "method"]


def test_collapsed_rows_give_the_same_curve():
    d = rl.survival.simulate_lifetimes(3000, seed=1)
    rc = rl.survival.RetentionCurves().fit(d)
    ref = KaplanMeierFitter().fit(d["duration"], d["churned"])
    got = rc.fitters_["all customers"]
    np.testing.assert_allclose(got.survival_function_.to_numpy(),
                               ref.survival_function_.to_numpy(), atol=1e-12)
    np.testing.assert_allclose(got.confidence_interval_.to_numpy(),
                               ref.confidence_interval_.to_numpy(), atol=1e-12)


def test_logrank_matches_lifelines_two_and_three_groups(waltons):
    r = rl.survival.logrank(waltons, "group", duration_col="T", event_col="E")
    ref = multivariate_logrank_test(waltons["T"], waltons["group"], waltons["E"])
    assert r.statistic == pytest.approx(ref.test_statistic, rel=1e-12)
    assert r.df == 1 and r.p_value == pytest.approx(ref.p_value, abs=1e-300)
    assert "differ" in r.interpretation
    d = rl.survival.simulate_lifetimes(2000, hazard_ratio=1.0, seed=2)
    r3 = rl.survival.logrank(d, "channel")
    ref3 = multivariate_logrank_test(d["duration"], d["channel"], d["churned"])
    assert r3.statistic == pytest.approx(ref3.test_statistic, rel=1e-10)
    assert r3.df == 2 and r3.p_value > 0.05        # channel has no effect in the simulation
    assert "No evidence" in r3.interpretation


def test_input_guards_name_column_rule_and_count():
    d = pd.DataFrame({"duration": [1.0, -2.0, 3.0, -1.0], "churned": [1, 0, 1, 2]})
    with pytest.raises(DataError, match=r"duration: 2 of 4 rows break the rule 'duration >= 0'"):
        rl.survival.RetentionCurves().fit(d)
    d["duration"] = d["duration"].abs()
    with pytest.raises(DataError, match=r"churned: 1 of 4 rows break the rule 'churned is 0 or 1'"):
        rl.survival.RetentionCurves().fit(d)
    with pytest.raises(DataError, match="missing required column"):
        rl.survival.logrank(d.assign(churned=1), "segment")
