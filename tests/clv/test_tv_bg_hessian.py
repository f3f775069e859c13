"""The analytic Hessian of the time-varying BG/NBD log-likelihood (issue 22), against an
independent oracle: Richardson-extrapolated central second differences of the total
log-likelihood from ``bg_dynamic_loglik_terms`` (itself checked against a brute-force
integration in tests/clv/test_tv_beta_geo.py) — not of the module's gradient. Worlds with
membership switches, ties (several orders on a day), weights (compacted rows) and models
without transaction or without lifetime covariates."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clv_covariates_sim import simulate_dynamic
from retention_lab.clv.covariates_tv import DynamicData
from retention_lab.clv.covariates_tv_bg import TimeVaryingBetaGeoFitter, bg_dynamic_loglik_terms
from retention_lab.clv.covariates_tv_bg_hess import bg_dynamic_loglik_hess


def _second_differences(f, theta, h):
    k = len(theta)
    H = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            H[i, j] = H[j, i] = (f(theta + ei + ej) - f(theta + ei - ej) - f(theta - ei + ej)
                                 + f(theta - ei - ej)) / (4 * h * h)
    return H


def _oracle(theta, d):
    """Richardson extrapolation of steps 2h and h: error O(h⁴)."""
    f = lambda t: float(d.w @ bg_dynamic_loglik_terms(t, d)[0])  # noqa: E731
    h = 2e-3
    return (4 * _second_differences(f, theta, h) - _second_differences(f, theta, 2 * h)) / 3


def _data(trans=None, life=None):
    tx, panel, end = simulate_dynamic(500, (0.8, 8.0, 0.7, 20.0), {"member": 0.3},
                                      {"member": -0.4}, weeks=50, seed=5)
    tx = pd.concat([tx, tx.iloc[::6]], ignore_index=True)          # ties
    return DynamicData(tx, panel, end, "W", trans, life, events="orders")


@pytest.mark.parametrize("th", [(0.8, 8.0, 0.7, 3.0, 0.4, -0.5), (1.3, 3.0, 0.4, 6.0, -0.2, 0.9),
                                (0.3, 20.0, 2.0, 1.5, 0.0, 0.0)])
def test_hessian_equals_second_differences_of_the_likelihood(th):
    d = _data()
    theta = np.r_[np.log(th[:4]), th[4:]]
    H = bg_dynamic_loglik_hess(theta, d)
    want = _oracle(theta, d)
    scale = np.max(np.abs(want))
    np.testing.assert_allclose(H, want, rtol=1e-6, atol=1e-7 * scale)
    np.testing.assert_array_equal(H, H.T)
    # compacted rows (weights): the same totals
    rows, _ = d.compact(True)
    np.testing.assert_allclose(bg_dynamic_loglik_hess(theta, rows), H, rtol=1e-9,
                               atol=1e-11 * scale)


@pytest.mark.parametrize("cols", [([], None), (None, [])])
def test_without_transaction_or_lifetime_covariates(cols):
    d = _data(*cols)
    theta = np.r_[np.log([0.9, 7.0, 0.8, 2.5]), np.full(d.kt + d.kl, 0.3)]
    H = bg_dynamic_loglik_hess(theta, d)
    want = _oracle(theta, d)
    np.testing.assert_allclose(H, want, rtol=1e-6, atol=1e-7 * np.max(np.abs(want)))


def test_fitter_uses_it_for_the_standard_errors():
    tx, panel, end = simulate_dynamic(400, (0.8, 8.0, 0.7, 20.0), {"member": 0.3}, {},
                                      weeks=40, seed=6)
    m = TimeVaryingBetaGeoFitter().fit(tx, panel, end, freq="W")
    rows = m.data_.compact(True)[0]
    want = -_oracle(m._theta, rows)
    np.testing.assert_allclose(m.hessian_, want, rtol=1e-6, atol=1e-7 * np.max(np.abs(want)))
