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


# --- design="rolling": enrolment at a purchase, customers acquired before and after launch ---

@pytest.fixture(scope="module")
def rolling():
    return sim(4_000, design="rolling", seed=21)


def test_rolling_is_deterministic_per_seed():
    a, b = sim(1_500, design="rolling", seed=4), sim(1_500, design="rolling", seed=4)
    c = sim(1_500, design="rolling", seed=5)
    pd.testing.assert_frame_equal(a.transactions, b.transactions)
    pd.testing.assert_frame_equal(a.customers, b.customers)
    pd.testing.assert_frame_equal(a.truth["members"], b.truth["members"])
    assert a.truth["effect_on_members"] == b.truth["effect_on_members"]
    assert not a.transactions["amount"].equals(c.transactions["amount"])


def test_rolling_follows_the_data_contract_and_survives_a_csv_round_trip(rolling, tmp_path):
    exp = rolling
    tx, q = validate_transactions(exp.transactions, observation_end=exp.observation_end,
                                  returns="error")
    assert len(tx) == len(exp.transactions) and q.n_excluded() == 0
    cu, qc = validate_customers(exp.customers, observation_end=exp.observation_end)
    assert qc.n_excluded() == 0 and "arm" not in cu.columns
    validate_surveys(exp.surveys, observation_end=exp.observation_end)
    assert exp.design == "self_selected" and exp.truth["design"] == "rolling"
    paths = {}
    for name in ("transactions", "customers", "surveys"):
        paths[name] = tmp_path / f"{name}.csv"
        getattr(exp, name).to_csv(paths[name], index=False)
    back = rl.io.read_experiment(transactions=paths["transactions"],
                                 customers=paths["customers"], surveys=paths["surveys"],
                                 observation_end=exp.observation_end.date().isoformat(),
                                 launch_date="2025-01-01", design="self_selected")
    assert back.quality.n_excluded() == 0
    assert len(back.transactions) == len(exp.transactions)
    got = back.customers.set_index("customer_id")["enrolled_at"]
    want = exp.customers.set_index("customer_id")["enrolled_at"]
    want.index = want.index.astype(str)   # ids from a CSV are read as text, never coerced
    pd.testing.assert_series_equal(got.loc[want.index], want, check_names=False)
    assert back.transactions["amount"].sum() == pytest.approx(exp.transactions["amount"].sum())


def test_rolling_acquires_customers_after_launch_and_they_can_enrol(rolling):
    exp = rolling
    cu = exp.customers.set_index("customer_id")
    first = exp.transactions.groupby("customer_id")["date"].min()
    assert (first == cu["signup_date"].loc[first.index]).all() and len(first) == len(cu)
    late = cu["signup_date"] >= exp.launch_date
    assert 0.28 < late.mean() < 0.39                       # 183 of 548 acquisition days
    assert cu.loc[late, "enrolled_at"].notna().sum() > 50  # members with no pre-launch history
    assert cu["signup_date"].max() < exp.launch_date + pd.Timedelta(days=183)


def test_rolling_enrolment_happens_at_a_purchase_after_launch(rolling):
    """Each member has an order on their enrolment day, enrolled at their 3rd order or later,
    and the enrolment dates are spread over the follow-up (rolling, not one launch day)."""
    exp = rolling
    members = exp.customers.dropna(subset=["enrolled_at"])
    assert (members["enrolled_at"] >= exp.launch_date).all()
    tx = exp.transactions.merge(members[["customer_id", "enrolled_at"]], on="customer_id")
    on_day = tx[tx["date"] == tx["enrolled_at"]].groupby("customer_id").size()
    assert on_day.reindex(members["customer_id"], fill_value=0).gt(0).all()
    upto = tx[tx["date"] <= tx["enrolled_at"]].groupby("customer_id").size()
    assert upto.reindex(members["customer_id"], fill_value=0).ge(3).all()
    k = exp.truth["members"].set_index("customer_id")["enrol_purchase"]
    assert (k >= 3).all() and (k.loc[upto.index] <= upto).all()
    months = members["enrolled_at"].dt.to_period("M").nunique()
    assert months >= 20 and 0.15 < exp.truth["take_up"] < 0.6


def _brute_force_member_outcomes(tx, members, h, end, r):
    """Loop over members and their orders: purchases, spend in (d0, d0 + h], retention (an
    order in (d0 + h, d0 + h + r], r = None: up to ``end``), rmst."""
    by_customer = {c: g for c, g in tx.groupby("customer_id")}
    rows = []
    for cid, d0 in zip(members["customer_id"], members["enrolled_at"]):
        orders = by_customer[cid]
        purchases, spend, retained, last = 0, 0.0, False, None
        for date, amount in zip(orders["date"], orders["amount"]):
            if d0 < date <= d0 + h:
                purchases += 1
                spend += amount
            if d0 + h < date <= (end if r is None else d0 + h + r):
                retained = True
            last = date if last is None or date > last else last
        rmst = min(max((last - d0).days, 0), h.days)
        rows.append((cid, purchases, spend, float(retained), float(rmst)))
    return pd.DataFrame(rows, columns=["customer_id", "purchases", "spend", "retention", "rmst"])


@pytest.mark.parametrize("retention_days", [90, None])
def test_rolling_truth_equals_a_brute_force_recomputation(retention_days):
    """Both potential outcomes of every member, recomputed order by order from the observed
    table (world 1) and the untreated world's table (world 0), give the stored truth."""
    exp = sim(600, design="rolling", seed=8, spend_lift=0.1, retention_days=retention_days)
    truth, h = exp.truth, pd.Timedelta(days=exp.truth["windows"]["horizon_days"])
    r = None if retention_days is None else pd.Timedelta(days=retention_days)
    assert truth["windows"]["retention_days"] == retention_days
    members = truth["members"]
    assert len(members) > 100
    for world, tx in ((1, exp.transactions), (0, truth["untreated_transactions"])):
        brute = _brute_force_member_outcomes(tx, members, h, exp.observation_end, r)
        ok = members["evaluable"].to_numpy()  # the others' windows run past the data
        for metric in ("purchases", "spend", "retention", "rmst"):
            np.testing.assert_allclose(members.loc[ok, f"{metric}_{world}"], brute[metric][ok],
                                       atol=1e-9, err_msg=f"{metric}, world {world}")
    ev = members[members["evaluable"]]
    reach = h + (r if r is not None else pd.Timedelta(0))
    assert (ev["enrolled_at"] + reach <= exp.observation_end).all()
    assert not members.loc[~members["evaluable"], "enrolled_at"].add(reach).le(
        exp.observation_end).any()
    table = truth["effect_on_members"]
    for metric in ("purchases", "spend", "retention", "rmst"):
        assert table[metric]["control"] == pytest.approx(ev[f"{metric}_0"].mean(), abs=1e-9)
        assert table[metric]["treatment"] == pytest.approx(ev[f"{metric}_1"].mean(), abs=1e-9)
    aov0 = ev["spend_0"].sum() / ev["purchases_0"].sum()
    assert table["aov"]["control"] == pytest.approx(aov0, rel=1e-12)
    assert table["aov"]["rel_lift"] == pytest.approx(0.1, abs=0.05)  # spend_lift (mix shifts)


def test_rolling_truth_has_the_closed_form_lifts_without_dropout():
    """With (almost) no dropout a member's window orders are Poisson(λ h) without and
    Poisson(λ (1 + f) h) with the programme, so the true lifts are f on purchases, s on AOV and
    (1 + f)(1 + s) − 1 on spend, whatever the selection (an oracle outside the simulator's
    bookkeeping)."""
    exp = sim(8_000, design="rolling", seed=1, a=1e-4, b=10, freq_lift=0.2,
              dropout_reduction=0, spend_lift=0.1, latent_selection=1.0)
    t = exp.truth["effect_on_members"]
    assert t["purchases"]["rel_lift"] == pytest.approx(0.2, abs=0.012)  # ~3 MC s.e.
    assert t["aov"]["rel_lift"] == pytest.approx(0.1, abs=0.01)
    assert t["spend"]["rel_lift"] == pytest.approx(1.2 * 1.1 - 1, abs=0.02)


def test_rolling_worlds_agree_until_each_members_enrolment():
    """Common random numbers: without the programme a customer buys exactly what they bought up
    to their enrolment day; non-members buy exactly the same in both worlds."""
    exp = sim(1_500, design="rolling", seed=9)
    obs, untreated = exp.transactions, exp.truth["untreated_transactions"]
    d0 = exp.customers.set_index("customer_id")["enrolled_at"]
    cut = d0.fillna(exp.observation_end + pd.Timedelta(days=1))

    def before(tx):
        keep = tx["date"] < cut.loc[tx["customer_id"]].to_numpy()
        return tx.loc[keep, ["customer_id", "date", "amount"]].sort_values(
            ["customer_id", "date", "amount"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(before(obs), before(untreated))
    assert len(untreated) != len(obs)  # the programme changed members' later purchases


def test_rolling_null_programme_has_exactly_zero_true_effects():
    exp = sim(2_000, design="rolling", seed=3, freq_lift=0, dropout_reduction=0, spend_lift=0,
              nps_lift=0, csat_lift=0)
    for metric in METRICS:
        assert exp.truth["effect_on_members"][metric]["abs_diff"] == 0, metric
    assert (exp.truth["event_time"][["purchases", "spend"]] == 0).all().all()
    pd.testing.assert_frame_equal(exp.transactions[["customer_id", "date", "amount"]],
                                  exp.truth["untreated_transactions"])


def test_rolling_event_time_truth_is_zero_before_enrolment_and_positive_after(rolling):
    et = rolling.truth["event_time"].set_index("event_time")
    assert (et.loc[et.index < 0, ["purchases", "spend"]] == 0).all().all()
    assert (et.loc[1:12, "purchases"] > 0).all()
    members = rolling.truth["members"]
    assert et.loc[0, "n"] == (members["enrolled_at"] < rolling.observation_end.replace(day=1)).sum()


def test_rolling_latent_selection_picks_members_with_higher_untreated_purchases():
    """Among members with the same observed history at enrolment (their 3rd purchase), the
    latent part of the hazard selects heavier buyers: higher purchases without the programme."""
    def untreated_at_third(latent_selection):
        m = sim(4_000, design="rolling", seed=12, latent_selection=latent_selection)
        m = m.truth["members"]
        return m.loc[m["evaluable"] & (m["enrol_purchase"] == 3), "purchases_0"].mean()
    assert untreated_at_third(1.5) > 1.2 * untreated_at_third(0.0)


def test_rolling_bad_arguments():
    with pytest.raises(ValueError, match="enrol_hazard keys"):
        sim(100, design="rolling", enrol_hazard={"age": 1.0})
    with pytest.raises(ValueError, match="enrol_from_purchase"):
        sim(100, design="rolling", enrol_from_purchase=0)
