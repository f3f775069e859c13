"""retention_lab.monitor: the boundary against a second library and a brute-force integral, the
KM against lifelines, the SRM e-process against exact enumeration, the lapse rule on hand-built
histories, the plan against statsmodels' closed form, and the holdout pipeline end to end."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import retention_lab as rl
from retention_lab import DataError
from retention_lab.monitor import (
    asympcs_halfwidth,
    eta_for,
    itt_sequence,
    km_sequence,
    lapse_times,
    mixture_halfwidth,
    plan_holdout,
    rho2_for,
    sequential_srm,
)

# confseq 0.0.11 (Howard et al.'s C++ library, built from its sdist with Boost 1.74):
# normal_mixture_bound(v, alpha, v_opt, alpha, is_one_sided=False) -> bound on S_v.
# Not a dependency (it needs Boost and a C++ build); its numbers, recorded once:
CONFSEQ = [(1, 100, 0.05, 9.084379437310579), (50, 100, 0.05, 21.804123481845448),
           (100, 100, 0.05, 30.35208990376253), (1000, 100, 0.05, 102.51228683166386),
           (10000, 500, 0.05, 333.6857533786599), (250, 1000, 0.1, 47.60244621255976),
           (3000, 1000, 0.01, 198.63647783350922)]


@pytest.mark.parametrize("v, v_opt, alpha, expected", CONFSEQ)
def test_boundary_matches_confseq(v, v_opt, alpha, expected):
    """Library cross-check: the information-time Gaussian-mixture boundary, tuned at v_opt, is
    confseq's two-sided normal-mixture uniform boundary."""
    s = v * mixture_halfwidth(1 / np.sqrt(v), eta_for(v_opt, alpha), alpha)
    assert s == pytest.approx(expected, rel=1e-10)


def test_confseq_live_if_installed():
    confseq = pytest.importorskip("confseq.boundaries")
    for v, v_opt, alpha, _ in CONFSEQ:
        ref = float(confseq.normal_mixture_bound(v, alpha, v_opt, alpha, False))
        assert v * mixture_halfwidth(1 / np.sqrt(v), eta_for(v_opt, alpha), alpha) == \
            pytest.approx(ref, rel=1e-10)


def test_boundary_is_where_the_mixture_martingale_reaches_one_over_alpha():
    """Brute force: integrate exp(λS − λ²I/2) over λ ~ N(0, 1/η); at the boundary it is 1/α."""
    for info, eta, alpha in [(200.0, 50.0, 0.05), (10.0, 300.0, 0.1), (5000.0, 800.0, 0.01)]:
        s = info * float(mixture_halfwidth(1 / np.sqrt(info), eta, alpha))
        f = lambda lam: np.exp(lam * s - lam ** 2 * info / 2) * stats.norm.pdf(lam, 0, 1 / np.sqrt(eta))  # noqa: E731
        assert integrate.quad(f, -np.inf, np.inf, limit=200)[0] == pytest.approx(1 / alpha, rel=1e-6)


def test_asympcs_form_equals_information_form():
    """Waudby-Smith et al.'s (t, σ, ρ) form is the information form with I = t/σ², η = 1/(σ²ρ²)."""
    t, sigma, alpha = np.array([10.0, 500.0, 20000.0]), 3.0, 0.05
    rho2 = rho2_for(1000, alpha)
    a = asympcs_halfwidth(t, sigma, rho2, alpha)
    b = mixture_halfwidth(sigma / np.sqrt(t), 1 / (sigma ** 2 * rho2), alpha)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    # wider than the fixed-horizon interval at every t
    assert np.all(a > 1.96 * sigma / np.sqrt(t))


def test_brownian_motion_crossing_rate_below_alpha():
    """Simulation: a standard Brownian motion on a fine grid crosses ±boundary (info time) in
    at most α of 4,000 paths (+3 MC SE)."""
    rng = np.random.default_rng(3)
    n_paths, steps, dv = 4000, 400, 1.0
    v = dv * np.arange(1, steps + 1)
    S = np.cumsum(rng.normal(0, np.sqrt(dv), (n_paths, steps)), axis=1)
    bound = v * mixture_halfwidth(1 / np.sqrt(v), eta_for(100.0), 0.05)
    rate = np.mean(np.any(np.abs(S) > bound, axis=1))
    assert rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / n_paths), rate


def test_km_sequence_matches_lifelines():
    from lifelines import KaplanMeierFitter
    rng = np.random.default_rng(1)
    n = 600
    e = rng.integers(0, 60, n)
    T = np.floor(rng.weibull(1.5, n) * 50)
    T[rng.random(n) < 0.1] = np.inf     # never lapsed
    a = rng.random(n) < 0.5
    looks = np.array([80, 110, 140])
    out = km_sequence(e, T, a, looks, horizon=30, inactivity_days=10, info_opt=200.0)
    for i, d in enumerate(looks):
        f = d - e - 10
        obs = f > 0
        dur, ev = np.minimum(T, np.maximum(f, 0)), T <= f
        for arm, col in ((True, "treatment"), (False, "control")):
            m = obs & (a == arm)
            kmf = KaplanMeierFitter().fit(dur[m], ev[m])
            assert out[col].iloc[i] == pytest.approx(kmf.survival_function_at_times(30).iloc[0],
                                                     rel=1e-12)
            # Greenwood from lifelines' event table, by hand
            tab = kmf.event_table.loc[kmf.event_table.index <= 30]
            gw = (tab["observed"] / (tab["at_risk"] * (tab["at_risk"] - tab["observed"]))).sum()
            var = kmf.survival_function_at_times(30).iloc[0] ** 2 * gw
            if arm:
                v1 = var
            else:
                v0 = var
        assert out["se"].iloc[i] == pytest.approx(np.sqrt(v1 + v0), rel=1e-10)


def test_lapse_times_on_hand_built_histories():
    ent = pd.Series(pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-10", "2026-01-20"]),
                    index=["a", "b", "c", "d"])
    tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "c", "c", "x"],
                       "date": pd.to_datetime(["2026-01-05", "2026-01-25", "2026-03-30",
                                               "2025-12-20", "2026-01-15", "2026-02-01",
                                               "2026-01-02"])})
    got = lapse_times(ent, tx, inactivity_days=30, as_of="2026-03-31")
    # a: 0, 4, 24, then next 88 days later -> lapses at 24; b: only a pre-entry purchase -> 0;
    # c: 0, 5, 22 and then nothing for 58 days (> 30, known) -> 22; d: entered 70 days before
    # as_of, no purchase -> lapses at 0
    assert got.to_dict() == {"a": 24.0, "b": 0.0, "c": 22.0, "d": 0.0}
    got = lapse_times(ent, tx, inactivity_days=30, as_of="2026-02-15")
    # a: 24 + 30 = 54 > 45 days of follow-up -> not yet known; c: 22 + 30 = 52 > 36 -> unknown
    assert got["a"] == np.inf and got["c"] == np.inf and got["b"] == 0.0


def test_srm_e_process_exact_false_alarm_rate():
    """Exact: the probability that the beta-binomial e-process ever reaches 1/α within 300
    customers, computed by dynamic programming over all paths, is at most α."""
    p, alpha, N = 0.3, 0.05, 300
    alive = np.array([1.0])                       # P(x treated so far, never crossed)
    crossed = 0.0
    for n in range(1, N + 1):
        new = np.zeros(n + 1)
        new[:-1] += alive * (1 - p)
        new[1:] += alive * p
        x = np.arange(n + 1)
        log_e = sequential_srm(x, np.full(n + 1, n), p_treat=p, alpha=alpha)["log_e"].to_numpy()
        cross = log_e >= np.log(1 / alpha)
        crossed += new[cross].sum()
        new[cross] = 0.0
        alive = new
    assert crossed <= alpha
    assert crossed > 0.001          # and the check has some power to cross at all


def test_srm_e_value_is_the_beta_mixture_likelihood_ratio():
    """Brute force: E = ∫ q^x (1−q)^(n−x) Beta(q; κp, κ(1−p)) dq / (p^x (1−p)^(n−x))."""
    p, kappa = 0.9, 100.0
    for x, n in [(10, 10), (85, 100), (930, 1000), (450, 520)]:
        f = lambda q: np.exp(x * np.log(q) + (n - x) * np.log1p(-q)  # noqa: E731
                             + stats.beta.logpdf(q, kappa * p, kappa * (1 - p))
                             - x * np.log(p) - (n - x) * np.log1p(-p))
        ref = integrate.quad(f, 0, 1, limit=500, points=[x / n])[0]
        got = sequential_srm([x], [n], p_treat=p, concentration=kappa)["e_value"].iloc[0]
        assert got == pytest.approx(ref, rel=1e-6)


def test_srm_detects_a_broken_ratio():
    rng = np.random.default_rng(2)
    a = rng.random(5000) < 0.93     # planned 0.9
    out = sequential_srm(np.cumsum(a), np.arange(1, 5001), p_treat=0.9, alpha=0.001)
    assert out["mismatch"].iloc[-1]
    assert (out["e_value"].diff().dropna() >= 0).all()   # running maximum


def test_itt_sequence_adjustment_is_predictable_and_unbiased():
    """The adjustment uses only earlier batches: changing the outcomes of the last batch leaves
    every earlier row unchanged. Regression adjustment narrows the interval when the covariate
    predicts the outcome."""
    rng = np.random.default_rng(5)
    n = 4000
    x = rng.gamma(2, 1, n)
    y = 2 * x + rng.normal(0, 1, n)
    a = rng.random(n) < 0.8
    b = np.sort(rng.integers(0, 40, n))
    s1 = itt_sequence(y, a, b, p_treat=0.8, x=x, t_opt=n)
    y2 = y.copy()
    y2[b == 39] += 100
    s2 = itt_sequence(y2, a, b, p_treat=0.8, x=x, t_opt=n)
    pd.testing.assert_frame_equal(s1.iloc[:39], s2.iloc[:39])
    s0 = itt_sequence(y, a, b, p_treat=0.8, x=None, t_opt=n)
    assert s1["upper"].iloc[-1] - s1["lower"].iloc[-1] < 0.5 * (s0["upper"].iloc[-1] - s0["lower"].iloc[-1])


def test_itt_sequence_rejects_bad_input():
    with pytest.raises(DataError):
        itt_sequence(np.array([1.0, np.nan]), np.array([True, False]), np.array([0, 1]),
                     p_treat=0.5)
    with pytest.raises(ValueError):
        itt_sequence(np.ones(3), np.ones(3, bool), np.zeros(3, int), p_treat=1.0)


def test_plan_matches_the_closed_form_and_cuped_shrinks_it():
    """n = (z_{1-α/2} + z_power)² σ²(1 − R²)(1/h + 1/p) / δ² (normal approximation)."""
    st = {"purchases": {"mean": 1.0, "sd": 2.0, "r2": 0.5}}
    plan = plan_holdout(st, holdout_share=0.1, rel_mde=0.05, enrol_per_week=1000, window_days=28,
                        treatment_variance="equal")
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    n = z ** 2 * 4 * 0.5 * (1 / 0.1 + 1 / 0.9) / 0.05 ** 2
    r = plan.iloc[0]
    assert r["n_fixed"] == pytest.approx(n, abs=2)
    assert r["n_fixed_unadjusted"] == pytest.approx(2 * n, abs=3)
    assert r["n_sequential"] > r["n_fixed"]
    assert r["weeks_fixed"] == pytest.approx(r["n_fixed"] / 1000 + 4, abs=0.01)
    # treated SD scaled by 1 + MDE: n = z² σ²(1 − R²)(1/h + 1.05²/p) / δ²
    scaled = plan_holdout(st, holdout_share=0.1, rel_mde=0.05, enrol_per_week=1000,
                          window_days=28).iloc[0]
    assert scaled["n_fixed"] == pytest.approx(z ** 2 * 4 * 0.5 * (1 / 0.1 + 1.05 ** 2 / 0.9)
                                              / 0.05 ** 2, abs=2)


def test_forgone_margin_by_hand():
    # 100 holdout customers a week (10 % of 1,000) over 4 weeks: 100·16/2 = 800 customer-weeks,
    # each missing 5 % of 40/4 = 10 a week of spend -> 0.5 a week, at 30 % margin -> 120
    got = rl.monitor.forgone_margin(enrol_per_week=1000, holdout_share=0.1, weeks=4,
                                    spend_per_customer_window=40, window_days=28,
                                    effect_rel=0.05, margin=0.3)
    assert got == pytest.approx(120.0)


def test_monitor_holdout_end_to_end():
    data = rl.datasets.simulate_holdout(4000, holdout_share=0.3, enrol_weeks=8, follow_weeks=6,
                                        purchase_lift=0.3, seed=4)
    res = rl.monitor.monitor_holdout(data)
    assert set(res.sequences) == {"purchases", "spend", "retention"}
    assert res.decision["decision"] in rl.monitor.DECISIONS
    for m in ("purchases", "spend"):
        last = res.sequences[m].iloc[-1]
        assert last["lower"] <= data.truth[m]["abs_diff"] <= last["upper"]
        assert last["n"] == 4000           # every window complete by the end
    assert not res.srm["mismatch"].iloc[-1]
    from retention_lab.report import monitor as words
    text = words.decision_sentence(res)
    assert text.split(":")[0] in {"Keep running", "Stop for efficacy", "Stop for futility",
                                  "Stop", "Stop and fix the assignment"}
    assert "nan" not in text.lower()


def test_monitor_holdout_rejects_unknown_arms():
    data = rl.datasets.simulate_holdout(500, enrol_weeks=2, follow_weeks=5, seed=1)
    data.customers.loc[0, "arm"] = "holdout"
    with pytest.raises(DataError, match="arm"):
        rl.monitor.monitor_holdout(data)


def test_read_holdout_round_trip_and_errors(tmp_path):
    """Own tables written to files and read back give the same monitor numbers as the bundle."""
    data = rl.datasets.simulate_holdout(1500, enrol_weeks=3, follow_weeks=5, seed=3)
    data.customers.to_csv(tmp_path / "customers.csv", index=False)
    data.transactions.to_parquet(tmp_path / "tx.parquet")
    got = rl.monitor.read_holdout(tmp_path / "tx.parquet", tmp_path / "customers.csv",
                                  holdout_share=0.1, start=data.start, as_of=data.as_of)
    a = rl.monitor.monitor_holdout(data).latest()
    b = rl.monitor.monitor_holdout(got).latest()
    pd.testing.assert_frame_equal(a, b)
    # a look two weeks earlier cuts the later rows, and says how many
    early = rl.monitor.read_holdout(data.transactions, data.customers, holdout_share=0.1,
                                    start=data.start, as_of=data.as_of - pd.Timedelta(days=14))
    assert early.params["cut_after_as_of"]["transactions"] == int(
        (data.transactions["date"] > data.as_of - pd.Timedelta(days=14)).sum())
    bad = data.customers.drop(columns="entered_at")
    with pytest.raises(DataError, match="entered_at"):
        rl.monitor.read_holdout(data.transactions, bad, holdout_share=0.1)
    bad = data.customers.assign(arm="control")
    with pytest.raises(DataError, match="treatment arm"):
        rl.monitor.read_holdout(data.transactions, bad, holdout_share=0.1)
    bad = data.transactions.assign(amount=-1.0)
    with pytest.raises(DataError, match="amount"):
        rl.monitor.read_holdout(bad, data.customers, holdout_share=0.1)


def test_decision_projection_counts_customers_in_their_window():
    """While enrolment runs the projected day is later than today; once enrolment has stopped
    and too few customers are in the pipeline, the interval will never be narrow enough."""
    data = rl.datasets.simulate_holdout(3000, holdout_share=0.1, enrol_weeks=10, follow_weeks=8,
                                        purchase_lift=0.0, retention_lift=0.0, seed=8,
                                        as_of="2026-02-16")
    res = rl.monitor.monitor_holdout(data, rule=rl.monitor.StoppingRule(min_effect_rel=0.05))
    d = res.decision
    assert d["decision"] == "keep_running"
    assert d["n_needed"] > 3000                     # far more than this holdout will ever have
    assert d["day_needed"] > d["day"]
    late = rl.datasets.simulate_holdout(3000, holdout_share=0.1, enrol_weeks=10, follow_weeks=8,
                                        purchase_lift=0.0, retention_lift=0.0, seed=8)
    res = rl.monitor.monitor_holdout(late, rule=rl.monitor.StoppingRule(min_effect_rel=0.05))
    assert res.decision["decision"] == "keep_running" and res.decision["day_needed"] == np.inf
    from retention_lab.report import monitor as words
    assert "will not become narrow enough" in words.decision_sentence(res)
