"""Unit tests of the impact estimators on small synthetic studies with known effects."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention_lab import impact
from retention_lab.experiment_data import ExperimentData


def synth_study(n=4000, seed=0, lift=0.25, take_up=0.6, retain_lift=0.10, randomized=True,
                launch="2024-01-01", horizon=365, tail=182):
    """Customers with a gamma purchase rate; enrolment multiplies the post-launch rate by
    ``1 + lift`` and the retention-window purchase probability by ``1 + retain_lift``."""
    rng = np.random.default_rng(seed)
    launch = pd.Timestamp(launch)
    lam = rng.gamma(2.0, 2.0 / 365, n)                 # purchases per day, mean 4 a year
    tenure = rng.integers(1, 366, n)
    signup = launch - pd.to_timedelta(tenure, "D")
    arm = rng.random(n) < 0.5 if randomized else np.zeros(n, bool)
    D = arm & (rng.random(n) < take_up)
    k_pre = 1 + rng.poisson(lam * tenure)
    k_post = rng.poisson(lam * (1 + lift * D) * horizon)
    p_ret = np.minimum(1.0, (1 - np.exp(-lam * tail)) * (1 + retain_lift * D))
    k_late = (rng.random(n) < p_ret).astype(int)
    ids = [np.arange(n), np.repeat(np.arange(n), k_pre - 1), np.repeat(np.arange(n), k_post),
           np.repeat(np.arange(n), k_late)]
    days = [np.zeros(n, int),
            (rng.random(ids[1].size) * tenure[ids[1]]).astype(int),
            tenure[ids[2]] + rng.integers(0, horizon, ids[2].size),
            tenure[ids[3]] + horizon + rng.integers(1, tail + 1, ids[3].size)]
    cid = np.concatenate(ids)
    dates = signup[cid] + pd.to_timedelta(np.concatenate(days), "D")
    rows = pd.DataFrame({"customer_id": cid, "date": dates, "amount": rng.gamma(4, 10, cid.size)})
    tx = rows
    enrolled_at = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    enrolled_at[D] = launch
    cust = pd.DataFrame({"customer_id": np.arange(n), "signup_date": signup,
                         "enrolled_at": enrolled_at.to_numpy(),
                         "tier": np.where(lam > np.quantile(lam, 0.7), "gold", "bronze")})
    if randomized:
        cust["arm"] = np.where(arm, "treatment", "control")
    data = ExperimentData(tx, cust, None, launch + pd.Timedelta(days=horizon + tail), launch,
                          "randomized" if randomized else "self_selected")
    truth = dict(lam=lam, D=D, arm=arm)
    return data, truth


@pytest.fixture(scope="module")
def study():
    return synth_study()


def test_outcome_table_counts(study):
    data, truth = study
    out = impact.outcome_table(data, horizon_days=365)
    assert len(out) == 4000
    assert (out["pre_orders"] >= 1).all()
    launch = data.launch_date
    tx = data.transactions
    post = tx[(tx.date >= launch) & (tx.date < launch + pd.Timedelta(days=365))]
    # purchases are purchase days (issue 19): distinct customer-days, not lines
    assert out["orders"].sum() == len(post.assign(day=post.date.dt.normalize())
                                      .drop_duplicates(["customer_id", "day"]))
    assert out["spend"].sum() == pytest.approx(post["amount"].sum())
    assert out["enrolled"].sum() == truth["D"].sum()
    assert (out["exposure_days"] == 365).all()


def test_wald_matches_hand_computation(study):
    data, truth = study
    out = impact.outcome_table(data)
    eff, tu = impact.itt_and_members(out, ("purchases",), adjust=False)
    z = out["arm_treated"] == 1
    itt = out.loc[z, "orders"].mean() - out.loc[~z, "orders"].mean()
    take = out.loc[z, "enrolled"].mean()
    row = eff.set_index("estimand").loc["effect on members"]
    assert eff.set_index("estimand").loc["ITT", "abs_diff"] == pytest.approx(itt)
    assert row["abs_diff"] == pytest.approx(itt / take, rel=1e-6)
    assert tu["take_up"] == pytest.approx(take)
    # complier treated level = members' mean in the invited arm (one-sided non-compliance)
    assert row["treatment"] == pytest.approx(out.loc[z & (out.enrolled == 1), "orders"].mean(),
                                             rel=1e-6)
    # true per-member lift of the rate is 25 %: the interval covers it
    assert row["rel_ci_low"] < 0.25 < row["rel_ci_high"]


def test_cuped_shrinks_the_interval_and_keeps_the_estimate_close(study):
    data, _ = study
    out = impact.outcome_table(data)
    adj, _ = impact.itt_and_members(out, ("purchases", "spend"))
    raw, _ = impact.itt_and_members(out, ("purchases", "spend"), adjust=False)
    a, r = adj.set_index(["metric", "estimand"]), raw.set_index(["metric", "estimand"])
    key = ("purchases", "ITT")
    assert a.loc[key, "se"] < 0.9 * r.loc[key, "se"]
    assert abs(a.loc[key, "abs_diff"] - r.loc[key, "abs_diff"]) < 2 * r.loc[key, "se"]


def test_nb_rate_ratio_equals_ratio_of_means_with_equal_exposure(study):
    data, _ = study
    out = impact.outcome_table(data)
    from retention_lab.impact.core.frequency import nb_rate_ratio
    z = out["arm_treated"].to_numpy() == 1
    row = nb_rate_ratio(out["orders"], out["exposure_days"], z)
    ratio = out.loc[z, "orders"].mean() / out.loc[~z, "orders"].mean()
    assert row["rate_ratio"] == pytest.approx(ratio, rel=1e-4)
    assert row["rel_ci_low"] < 0.25 * 0.6 < row["rel_ci_high"]   # ITT = lift × take-up


def test_srm_fails_when_a_tenth_of_one_arm_is_lost():
    z = np.r_[np.ones(5000), np.zeros(4500)]
    assert impact.srm_check(z)["status"] == "fail"
    assert impact.srm_check(np.r_[np.ones(5000), np.zeros(4950)])["status"] == "pass"


def test_smd_known_value():
    x = np.r_[np.ones(50) * 1.0, np.zeros(50)] + np.r_[np.arange(50), np.arange(50)] % 2
    t = np.r_[np.ones(50), np.zeros(50)].astype(bool)
    s = np.sqrt((x[t].var(ddof=1) + x[~t].var(ddof=1)) / 2)
    assert impact.smd(x, t) == pytest.approx(1.0 / s)


def test_ipw_recovers_effect_under_known_selection():
    """Self-selection on a pre-period covariate: naive is biased, IPW-ATT is not."""
    rng = np.random.default_rng(3)
    n = 20000
    pre = rng.poisson(3, n).astype(float) + 1
    e = 1 / (1 + np.exp(-(-2 + 0.5 * pre)))
    D = rng.random(n) < e
    lam = 0.5 * pre
    y = rng.poisson(lam * (1 + 0.2 * D))
    out = pd.DataFrame({"pre_orders": pre, "eligible": 1.0, "enrolled": D.astype(float),
                        "orders": y.astype(float), "spend": 10.0 * y, "retained": 0.0,
                        "rmst_days": 0.0})
    ps = impact.fit_propensity(out, pd.DataFrame({"pre_orders": pre}))
    att = impact.att_effects(out, ps, ("purchases",)).iloc[0]
    true_att = np.mean(lam[D] * 0.2)
    naive = y[D].mean() - y[~D].mean()
    assert naive > 2 * true_att
    assert att["ci_low"] < true_att < att["ci_high"]
    assert abs(att["abs_diff"] - true_att) < 0.1 * true_att + 2 * att["se"]


def test_holm_and_bh_match_statsmodels():
    from statsmodels.stats.multitest import multipletests

    from retention_lab.impact.core.heterogeneity import segment_effects
    rng = np.random.default_rng(0)
    out = pd.DataFrame({"seg": rng.choice(list("abcd"), 4000)})
    pvals = {"a": 0.001, "b": 0.02, "c": 0.04, "d": 0.5}

    def est(mask, metrics):
        lvl = out.loc[mask, "seg"].iloc[0]
        return pd.DataFrame([dict(metric="purchases", estimand="ITT", abs_diff=1.0, se=0.5,
                                  p_value=pvals[lvl], control=1, treatment=2)])
    for corr, name in (("holm", "holm"), ("bh", "fdr_bh")):
        res = segment_effects(out, "seg", est, correction=corr)
        exp = multipletests(list(pvals.values()), method=name)[1]
        assert np.allclose(res.sort_values("level")["p_adjusted"], exp)


def test_mde_matches_statsmodels_power():
    from retention_lab.impact.core.power import mde_table
    rng = np.random.default_rng(1)
    out = pd.DataFrame({"y": rng.normal(10, 2, 2000)})
    t = np.r_[np.ones(1000), np.zeros(1000)].astype(bool)
    tab = mde_table(out, t, ~t, columns={"m": "y"})
    sd = np.sqrt((out.y[t].var() + out.y[~t].var()) / 2)
    # closed form of the two-sided z-test (the far tail, Φ(−z − d/se) ≈ 1e-10, is ignored;
    # statsmodels solves numerically, to a few parts per million)
    from scipy import stats
    d = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * np.sqrt(2 / 1000)
    assert tab.iloc[0]["mde_abs"] == pytest.approx(d * sd, rel=1e-5)
    assert tab.iloc[0]["mde_abs"] == pytest.approx(2.8 * sd * np.sqrt(2 / 1000), rel=0.01)


def test_missing_launch_date_is_a_data_error(study):
    from retention_lab import DataError
    data, _ = study
    bare = ExperimentData(data.transactions, data.customers.drop(columns="enrolled_at"), None,
                          data.observation_end, None)
    with pytest.raises(DataError, match="launch_date"):
        impact.outcome_table(bare)


def test_horizon_past_observation_end_is_a_data_error(study):
    from retention_lab import DataError
    data, _ = study
    with pytest.raises(DataError, match="launch \\+ horizon"):
        impact.outcome_table(data, horizon_days=600)


def test_geometric_clv_value_of_retention_gain():
    from retention_lab.impact.core.context import geometric_clv, retention_gain_value
    assert geometric_clv(100, 0.5, years=3, annual_discount=0.0) == pytest.approx(175.0)
    v = retention_gain_value(0.5, 100, gain=0.05, years=3, monthly_discount=0.0)
    assert v["clv_with_gain"] == pytest.approx(100 * (1 + 0.55 + 0.55 ** 2))
