"""The enrolment event study (Callaway & Sant'Anna 2021): panels built here with known effect
paths and staggered adoption, a pre-trend that must fail, brute-force 2 x 2 comparisons on an
unbalanced panel, the panel builder against a loop over orders, and the ``differences`` library
on the same balanced panel."""
import warnings

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from retention_lab import DataError
from retention_lab.experiment_data import ExperimentData
from retention_lab.impact.core.event_study import event_panel, event_study


def staggered_panel(n=3000, T=24, seed=0, effect=lambda e: 0.3 + 0.05 * e, pretrend=0.0,
                    entry_share=0.0, noise="poisson"):
    """Customers × months 1..T; cohorts (enrolment month) staggered over 6..18 and a third never
    enrol. Untreated outcome: customer level + common month shocks (parallel trends);
    ``effect(e)`` from enrolment on; ``pretrend``: members' outcome drifts by this per month
    before enrolment (a violation); ``entry_share`` of customers enter late (unbalanced)."""
    rng = np.random.default_rng(seed)
    cohort = np.where(rng.random(n) < 1 / 3, np.nan, rng.integers(6, 19, n).astype(float))
    level = rng.gamma(2.0, 1.0, n)
    shock = rng.normal(0, 0.3, T + 1)
    entry = np.where(rng.random(n) < entry_share, rng.integers(2, 12, n), 1)
    t = np.arange(1, T + 1)[None, :]
    e = t - cohort[:, None]
    treated = ~np.isnan(e)
    mu = level[:, None] + shock[t]
    mu = mu + np.where(treated & (e >= 0), effect(np.maximum(np.nan_to_num(e), 0)), 0.0)
    mu = mu + np.where(treated & (e < 0), pretrend * (np.nan_to_num(e) + 12), 0.0)
    if noise == "poisson":
        y = rng.poisson(np.maximum(mu, 0)).astype(float)
    else:
        y = mu + rng.normal(0, 1, mu.shape)
    ids, periods = np.nonzero(t >= entry[:, None])
    return pd.DataFrame({"customer_id": ids, "period": periods + 1, "y": y[ids, periods],
                         "cohort": cohort[ids]})


def test_recovers_a_ramping_effect_with_staggered_adoption_and_passes_the_pretrend():
    panel = staggered_panel(seed=1)
    res = event_study(panel, outcome="y", months_before=5, months_after=6)
    est = res.estimates.set_index("event_time")
    assert list(est.index) == list(range(-5, 7))
    truth = np.where(est.index >= 0, 0.3 + 0.05 * np.maximum(est.index, 0), 0.0)
    z = (est["estimate"] - truth) / est["se"]
    assert np.all(np.abs(z) < 3.5), z.round(2).to_dict()
    assert np.mean(z ** 2) < 2.5                    # not systematically off
    assert (est["ci_low"] < est["estimate"]).all() and (est["estimate"] < est["ci_high"]).all()
    assert res.pretrend["status"] == "pass" and res.pretrend["df"] == 5
    assert res.overall["estimate"] == pytest.approx(np.mean(truth[est.index >= 0]),
                                                    abs=4 * res.overall["se"])
    assert res.overall["months"] == list(range(0, 7))
    assert "Callaway" in res.method and "clustered by customer" in res.method


def test_a_pretrend_makes_the_check_fail():
    """Members drift upward in the year before enrolment: the placebo months must fail."""
    panel = staggered_panel(seed=2, pretrend=0.06, effect=lambda e: 0.0 * e)
    res = event_study(panel, outcome="y", months_before=6, months_after=3)
    assert res.pretrend["status"] == "fail" and res.pretrend["p_value"] < 1e-3
    assert "parallel trends is doubtful" in res.pretrend["detail"]
    assert res.as_check()["status"] == "fail" and res.as_check()["value"] < 1e-3
    clean = event_study(staggered_panel(seed=2, effect=lambda e: 0.0 * e), outcome="y",
                        months_before=6, months_after=3)
    assert clean.pretrend["status"] == "pass"


def test_unbalanced_panel_uses_customers_observed_in_both_months():
    """Each ATT(g, t) equals the hand-computed 2 x 2 DiD among customers observed at t and at
    the base month, against not-yet-enrolled customers (never-members included)."""
    panel = staggered_panel(n=1500, seed=3, entry_share=0.4)
    res = event_study(panel, outcome="y", months_before=4, months_after=4)
    wide = panel.pivot(index="customer_id", columns="period", values="y")
    cohort = panel.groupby("customer_id")["cohort"].first()
    checked = 0
    for row in res.group_time.sample(25, random_state=0).itertuples():
        g, t, b = row.cohort, row.period, row.base
        dy = (wide[t] - wide[b]).dropna()
        coh = cohort.loc[dy.index]
        treated = dy[coh == g]
        control = dy[(coh.isna() | (coh > max(t, b))) & (coh != g)]
        assert row.att == pytest.approx(treated.mean() - control.mean(), abs=1e-12)
        assert (row.n_treated, row.n_control) == (len(treated), len(control))
        se = np.sqrt(treated.var(ddof=0) / len(treated) + control.var(ddof=0) / len(control))
        assert row.se == pytest.approx(se, rel=1e-10)
        checked += 1
    assert checked == 25


def test_influence_function_se_agrees_with_a_customer_bootstrap():
    panel = staggered_panel(n=1000, T=16, seed=4, entry_share=0.3)
    res = event_study(panel, outcome="y", months_before=2, months_after=3)
    rows = list(panel.groupby("customer_id").indices.values())
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(80):
        pick = rng.integers(0, len(rows), len(rows))
        idx = np.concatenate([rows[i] for i in pick])
        new_id = np.repeat(np.arange(len(pick)), [len(rows[i]) for i in pick])
        boot = panel.iloc[idx].assign(customer_id=new_id)
        draws.append(event_study(boot, outcome="y", months_before=2, months_after=3)
                     .estimates.set_index("event_time")["estimate"])
    boot_se = pd.concat(draws, axis=1).std(axis=1, ddof=1)
    ratio = boot_se / res.estimates.set_index("event_time")["se"]
    assert ratio.between(0.7, 1.35).all(), ratio.round(2).to_dict()


def test_universal_base_and_never_treated_controls():
    panel = staggered_panel(seed=5)
    uni = event_study(panel, outcome="y", months_before=4, months_after=2,
                      base_period="universal")
    assert -1 not in set(uni.estimates["event_time"])   # the reference month
    assert uni.pretrend["df"] == 3
    never = event_study(panel, outcome="y", months_before=4, months_after=2,
                        control="never_treated")
    assert (never.group_time["n_control"] == panel.loc[panel["cohort"].isna(),
                                                       "customer_id"].nunique()).all()


def _study(day_first_dates=False):
    """Four customers, one acquired after launch, one enrolled in an incomplete last month."""
    tx = pd.DataFrame({
        "customer_id": [1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4],
        "date": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-03-03", "2024-03-20",
                                "2024-01-15", "2024-04-02", "2024-04-30", "2024-03-09",
                                "2024-05-01", "2024-02-01", "2024-05-05", "2024-06-10"]),
        "amount": [10.0, 20, 30, 5, 7, 8, 9, 11, 12, 13, 14, 15]})
    customers = pd.DataFrame({
        "customer_id": [1, 2, 3, 4],
        "signup_date": pd.to_datetime(["2024-01-05", "2024-01-15", "2024-03-09", "2024-02-01"]),
        "enrolled_at": pd.to_datetime(["2024-03-03", None, "2024-05-01", "2024-06-10"])})
    return ExperimentData(transactions=tx, customers=customers,
                          observation_end=pd.Timestamp("2024-06-15"),
                          launch_date=pd.Timestamp("2024-02-15"))


def test_event_panel_counts_orders_per_customer_month_from_acquisition():
    data = _study()
    panel = event_panel(data, outcome="purchases")
    spend = event_panel(data, outcome="spend")
    # June is incomplete (observation ends on the 15th): months January .. May
    assert panel["period"].min() == pd.Period("2024-01", "M")
    assert panel["period"].max() == pd.Period("2024-05", "M")
    tx = data.transactions
    for r in panel.itertuples():
        in_month = tx[(tx["customer_id"] == r.customer_id)
                      & (tx["date"].dt.to_period("M") == r.period)]
        assert r.purchases == len(in_month)
    s = spend.set_index(["customer_id", "period"])["spend"]
    assert s.loc[(1, pd.Period("2024-03", "M"))] == pytest.approx(35.0)
    # customer 3 enters in March (acquired after the launch), not before
    assert panel.loc[panel["customer_id"] == 3, "period"].min() == pd.Period("2024-03", "M")
    c1 = panel[panel["customer_id"] == 1].set_index("period")
    assert c1["event_time"].tolist() == [-2, -1, 0, 1, 2]
    assert panel.loc[panel["customer_id"] == 2, "cohort"].isna().all()
    assert panel.attrs["sample"]["transactions_after_last_complete_month"] == 1
    assert panel.attrs["sample"]["members_enrolled_after_panel"] == 1
    assert panel.attrs["sample"]["share_members_enrolled_on_a_purchase_day"] == 1.0


def test_event_study_on_simulated_rolling_data_flags_the_selection_at_a_purchase():
    """Enrolment at a purchase selects members on recent activity: the placebo months fail."""
    exp = rl.datasets.simulate_loyalty_experiment(6_000, design="rolling", seed=3)
    res = event_study(exp, months_before=6, months_after=6)
    assert res.pretrend["status"] == "fail"
    assert res.sample["customers"] == 6_000 and res.sample["members"] > 1000
    assert res.sample["share_members_enrolled_on_a_purchase_day"] == 1.0
    assert "contains that purchase by construction" in res.summary_text()
    null = rl.datasets.simulate_loyalty_experiment(6_000, design="rolling", seed=3,
                                                   freq_lift=0, dropout_reduction=0)
    assert event_study(null, months_before=6, months_after=6).pretrend["status"] == "fail"


def test_bad_input_gives_clear_errors():
    data = _study()
    with pytest.raises(DataError, match="enrolled_at"):
        event_study(ExperimentData(transactions=data.transactions,
                                   customers=data.customers.drop(columns="enrolled_at"),
                                   observation_end=data.observation_end))
    with pytest.raises(ValueError, match="control must be"):
        event_study(data, control="everyone")
    with pytest.raises(ValueError, match="outcome must be"):
        event_panel(data, outcome="clv")
    nobody = data.customers.assign(enrolled_at=pd.NaT)
    with pytest.raises(DataError, match="no cohort"):
        event_study(ExperimentData(transactions=data.transactions, customers=nobody,
                                   observation_end=data.observation_end))


def test_plot_returns_axes_with_the_estimates(tmp_path):
    res = event_study(staggered_panel(n=800, seed=6), outcome="y", months_before=3,
                      months_after=4)
    ax = res.plot()
    assert ax.get_xlabel().startswith("months since enrolment")
    assert "pre-trend" in ax.get_title()
    ax.figure.savefig(tmp_path / "event_study.png")


# --- a maintained DiD library on the same balanced panel ------------------------------------

@pytest.mark.parametrize("base_period", ["varying", "universal"])
@pytest.mark.parametrize("control", ["not_yet_treated", "never_treated"])
def test_equals_the_differences_library_on_a_balanced_panel(control, base_period):
    differences = pytest.importorskip("differences")
    panel = staggered_panel(n=600, T=16, seed=7)
    with warnings.catch_warnings():  # it warns that cohorts after the panel are never-treated
        warnings.simplefilter("ignore")
        lib = differences.ATTgt(data=panel.set_index(["customer_id", "period"]),
                                cohort_column="cohort", base_period=base_period)
        lib.fit("y", est_method="reg", control_group=control, progress_bar=False)
        event = lib.aggregate("event")
        overall = lib.aggregate("event", overall=True)
        gt = lib.results()
    ours = event_study(panel, outcome="y", months_before=20, months_after=20,
                       control=control, base_period=base_period)
    event = event.set_axis(["att", "se", "lo", "hi", "sig"], axis=1)
    event.index = event.index.astype(int)
    if base_period == "universal":       # the library reports the reference month as 0
        assert event.loc[-1, "att"] == 0
        event = event.drop(index=-1)
    est = ours.estimates.set_index("event_time")
    assert list(est.index) == list(event.index)
    np.testing.assert_allclose(est["estimate"], event["att"], atol=1e-6)
    np.testing.assert_allclose(est["se"], event["se"], atol=1e-6)
    assert ours.overall["estimate"] == pytest.approx(overall.iloc[0, 0], abs=1e-6)
    assert ours.overall["se"] == pytest.approx(overall.iloc[0, 1], abs=1e-6)
    gt = gt.set_axis(["att", "se", "lo", "hi", "sig"], axis=1)
    gt.index = pd.MultiIndex.from_arrays([gt.index.get_level_values(i).astype(int)
                                          for i in range(3)], names=["cohort", "base", "period"])
    mine = ours.group_time.set_index(["cohort", "base", "period"])
    common = mine.index.intersection(gt.index)
    assert len(common) == len(mine)
    np.testing.assert_allclose(mine.loc[common, "att"], gt.loc[common, "att"], atol=1e-6)
    np.testing.assert_allclose(mine.loc[common, "se"], gt.loc[common, "se"], atol=1e-6)


@pytest.mark.slow
def test_pretrend_size_and_interval_coverage_over_200_seeds():
    """Under parallel trends the pre-trend test rejects ~5 % of the time and the 95 % interval
    of the mean post-enrolment effect covers the truth ~95 % of the time (unbalanced panels)."""
    reject, cover = [], []
    for seed in range(200):
        panel = staggered_panel(n=600, T=20, seed=1000 + seed, entry_share=0.3,
                                effect=lambda e: 0.2 + 0.0 * e)
        res = event_study(panel, outcome="y", months_before=4, months_after=4)
        reject.append(res.pretrend["status"] == "fail")
        cover.append(res.overall["ci_low"] <= 0.2 <= res.overall["ci_high"])
    assert np.mean(reject) <= 0.09, np.mean(reject)
    assert 0.92 <= np.mean(cover) <= 0.98, np.mean(cover)
