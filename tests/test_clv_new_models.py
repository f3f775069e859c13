"""BG/BB, MBG/NBD, the conditional predictions of the BTYD fitters, persistence and plot methods.

Oracles: the published estimates (Fader, Hardie & Shang 2010 for BG/BB on the donations data;
BTYDplus / lifetimes' tests for MBG/NBD on the CDNOW sample), numerical integration over the
posterior of the individual-level parameters (Gauss–Jacobi / Gauss–Laguerre quadrature),
Monte-Carlo simulation of the generative process, and sums over the count distribution that
must equal 1 and the closed-form conditional expectation.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import betaln, roots_jacobi

import retention_lab as rl
from retention_lab.clv.beta_geo_beta_binom import BetaGeoBetaBinomFitter

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ helpers
def beta_nodes(a, b, n=80):
    """Nodes and weights of ∫ f(p) Beta(p; a, b) dp (Gauss–Jacobi; exact for the density's
    endpoint singularities)."""
    u, w = roots_jacobi(n, b - 1.0, a - 1.0)       # weight (1-u)^(b-1) (1+u)^(a-1) on [-1, 1]
    p = (1 + u) / 2
    w = w / w.sum()
    return p, w


@pytest.fixture(scope="module")
def donations():
    return rl.datasets.load_donations()


@pytest.fixture(scope="module")
def bgbb(donations):
    return BetaGeoBetaBinomFitter().fit(donations)


# ------------------------------------------------------------------------------ BG/BB
def test_donations_data_is_the_published_table(donations):
    assert list(donations.columns) == ["frequency", "recency", "n_periods", "weights"]
    assert len(donations) == 22 and donations["weights"].sum() == 11_104
    assert (donations["n_periods"] == 6).all()
    # the 3,464 donors who never gave again and the 1,203 who gave every year (FHS 2010)
    assert donations.query("frequency == 0")["weights"].item() == 3464
    assert donations.query("frequency == 6")["weights"].item() == 1203
    # the packaged copy is the documented file in data/donations
    on_disk = pd.read_csv(ROOT / "data" / "donations" / "donations.csv")
    pd.testing.assert_frame_equal(donations, on_disk, check_dtype=False)


def test_bgbb_reproduces_fader_hardie_shang_2010(bgbb):
    p = bgbb.params_
    assert [round(p[k], 3) for k in ("alpha", "beta", "gamma", "delta")] == \
        [1.204, 0.750, 0.657, 2.783]
    assert round(bgbb.log_likelihood_, 1) == -33225.6
    s = bgbb.summary
    assert list(s.columns) == ["coef", "se", "lower 95%", "upper 95%"]
    assert (s["se"] > 0).all() and (s["lower 95%"] < s["coef"]).all()
    assert (s["coef"] < s["upper 95%"]).all()
    assert bgbb.n_customers_ == 11_104 and bgbb.n_rows_ == 22


def test_bgbb_se_match_a_numerical_hessian_of_the_brute_force_likelihood(bgbb, donations):
    """SEs from the observed information of an independently coded likelihood (quadrature
    over p and θ, no closed form), by central differences on the natural scale."""
    x, tx, n, w = (donations[c].to_numpy(float) for c in ("frequency", "recency", "n_periods",
                                                           "weights"))

    def loglik(theta):
        a, b, g, d = theta
        pp, wp = beta_nodes(a, b, 60)
        qq, wq = beta_nodes(g, d, 60)
        P, Q = pp[:, None, None], qq[None, :, None]
        lik = P ** x * (1 - P) ** (n - x) * (1 - Q) ** n
        for i in range(6):
            lik = lik + np.where(i < n - tx, P ** x * (1 - P) ** (tx - x + i) * Q
                                 * (1 - Q) ** (tx + i), 0.0)
        L = np.einsum("i,j,ijk->k", wp, wq, lik)
        return float(np.dot(w, np.log(L)))

    theta = bgbb.params_.to_numpy()
    assert loglik(theta) == pytest.approx(bgbb.log_likelihood_, abs=1e-6)
    h = 1e-3 * theta
    H = np.empty((4, 4))
    for i in range(4):
        for j in range(4):
            ei, ej = np.eye(4)[i] * h[i], np.eye(4)[j] * h[j]
            H[i, j] = (loglik(theta + ei + ej) - loglik(theta + ei - ej) - loglik(theta - ei + ej)
                       + loglik(theta - ei - ej)) / (4 * h[i] * h[j])
    se = np.sqrt(np.diag(np.linalg.inv(-H)))
    np.testing.assert_allclose(bgbb.summary["se"].to_numpy(), se, rtol=2e-3)


def test_bgbb_unaggregated_rows_give_the_same_fit(bgbb, donations):
    rows = donations.loc[donations.index.repeat(donations["weights"])].drop(columns="weights")
    m = BetaGeoBetaBinomFitter().fit(rows["frequency"], rows["recency"], rows["n_periods"])
    np.testing.assert_allclose(m.params_, bgbb.params_, rtol=1e-6)
    assert m.log_likelihood_ == pytest.approx(bgbb.log_likelihood_, abs=1e-6)


def test_bgbb_bad_rows_raise_data_error():
    bad = pd.DataFrame({"frequency": [2, 1, 0], "recency": [1, 3, 0], "n_periods": [6, 6, 6]})
    with pytest.raises(rl.DataError, match=r"recency.*1 of 3 rows.*frequency <= recency"):
        BetaGeoBetaBinomFitter().fit(bad)
    bad2 = pd.DataFrame({"frequency": [0, 1], "recency": [2, 3], "n_periods": [6, 6]})
    with pytest.raises(rl.DataError, match="recency == 0 exactly when frequency == 0"):
        BetaGeoBetaBinomFitter().fit(bad2)
    with pytest.raises(rl.DataError, match="n_periods"):
        BetaGeoBetaBinomFitter().fit(pd.DataFrame({"frequency": [1], "recency": [1]}))


HISTORIES = [(0, 0, 6), (1, 1, 6), (3, 5, 6), (4, 4, 6), (6, 6, 6), (2, 3, 4)]


@pytest.mark.parametrize("x,tx,n", HISTORIES)
def test_bgbb_predictions_equal_posterior_integrals(bgbb, x, tx, n):
    """P(alive), E[X(n, n+t)], P(X(n, n+t) = k) and DERT against quadrature over the
    posterior of (p, θ) (individual-level likelihood × prior, integrated numerically)."""
    a, b, g, d = bgbb.params_.to_numpy()
    pp, wp = beta_nodes(a, b)
    qq, wq = beta_nodes(g, d)
    P, Q = pp[:, None], qq[None, :]
    W = wp[:, None] * wq[None, :]
    alive_lik = P ** x * (1 - P) ** (n - x) * (1 - Q) ** n
    lik = alive_lik + sum(P ** x * (1 - P) ** (tx - x + i) * Q * (1 - Q) ** (tx + i)
                          for i in range(n - tx))
    L = (W * lik).sum()
    assert np.exp(rl.clv.beta_geo_beta_binom.bgbb_log_likelihood(
        bgbb.params_.to_numpy(), x, tx, n)) == pytest.approx(L, rel=1e-10)
    post = lambda f: (W * alive_lik * f).sum() / L  # noqa: E731  (E[f · 1{alive at n}])
    for t in (0, 1, 3, 10):
        assert bgbb.probability_alive_at(t, x, tx, n) == pytest.approx(post((1 - Q) ** t), rel=1e-9)
    assert bgbb.conditional_probability_alive(1, x, tx, n) == pytest.approx(post(1 - Q), rel=1e-9)
    for t in (1, 5):
        ev = post(P * sum((1 - Q) ** k for k in range(1, t + 1)))
        assert bgbb.expected_purchases(t, x, tx, n) == pytest.approx(ev, rel=1e-9)
        # the count distribution: alive customers buy Bernoulli(p) while they survive
        from math import comb
        for k in range(t + 1):
            pk = (comb(t, k) * P ** k * (1 - P) ** (t - k) * (1 - Q) ** t
                  + sum(comb(i, k) * P ** k * (1 - P) ** (i - k) * (1 - Q) ** i * Q
                        for i in range(k, t)))
            expect = post(pk) + (1 - post(1)) * (k == 0)
            got = bgbb.conditional_probability_of_n_purchases_up_to_time(k, t, x, tx, n)
            assert got == pytest.approx(expect, rel=1e-8, abs=1e-13)
    assert bgbb.probability_no_purchase(5, x, tx, n) == pytest.approx(
        bgbb.conditional_probability_of_n_purchases_up_to_time(0, 5, x, tx, n))
    # DERT: Σ_k E[p (1−θ)^k] / (1+d)^k, the series summed numerically
    k = np.arange(1, 400)[:, None, None]
    dert = post((P * ((1 - Q) / 1.1) ** k).sum(0))
    assert bgbb.discounted_expected_residual_transactions(0.1, x, tx, n) == pytest.approx(dert, rel=1e-8)


def test_bgbb_conditional_distribution_by_monte_carlo(bgbb):
    """Simulate the BG/BB process (2 million customers, 6 + 4 opportunities), keep those whose
    first 6 opportunities match the history, tabulate their next 4: the model's conditional
    P(alive at 6), E[X(6, 10)] and P(X(6, 10) = k)."""
    rng = np.random.default_rng(7)
    a, b, g, d = bgbb.params_.to_numpy()
    N, n, t = 2_000_000, 6, 4
    p = rng.beta(a, b, N)
    theta = rng.beta(g, d, N)
    death = rng.geometric(theta)                    # opportunity at whose start they die
    buys = (rng.random((N, n + t)) < p[:, None]) & (np.arange(1, n + t + 1)[None, :] < death[:, None])
    x = buys[:, :n].sum(1)
    last = np.where(x > 0, n - np.argmax(buys[:, n - 1::-1], 1), 0)
    future = buys[:, n:].sum(1)
    for hx, htx in ((3, 5), (1, 2), (0, 0)):
        sel = (x == hx) & (last == htx)
        assert sel.sum() > 20_000
        assert (death[sel] > n).mean() == pytest.approx(bgbb.probability_alive(hx, htx, n), abs=0.012)
        assert future[sel].mean() == pytest.approx(bgbb.expected_purchases(t, hx, htx, n), abs=0.03)
        for k in range(t + 1):
            got = bgbb.conditional_probability_of_n_purchases_up_to_time(k, t, hx, htx, n)
            assert (future[sel] == k).mean() == pytest.approx(got, abs=0.012)


def test_bgbb_unconditional_counts_and_fit_table(bgbb, donations):
    probs = bgbb.probability_of_n_purchases_up_to_time(6, np.arange(7))
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)
    assert (probs * np.arange(7)).sum() == pytest.approx(
        float(bgbb.expected_number_of_purchases_up_to_time(6)), rel=1e-10)
    table = bgbb.expected_number_of_transactions_in_first_n_periods(6)
    assert table["model"].sum() == pytest.approx(11_104, rel=1e-12)
    assert list(table.index) == list(range(7))
