"""The loyalty-experiment simulator: determinism, the contract, and a truth that is really true."""
import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from retention_lab.schema import validate_customers, validate_surveys, validate_transactions

sim = rl.datasets.simulate_loyalty_experiment
METRICS = ["purchases", "spend", "aov", "retention", "rmst", "alive", "clv", "nps", "csat"]


@pytest.fixture(scope="module")
def randomized():
    return sim(20_000, design="randomized", seed=11)


@pytest.fixture(scope="module")
def self_selected():
    return sim(20_000, design="self_selected", seed=11)


def test_deterministic_per_seed():
    a, b, c = sim(2_000, seed=5), sim(2_000, seed=5), sim(2_000, seed=6)
    pd.testing.assert_frame_equal(a.transactions, b.transactions)
    pd.testing.assert_frame_equal(a.customers, b.customers)
    assert a.truth["itt"] == b.truth["itt"]
    assert not a.transactions["amount"].equals(c.transactions["amount"])


def test_tables_follow_the_data_contract(randomized):
    exp = randomized
    tx, q = validate_transactions(exp.transactions, observation_end=exp.observation_end,
                                  returns="error")
    assert len(tx) == len(exp.transactions) and q.n_excluded() == 0
    cu, _ = validate_customers(exp.customers, observation_end=exp.observation_end)
    validate_surveys(exp.surveys, observation_end=exp.observation_end)
    assert set(cu["arm"]) == {"control", "treatment"}
    assert exp.transactions["order_id"].is_unique
    # acquisition: the first purchase of every customer is their signup date, before launch
    first = exp.transactions.groupby("customer_id")["date"].min()
    signup = exp.customers.set_index("customer_id")["signup_date"]
    assert (first == signup.loc[first.index]).all() and len(first) == 20_000
    assert (signup < exp.launch_date).all()
    assert exp.transactions["date"].max() <= exp.observation_end
    # controls cannot enrol; members enrol after launch
    enrolled = exp.customers.dropna(subset=["enrolled_at"])
    assert (enrolled["arm"] == "treatment").all()
    assert (enrolled["enrolled_at"] >= exp.launch_date).all()


def test_default_effects_are_in_the_practitioners_ranges(randomized):
    members = randomized.truth["effect_on_members"]
    assert 0.17 < members["purchases"]["rel_lift"] < 0.25        # purchase frequency ≈ +20 %
    assert 0.05 <= members["retention"]["abs_diff"] <= 0.10      # 12-month retention +5–10 pts
    assert 0.3 < randomized.truth["take_up"] < 0.36               # ≈ 0.5 invited × 0.5 × active
    assert randomized.truth["roi"]["roi"] > 0                     # the default programme pays


def test_null_programme_has_exactly_zero_true_effects():
    exp = sim(5_000, seed=3, freq_lift=0, dropout_reduction=0, spend_lift=0, nps_lift=0,
              csat_lift=0)
    for estimand in ("itt", "effect_on_members"):
        for metric in METRICS:
            assert exp.truth[estimand][metric]["abs_diff"] == pytest.approx(0, abs=1e-9), metric


def test_truth_matches_a_large_sample_monte_carlo():
    """The finite-sample truth at 20k customers is close to the superpopulation value (200k)."""
    big = sim(200_000, seed=101).truth["effect_on_members"]
    small = [sim(20_000, seed=s).truth["effect_on_members"] for s in (1, 2, 3)]
    for metric, tol in (("purchases", 0.04), ("retention", 0.006), ("spend", 3.0)):
        mean_small = np.mean([t[metric]["abs_diff"] for t in small])
        assert mean_small == pytest.approx(big[metric]["abs_diff"], abs=tol), metric


def test_randomized_difference_in_means_recovers_the_itt(randomized):
    exp = randomized
    tx, cu = exp.transactions, exp.customers.set_index("customer_id")
    h = pd.Timedelta(days=365)
    post = tx[(tx["date"] >= exp.launch_date) & (tx["date"] < exp.launch_date + h)]
    orders = post.groupby("customer_id").size().reindex(cu.index, fill_value=0)
    by_arm = orders.groupby(cu["arm"])
    diff = by_arm.mean()["treatment"] - by_arm.mean()["control"]
    se = np.sqrt((by_arm.var() / by_arm.size()).sum())
    truth = exp.truth["itt"]["purchases"]["abs_diff"]
    assert abs(diff - truth) < 3 * se
    assert exp.truth["itt"]["purchases"]["control"] == pytest.approx(by_arm.mean()["control"],
                                                                     rel=0.05)


def test_self_selected_naive_comparison_is_badly_biased(self_selected):
    truth = self_selected.truth
    for metric in ("purchases", "retention", "spend"):
        true_effect = truth["effect_on_members"][metric]["abs_diff"]
        naive = truth["naive"][metric]["abs_diff"]
        assert naive - true_effect > 0.5 * true_effect, metric
    # members were heavier buyers before launch (self-selection on prior activity)
    exp = self_selected
    pre = exp.transactions[exp.transactions["date"] < exp.launch_date]
    orders = pre.groupby("customer_id").size()
    member = exp.customers.set_index("customer_id")["enrolled_at"].notna()
    assert orders[member[member].index].mean() > 1.3 * orders[member[~member].index].mean()


def test_retention_truth_is_what_the_observed_data_show(randomized):
    """Observed arm-level retention (a purchase after launch + h) equals the truth's world."""
    exp = randomized
    tx, cu = exp.transactions, exp.customers.set_index("customer_id")
    later = tx[tx["date"] > exp.launch_date + pd.Timedelta(days=365)]
    retained = cu.index.isin(later["customer_id"])
    control = retained[(cu["arm"] == "control").to_numpy()].mean()
    true_control = exp.truth["itt"]["retention"]["control"]
    n_control = (cu["arm"] == "control").sum()
    assert abs(control - true_control) < 3 * np.sqrt(true_control * (1 - true_control) / n_control)


def test_surveys_are_a_random_sample_on_their_scales(randomized):
    s = randomized.surveys
    assert s["nps"].between(0, 10).all() and s["csat"].between(1, 5).all()
    assert 0.27 < len(s) / 20_000 < 0.33
    assert (s["date"] >= randomized.launch_date).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="design must be"):
        sim(100, design="observational")
