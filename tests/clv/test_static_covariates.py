"""Time-invariant covariates in Pareto/NBD and BG/NBD (retention_lab.clv.covariates).

Oracles: the published no-covariate CDNOW estimates (Fader, Hardie & Lee 2005) for the nesting,
and a brute-force likelihood — each customer's individual-level likelihood integrated
numerically over the gamma (and beta) mixing distributions on a dense Gauss–Legendre grid —
at several parameter points. Parameter recovery with intervals is in
tests/clv/test_static_covariates_slow.py (200 seeds).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import roots_legendre

import retention_lab as rl
from retention_lab.clv.base import ConvergenceWarning
from retention_lab.clv.covariates import bgnbd_loglik_rows, pnbd_loglik_rows


# ---------------------------------------------------------------------------- brute force
def _grid(lo, hi, n):
    u, w = roots_legendre(n)
    return (hi - lo) / 2 * u + (hi + lo) / 2, (hi - lo) / 2 * w


def pnbd_brute(r, s, alpha, beta, x, tx, T, n=1200):
    """log ∫∫ L(x, t_x, T | λ, μ) Gamma(λ; r, α) Gamma(μ; s, β) dλ dμ on a log-scale grid, with
    the individual-level likelihood of Poisson purchases and an exponential lifetime."""
    lu, wl = _grid(-90, 8, n)      # log λ, log μ: wide enough for shapes down to 0.2
    mu_, wm = _grid(-90, 8, n)
    lam, mu = np.exp(lu)[:, None], np.exp(mu_)[None, :]
    k = lam + mu
    ind = lam ** x * (np.exp(-k * T) + mu / k * np.exp(-k * tx) * -np.expm1(-k * (T - tx)))
    dens = (stats.gamma.pdf(lam, r, scale=1 / alpha) * lam
            * stats.gamma.pdf(mu, s, scale=1 / beta) * mu)
    return float(np.log(wl @ (ind * dens) @ wm))


def bgnbd_brute(r, alpha, a, b, x, tx, T, n=1200):
    """log ∫∫ L(x, t_x, T | λ, p) Gamma(λ; r, α) Beta(p; a, b) dλ dp: Poisson purchases while
    active, dropout with probability p after each repeat purchase."""
    lu, wl = _grid(-90, 8, n)
    pu, wp = _grid(-60, 60, n)       # logit p
    lam, p = np.exp(lu)[:, None], (1 / (1 + np.exp(-pu)))[None, :]
    ind = (1 - p) ** x * lam ** x * np.exp(-lam * T)
    if x > 0:
        ind = ind + p * (1 - p) ** (x - 1) * lam ** x * np.exp(-lam * tx)
    dens = (stats.gamma.pdf(lam, r, scale=1 / alpha) * lam
            * stats.beta.pdf(p, a, b) * p * (1 - p))
    return float(np.log(wl @ (ind * dens) @ wp))


CUSTOMERS = [(0, 0.0, 30.0), (1, 2.0, 2.0), (2, 10.0, 38.0), (7, 30.0, 39.0), (1, 38.9, 39.0),
             (15, 20.0, 52.0)]
POINTS = [(0.55, 10.6, 0.61, 11.7), (1.3, 4.0, 0.4, 25.0), (0.25, 30.0, 2.5, 3.0)]


@pytest.mark.parametrize("point", POINTS)
def test_pareto_nbd_rows_equal_brute_force_likelihood(point):
    r, alpha, s, beta = point
    for x, tx, T in CUSTOMERS:
        # a customer's own α_i, β_i as a covariate would give them
        a_i, b_i = alpha * np.exp(-0.7), beta * np.exp(0.4)
        got = pnbd_loglik_rows(r, s, np.array([a_i]), np.array([b_i]), np.array([float(x)]),
                               np.array([tx]), np.array([T]))[0]
        assert got == pytest.approx(pnbd_brute(r, s, a_i, b_i, x, tx, T), abs=1e-6)


@pytest.mark.parametrize("point", [(0.24, 4.4, 0.79, 2.43), (1.1, 12.0, 3.0, 1.5)])
def test_bg_nbd_rows_equal_brute_force_likelihood(point):
    r, alpha, a, b = point
    for x, tx, T in CUSTOMERS:
        a_i, b_i, al_i = a * np.exp(0.3), b * np.exp(0.3), alpha * np.exp(-0.5)
        got = bgnbd_loglik_rows(r, np.array([al_i]), np.array([a_i]), np.array([b_i]),
                                np.array([float(x)]), np.array([tx]), np.array([T]))[0]
        assert got == pytest.approx(bgnbd_brute(r, al_i, a_i, b_i, x, tx, T), abs=1e-6)


# ---------------------------------------------------------------------------- CDNOW
@pytest.fixture(scope="module")
def cdnow_summary(cdnow_sample):
    return rl.features.rfm_summary(cdnow_sample, "1997-09-30", freq="D", freq_multiplier=7)


def test_zero_covariates_reproduce_published_no_covariate_fits(cdnow_summary):
    cov = pd.DataFrame({"z": 0.0}, index=cdnow_summary.index)
    with pytest.warns(ConvergenceWarning):   # γ is not identified by a covariate that is 0
        pn = rl.clv.ParetoNBDFitter().fit(cdnow_summary, covariates=cov)
    p = pn.params_
    assert [round(p[k], 3) for k in ("r", "alpha", "s", "beta")] == [0.553, 10.578, 0.606, 11.669]
    assert p["trans.z"] == 0 and p["life.z"] == 0
    assert round(pn.log_likelihood_, 1) == -9595.0
    with pytest.warns(ConvergenceWarning):
        bg = rl.clv.BetaGeoFitter().fit(cdnow_summary, covariates=cov)
    p = bg.params_
    assert [round(p[k], 3) for k in ("r", "alpha", "a", "b")] == [0.243, 4.414, 0.793, 2.426]
    assert round(bg.log_likelihood_, 1) == -9582.4


@pytest.fixture(scope="module")
def cdnow_cov(cdnow_summary, cdnow_sample):
    # covariates known at the first purchase: its amount (log) and a text channel-like label
    first = cdnow_sample.sort_values("date").groupby("customer_id")["amount"].first()
    cov = pd.DataFrame({"log_first": np.log1p(first)}).reindex(cdnow_summary.index)
    cov["cohort"] = np.where(cdnow_summary["T"] > 33, "early", "late")
    return cov.iloc[::-1]     # deliberately in another order than the summary


def test_api_names_summary_and_predictions_use_each_customers_covariates(cdnow_summary, cdnow_cov):
    pn = rl.clv.ParetoNBDFitter().fit(cdnow_summary, covariates=cdnow_cov,
                                      covariates_life=["log_first"])
    assert isinstance(pn, rl.clv.ParetoNBDFitter)
    assert list(pn.params_.index) == ["r", "alpha", "s", "beta", "trans.log_first",
                                      "trans.cohort=late", "life.log_first"]
    assert list(pn.summary.columns) == ["coef", "se", "lower 95%", "upper 95%", "p"]
    s = pn.summary
    assert (s["lower 95%"] < s["coef"]).all() and (s["coef"] < s["upper 95%"]).all()
    assert s["p"].iloc[4:].between(0, 1).all() and s["p"].iloc[:4].isna().all()
    # the no-covariate model is nested: the covariates can only raise the likelihood
    base = rl.clv.ParetoNBDFitter().fit(cdnow_summary)
    assert pn.log_likelihood_ > base.log_likelihood_
    # predictions: each customer's own α_i, β_i; two identical histories with different
    # covariates get different predictions
    ind = pn.individual_params(cdnow_cov.loc[cdnow_summary.index])
    g = pn.params_
    alpha_i = g["alpha"] * np.exp(-(cdnow_cov.loc[cdnow_summary.index, "log_first"] * g["trans.log_first"]
                                    + (cdnow_cov.loc[cdnow_summary.index, "cohort"] == "late")
                                    * g["trans.cohort=late"]))
    np.testing.assert_allclose(ind["alpha"], alpha_i, rtol=1e-12)
    hist = dict(frequency=[2, 2], recency=[20.0, 20.0], T=[38.0, 38.0])
    two = pd.DataFrame({"log_first": [1.0, 4.0], "cohort": ["early", "early"]})
    pa = pn.probability_alive(**hist, covariates=two)
    ep = pn.expected_purchases(39, **hist, covariates=two)
    assert pa[0] != pa[1] and ep[0] != ep[1]
    # the covariate prediction for one customer equals the plain model at their α_i, β_i
    plain = rl.clv.ParetoNBDFitter()
    plain.params_ = pd.Series([g["r"], 0.0, g["s"], 0.0], index=["r", "alpha", "s", "beta"])
    for k in range(2):
        row = pn.individual_params(two.iloc[[k]])
        plain.params_[["alpha", "beta"]] = [row["alpha"].iloc[0], row["beta"].iloc[0]]
        assert pa[k] == pytest.approx(plain.probability_alive(2, 20.0, 38.0), rel=1e-10)
        assert ep[k] == pytest.approx(plain.expected_purchases(39, 2, 20.0, 38.0), rel=1e-10)


def test_shifting_a_covariate_only_rescales_alpha_and_beta(cdnow_summary, cdnow_cov):
    cov = cdnow_cov[["log_first"]]
    a = rl.clv.ParetoNBDFitter().fit(cdnow_summary, covariates=cov)
    b = rl.clv.ParetoNBDFitter().fit(cdnow_summary, covariates=cov + 2.0)
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, abs=1e-6)
    np.testing.assert_allclose(a.params_.iloc[4:], b.params_.iloc[4:], atol=1e-4)
    assert b.params_["alpha"] == pytest.approx(
        a.params_["alpha"] * np.exp(2 * a.params_["trans.log_first"]), rel=1e-4)


def test_analytic_gradient_matches_numerical(cdnow_summary, cdnow_cov):
    for cls in (rl.clv.ParetoNBDFitter, rl.clv.BetaGeoFitter):
        m = cls().fit(cdnow_summary, covariates=cdnow_cov)
        d = dict(x=cdnow_summary["frequency"].to_numpy(float),
                 tx=cdnow_summary["recency"].to_numpy(float),
                 T=cdnow_summary["T"].to_numpy(float), X=m._X_fit, Z=m._Z_fit)
        w = np.ones(len(d["x"]))
        theta = m._theta + 0.05
        g = m._nll_grad(theta, d, w, w.sum())[1]
        num = np.empty_like(theta)
        for j in range(len(theta)):
            e = np.zeros_like(theta)
            e[j] = 1e-6
            num[j] = (m._nll_grad(theta + e, d, w, w.sum())[0]
                      - m._nll_grad(theta - e, d, w, w.sum())[0]) / 2e-6
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)


def test_clv_uses_each_customers_covariates(cdnow_summary, cdnow_cov):
    pn = rl.clv.ParetoNBDFitter().fit(cdnow_summary, covariates=cdnow_cov)
    res = rl.clv.customer_lifetime_value(pn, 30.0, cdnow_summary, horizon=12, freq="M",
                                         n_draws=50)
    ep = pn.expected_purchases(12 * 30.436875 / 7, cdnow_summary["frequency"],
                               cdnow_summary["recency"], cdnow_summary["T"])
    np.testing.assert_allclose(res.customers["expected_purchases"], ep, rtol=1e-12)
    assert res.total_ci[0] < res.total < res.total_ci[1]


def test_bad_covariates_are_data_errors(cdnow_summary, cdnow_cov):
    with pytest.raises(rl.DataError, match="no covariate row"):
        rl.clv.ParetoNBDFitter().fit(cdnow_summary, covariates=cdnow_cov.iloc[5:])
    bad = cdnow_cov.copy()
    bad.iloc[3, 0] = np.nan
    with pytest.raises(rl.DataError, match="not null"):
        rl.clv.BetaGeoFitter().fit(cdnow_summary, covariates=bad)
    with pytest.raises(rl.DataError, match="not among"):
        rl.clv.ParetoNBDFitter().fit(cdnow_summary, covariates=cdnow_cov, covariates_trans=["x"])
