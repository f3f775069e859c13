"""The members' projections of the CLV effect at scale (retention_lab.impact.clv_projection and
the fast path of clv_effects.membership_clv_effect, issue 22).

Oracles:
* the expectation over ``p ~ Beta(a, β)`` by adaptive quadrature (scipy ``quad`` on the Beta
  density itself, relative tolerance 1e-13, split at the posterior's bulk) — not the package's
  Gauss rules — for the values, and central differences of that quadrature for the partial
  derivatives;
* for the whole CLV effect, the earlier path written out in the test: the fitter's own
  ``TimeVaryingBetaGeoFitter._cum_expected`` (its 64-node rule) over the (months + 1) ×
  members horizons, and the gradient by re-evaluating it at ``θ ± h`` for every parameter.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import betaln, expit

import retention_lab as rl
from retention_lab.clv.covariates_tv_bg import _purchase_sums, _states, bg_dynamic_loglik_terms
from retention_lab.impact.core import clv_effects, clv_projection as cp
from retention_lab.units import days_per

A_SHAPE = 1.2
DT = days_per("M")
C = cp.discount_coefficients(12, 0.01)
# realistic rows (days; r = 1.3, alpha = 37.5, b = 19.9, membership coefficients 0.15 / −0.25):
# (x repeat purchase days, T days, days from the cut-off to the observation end, member on?)
ROWS = [(1, 20, 700, 1), (2, 300, 100, 0), (5, 60, 900, 1), (12, 400, 365, 0), (30, 500, 420, 1),
        (60, 700, 380, 1), (3, 5, 1000, 0), (90, 650, 500, 1), (8, 200, 0, 1), (25, 90, 800, 0)]


def _inputs():
    x, T, t0, on = (np.array(v, float) for v in zip(*ROWS))
    cf = np.where(on > 0, np.exp(-0.25), 1.0)
    af = np.where(on > 0, np.exp(0.15), 1.0)
    return 1.3 + x, 37.5 + T, af, cf, 19.9 + (x - 1) + cf, t0


def _oracle(m, B, af, cf, beta, t0, a=A_SHAPE):
    def integrand(p):
        pi = -np.expm1(cf * np.log1p(-p))
        t = t0 + DT * np.arange(len(C))
        v = -np.expm1(-m * np.log1p(af * pi * t / B))
        dens = np.exp((a - 1) * np.log(p) + (beta - 1) * np.log1p(-p) - betaln(a, beta))
        return dens * np.dot(C, v) / pi
    mode = a / (a + beta)
    pts = [0.0, mode, min(0.5, 10 * mode), 1.0]
    return sum(integrate.quad(integrand, lo, hi, epsabs=0, epsrel=1e-13, limit=400)[0]
               for lo, hi in zip(pts[:-1], pts[1:]))


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_values_match_adaptive_quadrature_to_1e_8():
    m, B, af, cf, beta, t0 = _inputs()
    out = cp.discounted_pass(A_SHAPE, m, B, af, cf, beta, t0, DT, C)
    ref = np.array([_oracle(*row) for row in zip(m, B, af, cf, beta, t0)])
    assert np.all(ref > 0)
    np.testing.assert_allclose(out[:, 0], ref, rtol=1e-8, atol=0)
    # the fitter's own rule (weight p^(a−1) only, 64 nodes) agrees as well: the reference the
    # earlier path used
    old = cp.discounted_pass(A_SHAPE, m, B, af, cf, beta, t0, DT, C, n_nodes=64,
                             beta_weight=False)
    np.testing.assert_allclose(old[:, 0], ref, rtol=1e-8, atol=0)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_partial_derivatives_match_central_differences_of_the_oracle():
    m, B, af, cf, beta, t0 = _inputs()
    out = cp.discounted_pass(A_SHAPE, m, B, af, cf, beta, t0, DT, C, grad=True)
    d_beta, d_a = cp.d_beta(out, A_SHAPE, beta), cp.d_a(out, A_SHAPE, beta)
    for i in (0, 3, 5, 7):
        base = dict(m=m[i], B=B[i], af=af[i], cf=cf[i], beta=beta[i], t0=t0[i], a=A_SHAPE)
        for col, name in ((1, "m"), (2, "B"), (3, "af"), (4, "cf"), ("beta", "beta"),
                          ("a", "a")):
            h = 1e-4 * base[name]
            up, dn = dict(base), dict(base)
            up[name] += h
            dn[name] -= h
            num = (_oracle(**up) - _oracle(**dn)) / (2 * h)
            got = {"beta": d_beta, "a": d_a}[col][i] if isinstance(col, str) else out[i, col]
            assert got == pytest.approx(num, rel=1e-6, abs=1e-12 * abs(out[i, 0])), (i, name)


def test_numba_and_numpy_passes_agree_and_rows_are_evaluated_once():
    m, B, af, cf, beta, t0 = _inputs()
    rep = [np.r_[v, v[:3]] for v in (m, B, af, cf, beta, t0)]       # three duplicated rows
    fast = cp.discounted_pass(A_SHAPE, *rep, DT, C, grad=True)
    slow = cp.discounted_pass(A_SHAPE, *rep, DT, C, grad=True, use_numba=False)
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(fast[-3:], fast[:3])


def test_compiled_pass_switches_to_log_and_exp_without_losing_digits():
    """The compiled pass takes log(1 + z) and 1 − e^−y instead of log1p / expm1 above 0.05
    (issue 22): against the numpy pass, which uses log1p / expm1 throughout, on rows whose
    z = a_f π t / B and m L fall on both sides of the switch (t0 from 0, B up to 5,000).
    Measured before the switch the compiled and numpy passes already differed by up to 4e-13
    (S) and 8e-13 (partials: sums over the alternating discount weights cancel); after it,
    4e-13 and 1.6e-12 — hence 1e-12 on S and 1e-11 on the partials."""
    rng = np.random.default_rng(8)
    n = 3000
    m, B = 1.0 + rng.gamma(1.0, 10.0, n), np.exp(rng.uniform(0.0, np.log(5000.0), n))
    af, cf = np.exp(rng.normal(0, 0.3, n)), np.exp(rng.normal(0, 0.3, n))
    beta, t0 = 2.0 + (m - 1.0) * cf + rng.uniform(0, 20, n), rng.uniform(0, 600, n)
    t0[:300] = 0.0
    fast = cp.discounted_pass(A_SHAPE, m, B, af, cf, beta, t0, DT, C, grad=True)
    exact = cp.discounted_pass(A_SHAPE, m, B, af, cf, beta, t0, DT, C, grad=True,
                               use_numba=False)
    np.testing.assert_allclose(fast[:, 0], exact[:, 0], rtol=1e-12, atol=0)
    np.testing.assert_allclose(fast, exact, rtol=1e-11, atol=0)


def test_compiled_pass_small_arguments_match_log1p_and_expm1():
    """Rows where every ``z = a_f π t / B`` and ``m L`` is far below the 0.05 switch (B up to
    1e7 days): the compiled pass's Goldberg ``log1p`` and Taylor ``1 − e^−y`` (issue 22,
    session 9) against the numpy pass, which calls ``log1p`` / ``expm1`` — and S against the
    first-order closed form ``Σ_k c_k m a_f t_k / B`` (``E[π / π] = 1``) as B grows."""
    rng = np.random.default_rng(11)
    n = 400
    m, B = 1.0 + rng.gamma(1.0, 5.0, n), np.exp(rng.uniform(np.log(2e4), np.log(1e7), n))
    af, cf = np.exp(rng.normal(0, 0.3, n)), np.exp(rng.normal(0, 0.3, n))
    beta, t0 = 2.0 + rng.uniform(0, 20, n), rng.uniform(0, 600, n)
    fast = cp.discounted_pass(A_SHAPE, m, B, af, cf, beta, t0, DT, C, grad=True)
    exact = cp.discounted_pass(A_SHAPE, m, B, af, cf, beta, t0, DT, C, grad=True,
                               use_numba=False)
    keep = [0, 1, 2, 3, 5, 6]
    np.testing.assert_allclose(fast[:, keep], exact[:, keep], rtol=1e-13, atol=0)
    # ∂S/∂c_f is a difference A a_f / π − V / π² of nearly equal terms here: relative to
    # itself both compiled passes differ from numpy's by ~5e-11 (measured: earlier pass 3.6e-11,
    # this one 7.3e-11), relative to S by under 1e-15 (5e-16, 7.6e-16)
    np.testing.assert_array_less(np.abs(fast[:, 4] - exact[:, 4]), 1e-14 * np.abs(exact[:, 0]))
    big = B > 5e6
    t = t0[big, None] + DT * np.arange(len(C))[None, :]
    first = m[big] * af[big] * (t @ C) / B[big]
    np.testing.assert_allclose(fast[big, 0], first, rtol=2e-2)


def _reference_projections(fitted, d, t0, months, rate):
    """The earlier path: ``factors @ diff(_cum_expected(horizons))`` with membership on / off,
    and its gradient by re-evaluating at θ ± h (h = 1e-5 relative)."""
    steps = days_per("M") / d.unit * np.arange(0, months + 1)
    horizons = t0[None, :] + steps[:, None]
    factors = (1.0 + rate) ** -np.arange(1, months + 1)

    def proj(th):
        mod = fitted._with_params(np.r_[np.exp(th[:4]), th[4:]])
        with np.errstate(all="ignore"):
            return [factors @ np.diff(mod._cum_expected(mod._theta, d, horizons, {"member": v}),
                                      axis=0) for v in (1.0, 0.0)]
    theta = fitted._theta
    on, off = proj(theta)
    g_on, g_off = np.empty((len(on), len(theta))), np.empty((len(on), len(theta)))
    for j in range(len(theta)):
        h = 1e-5 * max(1.0, abs(theta[j]))
        e = np.zeros(len(theta))
        e[j] = h
        up, dn = proj(theta + e), proj(theta - e)
        g_on[:, j] = (up[0] - dn[0]) / (2 * h)
        g_off[:, j] = (up[1] - dn[1]) / (2 * h)
    return (on, off), (g_on, g_off)


def test_clv_effect_equals_the_earlier_path_on_a_small_study(monkeypatch):
    data = rl.datasets.simulate_loyalty_experiment(n_customers=1500, design="rolling", seed=4)
    enr = pd.Series(pd.to_datetime(data.customers["enrolled_at"]).to_numpy(),
                    index=data.customers["customer_id"].to_numpy())
    members = enr[enr.notna() & (enr <= pd.Timestamp(data.observation_end)
                                 - pd.Timedelta(days=455))]
    fast = clv_effects.membership_clv_effect(data, members)
    captured = {}

    def reference(theta, d, t0, dt, c, *args):
        captured["n"] = d.n
        return _reference_projections(fast["model"], d, t0, 12, 0.01)
    monkeypatch.setattr(clv_effects, "_bg_projections", reference)
    ref = clv_effects.membership_clv_effect(data, members)
    assert captured["n"] == len(members) > 100
    for k in ("abs_diff", "control", "treatment", "se", "se_parameters", "se_sampling",
              "se_spend", "se_aov", "ci_low", "ci_high"):
        assert fast[k] == pytest.approx(ref[k], rel=1e-6), k
    np.testing.assert_allclose(fast["per_member"][["clv_on", "clv_off"]].to_numpy(),
                               ref["per_member"][["clv_on", "clv_off"]].to_numpy(), rtol=1e-6)


def test_shared_sums_give_the_likelihoods_p_alive_exactly(monkeypatch):
    """``_bg_projections`` shares the state and purchase sums across futures and central
    differences and forms ``P(alive)`` itself: its values equal ``P · S`` with ``P`` from the
    fitter's own ``bg_dynamic_loglik_terms`` (and ``S`` from one pass) to rounding."""
    data = rl.datasets.simulate_loyalty_experiment(n_customers=800, design="rolling", seed=2)
    enr = pd.Series(pd.to_datetime(data.customers["enrolled_at"]).to_numpy(),
                    index=data.customers["customer_id"].to_numpy())
    members = enr[enr.notna() & (enr <= pd.Timestamp(data.observation_end)
                                 - pd.Timedelta(days=455))]
    captured = {}
    real = clv_effects._bg_projections

    def spy(*args, **kw):
        captured["args"] = args
        return real(*args, **kw)
    monkeypatch.setattr(clv_effects, "_bg_projections", spy)
    fit = clv_effects.membership_clv_effect(data, members)
    theta, d, t0, dt, c, future_rows = captured["args"][:6]
    (on, off), _ = real(*captured["args"])
    a = float(np.exp(theta[2]))
    r, alpha, _, b = np.exp(theta[:4])
    for member, got in ((1.0, on), (0.0, off)):
        Xf, Zf = future_rows({"member": member}, d)
        af, cf = np.exp(Xf @ theta[4:4 + d.kt]), np.exp(Zf @ theta[4 + d.kt:])
        _, alive, dead = bg_dynamic_loglik_terms(theta, d, cf)
        S = cp.discounted_pass(a, r + d.x, alpha + _states(theta, d)[2], af, cf,
                               b + _purchase_sums(theta, d, cf)[0], t0, dt, c)[:, 0]
        np.testing.assert_allclose(got, expit(alive - dead) * S, rtol=1e-13)
    assert len(on) == len(members) > 50 and np.isfinite(fit["abs_diff"])
