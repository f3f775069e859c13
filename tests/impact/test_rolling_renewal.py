"""The Erlang-k completion models (retention_lab/impact/rolling/renewal.py: Pareto/CNBD-k;
renewal_bg.py: BG/CNBD-k) against
independent oracles: the closed-form Pareto/NBD likelihood (k = 1), a brute-force double
integral of the model's likelihood (k = 2, 3), Monte Carlo paths of the renewal process for the
predictions, and simulated data for the choice of k by likelihood."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from retention_lab.clv import BetaGeoFitter, ParetoNBDFitter
from retention_lab.impact.rolling import gcomputation as G
from retention_lab.impact.rolling.gcomputation import _bgnbd_retention, choose_completion_model
from retention_lab.impact.rolling.renewal import (
    ParetoCNBD,
    ParetoCNBD2,
    ParetoCNBD3,
    cnbd_loglik,
    gauss_beta,
    gauss_gamma,
    pareto_cnbd,
)
from retention_lab.impact.rolling.renewal_bg import BGCNBD, bg_cnbd, bgcnbd_loglik

PARAMS = (1.3, 60.0, 2.0, 400.0)            # r, alpha, s, beta (days)
X = np.array([0.0, 3, 10, 5, 1, 2])
TX = np.array([0.0, 100, 300, 200, 7, 0.5])
T = np.array([50.0, 400, 310, 200, 288, 117])


def test_k1_is_the_closed_form_pareto_nbd():
    """k = 1 against the Pareto/NBD closed form of :mod:`retention_lab.clv` (Fader & Hardie
    2005 note, eqs. 19–22)."""
    pn = ParetoNBDFitter()
    closed = pn._loglik(np.array(PARAMS), pn._prepare(X, TX, T))
    np.testing.assert_allclose(cnbd_loglik(PARAMS, X, TX, T, 1), closed, atol=1e-6)


def test_bg_k1_is_the_closed_form_bg_nbd():
    """BG/CNBD-1 against the BG/NBD of :mod:`retention_lab.clv` (Fader, Hardie & Lee 2005,
    eq. 6), its likelihood and, from a purchase, its expected purchases (eq. 10) and the
    retention of :func:`_bgnbd_retention` (1F1 thinning)."""
    p = np.array([1.3, 60.0, 0.7, 4.0])
    bg = BetaGeoFitter()
    np.testing.assert_allclose(bgcnbd_loglik(p, X, TX, T, 1),
                               bg._loglik(p, bg._prepare(X, TX, T)), atol=1e-9)
    bg.params_ = pd.Series(p, index=["r", "alpha", "a", "b"])
    m = bg_cnbd(1)()
    m.params_ = bg.params_
    t = np.array([30.0, 180, 90, 400, 10, 60])
    np.testing.assert_allclose(m.expected_purchases(t, X, T, T),
                               bg.expected_purchases(t, X, T, T), rtol=1e-6)
    R = np.full(len(X), 90.0)
    np.testing.assert_allclose(m.retention_at_purchase(X, T, t, R),
                               _bgnbd_retention(bg, X, T, t, R, n_nodes=256), atol=2e-3)


def test_gauss_rules_against_moments():
    """The Gamma and Beta Gauss rules integrate polynomials of degree < 2n exactly (moments
    from the closed forms), also at shapes where the textbook weights overflow."""
    for shape in (0.4, 3.0, 700.0):
        x, w = gauss_gamma([shape], 6)
        for d in range(12):
            want = np.exp(math.lgamma(shape + d) - math.lgamma(shape))
            assert np.sum(w * x ** d) == pytest.approx(want, rel=1e-9)
    for a, b in ((0.8, 15.0), (0.3, 0.7), (2.0, 1500.0)):
        p, w = gauss_beta(a, [b], 6)
        for d in range(12):
            want = np.exp(math.lgamma(a + d) + math.lgamma(a + b) - math.lgamma(a)
                          - math.lgamma(a + b + d))
            assert np.sum(w * p ** d) == pytest.approx(want, rel=1e-8)


def _brute_force(x, tx, T_, k, params):
    """The likelihood (without the gap constant) by numerical integration over λ and the
    lifetime ω, straight from the model: Erlang-k gaps at rate kλ, λ ~ Gamma(r, α), ω ~
    Exp(μ), μ ~ Gamma(s, β) (a Lomax ω)."""
    r, a, s, b = params

    def surv(lam, u):                          # no purchase in u after the last one
        return sum(np.exp(-k * lam * u) * (k * lam * u) ** m / math.factorial(m)
                   for m in range(k))

    def inner(lam):
        g = stats.gamma.pdf(lam, r, scale=1 / a) * lam ** (k * x) * np.exp(-k * lam * tx)
        alive = (b / (b + T_)) ** s * surv(lam, T_ - tx)
        dead = integrate.quad(lambda w: s / b * (1 + w / b) ** (-s - 1) * surv(lam, w - tx),
                              tx, T_, epsabs=0, epsrel=1e-11)[0] if T_ > tx else 0.0
        return g * (alive + dead)
    return np.log(integrate.quad(inner, 0, 0.5, limit=500, epsabs=0, epsrel=1e-10,
                                 points=[(x + 1) / (T_ + 1)])[0])


@pytest.mark.parametrize("k", [2, 3])
def test_likelihood_against_a_double_integral(k):
    got = cnbd_loglik(PARAMS, X, TX, T, k)
    want = np.array([_brute_force(*v, k, PARAMS) for v in zip(X, TX, T)])
    np.testing.assert_allclose(got, want, atol=2e-3)


def _brute_force_bg(x, tx, T_, k, params):
    """BG/CNBD-k likelihood by numerical integration over λ, the Beta moments of p in closed
    form (``E(1−p)^x = B(a, b+x)/B(a, b)``, ``E p(1−p)^{x−1} = B(a+1, b+x−1)/B(a, b)``)."""
    r, a_, a, b = params
    B = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    def beta_moment(aa, bb):
        return math.exp(math.lgamma(aa) + math.lgamma(bb) - math.lgamma(aa + bb) - B)
    stay = beta_moment(a, b + x)
    leave = beta_moment(a + 1, b + x - 1) if x > 0 else 0.0

    def surv(lam, u):
        return sum(np.exp(-k * lam * u) * (k * lam * u) ** m / math.factorial(m)
                   for m in range(k))

    def inner(lam):
        g = stats.gamma.pdf(lam, r, scale=1 / a_) * lam ** (k * x) * np.exp(-k * lam * tx)
        return g * (stay * surv(lam, T_ - tx) + leave)
    return np.log(integrate.quad(inner, 0, 0.5, limit=500, epsabs=0, epsrel=1e-10,
                                 points=[(x + 1) / (T_ + 1)])[0])


@pytest.mark.parametrize("k", [2, 3])
def test_bg_likelihood_against_a_double_integral(k):
    params = (1.3, 60.0, 0.7, 4.0)
    got = bgcnbd_loglik(params, X, TX, T, k)
    want = np.array([_brute_force_bg(*v, k, params) for v in zip(X, TX, T)])
    np.testing.assert_allclose(got, want, atol=1e-6)


def _fixed_rates(k, lam, mu):
    """A Pareto/CNBD-k whose heterogeneity is negligible: λ and μ known (r, s = 1e7)."""
    m = pareto_cnbd(k)()
    m.params_ = pd.Series([1e7, 1e7 / lam, 1e7, 1e7 / mu], index=["r", "alpha", "s", "beta"])
    return m


@pytest.mark.parametrize("k", [1, 2, 3])
def test_predictions_from_a_purchase_against_monte_carlo(k):
    """Expected purchases in t after a purchase, and P(a purchase in (gap, gap + R]), against
    200,000 simulated paths of the renewal process with Erlang-k gaps and an exponential
    lifetime (λ = 1/40 a day, μ = 1/500)."""
    lam, mu, t, gap, R = 1 / 40, 1 / 500, 130.0, 75.0, 60.0
    rng = np.random.default_rng(7)
    n = 200_000
    times = np.cumsum(rng.gamma(k, 1 / (k * lam), (n, 40)), axis=1)
    death = rng.exponential(1 / mu, n)[:, None]
    times = np.where(times < death, times, np.inf)
    count = (times <= t).sum(axis=1).mean()
    buy = ((times > gap) & (times <= gap + R)).any(axis=1).mean()
    m = _fixed_rates(k, lam, mu)
    zero = np.zeros(1)
    assert m.expected_purchases(np.array([t]), zero, zero, zero)[0] == pytest.approx(
        count, abs=4 * 2.5 / np.sqrt(n))
    assert m.retention_at_purchase(zero, zero, np.array([gap]), np.array([R]))[0] == \
        pytest.approx(buy, abs=4 * 0.5 / np.sqrt(n))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_bg_predictions_from_a_purchase_against_monte_carlo(k):
    """BG/CNBD-k with λ = 1/40 and p = 0.06 known (r, a + b = 1e7): after a purchase made by a
    customer still alive after it, purchases in t and P(a purchase in (gap, gap + R]) against
    200,000 simulated paths (Erlang-k gaps; after each purchase the customer leaves with
    probability p). ``x = 0`` so that the customer is alive after the last purchase."""
    lam, p, t, gap, R = 1 / 40, 0.06, 130.0, 75.0, 60.0
    rng = np.random.default_rng(11)
    n = 200_000
    times = np.cumsum(rng.gamma(k, 1 / (k * lam), (n, 40)), axis=1)
    left = rng.random((n, 40)) < p                        # leaves after that purchase
    gone = np.cumsum(left, axis=1) - left > 0             # left after an earlier one
    times = np.where(gone, np.inf, times)
    count = (times <= t).sum(axis=1).mean()
    buy = ((times > gap) & (times <= gap + R)).any(axis=1).mean()
    m = bg_cnbd(k)()
    m.params_ = pd.Series([1e7, 1e7 / lam, 1e7 * p, 1e7 * (1 - p)],
                          index=["r", "alpha", "a", "b"])
    zero = np.zeros(1)
    assert m.expected_purchases(np.array([t]), zero, zero, zero)[0] == pytest.approx(
        count, abs=4 * 2.5 / np.sqrt(n))
    assert m.retention_at_purchase(zero, zero, np.array([gap]), np.array([R]))[0] == \
        pytest.approx(buy, abs=4 * 0.5 / np.sqrt(n))


def _simulate_summary(n, k, seed, r=1.5, alpha=80.0, life=900.0):
    """BTYD summaries (with the sum of log gaps) of customers with Erlang-k gaps, λ ~ Gamma(r,
    α), exponential lifetimes of mean ``life`` and observation lengths uniform on 100–900 days
    (continuous times)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    T_ = rng.uniform(100, 900, n)
    death = rng.exponential(life, n)
    t = np.cumsum(rng.gamma(k, 1 / (k * lam[:, None]), (n, 200)), axis=1)
    seen = t <= np.minimum(T_, death)[:, None]
    x = seen.sum(axis=1)
    tx = np.where(x > 0, np.max(np.where(seen, t, 0), axis=1), 0.0)
    g = np.diff(np.c_[np.zeros(n), t], axis=1)
    log_gaps = np.where(seen, np.log(g), 0.0).sum(axis=1)
    return pd.DataFrame({"frequency": x.astype(float), "recency": tx, "T": T_,
                         "log_gaps": log_gaps})


def test_likelihood_chooses_the_erlang_shape():
    """Erlang-2 gaps and calendar-time lifetimes: the Pareto/CNBD-2 is kept (and CNBD-3 was
    tried and lost) and its rate distribution is recovered; Poisson purchases (k = 1): no
    Erlang model is kept."""
    s2 = _simulate_summary(4000, 2, seed=1)
    model, _, loglik = choose_completion_model(s2)
    assert isinstance(model, ParetoCNBD2) and not isinstance(model, ParetoCNBD3), loglik
    assert "Pareto/CNBD-3" in loglik
    assert model.params_["r"] == pytest.approx(1.5, rel=0.2)
    assert model.params_["r"] / model.params_["alpha"] == pytest.approx(1.5 / 80, rel=0.1)
    s1 = _simulate_summary(4000, 1, seed=2)
    model, _, loglik = choose_completion_model(s1)
    assert model._model_name in ("BG/NBD", "Pareto/NBD"), loglik
    assert not isinstance(model, (ParetoCNBD, BGCNBD))
    assert "Pareto/CNBD-3" not in loglik and "BG/CNBD-3" not in loglik    # k = 2 lost: stop


def test_regular_timing_is_screened_on_a_subsample(monkeypatch):
    """Above ``SCREEN_N`` customers the Erlang models are fitted only when a k = 2 model wins
    on a fixed subsample (issue 22): Poisson purchases fit no Erlang model at all, Erlang-2
    purchases still get the Pareto/CNBD-2."""
    monkeypatch.setattr(G, "SCREEN_N", 1500)
    _, _, loglik = choose_completion_model(_simulate_summary(4000, 1, seed=3))
    assert set(loglik) == {"BG/NBD", "Pareto/NBD"}, loglik
    model, _, loglik = choose_completion_model(_simulate_summary(4000, 2, seed=4))
    assert isinstance(model, ParetoCNBD2), loglik
