"""Derivatives of the completed outcomes in the completion model's log parameters
(:mod:`retention_lab.impact.rolling.completion_derivatives`, issue 22), against independent
oracles:

* the Gauss–Jacobi rule's derivatives in ``(a, b)`` (the dense eigenvector perturbation, and
  the Richardson differences of the rule used above ``DENSE_MAX`` nodes) against the
  closed-form derivatives of the Beta moments the rule integrates exactly;
* the completed outcomes bit-identical to ``_completed_from``, and their derivatives against
  Richardson-extrapolated central differences of ``_completed_from``, under BG/NBD (rows in
  every node bucket from 24 to 768, both rule paths) and the quadrature Pareto/NBD (s = 1, s at
  its bound), with x = 0 and rows that enrol after their window or at its end.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special

from retention_lab.clv.beta_geo import BetaGeoFitter
from retention_lab.impact.rolling import completion_derivatives as cd, gcomputation as gc
from retention_lab.impact.rolling.completion import QuadratureParetoNBD


def _beta_moment_derivatives(a, b, m):
    """E[p^m] of Beta(a, b) = Π_{i<m} (a + i)/(a + b + i) and its derivatives in a and b."""
    i = np.arange(m)
    mom = np.prod((a + i) / (a + b + i))
    da = mom * np.sum(1 / (a + i) - 1 / (a + b + i))
    db = -mom * np.sum(1 / (a + b + i))
    return mom, da, db


@pytest.mark.parametrize("a, b, n", [(1.2, 20.0, 24), (1.2, 85.0, 48), (0.3, 0.8, 96),
                                     (3.0, 0.5, 64), (2.0, 300.0, 256), (1.1e-7 + 1, 3.1e4, 32)])
@pytest.mark.parametrize("dense", [True, False])
def test_rule_derivatives_match_moment_derivatives(a, b, n, dense):
    """An n-point Gauss rule integrates p^m exactly for m < 2n, at every (a, b), so its
    derivative ``Σ dw p^m + w m p^{m−1} dp`` is the closed-form derivative of E[p^m]: checked
    for m = 1, 2, 5, 10 (the completion's integrands are smooth in p; higher moments put their
    mass on weights below 1e-30, whose rounding no rule resolves), for the eigenvector
    perturbation (n ≤ DENSE_MAX; 1e-11 relative) and the Richardson differences used above it
    (1e-8: their error is O(h⁴) plus the rule's rounding over h = 1e-3)."""
    if dense:
        p, w, dp, dw = cd.beta_rule_derivatives(a, b, n)
    else:
        p, w = gc._beta_nodes(a, b, n)
        dp, dw = cd._rule_differences(a, b, n)
    for m in (1, 2, 5, 10):
        mom, da, db = _beta_moment_derivatives(a, b, m)
        for q, ref in ((0, da), (1, db)):
            got = np.sum(dw[q] * p ** m + w * m * p ** (m - 1) * dp[q])
            assert got == pytest.approx(ref, rel=1e-11 if dense else 1e-8), (m, q)


def test_rule_is_the_one_of_the_retention():
    """The rule returned with its derivatives is ``_beta_nodes``' own (the same bits)."""
    for args in ((1.2, 20.0, 24), (2.0, 300.0, 512)):
        p, w, _, _ = cd.beta_rule_derivatives(*args)
        p0, w0 = gc._beta_nodes(*args)
        np.testing.assert_array_equal(p, p0)
        np.testing.assert_array_equal(w, w0)


def _inputs(rng, n=600):
    """Completion inputs (as :func:`~.gcomputation._completion_inputs` returns them) over a
    spread of histories: x = 0 … 60, T from 0 to 900 days, days left 0 … 365, some rows
    enrolling after their window (retention 1)."""
    x = np.r_[0, 0, 3, rng.integers(0, 60, n - 3)].astype(float)
    T = np.r_[0.0, 5.0, 0.0, rng.uniform(0, 900, n - 3).round()]
    rem = np.r_[365.0, 0.0, 365.0, rng.uniform(0, 365, n - 3).round()]
    j = np.r_[True, True, True, rng.random(n - 3) < 0.9]
    rem[~j] = 0.0
    m = n + 40
    cens = np.zeros(m, bool)
    i = np.sort(rng.choice(m, n, replace=False))
    cens[i] = True
    return dict(out=rng.random((m, 3)), cens=cens, i=i, x=x, T=T, rem=rem,
                o_pre=rng.integers(0, 5, n).astype(float), s_pre=rng.uniform(0, 80, n),
                per_day_spend=rng.uniform(5, 40, n), j=j, R=np.full(n, 365.0))


def _bg(r, alpha, a, b):
    bg = BetaGeoFitter()
    bg.params_ = pd.Series({"r": r, "alpha": alpha, "a": a, "b": b})
    return bg


def _pareto(r, alpha, s, beta):
    pn = QuadratureParetoNBD()
    pn.params_ = pd.Series({"r": r, "alpha": alpha, "s": s, "beta": beta})
    return pn


@pytest.mark.parametrize("par", [(1.32, 38.3, 1.207, 19.66),     # the 200k flagship's fit
                                 (0.4, 5.0, 1.6, 0.8),
                                 (2.0, 0.4, 3.0, 40.0),            # small α: up to 768 nodes
                                 ("pareto", 1.48, 47.3, 0.817, 572.2),   # the 200k's Pareto fit
                                 ("pareto", 0.5, 2.0, 1.0 + 1e-9, 30.0),  # s = 1 (log form)
                                 ("pareto", 2.0, 0.4, 1e6, 1e6 * 300.0)])  # s at its bound
def test_completed_derivatives_match_richardson_differences(par):
    """Bit-identical completed outcomes; derivatives against Richardson-extrapolated central
    differences of ``_completed_from`` (steps 1e-3 and 2e-3 in the log parameter): retention
    within 1e-8 of its largest derivative (forward differences with step 1e-5, what the
    derivatives replace, were off by 1e-6 to 1e-5 on the 200k flagship); purchases and spend
    within 1e-6, because the closed form's 2F1 of the expected purchases rounds at up to 1e-11
    relative near z → 1 and differences amplify that (the purchases' derivatives are checked
    to 1e-9 against adaptive quadrature in the next test)."""
    inp = _inputs(np.random.default_rng(3), n=250)
    bg = _pareto(*par[1:]) if par[0] == "pareto" else _bg(*par)
    out, cens, Dc = cd.completed_with_derivatives(inp, bg)
    D = np.zeros(out.shape + (4,))
    D[inp["i"]] = Dc                                 # the completed rows' derivatives
    base, cens0 = gc._completed_from(inp, bg)
    np.testing.assert_array_equal(out, base)
    np.testing.assert_array_equal(cens, cens0)
    x, T, rem, R = (inp[k][inp["j"]] for k in ("x", "T", "rem", "R"))
    if par[0] != "pareto" and par[1] < 1:          # both rule paths are exercised
        n_row = gc._node_buckets(np.maximum(24, 10 * np.sqrt((rem + R) / (par[1] + T))
                                            + 4 * np.sqrt((par[0] + x) * (rem + R) / (par[1] + T))))
        assert n_row.max() > cd.DENSE_MAX

    def at(name, h):
        b = copy.copy(bg)
        b.params_ = bg.params_.copy()
        b.params_[name] *= np.exp(h)
        return gc._completed_from(inp, b)[0]
    for q, name in enumerate(bg.params_.index):
        d1, d2 = ((at(name, h) - at(name, -h)) / (2 * h) for h in (1e-3, 2e-3))
        ref = (4 * d1 - d2) / 3
        for o in range(3):
            if o < 2 and par[0] == "pareto" and par[3] > 1e5:
                # the closed form of the expected purchases takes log B − log(B + g) with B
                # ~ 3e8: its differences are off by 1.2e-6 here (against the same differences
                # with log1p); checked against that accurate form in the next test instead
                continue
            scale = np.abs(ref[:, o]).max()
            np.testing.assert_allclose(D[:, o, q], ref[:, o], rtol=0,
                                       atol=(1e-8 if o == 2 else 1e-6) * scale,
                                       err_msg=f"{name}, outcome {o}")


@pytest.mark.parametrize("par", [(1.32, 38.3, 1.207, 19.66), (2.0, 0.4, 3.0, 40.0)])
def test_expected_purchase_derivatives_match_adaptive_quadrature(par):
    """The derivatives of the expected purchases against Richardson central differences (steps
    1e-3, 2e-3 in the log parameter) of E = P(alive) · ∫ (1 − (β/(β + p g))^k)/p Beta(p; a,
    b + x) dp by scipy's adaptive quadrature (1e-13 relative): 1e-9 relative, on 12 rows
    including the steepest (small α + T, the whole window left)."""
    inp = _inputs(np.random.default_rng(3))
    bg = _bg(*par)
    _, _, D = cd.completed_with_derivatives(inp, bg)
    rows = np.flatnonzero(inp["rem"] > 0)
    pick = np.r_[rows[np.argsort(inp["T"][rows])[:6]], rows[::97][:6]]

    def expected(theta, x, T, g):
        r, alpha, a, b = theta
        k, be, bp = r + x, alpha + T, b + x
        lbeta = special.betaln(a, bp)

        def f(p):
            return (-np.expm1(-k * np.log1p(p * g / be)) / p
                    * np.exp((a - 1) * np.log(p) + (bp - 1) * np.log1p(-p) - lbeta))
        val = integrate.quad(f, 0, 1, epsabs=0, epsrel=1e-13, limit=500,
                             points=[1e-6, 1e-4, 1e-2])[0]
        alive = 1.0 if x == 0 else 1 / (1 + a / (b + x - 1))
        return alive * val
    theta0 = np.array(par, float)
    for row in pick:
        x, T, g = (inp[k][row] for k in ("x", "T", "rem"))
        for q in range(4):
            ref = _richardson_log(lambda th: expected(th, x, T, g), theta0, q)
            assert D[row, 0, q] == pytest.approx(ref, rel=1e-9), (row, q)


@pytest.mark.parametrize("par", [(1.48, 47.3, 0.817, 572.2), (0.5, 2.0, 1.0 + 1e-9, 30.0),
                                 (2.0, 0.4, 1e6, 1e6 * 300.0)])
def test_pareto_expected_purchase_derivatives_match_the_closed_form(par):
    """Pareto/NBD: the derivatives of the expected purchases against Richardson central
    differences (steps 1e-3, 2e-3 in the log parameter) of the closed form
    ``(k/A) B (1 − (B/(B + g))^{s−1})/(s − 1)`` evaluated with ``log1p`` and ``expm1``: 1e-8
    relative on every completed row with days left."""
    inp = _inputs(np.random.default_rng(3), n=250)
    _, _, D = cd.completed_with_derivatives(inp, _pareto(*par))
    x, T, g = inp["x"], inp["T"], inp["rem"]

    def expected(theta):
        r, alpha, s, beta = theta
        k, A, B = r + x, alpha + T, beta + T
        return k * B / A * -np.expm1((s - 1) * -np.log1p(g / B)) / (s - 1)
    theta0 = np.array(par, float)
    rows = g > 0
    for q in range(4):
        ref = _richardson_log(expected, theta0, q)
        np.testing.assert_allclose(D[rows, 0, q], ref[rows], rtol=1e-8, atol=0, err_msg=str(q))


def _richardson_log(f, theta0, q, h=1e-3):
    """d f / d log θ_q by Richardson extrapolation of central differences at steps h and 2h."""
    d = []
    for step in (h, 2 * h):
        up, dn = theta0.copy(), theta0.copy()
        up[q] *= np.exp(step)
        dn[q] *= np.exp(-step)
        d.append((f(up) - f(dn)) / (2 * step))
    return (4 * d[0] - d[1]) / 3
