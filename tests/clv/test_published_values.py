"""BTYD fitters against the published estimates.

* BG/NBD and Pareto/NBD on the CDNOW 1/10 sample, 39-week calibration in fractional weeks:
  Fader, Hardie & Lee (2005a), "Counting your customers the easy way", Marketing Science 24(2);
  conditional and unconditional expectations from Hardie's BG/NBD spreadsheet (as tested by
  lifetimes).
* Gamma-Gamma on the repeat buyers: Fader, Hardie & Lee (2005b), "RFM and CLV", JMR 42(4).
* sBG on the "regular" and "high end" data: Fader & Hardie (2007), "How to project customer
  retention", J. Interactive Marketing 21(1), Table 1 / Figure 3.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_sample):
    return rl.features.rfm_summary(cdnow_sample, "1997-09-30", freq="D", freq_multiplier=7)


@pytest.fixture(scope="module")
def bgnbd(cdnow_summary):
    return rl.clv.BetaGeoFitter().fit(cdnow_summary)


@pytest.fixture(scope="module")
def pnbd(cdnow_summary):
    return rl.clv.ParetoNBDFitter().fit(cdnow_summary)


def test_cdnow_summary_shape(cdnow_summary):
    assert len(cdnow_summary) == 2357
    assert (cdnow_summary["frequency"] > 0).sum() == 946


def test_bgnbd_reproduces_fhl2005(bgnbd):
    p = bgnbd.params_
    assert [round(p[k], 3) for k in ("r", "alpha", "a", "b")] == [0.243, 4.414, 0.793, 2.426]
    assert round(bgnbd.log_likelihood_, 1) == -9582.4
    # standard errors as lifetimes reports them for the same fit
    np.testing.assert_allclose(bgnbd.summary["se"], [0.0125, 0.378, 0.186, 0.705], rtol=0.03)
    s = bgnbd.summary
    assert list(s.columns) == ["coef", "se", "lower 95%", "upper 95%"]
    assert (s["lower 95%"] < s["coef"]).all() and (s["coef"] < s["upper 95%"]).all()
    assert bgnbd.AIC_ == pytest.approx(2 * 4 + 2 * 9582.43, abs=0.1)
    assert bgnbd.variance_matrix_.shape == (4, 4)


def test_bgnbd_hardie_spreadsheet_expectations(bgnbd):
    # conditional expectation of the customer (x=2, t_x=30.43, T=38.86) over the next 39 weeks
    assert bgnbd.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86) \
        == pytest.approx(1.226, abs=1e-3)
    assert bgnbd.expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=1e-3)
    times = np.array([0.1429, 1.0, 3.00, 31.8571, 32.00, 78.00])
    expected = np.array([0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576])
    np.testing.assert_allclose(bgnbd.expected_number_of_purchases_up_to_time(times), expected,
                               atol=6e-4)


def test_bgnbd_probability_alive(bgnbd):
    assert bgnbd.conditional_probability_alive(0, 0, 30) == 1.0
    grid = np.array([(i, j, k) for i in range(0, 100, 10) for j in range(0, 100, 10)
                     for k in range(j, 100, 10) if not (i == 0 and j > 0)], float)
    p = bgnbd.probability_alive(grid[:, 0], grid[:, 1], grid[:, 2])
    assert np.all((p >= 0) & (p <= 1))
    # more recent last purchase → likelier alive; more purchases at the same recency → less
    assert bgnbd.probability_alive(5, 30, 39) > bgnbd.probability_alive(5, 10, 39)
    assert bgnbd.probability_alive(10, 10, 39) < bgnbd.probability_alive(2, 10, 39)


def test_bgnbd_count_distribution_sums_to_one_and_matches_mean(bgnbd):
    n = np.arange(120)
    probs = np.array([bgnbd.probability_of_n_purchases_up_to_time(39.0, k) for k in n])
    assert probs.sum() == pytest.approx(1.0, abs=1e-8)
    assert (probs * n).sum() == pytest.approx(float(bgnbd.expected_number_of_purchases_up_to_time(39.0)),
                                              rel=1e-6)


def test_pareto_nbd_reproduces_fhl2005(pnbd):
    p = pnbd.params_
    assert [round(p[k], 3) for k in ("r", "alpha", "s", "beta")] == [0.553, 10.578, 0.606, 11.669]
    assert round(pnbd.log_likelihood_, 1) == -9595.0


def test_pareto_nbd_analytic_and_numerical_gradient_fits_agree(cdnow_summary, pnbd):
    class NumericalGradient(rl.clv.ParetoNBDFitter):
        _loglik_grad = None   # central differences of the log-likelihood, SEs from its Hessian

    num = NumericalGradient().fit(cdnow_summary)
    np.testing.assert_allclose(pnbd.params_, num.params_, rtol=1e-6)
    np.testing.assert_allclose(pnbd.summary["se"], num.summary["se"], rtol=1e-4)
    assert pnbd.log_likelihood_ == pytest.approx(num.log_likelihood_, rel=1e-12)


def test_pareto_nbd_count_distribution(pnbd):
    n = np.arange(60)
    probs = np.array([pnbd.probability_of_n_purchases_up_to_time(39.0, k) for k in n])
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)
    assert (probs * n).sum() == pytest.approx(float(pnbd.expected_number_of_purchases_up_to_time(39.0)),
                                              rel=1e-4)


def test_collapsed_table_gives_identical_estimates(cdnow_summary, bgnbd, pnbd):
    collapsed = rl.features.collapse_summary(cdnow_summary)
    assert len(collapsed) < 0.5 * len(cdnow_summary)
    bg_c = rl.clv.BetaGeoFitter().fit(collapsed)
    np.testing.assert_allclose(bg_c.params_, bgnbd.params_, rtol=1e-6)
    np.testing.assert_allclose(bg_c.summary["se"], bgnbd.summary["se"], rtol=1e-4)
    assert bg_c.log_likelihood_ == pytest.approx(bgnbd.log_likelihood_, abs=1e-6)
    assert bg_c.n_customers_ == 2357 and bg_c.n_rows_ == len(collapsed)
    pn_c = rl.clv.ParetoNBDFitter().fit(collapsed["frequency"], collapsed["recency"],
                                        collapsed["T"], weights=collapsed["weight"])
    np.testing.assert_allclose(pn_c.params_, pnbd.params_, rtol=1e-5)


def test_gamma_gamma_reproduces_fhl2005b(cdnow_summary):
    repeat = cdnow_summary[cdnow_summary["frequency"] > 0]
    gg = rl.clv.GammaGammaFitter().fit(repeat)
    p = gg.params_
    assert [round(p["p"], 2), round(p["q"], 2), round(p["v"], 2)] == [6.25, 3.74, 15.44]
    # the frame with non-buyers gives the same fit (they are skipped), as do arrays
    gg_all = rl.clv.GammaGammaFitter().fit(cdnow_summary)
    np.testing.assert_allclose(gg_all.params_, p, rtol=1e-6)
    gg_arr = rl.clv.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    np.testing.assert_allclose(gg_arr.params_, p, rtol=1e-6)
    # E[spend] shrinks the customer's own mean toward the population mean p v / (q - 1)
    pop = gg.conditional_expected_average_profit()
    assert pop == pytest.approx(6.25 * 15.44 / 2.74, rel=3e-3)
    own = gg.conditional_expected_average_profit(np.array([1, 20]), np.array([100.0, 100.0]))
    assert pop < own[0] < own[1] < 100


REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]


@pytest.mark.parametrize("data, alpha, beta, tol", [
    (REGULAR, 0.704, 1.182, 0.02),    # projections within 2 % of the actual survivors
    (HIGH_END, 0.668, 3.806, 0.05),   # within 5 % (the paper's Figure 3 shows the same gap)
])
def test_sbg_reproduces_fader_hardie_2007(data, alpha, beta, tol):
    sbg = rl.clv.ShiftedBetaGeoFitter().fit(survivors=data[:8])
    assert round(sbg.params_["alpha"], 3) == alpha
    assert round(sbg.params_["beta"], 3) == beta
    projected = sbg.expected_survivors(range(8, 13))
    actual = np.array(data[8:], float)
    np.testing.assert_allclose(projected.to_numpy(), actual, rtol=tol)
    # the projection undershoots (the paper's observation for both segments)
    assert (projected.to_numpy() < actual).all()
    # retention rates rise with tenure
    r = sbg.retention_rate(np.arange(1, 13))
    assert np.all(np.diff(r) > 0)
    assert sbg.survival_function(0) == pytest.approx(1.0)


def test_sbg_from_individual_lifetimes_equals_counts():
    n = np.array(REGULAR[:8])
    lost = -np.diff(n)
    durations = np.r_[np.repeat(np.arange(1, 8), lost), np.full(n[-1], 7)]
    churned = np.r_[np.ones(lost.sum(), bool), np.zeros(n[-1], bool)]
    a = rl.clv.ShiftedBetaGeoFitter().fit(survivors=n)
    b = rl.clv.ShiftedBetaGeoFitter().fit(durations=durations, churned=churned)
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-6)
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_)


def _beta_mixture(f, alpha, beta, shift=0.0):
    """E_θ[f(θ)] for θ ~ Beta(α, β) by adaptive quadrature with the algebraic end-point weight
    θ^(α−1) (1−θ)^(β−1), normalised by the same quadrature of 1 — an oracle that shares no
    formula with the sBG code (no beta functions, no hypergeometric series)."""
    from scipy import integrate
    kw = dict(weight="alg", limit=200, epsabs=0, epsrel=1e-12)
    num = integrate.quad(f, 0, 1, wvar=(alpha - 1 + shift, beta - 1), **kw)[0]
    return num / integrate.quad(lambda t: 1.0, 0, 1, wvar=(alpha - 1, beta - 1), **kw)[0]


@pytest.mark.parametrize("alpha, beta", [(0.704, 1.182), (0.668, 3.806), (3.8, 15.19)])
def test_sbg_churn_lifetime_and_derl_against_quadrature(alpha, beta):
    """Issue 13 item 8: probability_of_churn_at, expected_lifetime and
    discounted_expected_residual_lifetime had no test. Oracles: the customer-level definitions
    (geometric lifetime with churn probability θ) integrated over θ ~ Beta(α, β) — at the
    Fader & Hardie (2007) estimates of the regular and high-end segments and at α > 1."""
    sbg = rl.clv.ShiftedBetaGeoFitter()
    sbg.params_ = pd.Series({"alpha": alpha, "beta": beta})
    # P(T = t) = E[θ (1−θ)^(t−1)]
    for t in (1, 2, 5, 12):
        assert sbg.probability_of_churn_at(t) == pytest.approx(
            _beta_mixture(lambda th: th * (1 - th) ** (t - 1), alpha, beta), rel=1e-9)
    # E[min(T, k)] = Σ_{t<k} S(t) = E[Σ_{j<k} (1−θ)^j]
    for k in (1, 4, 20):
        assert sbg.expected_lifetime(truncate=k) == pytest.approx(
            _beta_mixture(lambda th: sum((1 - th) ** j for j in range(k)), alpha, beta),
            rel=1e-9)
    # E[T] = E[1/θ], finite only for α > 1
    if alpha > 1:
        assert sbg.expected_lifetime() == pytest.approx(
            _beta_mixture(lambda th: 1.0, alpha, beta, shift=-1.0), rel=1e-9)  # θ^-1 in the weight
    else:
        assert sbg.expected_lifetime() == np.inf
    # DERL after n renewals (Fader & Hardie 2010, eq. 6): the discounted number of future
    # payments, the next one undiscounted, for θ ~ Beta(α, β+n) (the survivors' posterior):
    # Σ_{k>=0} (1−θ)^(k+1) / (1+d)^k = (1−θ)(1+d) / (d+θ)
    for n, d in ((0, 0.1), (3, 0.1), (10, 0.05)):
        assert sbg.discounted_expected_residual_lifetime(n, d) == pytest.approx(
            _beta_mixture(lambda th: (1 - th) * (1 + d) / (d + th), alpha, beta + n), rel=1e-8)


def test_sbg_derl_equals_the_brute_force_sum_of_survival_ratios():
    """DERL as the discounted sum of S(n+k+1)/S(n), S from the counts' own retention rates
    r_t = S(t)/S(t−1) multiplied out (5,000 periods: the tail is below 1e-12)."""
    sbg = rl.clv.ShiftedBetaGeoFitter().fit(survivors=REGULAR[:8])
    alpha, beta = sbg.params_["alpha"], sbg.params_["beta"]
    t = np.arange(1, 5_001)
    S = np.cumprod((beta + t - 1) / (alpha + beta + t - 1))  # S(1), S(2), …
    S = np.r_[1.0, S]
    for n in (0, 2, 7):
        d = 0.1
        k = np.arange(0, 5_000 - n)
        brute = np.sum(S[n + k + 1] / S[n] / (1 + d) ** k)
        assert sbg.discounted_expected_residual_lifetime(n, d) == pytest.approx(brute, rel=1e-10)
    # a longer-tenured customer is worth more (retention rises with tenure)
    assert sbg.discounted_expected_residual_lifetime(7, 0.1) > \
        sbg.discounted_expected_residual_lifetime(0, 0.1)
