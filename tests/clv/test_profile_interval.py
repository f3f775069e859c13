"""The robust adjusted profile-likelihood interval (Royall & Tsou 2003;
retention_lab/clv/profile_interval.py) and its hook on the time-varying membership fitters
(``profile_confidence_interval``; issue 19, item 4).

Oracles: (1) closed forms — a normal linear regression with heteroscedastic errors, whose
profile likelihood ratio for a coefficient is ``n log(1 + (β − β̂)² / (c RSS))`` (so the
adjusted endpoints are explicit), and two exponential samples with rates ``λ`` and ``λ e^ψ``,
whose profile ``ℓ_p(ψ) = N log λ̂(ψ) + n₁ψ − N``, ``λ̂(ψ) = N / (S₀ + e^ψ S₁)``, is explicit
and asymmetric (endpoints by ``brentq`` on it); (2) brute force for the fitters — at each
endpoint an independent refit with the coefficient pinned (L-BFGS-B with equal bounds, on the
uncompacted per-customer data, from the unconstrained maximum) gives ``W*(endpoint) = χ²₁(0.95)``.
Coverage over seeds: tests/clv/test_membership_slow.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats
from test_membership_calibration import fit_membership, simulate_enrolment

from retention_lab.clv.profile_interval import robust_profile_interval

Q95 = stats.chi2.ppf(0.95, 1)


def test_regression_coefficient_matches_the_closed_form():
    """y = 1 + 2x + e, Var(e) growing with x (so the sandwich differs from the model
    variance): the adjusted endpoints are ``β̂ ± √(c RSS (exp(q / (n·scale)) − 1))``."""
    rng = np.random.default_rng(3)
    n = 200
    x = rng.uniform(0, 3, n)
    X = np.c_[np.ones(n), x]
    y = 1 + 2 * x + rng.normal(0, 0.3 + 0.6 * x, n)
    XtX_inv = np.linalg.inv(X.T @ X)
    b = XtX_inv @ X.T @ y
    e = y - X @ b
    rss = e @ e
    sig2 = rss / n

    def fun_grad(t):                         # θ = (β₀, β₁, log σ)
        res = y - X @ t[:2]
        s2 = np.exp(2 * t[2])
        ll = -n * t[2] - res @ res / (2 * s2)
        return ll, np.r_[X.T @ res / s2, -n + res @ res / s2]
    theta = np.r_[b, 0.5 * np.log(sig2)]
    H = np.zeros((3, 3))
    H[:2, :2] = X.T @ X / sig2
    H[2, 2] = 2 * n
    cov_r = np.zeros((3, 3))
    cov_r[:2, :2] = XtX_inv @ (X.T * e ** 2) @ X @ XtX_inv        # HC0
    cov_r[2, 2] = 1.0
    for robust in (True, False):
        scale = sig2 * XtX_inv[1, 1] / cov_r[1, 1] if robust else 1.0
        half = np.sqrt(XtX_inv[1, 1] * rss * np.expm1(Q95 / (n * scale)))
        lo, hi = robust_profile_interval(fun_grad, theta, H, cov_r, 1, robust=robust, n=n)
        np.testing.assert_allclose([lo, hi], [b[1] - half, b[1] + half], rtol=0, atol=1e-5)
    assert abs(sig2 * XtX_inv[1, 1] / cov_r[1, 1] - 1) > 0.1      # the adjustment acts


def test_exponential_rate_ratio_matches_the_closed_form_profile():
    """Two exponential samples (12 and 5 waiting times): the log rate ratio's profile interval
    is asymmetric; both endpoints equal the roots of the closed-form ``W*(ψ) = q``, plain and
    with the likelihood ratio scaled by 1/1.3 (a sandwich 1.3 × the model variance)."""
    rng = np.random.default_rng(5)
    t0, t1 = rng.exponential(1.0, 12), rng.exponential(0.5, 5)
    n0, n1, S0, S1 = len(t0), len(t1), t0.sum(), t1.sum()
    N = n0 + n1

    def fun_grad(t):                         # θ = (log λ, ψ)
        lam, k = np.exp(t[0]), np.exp(t[1])
        ll = N * t[0] + n1 * t[1] - lam * (S0 + k * S1)
        return ll, np.r_[N - lam * (S0 + k * S1), n1 - lam * k * S1]

    def ll_p(psi):
        return N * np.log(N / (S0 + np.exp(psi) * S1)) + n1 * psi - N
    psi_hat = np.log((n1 / S1) / (n0 / S0))
    theta = np.r_[np.log(n0 / S0), psi_hat]
    lam, k = np.exp(theta)
    H = np.array([[lam * (S0 + k * S1), lam * k * S1], [lam * k * S1, lam * k * S1]])
    for c in (1.0, 1.3):
        def w(psi, c=c):
            return 2 * (ll_p(psi_hat) - ll_p(psi)) / c - Q95
        want = (optimize.brentq(w, psi_hat - 10, psi_hat), optimize.brentq(w, psi_hat, psi_hat + 10))
        got = robust_profile_interval(fun_grad, theta, H, np.linalg.inv(H) * c, 1)
        np.testing.assert_allclose(got, want, atol=1e-4)
        arms = (psi_hat - want[0], want[1] - psi_hat)
        assert abs(arms[0] - arms[1]) > 0.1 * min(arms)      # an asymmetric case


def _pinned_loglik(m, j, value):
    """Brute force: the maximum of the log-likelihood with parameter ``j`` pinned at
    ``value``, by L-BFGS-B (equal bounds) on the uncompacted per-customer data, started at the
    unconstrained maximum."""
    d, th = m.data_, m._theta.copy()
    th[j] = value
    bounds = [(None, None)] * len(th)
    bounds[j] = (value, value)

    def fun(t):
        with np.errstate(all="ignore"):
            v, g = m._total_and_grad(t, d)
        return (-v / d.n, -g / d.n) if np.isfinite(v) else (np.inf, np.zeros_like(t))
    res = optimize.minimize(fun, th, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000})
    return -res.fun * d.n


@pytest.mark.parametrize("model", ["pnbd", "bgnbd"])
def test_fitter_endpoints_solve_the_adjusted_likelihood_ratio(model):
    """600 customers of the enrolment world (seed 31): at both endpoints of both membership
    coefficients, ``(σ²_M/σ²_R) · 2 [ℓ̂ − ℓ_p(endpoint)] = χ²₁(0.95)`` with ``ℓ_p`` from an
    independent pinned refit and the variances from the fitter's model-based and robust
    covariances (the latter checked against a brute-force sandwich in test_tv_sandwich)."""
    tx, cust, end = simulate_enrolment(600, model, seed=31)
    m = fit_membership(model, tx, cust, end)
    ll_hat = m._total_and_grad(m._theta, m.data_)[0]
    names = list(m.params_.index)
    for name in ("trans.member", "life.member"):
        j = names.index(name)
        scale = (m.variance_matrix_model_log_.iloc[j, j]
                 / m.variance_matrix_robust_log_.iloc[j, j])
        lo, hi = m.profile_confidence_interval(name)
        assert lo < m.params_[name] < hi
        for end_ in (lo, hi):
            w = scale * 2 * (ll_hat - _pinned_loglik(m, j, end_))
            assert w == pytest.approx(Q95, abs=2e-3), (name, end_, w)
        plain = m.profile_confidence_interval(name, robust=False)
        for end_ in plain:
            assert 2 * (ll_hat - _pinned_loglik(m, j, end_)) == pytest.approx(Q95, abs=2e-3)


def test_unknown_parameter_is_refused():
    tx, cust, end = simulate_enrolment(300, "pnbd", seed=2)
    m = fit_membership("pnbd", tx, cust, end)
    with pytest.raises(ValueError, match="not a parameter"):
        m.profile_confidence_interval("trans.nope")
