"""BG/NBD with time-varying covariates (retention_lab.clv.covariates_tv_bg).

Oracles: (1) with every coefficient 0 the model is the BG/NBD: its likelihood, P(alive) and
conditional expectation equal the closed forms of Fader, Hardie & Lee (2005) eqs. 6, 10, 12
(``BetaGeoFitter``); (2) a brute-force likelihood: the individual-level likelihood (Poisson
purchases at λ·a(t), survival (1−p)^c at each purchase) integrated numerically over the gamma
and beta distributions on a dense grid; (3) the package's rolling simulator (a BG/NBD world
written by another module, enrolment at a purchase chosen on the purchase history): on its
untreated world the membership coefficients cover 0, on the treated world the purchase-rate
coefficient covers log(1 + freq_lift).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import roots_legendre
from test_tv_pareto_nbd import HIST, _world, week_intervals

import retention_lab as rl
from clv_covariates_sim import simulate_dynamic
from retention_lab.clv.covariates_tv import DynamicData, membership_covariates
from retention_lab.clv.covariates_tv_bg import TimeVaryingBetaGeoFitter, bg_dynamic_loglik_terms


def _grid(lo, hi, n):
    u, w = roots_legendre(n)
    return (hi - lo) / 2 * u + (hi + lo) / 2, (hi - lo) / 2 * w


def brute_loglik(r, alpha, a, b, purchase_ages, lo, hi, at, ct, n=900):
    """log ∫∫ L | λ, p: ``at``/``ct`` multipliers constant on the age intervals [lo_j, hi_j)
    (tiling [0, T]); the dropout multiplier of a purchase is the one in force just after it."""
    lu, wl = _grid(-90, 8, n)
    pu, wp = _grid(-60, 60, n)
    lam, p = np.exp(lu)[:, None], (1 / (1 + np.exp(-pu)))[None, :]
    A = np.r_[0, np.cumsum(at * (hi - lo))]

    def A_at(t):
        j = min(int(np.searchsorted(hi, t, side="left")), len(lo) - 1)
        return A[j] + at[j] * (t - lo[j])
    x = len(purchase_ages)
    where = [int(np.searchsorted(hi, t, side="left")) for t in purchase_ages]
    prod_a = np.prod(at[where]) if x else 1.0
    c = [ct[int(np.searchsorted(hi, t, side="right"))] for t in purchase_ages]  # just after
    ind = lam ** x * prod_a * np.exp(-lam * A[-1]) * (1 - p) ** sum(c)
    if x:
        tx = max(purchase_ages)
        ind = ind + (lam ** x * prod_a * np.exp(-lam * A_at(tx)) * (1 - p) ** (sum(c) - c[-1])
                     * (1 - (1 - p) ** c[-1]))
    dens = (stats.gamma.pdf(lam, r, scale=1 / alpha) * lam
            * stats.beta.pdf(p, a, b) * p * (1 - p))
    return float(np.log(wl @ (ind * dens) @ wp))


@pytest.mark.parametrize("theta", [(0.6, 9.0, 0.8, 2.5, 0.5, -0.4), (1.4, 3.0, 0.3, 6.0, -0.3, 0.8)])
def test_likelihood_equals_brute_force(theta):
    tx, pan, end = _world(HIST)
    d = DynamicData(tx, pan, end, "W")
    ll = bg_dynamic_loglik_terms(np.r_[np.log(theta[:4]), theta[4:]], d)[0]
    r, alpha, a, b, gt, gl = theta
    for i, cid in enumerate(d.ids):
        kb, buys, flags = HIST[cid]
        lo, hi, f = week_intervals(kb, flags, (216 - 7 * kb - 2) / 7)
        want = brute_loglik(r, alpha, a, b, [k - kb for k in buys], lo, hi, np.exp(gt * f),
                            np.exp(gl * f))
        assert ll[i] == pytest.approx(want, abs=1e-6), cid


def test_zero_coefficients_are_the_bg_nbd():
    tx, panel, end = simulate_dynamic(800, (0.8, 8.0, 0.7, 20.0), {"member": 0.3}, {},
                                      weeks=60, seed=3)
    d = DynamicData(tx, panel, end, "W")
    summ = d.summary()
    bg = rl.clv.BetaGeoFitter().fit(summ)
    th = np.r_[np.log(bg.params_.to_numpy()), 0.0, 0.0]
    assert bg_dynamic_loglik_terms(th, d)[0].sum() == pytest.approx(bg.log_likelihood_,
                                                                     rel=1e-12)
    m = TimeVaryingBetaGeoFitter().fit(tx, panel, end)
    assert list(m.params_.index) == ["r", "alpha", "a", "b", "trans.member", "life.member"]
    at_bg = m._with_params(np.r_[bg.params_.to_numpy(), 0.0, 0.0])
    args = (summ["frequency"], summ["recency"], summ["T"])
    np.testing.assert_allclose(at_bg.probability_alive(), bg.probability_alive(*args),
                               rtol=1e-12)
    for t in (4.0, 26.0, 104.0):
        np.testing.assert_allclose(at_bg.expected_purchases(t, future={"member": 1.0}),
                                   bg.expected_purchases(t, *args), rtol=2e-6)


@pytest.fixture(scope="module")
def rolling_world():
    return rl.datasets.simulate_loyalty_experiment(n_customers=3000, design="rolling", seed=3)


def test_rolling_simulator_untreated_world_has_no_membership_effect(rolling_world):
    exp = rolling_world
    res = {}
    for name, tx in (("treated", exp.transactions),
                     ("untreated", exp.truth["untreated_transactions"])):
        panel = membership_covariates(exp.customers, tx["date"].min(), exp.observation_end,
                                      freq="D", compact=True)
        res[name] = TimeVaryingBetaGeoFitter().fit(tx, panel, exp.observation_end,
                                                   freq="D").summary
    u = res["untreated"]
    for k in ("trans.member", "life.member"):
        assert u.loc[k, "lower 95%"] < 0 < u.loc[k, "upper 95%"], k
    t = res["treated"]
    lift = np.log1p(exp.truth["params"]["freq_lift"])
    assert t.loc["trans.member", "lower 95%"] < lift < t.loc["trans.member", "upper 95%"]
    assert t.loc["life.member", "upper 95%"] < 0      # the programme reduces dropout


def test_same_day_orders_are_tied_purchases_against_brute_force():
    """``events="orders"``: each of two orders on one day is a purchase and a dropout
    opportunity (brute force: the age listed twice); ``"days"`` counts the day once."""
    import pandas as pd
    theta = (0.6, 9.0, 0.8, 2.5, 0.5, -0.4)
    tx, pan, end = _world(HIST)
    tx2 = pd.concat([tx, tx.iloc[[1, 5, 9]]], ignore_index=True)
    extra = {1: [3], 4: [21]}
    th = np.r_[np.log(theta[:4]), theta[4:]]
    ll = bg_dynamic_loglik_terms(th, DynamicData(tx2, pan, end, "W"))[0]
    ll_days = bg_dynamic_loglik_terms(th, DynamicData(tx2, pan, end, "W", events="days"))[0]
    assert ll_days == pytest.approx(bg_dynamic_loglik_terms(th, DynamicData(tx, pan, end, "W"))[0],
                                    rel=1e-12)
    r, alpha, a, b, gt, gl = theta
    for i, cid in enumerate(sorted(HIST)):
        kb, buys, flags = HIST[cid]
        lo, hi, f = week_intervals(kb, flags, (216 - 7 * kb - 2) / 7)
        ages = sorted(k - kb for k in buys + extra.get(cid, []))
        want = brute_loglik(r, alpha, a, b, ages, lo, hi, np.exp(gt * f), np.exp(gl * f))
        assert ll[i] == pytest.approx(want, abs=1e-6), cid


def test_analytic_gradient_matches_central_differences():
    """The analytic gradient (per row and weighted total) against central differences of the
    per-row log-likelihood (itself checked against the brute force above), at three
    parameter points, on a world with membership switches and ties."""
    from retention_lab.clv.covariates_tv_bg import bg_dynamic_loglik_grad
    tx, panel, end = simulate_dynamic(600, (0.8, 8.0, 0.7, 20.0), {"member": 0.3}, {},
                                      weeks=60, seed=4)
    d = DynamicData(tx, panel, end, "W")
    assert d.x.sum() > len(np.unique(d.buy_c))          # some repeat buyers
    for th in ([0.8, 8.0, 0.7, 3.0, 0.4, -0.5], [1.3, 3.0, 0.4, 6.0, -0.2, 0.9],
               [0.3, 20.0, 2.0, 1.5, 0.0, 0.0]):
        theta = np.r_[np.log(th[:4]), th[4:]]
        ll, G = bg_dynamic_loglik_grad(theta, d, rows=True)
        np.testing.assert_allclose(ll, bg_dynamic_loglik_terms(theta, d)[0], rtol=1e-13)
        fd = np.empty_like(G)
        for j in range(len(theta)):
            e = np.zeros(len(theta))
            e[j] = 1e-6
            fd[:, j] = (bg_dynamic_loglik_terms(theta + e, d)[0]
                        - bg_dynamic_loglik_terms(theta - e, d)[0]) / 2e-6
        np.testing.assert_allclose(G, fd, rtol=1e-5, atol=1e-7)
        total, g = bg_dynamic_loglik_grad(theta, d)
        np.testing.assert_allclose(g, G.sum(0), rtol=1e-12)
