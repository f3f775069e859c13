"""The rolling analysis' building blocks rewritten for scale (issue 22), against brute force.

* ``_history`` (purchase days by one sort of the keys) against a per-transaction loop into a
  dict of (customer, day) → spend;
* ``_weighted_gram`` (blocks of rows) against the sum of per-row outer products;
* ``_logit`` (Newton with the blocked Hessian) against a direct maximisation of the same
  penalised likelihood by scipy (BFGS on the negative log-likelihood, its own gradient).
"""
from __future__ import annotations

import numpy as np
from scipy import optimize

from retention_lab.impact.rolling import trials as tr


def test_history_matches_a_per_transaction_loop():
    rng = np.random.default_rng(3)
    n_cust, n_tx, K = 40, 600, 400
    code = rng.integers(0, n_cust - 3, n_tx)          # the last 3 customers buy nothing
    day = rng.integers(0, 60, n_tx)                    # many same-day lines
    amount = np.round(rng.gamma(2.0, 20.0, n_tx), 2)
    signup = np.where(rng.random(n_cust) < 0.5, rng.integers(0, 80, n_cust), np.nan)
    H = tr._history(code, day, amount, n_cust, signup.astype(float), K)
    ref = {}
    for c, d, a in zip(code, day, amount):
        ref[(int(c), int(d))] = ref.get((int(c), int(d)), 0.0) + float(a)
    keys = sorted(ref)
    assert list(zip(H.code.tolist(), H.day.tolist())) == keys
    np.testing.assert_allclose(np.diff(H.c_spend), [ref[k] for k in keys], rtol=1e-12)
    np.testing.assert_array_equal(np.diff(H.c_orders), 1.0)
    for c in range(n_cust):
        days = [d for (cc, d) in keys if cc == c]
        first = min(days) if days else np.nan
        if np.isfinite(signup[c]):
            first = np.fmin(first, signup[c])
        assert (np.isnan(first) and np.isnan(H.first[c])) or H.first[c] == first
        if days:
            assert H.start[c] == keys.index((c, min(days)))


def test_weighted_gram_matches_the_sum_of_outer_products():
    rng = np.random.default_rng(4)
    X = np.asfortranarray(rng.normal(size=(1000, 5)))
    w = rng.random(1000)
    ref = sum(w[i] * np.outer(X[i], X[i]) for i in range(len(X)))
    np.testing.assert_allclose(tr._weighted_gram(X, w, chunk=64), ref, rtol=1e-12)


def test_logit_matches_a_direct_maximisation_of_the_penalised_likelihood():
    rng = np.random.default_rng(5)
    n = 4000
    X = np.c_[np.ones(n), rng.normal(size=(n, 3)), (rng.random((n, 2)) < 0.3).astype(float)]
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ np.array([-1.5, 0.8, -0.4, 0.2, 0.6, 0.0])))))
    y = y.astype(float)
    ridge = 1e-4
    pen = np.full(X.shape[1], ridge * n)
    pen[0] = 0.0

    def nll(b):
        eta = X @ b
        return np.sum(np.logaddexp(0, eta) - y * eta) + 0.5 * np.sum(pen * b ** 2)

    def grad(b):
        return X.T @ (1 / (1 + np.exp(-(X @ b))) - y) + pen * b
    ref = optimize.minimize(nll, np.zeros(X.shape[1]), jac=grad, method="BFGS",
                            options={"gtol": 1e-10, "maxiter": 2000}).x
    np.testing.assert_allclose(tr._logit(X, y, ridge=ridge), ref, rtol=1e-6, atol=1e-8)
