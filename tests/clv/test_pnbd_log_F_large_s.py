"""``pnbd_log_F_rows`` at large ``s`` (the Pareto/NBD's exponential-lifetime boundary ``s → ∞``
with ``β/s`` fixed), where scipy's ``2F1(1, s+1; r+s+x+1; z → 1)`` returns NaN and the rows
now take the quadrature of Euler's integral (DLMF 15.6.1).

Oracles: the defining integral of the dead term, ``F(u) = (r+s+x) ∫_u^∞ (α+τ)^{−(r+x)}
(β+τ)^{−(s+1)} dτ`` (Fader & Hardie 2005 note, the integral behind eqs. 19–22) by QUADPACK;
the 2F1 series summed in 50-digit decimal arithmetic; mpmath at 50 digits when installed.
"""
from decimal import Decimal, getcontext

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import hyp2f1

from retention_lab.clv.rows import pnbd_log_F_rows

R = 0.8
# rows like the failing ones of tvnan's refit 141 (s = 411, β ≈ 4.4e4) and a grid beyond:
# s up to 5000, β/s = 100, x up to 60, z = (β−α)/(β+u) up to 1 − 6e-5
GRID = [(s, 100.0 * s, a, x, u) for s in (170.0, 411.0, 5000.0) for a in (3.0, 40.0)
        for x in (0.0, 4.0, 60.0) for u in (0.0, 7.0, 39.0)]


def _log_F_quadpack(r, s, x, alpha, beta, u):
    """``log F(u)`` from the defining integral, scaled by its value at ``τ = u``."""
    k0 = -(r + x) * np.log(alpha + u) - (s + 1) * np.log(beta + u)

    def f(t):
        return np.exp(-(r + x) * np.log(alpha + u + t) - (s + 1) * np.log(beta + u + t) - k0)

    scale = 1.0 / ((r + x) / (alpha + u) + (s + 1) / (beta + u))
    parts = [quad(f, lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0]
             for lo, hi in ((0, scale), (scale, 30 * scale), (30 * scale, np.inf))]
    return np.log(r + s + x) + k0 + np.log(sum(parts))


def _log_H_decimal(b, c, z, digits=50):
    """``log 2F1(1, b; c; z)`` from its series in ``digits``-digit decimal arithmetic."""
    getcontext().prec = digits
    b, c, z = Decimal(b), Decimal(c), Decimal(z)
    t, total, n = Decimal(1), Decimal(1), 0
    eps = Decimal(10) ** (-digits + 5)
    while t > eps * total:
        t = t * z * (b + n) / (c + n)
        total += t
        n += 1
    return float(total.ln())


def test_grid_was_nan_and_now_matches_the_defining_integral():
    s, beta, alpha, x, u = (np.array(v) for v in zip(*GRID))
    old = [np.log(hyp2f1(1.0, si + 1, R + si + xi + 1, (bi - ai) / (bi + ui)))
           for si, bi, ai, xi, ui in zip(s, beta, alpha, x, u)]
    assert np.isnan(old).sum() >= 20          # most of the grid failed before
    for si in np.unique(s):
        k = s == si
        got = pnbd_log_F_rows(R, si, x[k], alpha[k], beta[k], u[k])
        want = [_log_F_quadpack(R, si, *row) for row in zip(x[k], alpha[k], beta[k], u[k])]
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)


def test_failing_regime_matches_the_50_digit_series():
    # z ≈ 1 − 1.5e-3 keeps the decimal series at ~1e5 terms; scipy gives NaN here
    # (at x = 9 scipy is still finite, and its value is kept)
    s, beta, alpha, u = 411.0, 4.4e4, 60.0, 5.0
    n_nan = 0
    for x in (0.0, 3.0, 9.0):
        b, c, z = s + 1, R + s + x + 1, (beta - alpha) / (beta + u)
        n_nan += np.isnan(hyp2f1(1.0, b, c, z))
        want = (_log_H_decimal(b, c, z) - (R + x - 1) * np.log(alpha + u)
                - (s + 1) * np.log(beta + u))
        got = pnbd_log_F_rows(R, s, x, alpha, beta, u)
        assert abs(got - want) <= 1e-10 * abs(want)
        assert abs(got - want) <= 1e-10        # i.e. F itself to 1e-10 relative
    assert n_nan == 2


def test_gradient_on_new_path_matches_differences_of_the_integral():
    s, beta, alpha, x, u = 411.0, 4.4e4, 3.0, 2.0, 7.0
    g = pnbd_log_F_rows(R, s, np.array([x]), np.array([alpha]), np.array([beta]),
                        np.array([u]), grad=True)[:, 0]
    assert np.all(np.isfinite(g))
    base = np.array([R, alpha, s, beta])
    for k in range(4):
        h = 1e-4 * base[k]
        up, dn = base.copy(), base.copy()
        up[k] += h
        dn[k] -= h
        fd = (_log_F_quadpack(up[0], up[2], x, up[1], up[3], u)
              - _log_F_quadpack(dn[0], dn[2], x, dn[1], dn[3], u)) / (2 * h)
        assert g[1 + k] == pytest.approx(fd, rel=1e-6, abs=1e-12)


def test_finite_rows_are_bit_identical_to_scipy():
    # a mix of ordinary rows (scipy finite) and a failing one: the ordinary rows keep
    # exactly the old expression
    s, r = 2.0, R
    x = np.array([0.0, 3.0, 10.0, 1.0])
    alpha = np.array([5.0, 12.0, 3.0, 20.0])
    beta = np.array([9.0, 4.0, 30.0, 20.0])
    u = np.array([10.0, 20.0, 1.0, 30.0])
    got = pnbd_log_F_rows(r, s, x, alpha, beta, u)
    ge = alpha >= beta
    z = np.where(ge, (alpha - beta) / (alpha + u), (beta - alpha) / (beta + u))
    bpar = np.where(ge, r + x, s + 1.0)
    lH = np.log(hyp2f1(1.0, bpar, r + s + x + 1.0, z))
    old = np.where(ge, lH - (r + x) * np.log(alpha + u) - s * np.log(beta + u),
                   lH - (r + x - 1.0) * np.log(alpha + u) - (s + 1.0) * np.log(beta + u))
    np.testing.assert_array_equal(got, old)
    # the same rows beside a failing row (same branch, so a masked patch) stay identical
    lt = ~ge
    mixed_s = 411.0
    xs = np.r_[x[lt], 0.0]
    a2, b2, u2 = np.r_[alpha[lt], 3.0], np.r_[beta[lt], 4.4e4], np.r_[u[lt], 0.0]
    alone = pnbd_log_F_rows(r, mixed_s, xs[:-1], a2[:-1], b2[:-1], u2[:-1])
    both = pnbd_log_F_rows(r, mixed_s, xs, a2, b2, u2)
    np.testing.assert_array_equal(both[:-1], alone)
    assert np.isfinite(both[-1])


def test_mpmath_50_digits_values_and_derivatives():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    from retention_lab.clv.rows import _log_hyp1_quad
    rows = [(s + 1, R + s + x + 1, 1 - e) for s in (170.0, 411.0, 5000.0)
            for x in (0.0, 9.0, 60.0) for e in (6e-5, 1e-3, 1e-2)]
    b, c, z = (np.array(v) for v in zip(*rows))
    got = _log_hyp1_quad(b, c, z)
    for i, (bi, ci, zi) in enumerate(rows):
        B, C, Z = mp.mpf(bi), mp.mpf(ci), mp.mpf(zi)
        want = [mp.log(mp.hyp2f1(1, B, C, Z)),
                mp.diff(lambda t: mp.log(mp.hyp2f1(1, t, C, Z)), B),
                mp.diff(lambda t: mp.log(mp.hyp2f1(1, B, t, Z)), C),
                mp.diff(lambda t: mp.log(mp.hyp2f1(1, B, C, t)), Z)]
        for k in range(4):
            assert abs(got[k, i] - float(want[k])) <= 1e-10 * abs(float(want[k])), (i, k)
