"""Churn probability given current age (lifelines' conditional survival; known exponential
truth), holdout concordance and calibration, and the at-risk list's triggers."""
import numpy as np
import pandas as pd
import pytest
from lifelines.utils import concordance_index

import retention_lab as rl
from retention_lab import DataError


def test_concordance_se_matches_lifelines_and_bootstrap():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 60, 600).astype(float)
    e = rng.integers(0, 2, 600)
    r = rng.integers(0, 6, 600).astype(float) - 0.02 * t   # ties in time and in risk
    c, se = rl.survival.concordance_se(t, r, e)
    assert c == pytest.approx(concordance_index(t, -r, e), rel=1e-12)
    boots = [concordance_index(t[i], -r[i], e[i])
             for i in (rng.integers(0, 600, 600) for _ in range(300))]
    assert se == pytest.approx(np.std(boots, ddof=1), rel=0.2)


@pytest.fixture(scope="module")
def lifetimes():
    return rl.survival.simulate_lifetimes(5000, hazard_ratio=0.4, seed=51, scale=200)


def test_probability_given_current_age(lifetimes):
    m = rl.survival.ChurnRiskModel().fit(lifetimes, ["x", "channel"])
    new = pd.DataFrame({"x": [0.0, 1.0, 1.0], "channel": ["email", "email", "social"]})
    ages = np.array([10.5, 100.5, 150.5])
    p = m.predict_churn_probability(new, 90, ages)
    # Breslow's estimator by hand: H(t | x) = Σ_{t_i ≤ t} d_i / Σ_{j: t_j ≥ t_i} exp(x_jᵀβ) · exp(xᵀβ)
    X = m.design(lifetimes)
    beta = m.fitter_.params_[X.columns].to_numpy()
    risk = np.exp(X.to_numpy() @ beta)
    t, e = lifetimes["duration"].to_numpy(), lifetimes["churned"].to_numpy()
    times = np.unique(t[e == 1])
    steps = np.array([((t == u) & (e == 1)).sum() / risk[t >= u].sum() for u in times])
    H0 = lambda lo, hi: steps[(times >= lo) & (times <= hi)].sum()  # noqa: E731
    rel = np.exp(m.design(new).to_numpy() @ beta)
    hand = [1 - np.exp(-H0(a, a + 90) * r) for a, r in zip(ages, rel)]
    np.testing.assert_allclose(p.to_numpy(), hand, rtol=1e-9)
    # exponential truth: memoryless, P = 1 − exp(−h · HR^x / scale) at any age
    truth = 1 - np.exp(-90 * np.array([1.0, 0.4, 0.4]) / 200)
    np.testing.assert_allclose(p.to_numpy(), truth, atol=0.04)
    with pytest.raises(DataError, match="level seen when the model was fitted"):
        m.predict_churn_probability(new.assign(channel="tv"), 90)


def test_age_zero_counts_lapses_at_age_zero():
    d = rl.survival.simulate_lifetimes(3000, hazard_ratio=1.0, seed=52)
    d.loc[d.index[:300], ["duration", "churned"]] = [0, 1]
    m = rl.survival.ChurnRiskModel().fit(d, ["channel"])
    km = rl.survival.RetentionCurves().fit(d).retention_at([120])["estimate"].iloc[0]
    assert m.predict_churn_probability(d, 120).mean() == pytest.approx(1 - km, abs=0.01)


def test_holdout_concordance_and_calibration(lifetimes):
    h = rl.survival.holdout_evaluation(lifetimes, ["x", "channel"], 180, seed=1)
    assert h.n == 1500 and h.c_index_ci[0] > 0.55 and h.c_index_ci[0] < h.c_index < h.c_index_ci[1]
    assert h.ici < 0.05
    assert (h.calibration["n"] == 150).all()
    assert list(h.summary.index) == ["concordance index", "integrated calibration index"]
    assert "concordance" in h.interpretation


def test_at_risk_list_triggers():
    end = pd.Timestamp("2024-12-31")
    t = pd.DataFrame({
        "first_purchase": pd.to_datetime(["2024-01-01"] * 4),
        "last_purchase": pd.to_datetime(["2024-12-20", "2024-11-01", "2024-12-25", "2024-05-01"]),
        "duration": [275.0, 275.0, 275.0, 121.0], "churned": [0, 0, 0, 1],
        "x": [0.0, 0.0, 1.0, 0.0], "channel": ["email"] * 4,
    }, index=pd.Index([1, 2, 3, 4], name="customer_id"))
    t.attrs.update(observation_end=end, unit="D")
    m = rl.survival.ChurnRiskModel().fit(
        rl.survival.simulate_lifetimes(3000, hazard_ratio=0.4, seed=53, scale=200),
        ["x", "channel"])
    full = rl.survival.at_risk_list(t, m, 90, only_at_risk=False, health_threshold=60)
    assert 4 not in full.index                               # confirmed lapsed: not scored
    assert full.loc[2, "days_since_last_purchase"] == 60 and bool(full.loc[2, "inactive_trigger"])
    assert not bool(full.loc[1, "inactive_trigger"])        # bought 11 days ago
    assert full.loc[1, "age"] == 365
    assert full.loc[3, "health_score"] > full.loc[1, "health_score"]   # x = 1 lapses less
    assert full["rank"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(full["health_score"], 100 * (1 - full["churn_probability"]))
    listed = rl.survival.at_risk_list(t, m, 90, health_threshold=60)
    assert set(listed.index) == set(full.index[full["reason"] != ""])
    assert 2 in listed.index
    s = rl.survival.at_risk_summary(full)
    assert s["customers"].sum() == 3


# -- issue 13, defect 4: the churn probability conditions on the silence since the last purchase

def _purchases_with_future(n=4000, seed=61, acquisition=365):
    """Transactions up to observation end E from a Pareto/NBD process (Poisson purchases while
    alive at a gamma-distributed rate, mean 1/25 per day; exponential lifetimes with gamma-
    distributed death rates, mean lifetime ~250 days), plus each customer's true lapse age (age
    at their last purchase ever, simulated past E). Ages are whole days."""
    rng = np.random.default_rng(seed)
    start, E = pd.Timestamp("2024-01-01"), float(acquisition)
    first = np.floor(rng.uniform(0, acquisition - 1, n))
    rate = rng.gamma(2.0, 1 / 50, n)
    life = rng.exponential(1 / rng.gamma(3.0, 1 / 500, n))
    k = rng.poisson(rate * life)
    cust = np.repeat(np.arange(n), k)
    ages = np.floor(rng.uniform(0, np.repeat(life, k)))
    p = pd.DataFrame({"c": np.concatenate([np.arange(n), cust]),
                      "age": np.concatenate([np.zeros(n), ages])}).drop_duplicates()
    last_age = p.groupby("c")["age"].max().to_numpy()
    seen = p.loc[first[p["c"]] + p["age"] <= E]
    tx = pd.DataFrame({"customer_id": seen["c"].to_numpy() + 1, "amount": 10.0,
                       "date": start + pd.to_timedelta(first[seen["c"]] + seen["age"], "D")})
    ids = np.arange(1, n + 1)
    channel = pd.Series(rng.choice(["email", "search"], n), index=ids)
    return tx, start + pd.Timedelta(days=E), pd.Series(last_age, index=ids), channel


def test_churn_probability_conditions_on_inactivity():
    tx, end, true_lapse, channel = _purchases_with_future(n=6000, acquisition=730)
    churn = rl.features.churn_table(tx, inactivity_days=90, observation_end=end)
    churn["channel"] = channel.reindex(churn.index)
    m = rl.survival.ChurnRiskModel().fit(churn, ["channel"])
    assert m.activity_ is not None
    # two customers alike in all but their silence: 1 day vs 87 days (old code: both 0.3712)
    twins = churn.loc[churn["churned"] == 0].iloc[[0, 0]].copy()
    twins.index = pd.Index([1, 2], name="customer_id")
    twins["first_purchase"] = end.normalize() - pd.Timedelta(days=200)
    twins["last_purchase"] = end.normalize() - pd.to_timedelta([1, 87], "D")
    twins["n_purchases"] = 6
    pair = rl.survival.at_risk_list(twins.assign(duration=200.0), m, 90, only_at_risk=False)
    assert pair.loc[2, "churn_probability"] > pair.loc[1, "churn_probability"] + 0.2
    assert pair.loc[2, "probability_returning"] < pair.loc[1, "probability_returning"]
    # calibration against the simulated future: realized lapses within 90 days of the end
    # (rows whose horizon passes the longest follow-up are extrapolated by the Cox baseline)
    scored = rl.survival.at_risk_list(churn, m, 90, only_at_risk=False)
    scored = scored.loc[~scored["extrapolated"]]
    realized = (true_lapse.reindex(scored.index) <= scored["age"] + 90).astype(float)
    silent = scored["days_since_last_purchase"] >= 45
    for part in (silent, ~silent):
        assert part.sum() > 150
        assert scored.loc[part, "churn_probability"].mean() == pytest.approx(
            realized[part].mean(), abs=0.07)
    assert scored.loc[silent, "churn_probability"].mean() > \
        scored.loc[~silent, "churn_probability"].mean() + 0.15
