"""Session 9's speed changes of the rolling completion (issue 22), against independent oracles.

* the sums of log gaps of the Erlang-k likelihood constant, now computed only for the customers
  an Erlang-k fit needs, against a loop over each customer's purchase days;
* the cached Gauss–Legendre rule against the integrals of polynomials;
* the one dispatch of the retention and its derivatives against the table it implements;
* the completion model chosen with those sums supplied on demand against the same choice with
  them as a column of the summary (the screened and the unscreened path);
* the Pareto/CNBD-k gradient against Richardson differences of its likelihood, and the
  screening's fit with it against the finite-difference fit and a Nelder–Mead polish.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize
from test_rolling_renewal import _simulate_summary

from retention_lab.clv import ParetoNBDFitter
from retention_lab.impact.rolling import (
    completion_derivatives as cd,
    completion_retention as cr,
    gcomputation as gc,
    renewal,
    trials as tr,
)


def test_sum_log_gaps_matches_a_loop_over_purchase_days():
    """``_sum_log_gaps`` against ``Σ log max(gap, 1)`` over the gaps between a customer's
    consecutive distinct purchase days before a cut, summed by ``math.fsum``."""
    rng = np.random.default_rng(5)
    n_cust, n_tx, K = 60, 900, 500
    code = rng.integers(0, n_cust - 4, n_tx)           # the last 4 customers buy nothing
    day = rng.integers(0, 400, n_tx)
    H = tr._history(code, day, np.ones(n_tx), n_cust, np.full(n_cust, np.nan), K)
    ends = np.r_[H.start[1:], len(H.day)]
    hi = np.array([rng.integers(s, e + 1) if e > s else s for s, e in zip(H.start, ends)])
    got = gc._sum_log_gaps(H, H.start, hi)
    for c in range(n_cust):
        days = sorted({int(d) for cc, d in zip(code, day) if cc == c})[:hi[c] - H.start[c]]
        ref = math.fsum(math.log(max(b - a, 1)) for a, b in zip(days[:-1], days[1:]))
        assert got[c] == pytest.approx(ref, rel=1e-13, abs=1e-13)
    # a subset of customers, in any order, gives their own sums
    some = np.array([7, 3, 50, 3])
    np.testing.assert_array_equal(gc._sum_log_gaps(H, H.start[some], hi[some]), got[some])


@pytest.mark.parametrize("k, screen", [(2, None), (1, 600)])
def test_log_gaps_on_demand_choose_the_same_model(monkeypatch, k, screen):
    """``choose_completion_model(summary, log_gaps=f)`` fits what it fits with the column
    ``log_gaps``: the same models, log-likelihoods and parameters, bit for bit. Unscreened
    (1,500 customers, Erlang-2 gaps: the Erlang models are climbed, the column is added for
    them) and screened (``SCREEN_N`` = 600, Poisson purchases: only the subsample's sums are
    asked for)."""
    if screen is not None:
        monkeypatch.setattr(gc, "SCREEN_N", screen)
    full = _simulate_summary(1500, k, seed=11)
    col = full["log_gaps"].to_numpy()
    asked = []

    def log_gaps(rows):
        asked.append(len(rows))
        return col[rows]
    ref_model, _, ref_ll = gc.choose_completion_model(full.copy())
    model, _, ll = gc.choose_completion_model(full.drop(columns="log_gaps"), log_gaps=log_gaps)
    assert ll == ref_ll and type(model) is type(ref_model)
    np.testing.assert_array_equal(model.params_.to_numpy(), ref_model.params_.to_numpy())
    if screen is None:
        assert asked == [1500] and any("CNBD" in name for name in ll)
    else:
        assert asked == [600] and set(ll) == {"BG/NBD", "Pareto/NBD"}


@pytest.mark.parametrize("n", [16, 48, pytest.param(2048, marks=pytest.mark.xfail(
    strict=False, reason="numpy's own 2,048-node rule (uncached too) was measured off by "
    "2.1e-13 on t² — the oracle's 1e-13 is not met there; the tolerance is not loosened"))])
def test_cached_legendre_rule_integrates_polynomials_exactly(n):
    """``_leggauss(n)`` (cached, read-only) integrates ``t^m`` over (−1, 1) exactly for
    ``m < 2n`` (``2/(m + 1)`` for even m, 0 for odd), for the node counts of the retention, to
    1e-13. At 2,048 nodes numpy's rule itself misses that by 2.1e-13 (an xfail with the measured
    number, instead of the 1e-12 this test first took for that case after seeing it)."""
    t, w = cr._leggauss(n)
    assert cr._leggauss(n)[0] is t and not t.flags.writeable and not w.flags.writeable
    for m in (0, 1, 2, 7, 10, 2 * n - 1):
        ref = 2 / (m + 1) if m % 2 == 0 else 0.0
        assert np.dot(w, t ** m) == pytest.approx(ref, abs=1e-13)


def test_one_dispatch_for_the_retention_and_its_derivatives():
    """The retention's dispatch (``model_kind``) and the derivatives' (``_model_kind``: None
    where the caller takes forward differences), class by class against the table they
    implement: the Erlang-k models their own retention and no derivatives here; the closed-form
    Pareto/NBD the Pareto retention but no derivatives (they assume P(alive) = 1 at a purchase,
    exact for the quadrature model)."""
    table = {gc.BetaGeoFitter: ("bg", "bg"), gc.QuadratureParetoNBD: ("pareto", "pareto"),
             ParetoNBDFitter: ("pareto", None)}
    table.update({cls: ("erlang", None) for cls in gc.COMPLETION_MODELS if gc._family(cls)[1] > 1})
    assert set(gc.COMPLETION_MODELS) <= set(table)
    for cls, (kind, derivative) in table.items():
        assert cr.model_kind(cls()) == kind and cd._model_kind(cls()) == derivative, cls


@pytest.mark.parametrize("k", [2, 3, 4])
def test_cnbd_gradient_matches_richardson_differences(k):
    """``cnbd_loglik_grad``: its log-likelihood is ``cnbd_loglik``'s bit for bit, its
    gradient within 1e-6 (relative to the derivative + 1e-3) of Richardson-extrapolated central
    differences of ``cnbd_loglik`` (steps 1e-5 and 2e-5 relative), per customer, at three
    parameter sets (``s`` = 1 among them), on 300 simulated Erlang-k customers."""
    s = _simulate_summary(300, k, seed=5)
    x, tx, T = (s[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    for p in ([1.5, 80.0, 0.8, 400.0], [0.6, 20.0, 3.0, 50.0], [2.0, 5.0, 1.0 + 1e-9, 900.0]):
        p = np.array(p)
        ll, g = renewal.cnbd_loglik_grad(p, x, tx, T, k)
        np.testing.assert_array_equal(ll, renewal.cnbd_loglik(p, x, tx, T, k))
        for j in range(4):
            d = []
            for h in (1e-5 * p[j], 2e-5 * p[j]):
                up, dn = p.copy(), p.copy()
                up[j] += h
                dn[j] -= h
                d.append((renewal.cnbd_loglik(up, x, tx, T, k)
                          - renewal.cnbd_loglik(dn, x, tx, T, k)) / (2 * h))
            ref = (4 * d[0] - d[1]) / 3
            np.testing.assert_array_less(np.abs(g[:, j] - ref) / (np.abs(ref) + 1e-3), 1e-6)


def test_cnbd_fit_with_the_exact_gradient_reaches_the_maximum():
    """The Pareto/CNBD-2 fitted with its exact gradient (the screening's) against the
    finite-difference fit and a Nelder–Mead polish from its optimum: its log-likelihood is at
    least the finite-difference fit's, and the polish gains less than 1e-9 relative."""
    s = _simulate_summary(1500, 2, seed=7)
    exact = renewal.ParetoCNBD2().fit(s, gradient="exact")
    diff = renewal.ParetoCNBD2().fit(s)
    assert exact.log_likelihood_ >= diff.log_likelihood_ - 1e-9 * abs(diff.log_likelihood_)
    x, tx, T = (s[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    z0 = np.log(exact.params_.to_numpy())

    def nll(z):
        return -float(np.sum(renewal.cnbd_loglik(np.exp(z), x, tx, T, 2)))
    res = optimize.minimize(nll, z0, method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
    assert -res.fun - (-nll(z0)) < 1e-9 * abs(res.fun)
