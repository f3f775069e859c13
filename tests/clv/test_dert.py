"""DERT (BG/BB) and DERL (sBG) at realistic sizes (issue 20): the closed forms with scipy's
``hyp2f1`` returned NaN for BG/BB at n = 365 daily opportunities with d = 0.0003 and for sBG
at n = 260 with d = 0.002. They are now summed as series, stably up to n = 10,000.

Oracles, independent of the implementation (which multiplies term ratios):

* a direct sum of exact per-period probabilities, each term from its own Beta functions
  ``E[(1−θ)^k] = B(a, b+k)/B(a, b)`` (``betaln`` per k, no recursion), out to where the
  discount factor is below e^-60;
* the same expectation as an integral, ``E[(1−θ)/(d+θ)]`` over ``θ ~ Beta(a, b)``, by adaptive
  quadrature in ``log θ``;
* BG/BB's P(alive) and E[p] from the likelihood's terms written out in a loop (Fader, Hardie &
  Shang 2010, eq. 5).

The published Fader–Hardie values stay tested in tests/clv/test_published_values.py and
tests/clv/test_bgbb_mbgnbd_predictions.py.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import betaln, logsumexp

import retention_lab as rl
from retention_lab.clv.shifted_beta_geo import discounted_beta_geometric_sum

# Fader, Hardie & Shang (2010) donations estimates; Fader & Hardie (2007) "regular" segment
BGBB = dict(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)
SBG = dict(alpha=0.668, beta=3.806)


def _direct_sum(a, b, d):
    """Σ_{k≥1} B(a, b+k)/B(a, b) (1+d)^-k, each term from betaln, to e^-60 of discount."""
    k = np.arange(1, int(60 / np.log1p(d)) + 2, dtype=float)
    return float(np.exp(betaln(a, b + k) - betaln(a, b) - k * np.log1p(d)).sum())


def _quadrature(a, b, d):
    """E[(1−θ)/(d+θ)], θ ~ Beta(a, b), integrated over v = log θ."""
    def f(v):
        th = np.exp(v)
        return np.exp(a * v + b * np.log1p(-th) - betaln(a, b) - np.log(d + th))
    mode = np.log(a / (a + b))
    cuts = sorted({-np.inf, min(mode, np.log(d)), max(mode, np.log(d)), 0.0})
    return sum(integrate.quad(f, lo, hi, limit=500, epsabs=0, epsrel=1e-12)[0]
               for lo, hi in zip(cuts[:-1], cuts[1:]) if lo < hi)


@pytest.mark.parametrize("a, b, d", [(0.657, 2.783 + 365, 0.0003), (0.668, 3.806 + 260, 0.002),
                                     (0.657, 2.783 + 10_000, 0.0003), (1.204, 0.75, 0.1),
                                     (0.3, 50.0, 1e-4), (3.8, 15.19 + 1000, 0.01)])
def test_discounted_sum_against_direct_sum_and_quadrature(a, b, d):
    got = float(discounted_beta_geometric_sum(a, b, d))
    assert np.isfinite(got)
    assert got == pytest.approx(_direct_sum(a, b, d), rel=1e-9)
    assert got == pytest.approx(_quadrature(a, b, d), rel=1e-7)


def test_discounted_sum_at_zero_discount():
    # E[(1−θ)/θ] = b/(a−1) for a > 1; infinite otherwise
    assert float(discounted_beta_geometric_sum(3.0, 5.0, 0.0)) == pytest.approx(2.5)
    assert float(discounted_beta_geometric_sum(0.7, 5.0, 0.0)) == np.inf
    with pytest.raises(ValueError):
        discounted_beta_geometric_sum(0.7, 5.0, -0.1)


def _bgbb_alive_and_p(x, tx, n, alpha, beta, gamma, delta):
    """P(alive at n | x, t_x, n) and E[p | x, n] from the likelihood terms (FHS 2010, eq. 5)."""
    log_alive = (betaln(alpha + x, beta + n - x) - betaln(alpha, beta)
                 + betaln(gamma, delta + n) - betaln(gamma, delta))
    log_dead = [betaln(alpha + x, beta + tx - x + i) - betaln(alpha, beta)
                + betaln(gamma + 1, delta + tx + i) - betaln(gamma, delta)
                for i in range(int(n - tx))]
    return (np.exp(log_alive - logsumexp([log_alive, *log_dead])),
            (alpha + x) / (alpha + beta + n))


@pytest.mark.parametrize("n, d", [(365, 0.0003), (1000, 0.001), (10_000, 0.0003), (6, 0.1)])
def test_bgbb_dert_at_realistic_sizes(n, d):
    m = rl.clv.BetaGeoBetaBinomFitter()
    m.params_ = pd.Series(BGBB)
    histories = [(0, 0), (1, 1), (int(n * 0.4), int(n * 0.9)), (n, n), (max(1, int(n * 0.05)), n)]
    x = np.array([h[0] for h in histories], float)
    tx = np.array([h[1] for h in histories], float)
    got = m.discounted_expected_residual_transactions(d, x, tx, np.full(len(x), float(n)))
    assert np.all(np.isfinite(got))
    tail = _direct_sum(BGBB["gamma"], BGBB["delta"] + n, d)
    for j, (xj, txj) in enumerate(histories):
        alive, p = _bgbb_alive_and_p(xj, txj, n, **BGBB)
        assert got[j] == pytest.approx(alive * p * tail, rel=1e-8, abs=1e-300)
    # an upper bound: a customer alive for sure who transacts at every opportunity forever
    assert np.all(got < 1 / d + 1)


@pytest.mark.parametrize("n, d", [(260, 0.002), (365, 0.0003), (10_000, 0.0003), (4, 0.1)])
def test_sbg_derl_at_realistic_sizes(n, d):
    m = rl.clv.ShiftedBetaGeoFitter()
    m.params_ = pd.Series(SBG)
    got = m.discounted_expected_residual_lifetime(n, d)
    assert np.isfinite(got)
    # DERL = Σ_{k≥0} S(n+k+1)/S(n) (1+d)^-k = (1+d) Σ_{k≥1} E[(1−θ)^k] (1+d)^-k, θ ~ Beta(α, β+n)
    assert got == pytest.approx((1 + d) * _direct_sum(SBG["alpha"], SBG["beta"] + n, d),
                                rel=1e-9)
    assert got == pytest.approx((1 + d) * _quadrature(SBG["alpha"], SBG["beta"] + n, d),
                                rel=1e-7)
