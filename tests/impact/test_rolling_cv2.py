"""The Bell–McCaffrey (CR2) standard errors of the rolling design's doubly robust means
(``_dr_means(se="cv2")``, :func:`retention_lab.impact.rolling.inference._cv2_psi`) against
independent oracles:

* brute force from dense matrices: the weighted least squares as ordinary least squares on the
  ``W½``-transformed rows (``X* = W½X``, ``y* = W½y``), Bell & McCaffrey's (2002) OLS
  adjustment ``(I − H*_gg)^{-1/2}`` of each customer's residuals from an eigendecomposition of
  that customer's block of the full hat matrix, and the members' means as an intercept-only
  regression adjusted the same way; a small problem with unequal cluster sizes, unequal
  weights, and customers with both member and comparison rows;
* closed forms: with an intercept only, a weighted mean's CR2 variance is
  ``Σ_g (Σ_{i∈g} w_i r_i)² / (W² (1 − W_g/W))`` (``W = Σ w``, ``W_g`` customer ``g``'s share),
  and with singleton clusters and unit weights it is the textbook ``s²/n`` of a mean.
"""
from __future__ import annotations

import numpy as np
import pytest

from retention_lab.impact.rolling import inference as I


def _problem(seed=0, n_cust=14):
    """Members and comparison rows of ``n_cust`` customers: 1–4 comparison rows each, a member
    row for some (also comparison customers earlier), an intercept, a covariate, a trial dummy,
    unequal odds weights."""
    rng = np.random.default_rng(seed)
    code, member = [], []
    for g in range(n_cust):
        k = rng.integers(1, 5)
        code += [g] * k
        member += [False] * k
        if g % 3 != 1:
            code += [g] * (1 + (g % 4 == 0))       # one or two member rows
            member += [True] * (1 + (g % 4 == 0))
    code, member = np.array(code), np.array(member)
    n = len(code)
    X = np.column_stack([np.ones(n), rng.normal(size=n), (rng.random(n) < 0.4).astype(float)])
    w = np.where(member, 1.0, rng.gamma(1.0, 1.0, n))
    Y = {"a": X @ [1.0, 0.5, -0.3] + rng.normal(size=n) * (1 + member),
         "b": rng.poisson(2.0, n).astype(float)}
    return Y, member, w, X, code, n_cust


def _inv_sqrt(M):
    lam, V = np.linalg.eigh(M)
    return V @ np.diag(1 / np.sqrt(lam)) @ V.T


def _dense_cr2_rows(Y, member, w, X, code, n_cust):
    """Per customer: (members' mean of y, counterfactual mean) rows, brute force."""
    t, c = member, ~member
    nt = t.sum()
    Xs, ys = X[c] * np.sqrt(w[c])[:, None], {k: v[c] * np.sqrt(w[c]) for k, v in Y.items()}
    xbar = X[t].mean(axis=0)
    AtA_inv = np.linalg.inv(Xs.T @ Xs)
    H = Xs @ AtA_inv @ Xs.T                              # the OLS hat matrix of the W½ rows
    Ht = np.full((nt, nt), 1 / nt)                       # the members' intercept-only one
    cc, ct = code[c], code[t]
    out = {}
    for k, y in Y.items():
        beta = np.linalg.lstsq(Xs, ys[k], rcond=None)[0]
        e = ys[k] - Xs @ beta
        m0 = X @ beta
        et, e0 = y[t] - y[t].mean(), m0[t] - m0[t].mean()
        rows = np.zeros((n_cust, 2))
        for g in range(n_cust):
            jt = np.flatnonzero(ct == g)
            if len(jt):
                adj = _inv_sqrt(np.eye(len(jt)) - Ht[np.ix_(jt, jt)])
                rows[g, 0] = np.sum(adj @ et[jt]) / nt
                rows[g, 1] = np.sum(adj @ e0[jt]) / nt
            jc = np.flatnonzero(cc == g)
            if len(jc):
                adj = _inv_sqrt(np.eye(len(jc)) - H[np.ix_(jc, jc)])
                rows[g, 1] += xbar @ AtA_inv @ Xs[jc].T @ adj @ e[jc]
        out[k] = rows
    return out


def test_cv2_rows_match_the_dense_bell_mccaffrey_adjustment():
    Y, member, w, X, code, n_cust = _problem()
    ok = np.ones(len(code), bool)
    m = I._dr_means(Y, member, w, X, code, n_cust, ok, se="cv2")
    dense = _dense_cr2_rows(Y, member, w, X, code, n_cust)
    for k in Y:
        got = m.psi[:, [m.names.index(f"{k}|t"), m.names.index(f"{k}|c")]]
        np.testing.assert_allclose(got, dense[k], rtol=1e-9, atol=1e-12)
    # the adjustment raises every customer's leverage-weighted term: CR2 variance above CV0's
    m0 = I._dr_means(Y, member, w, X, code, n_cust, ok, se="influence")
    assert m.se("a|c") > m0.se("a|c")
    # the point estimates do not depend on the SE
    np.testing.assert_array_equal(m.est, m0.est)


def test_cv2_of_a_weighted_mean_is_the_closed_form():
    """Intercept only: the counterfactual mean is the weighted mean of the comparison rows and
    the members' mean a plain mean; both CR2 variances in closed form."""
    Y, member, w, X, code, n_cust = _problem(seed=3)
    ok = np.ones(len(code), bool)
    X1 = X[:, :1]
    m = I._dr_means(Y, member, w, X1, code, n_cust, ok, se="cv2")
    c, t = ~member, member
    for k, y in Y.items():
        r = y[c] - np.average(y[c], weights=w[c])
        W, Wg = w[c].sum(), np.bincount(code[c], w[c], n_cust)
        S = np.bincount(code[c], w[c] * r, n_cust)
        assert m.se(f"{k}|c") ** 2 == pytest.approx(np.sum(S ** 2 / (W ** 2 * (1 - Wg / W))),
                                                    rel=1e-10)
        nt, ntg = t.sum(), np.bincount(code[t], minlength=n_cust)
        St = np.bincount(code[t], y[t] - y[t].mean(), n_cust)
        assert m.se(f"{k}|t") ** 2 == pytest.approx(np.sum(St ** 2 / (nt ** 2 * (1 - ntg / nt))),
                                                    rel=1e-10)


def test_cv2_with_singletons_and_unit_weights_is_s2_over_n():
    rng = np.random.default_rng(5)
    n = 40
    member = np.r_[np.ones(15, bool), np.zeros(25, bool)]
    y = rng.normal(size=n)
    m = I._dr_means({"y": y}, member, np.ones(n), np.ones((n, 1)), np.arange(n), n,
                    np.ones(n, bool), se="cv2")
    for g, s in (("t", member), ("c", ~member)):
        assert m.se(f"y|{g}") ** 2 == pytest.approx(np.var(y[s], ddof=1) / s.sum(), rel=1e-12)


def test_cv2_keeps_the_influence_functions_at_high_leverage():
    """A trial whose only comparison rows are one customer's: that customer's rows have joint
    leverage 1, so CV2 (like the jackknife) falls back to the influence functions."""
    Y, member, w, X, code, n_cust = _problem(seed=1)
    lone = np.flatnonzero(~member)[0]
    X = np.c_[X, np.zeros(len(code))]
    X[lone, -1] = 1.0
    X[np.flatnonzero(member)[0], -1] = 1.0
    ok = np.ones(len(code), bool)
    cv2 = I._dr_means(Y, member, w, X, code, n_cust, ok, se="cv2")
    infl = I._dr_means(Y, member, w, X, code, n_cust, ok, se="influence")
    np.testing.assert_array_equal(cv2.psi, infl.psi)


def test_unknown_se_method_is_refused():
    Y, member, w, X, code, n_cust = _problem()
    with pytest.raises(ValueError, match="se must be one of"):
        I._dr_means(Y, member, w, X, code, n_cust, np.ones(len(code), bool), se="cv9")
