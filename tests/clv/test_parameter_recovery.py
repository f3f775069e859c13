"""Parameter recovery on data simulated from each model (known truth), and — in the slow suite —
coverage of the 95 % intervals over repeated simulations (parameters and CLV)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import retention_lab as rl
from retention_lab.clv import simulate

BG_TRUE = dict(r=0.243, alpha=4.414, a=0.793, b=2.426)
PNBD_TRUE = dict(r=0.553, alpha=10.578, s=0.606, beta=11.669)
GG_TRUE = dict(p=6.25, q=3.74, v=15.44)
SBG_TRUE = dict(alpha=0.704, beta=1.182)


def ages(n, seed):
    """CDNOW-like ages: acquired over the first 12 of 39 weeks."""
    return np.random.default_rng(seed + 10_000).uniform(27, 39, n)


def covered(model, truth):
    s = model.summary
    t = np.array([truth[k] for k in s.index])
    return ((s["lower 95%"] <= t) & (t <= s["upper 95%"])).to_numpy()


def assert_recovers(model, truth, z_max=4.0):
    """Each estimate within ``z_max`` standard errors of the truth (on the log scale, where the
    intervals are built): a recovery check on one simulation, failing by chance about once in
    10^4 — not a coverage claim; coverage is measured over many seeds in the slow suite."""
    s = model.summary
    t = np.array([truth[k] for k in s.index])
    se_log = (np.log(s["upper 95%"]) - np.log(s["lower 95%"])) / (2 * 1.959964)
    z = np.abs(np.log(s["coef"].to_numpy()) - np.log(t)) / se_log.to_numpy()
    assert np.all(z < z_max), dict(zip(s.index, np.round(z, 2)))


def bg_data(n, seed, resolution=None):
    return simulate.beta_geo(n, **BG_TRUE, T=ages(n, seed), seed=seed, resolution=resolution)


def test_bgnbd_recovers_truth():
    m = rl.clv.BetaGeoFitter().fit(bg_data(20_000, seed=1))
    assert_recovers(m, BG_TRUE)
    np.testing.assert_allclose(m.params_, list(BG_TRUE.values()), rtol=0.25)


def test_bgnbd_on_day_resolution_collapses_and_recovers():
    data = bg_data(50_000, seed=2, resolution=1 / 7)
    collapsed = rl.features.collapse_summary(data)
    assert len(collapsed) < len(data) / 2
    m = rl.clv.BetaGeoFitter().fit(collapsed)
    assert_recovers(m, BG_TRUE)


def test_pareto_nbd_recovers_truth():
    data = simulate.pareto_nbd(5_000, **PNBD_TRUE, T=ages(5_000, 3), seed=3)
    m = rl.clv.ParetoNBDFitter().fit(data)
    assert_recovers(m, PNBD_TRUE)


def test_gamma_gamma_recovers_truth():
    x = bg_data(20_000, seed=4)["frequency"].to_numpy()
    x = x[x > 0]
    m_value = simulate.gamma_gamma(x, **GG_TRUE, seed=4)
    m = rl.clv.GammaGammaFitter().fit(x, m_value)
    assert_recovers(m, GG_TRUE)


def test_sbg_recovers_truth_from_counts_and_lifetimes():
    survivors, lifetimes = simulate.shifted_beta_geo(3_000, **SBG_TRUE, periods=8, seed=5)
    a = rl.clv.ShiftedBetaGeoFitter().fit(survivors=survivors)
    b = rl.clv.ShiftedBetaGeoFitter().fit(durations=lifetimes["duration"],
                                          churned=lifetimes["churned"])
    assert_recovers(a, SBG_TRUE)
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-6)


def coverage(fit_one, truth, reps):
    hits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(reps):
            hits.append(covered(fit_one(seed), truth))
    return np.mean(hits, axis=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bgnbd", "bgnbd_daily", "pareto", "gamma_gamma", "sbg"])
def test_interval_coverage_is_nominal(name):
    reps = 100 if name in ("pareto", "bgnbd_daily") else 200
    if name == "bgnbd":
        fit = lambda seed: rl.clv.BetaGeoFitter().fit(bg_data(2_000, seed + 100))  # noqa: E731
        truth = BG_TRUE
    elif name == "bgnbd_daily":  # ages in whole days, fitted on the collapsed table
        fit = lambda seed: rl.clv.BetaGeoFitter().fit(rl.features.collapse_summary(  # noqa: E731
            bg_data(2_000, seed + 600, resolution=1 / 7)))
        truth = BG_TRUE
    elif name == "pareto":
        fit = lambda seed: rl.clv.ParetoNBDFitter().fit(  # noqa: E731
            simulate.pareto_nbd(2_000, **PNBD_TRUE, T=ages(2_000, seed + 200), seed=seed + 200))
        truth = PNBD_TRUE
    elif name == "gamma_gamma":
        def fit(seed):
            x = np.random.default_rng(seed + 300).poisson(2.0, 1_000) + 1.0
            return rl.clv.GammaGammaFitter().fit(x, simulate.gamma_gamma(x, **GG_TRUE, seed=seed + 300))
        truth = GG_TRUE
    else:
        fit = lambda seed: rl.clv.ShiftedBetaGeoFitter().fit(  # noqa: E731
            survivors=simulate.shifted_beta_geo(1_000, **SBG_TRUE, periods=7, seed=seed + 400)[0])
        truth = SBG_TRUE
    cov = coverage(fit, truth, reps)
    low = 0.88 if reps == 100 else 0.90
    assert np.all((cov >= low) & (cov <= 0.995)), dict(zip(truth, cov))


@pytest.mark.slow
def test_clv_interval_coverage_is_nominal():
    """The 95 % interval of the total expected CLV covers the total computed at the true
    parameters (delta method and bootstrap) in about 95 % of simulations."""
    hits = {"delta": [], "bootstrap": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(100):
            data = bg_data(2_000, seed + 500, resolution=1 / 7)  # daily ages: fewer distinct rows
            data["monetary_value"] = simulate.gamma_gamma(data["frequency"], **GG_TRUE, seed=seed + 500)
            bg = rl.clv.BetaGeoFitter().fit(data)
            gg = rl.clv.GammaGammaFitter().fit(data)
            truth = rl.clv.customer_lifetime_value(
                bg._with_params(list(BG_TRUE.values())), gg._with_params(list(GG_TRUE.values())),
                data, time_unit="W", method="delta", customer_intervals=False).total
            for method in hits:
                res = rl.clv.customer_lifetime_value(bg, gg, data, time_unit="W", method=method,
                                                     n_draws=100, seed=seed,
                                                     customer_intervals=False)
                hits[method].append(res.total_ci[0] <= truth <= res.total_ci[1])
    for method, h in hits.items():
        assert 0.88 <= np.mean(h) <= 1.0, (method, np.mean(h))


def _bgnbd_customers(n, r, alpha, a, b, T, rng):
    """BG/NBD customers simulated here, independently of retention_lab.clv.simulate: Poisson
    purchasing at λ ~ Gamma(r, rate α) from the first purchase at age 0, dropout with
    probability p ~ Beta(a, b) after each repeat purchase, observed to age T."""
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    x, tx, t = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.ones(n, bool)
    while active.any():
        i = np.flatnonzero(active)
        t[i] += rng.exponential(1.0, len(i)) / lam[i]
        bought = t[i] <= T[i]
        j = i[bought]
        x[j] += 1
        tx[j] = t[j]
        active[i[~bought]] = False
        active[j[rng.random(len(j)) < p[j]]] = False
    import pandas as pd
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T})


@pytest.mark.slow
def test_clv_difference_interval_coverage():
    """Issue 13 item 2: the 95 % interval of CLVResult.difference (two independently fitted
    groups, parameter and customer-sampling variance) covers the true difference of the
    population mean CLV in 93–97 % of 200 simulations. Truth: by the law of total expectation
    the mean of E[X(T, T+t) | history] over customers is E[X(T+t)] − E[X(T)] (FHL 2005, eq. 9,
    checked against Hardie's spreadsheet in test_clv_published), averaged over the ages.
    Adding the parameter and the customer-sampling variances (as before) covered 86.5 %: the
    two errors are correlated, since the same customers make the estimates."""
    groups = (BG_TRUE, dict(BG_TRUE, r=0.32))
    ages_days = np.arange(190, 274)  # acquired over 12 weeks, observed to day 273, whole days
    step = 30.436875 / 7             # one month in weeks
    factors = 1.01 ** -np.arange(1, 13)
    truth = []
    for g in groups:
        model = rl.clv.BetaGeoFitter()._with_params(list(g.values()))
        T = ages_days / 7.0
        cum = np.stack([model.expected_number_of_purchases_up_to_time(T + k * step)
                        for k in range(13)])
        truth.append(float(np.mean(factors @ np.diff(cum, axis=0))))
    true_diff = truth[1] - truth[0]
    hits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(200):
            rng = np.random.default_rng(seed + 7_000)
            res = []
            for g in groups:
                T = rng.choice(ages_days, 1_000) / 7.0
                data = _bgnbd_customers(1_000, **g, T=T, rng=rng)
                bg = rl.clv.BetaGeoFitter().fit(data)
                res.append(rl.clv.customer_lifetime_value(
                    bg, 1.0, data, horizon=12, horizon_unit="M", summary_unit="W",
                    method="delta", customer_intervals=False))
            lo, hi = res[1].difference(res[0])["ci"]
            hits.append(lo <= true_diff <= hi)
    assert 0.93 <= np.mean(hits) <= 0.97, np.mean(hits)
