"""rl.impact.analyze on the simulator (known truth): both designs, the naive bias, the null
programme, ROI, checks and real-data-shaped input (CSV round trip through rl.io)."""
from __future__ import annotations

import warnings

import matplotlib
import pandas as pd
import pytest

import retention_lab as rl

HEADLINE = ("purchases", "spend", "aov", "retention", "rmst", "nps", "csat", "clv")
NULL = dict(freq_lift=0.0, dropout_reduction=0.0, spend_lift=0.0, nps_lift=0.0, csat_lift=0.0)


def _truth(exp, metric, estimand):
    key = {"ITT": "itt", "effect on members": "effect_on_members"}[estimand]
    return exp.truth[key][metric]["abs_diff"]


@pytest.fixture(scope="module")
def randomized():
    exp = rl.datasets.simulate_loyalty_experiment(n_customers=20_000, design="randomized", seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return exp, rl.impact.analyze(exp, design="randomized")


@pytest.fixture(scope="module")
def self_selected():
    exp = rl.datasets.simulate_loyalty_experiment(n_customers=20_000, design="self_selected",
                                                  seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return exp, rl.impact.analyze(exp, design="self_selected")


@pytest.mark.parametrize("estimand", ["ITT", "effect on members"])
def test_randomized_headline_estimates_near_truth(randomized, estimand):
    """One seed: each headline estimate within 4 standard errors of the truth (a gross-error
    check; interval coverage is measured over 200 seeds in tests/impact/test_impact_coverage.py)."""
    exp, rep = randomized
    for metric in HEADLINE:
        r = rep.effect(metric, estimand)
        t = _truth(exp, metric, estimand)
        assert abs(r["abs_diff"] - t) < 4 * r["se"], (metric, estimand, r["abs_diff"], t)
    # and the primary effects are detected (the default effects are large enough)
    for metric in ("purchases", "spend", "retention"):
        assert rep.effect(metric, estimand)["p_value"] < 0.01


def test_randomized_take_up_and_checks(randomized):
    exp, rep = randomized
    tu = rep.take_up
    assert tu["ci"][0] < exp.truth["take_up"] < tu["ci"][1]
    checks = rep.checks.set_index("check")
    assert checks.loc["sample ratio (SRM)", "status"] == "pass"
    assert checks.loc["covariate balance (invited vs control)", "status"] == "pass"
    assert set(rep.checks["status"]) <= {"pass", "warn", "fail"}
    assert {"metric", "estimand", "control", "treatment", "abs_diff", "rel_lift", "ci_low",
            "ci_high", "p_value", "method", "n"} <= set(rep.effects.columns)
    assert rep.effects["method"].str.len().min() > 10


def test_randomized_roi_interval_covers_truth(randomized):
    exp, rep = randomized
    roi, truth = rep.roi, exp.truth["roi"]
    assert roi["programme_cost"] == pytest.approx(truth["programme_cost"], rel=1e-3)
    assert roi["roi_ci"][0] <= truth["roi"] <= roi["roi_ci"][1]
    assert roi["incremental_revenue_ci"][0] <= truth["incremental_revenue"] <= \
        roi["incremental_revenue_ci"][1]


def test_randomized_summary_segments_power_context(randomized):
    _, rep = randomized
    text = rep.summary_text()
    assert "Inviting customers" in text and "ROI" in text and "95 % CI" in text
    seg = rep.segments
    assert set(seg["level"]) == {"bronze", "silver", "gold"}
    assert (seg["p_adjusted"] >= seg["p_value"] - 1e-12).all()
    assert (rep.power["mde_abs"] > 0).all()
    # the study is powered for the true purchase ITT (0.25 orders) but not for a tenth of it
    mde = rep.power.set_index("metric").loc["purchases", "mde_abs"]
    assert 0.025 < mde < 0.25
    assert set(rep.context["metric"]) == {"retention", "purchases"}
    assert rep.retention_value["value_per_customer"] > 0
    assert len(rep.assumptions) >= 5


def test_self_selected_corrected_covers_truth_and_naive_is_biased(self_selected):
    exp, rep = self_selected
    for metric in HEADLINE:
        r = rep.effect(metric, "effect on members")
        t = _truth(exp, metric, "effect on members")
        assert r["ci_low"] <= t <= r["ci_high"], (metric, r["abs_diff"], t)
    naive = rep.naive.set_index("metric")
    # brute force from the raw tables: members' mean orders / spend in [launch, launch + h)
    # minus all non-members', and the share buying after the window
    tx, cust = exp.transactions, exp.customers.set_index("customer_id")
    launch, end = exp.launch_date, exp.observation_end
    win = tx.loc[(tx.date >= launch) & (tx.date < launch + pd.Timedelta(days=365))]
    late = tx.loc[(tx.date > launch + pd.Timedelta(days=365)) & (tx.date <= end)]
    member = cust["enrolled_at"].notna()
    # purchases are purchase days (issue 19): distinct days, not lines
    per = pd.DataFrame({"purchases": win.groupby("customer_id")["date"].agg(
                            lambda d: d.dt.normalize().nunique()),
                        "spend": win.groupby("customer_id")["amount"].sum()}
                       ).reindex(cust.index, fill_value=0)
    per["retention"] = cust.index.isin(late["customer_id"]).astype(float)
    for metric in ("purchases", "spend", "retention"):
        t = _truth(exp, metric, "effect on members")
        brute = per.loc[member, metric].mean() - per.loc[~member, metric].mean()
        assert naive.loc[metric, "abs_diff"] == pytest.approx(brute, rel=1e-9)
        assert abs(naive.loc[metric, "abs_diff"] - t) > 0.5 * abs(t)


def test_self_selected_diagnostics(self_selected):
    exp, rep = self_selected
    checks = rep.checks.set_index("check")
    assert checks.loc["balance after weighting", "status"] == "pass"
    assert checks.loc["propensity overlap", "status"] == "pass"
    assert rep.balance["smd"].abs().max() > 0.3          # members differ before weighting
    assert rep.balance["smd_weighted"].abs().max() < 0.1
    # the logit recovers the simulator's enrolment model: log pre-orders and referral drive it
    summ = rep.propensity.summary
    assert summ.loc["log_pre_orders", "p"] < 1e-6
    assert summ.loc["acquisition_channel_referral", "p"] < 1e-6
    hr = rep.effect("lapse hazard ratio", "effect on members (time-varying Cox)")
    assert hr["treatment"] < 1 and hr["ci_high"] < 0      # members lapse less (HR − 1 < 0)
    assert rep.roi["roi_ci"][0] <= exp.truth["roi"]["roi"] <= rep.roi["roi_ci"][1]
    assert "no unmeasured confounding" in " ".join(rep.assumptions)


def test_null_programme_intervals_cover_zero():
    exp = rl.datasets.simulate_loyalty_experiment(n_customers=20_000, design="randomized",
                                                  seed=7, **NULL)
    rep = rl.impact.analyze(exp, clv=False, segment_column=None)
    misses = []
    for metric in ("purchases", "spend", "retention", "rmst", "aov", "nps", "csat"):
        for estimand in ("ITT", "effect on members"):
            assert _truth(exp, metric, estimand) == 0.0
            r = rep.effect(metric, estimand)
            if not r["ci_low"] <= 0 <= r["ci_high"]:
                misses.append((metric, estimand))
    # 14 intervals at 95 %: the primary ones must not claim a win; a stray miss elsewhere is
    # chance (the nominal rate is checked over 200 seeds in test_impact_coverage.py)
    assert not [m for m in misses if m[0] in ("purchases", "spend", "retention")], misses
    assert len({m[0] for m in misses}) <= 1, misses
    # no false win on money either: the truth (ROI = −100 %: costs, no extra revenue) is in the
    # interval and the verdict does not claim the programme paid
    assert rep.roi["roi_ci"][0] <= exp.truth["roi"]["roi"] <= rep.roi["roi_ci"][1]
    assert exp.truth["roi"]["roi"] == pytest.approx(-1.0)
    assert not rep.roi_verdict().startswith("The programme paid")


def test_same_answer_from_csv_files(tmp_path):
    """Real data path: the tables written to CSV and read back by rl.io.read_experiment."""
    exp = rl.datasets.simulate_loyalty_experiment(n_customers=3_000, design="randomized", seed=2)
    exp.transactions.to_csv(tmp_path / "tx.csv", index=False)
    exp.customers.to_csv(tmp_path / "customers.csv", index=False)
    exp.surveys.to_csv(tmp_path / "surveys.csv", index=False)
    data = rl.io.read_experiment(tmp_path / "tx.csv", customers=tmp_path / "customers.csv",
                                 surveys=tmp_path / "surveys.csv",
                                 observation_end=exp.observation_end,
                                 launch_date=exp.launch_date, design="randomized")
    kw = dict(clv=False, survival=False, segment_column="tier", cost_per_member=2.0,
              reward_rate=0.03, fixed_cost=0.0)
    a = rl.impact.analyze(exp, **kw).effects
    b = rl.impact.analyze(data, **kw).effects
    pd.testing.assert_frame_equal(a.drop(columns="method"), b.drop(columns="method"),
                                  check_exact=False, atol=0.01, rtol=1e-4)


def test_figures(randomized, self_selected):
    matplotlib.use("Agg")
    from retention_lab.report import figures as plots
    _, rep = randomized
    _, ss = self_selected
    figs = [plots.plot_effect_summary(rep.effects, "ITT", quoted={"purchases": (0.2, 0.3)}),
            plots.plot_segment_forest(rep.segments, "purchases", "ITT"),
            plots.plot_balance(ss.balance), plots.plot_propensity_overlap(ss.propensity),
            plots.plot_retention_curves(rep.curves, horizon=365),
            plots.plot_metric_levels(rep.effects, "spend")]
    for f in figs:
        assert isinstance(f, matplotlib.figure.Figure) and f.axes
    import matplotlib.pyplot as plt
    plt.close("all")


def test_randomized_without_enrolment_data_gives_itt_only():
    exp = rl.datasets.simulate_loyalty_experiment(n_customers=3_000, design="randomized", seed=4)
    exp.customers = exp.customers.drop(columns="enrolled_at")
    rep = rl.impact.analyze(exp, clv=False, survival=False)
    assert set(rep.effects["estimand"]) <= {"ITT", "ITT (rate ratio)"}
    assert rep.checks.set_index("check").loc["take-up", "status"] == "warn"
    r = rep.effect("purchases", "ITT")
    assert r["ci_low"] <= exp.truth["itt"]["purchases"]["abs_diff"] <= r["ci_high"]
    assert "Inviting customers" in rep.summary_text()
