"""The doubly robust means and their delete-one-customer jackknife computed over the comparison
rows gathered by customer, in blocks (:mod:`retention_lab.impact.rolling.jackknife`, issue 22),
against brute force: every customer deleted in turn and both means refitted by
``np.linalg.lstsq``. The blocks are made small (``CHUNK``) so that customers of each size are
split over several blocks; the problems have customers with one comparison row (the closed
form ``1/(1 − h)``), two (the 2 × 2 inverse) and more (the batched solve), customers with
member and comparison rows, rows left out (``rows_ok``, zero weights) and a design with
columns dropped (``cols``, a segment's).
"""
from __future__ import annotations

import numpy as np
import pytest

from retention_lab.impact.rolling import hazard, inference as I, jackknife as J


def _problem(seed, n_cl=70):
    rng = np.random.default_rng(seed)
    # customers with 1, 2, 3 and 4-6 rows, each row a member row with probability 0.3
    sizes = np.r_[np.ones(n_cl // 4, int), np.full(n_cl // 4, 2), np.full(n_cl // 4, 3),
                  rng.integers(4, 7, n_cl - 3 * (n_cl // 4))]
    code = np.repeat(np.arange(n_cl), sizes)
    code = code[rng.permutation(len(code))]          # rows not grouped by customer
    n = len(code)
    X = np.c_[np.ones(n), rng.normal(size=(n, 2)), np.zeros(n), rng.random(n) < 0.4]
    member = rng.random(n) < 0.3
    w = np.where(member, 1.0, np.exp(0.7 * X[:, 1]))
    w[rng.random(n) < 0.05] = 0.0                    # comparison rows without weight
    Y = {"y": 1 + X[:, 1] + 0.5 * X[:, 2] ** 2 + rng.normal(size=n),
         "z": rng.poisson(2.0, n).astype(float)}
    Y["z"][rng.random(n) < 0.03] = np.nan            # taken as 0, as the estimator always did
    return rng, code, X, member, w, Y


def _literal_means(Y, X, member, w, keep):
    t, c = member & keep, ~member & keep & (w > 0)
    sw = np.sqrt(w[c])
    out = []
    for y in Y.values():
        y = np.nan_to_num(y)
        beta = np.linalg.lstsq(X[c] * sw[:, None], y[c] * sw, rcond=None)[0]
        out += [y[t].mean(), np.mean(X[t] @ beta) + np.average(y[c] - X[c] @ beta,
                                                               weights=w[c])]
    return np.array(out)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("chunk", [5, 1 << 14])
def test_block_jackknife_matches_deleting_each_customer(monkeypatch, seed, chunk):
    """Pseudo-values ``√((G−1)/G)(θ̄₍.₎ − θ̂₍₋g₎)`` against the literal refits without each
    customer, on a subset of the rows and of the columns (the constant column dropped, as a
    segment's fit does); the estimates against the literal fit on those rows."""
    monkeypatch.setattr(J, "CHUNK", chunk)
    rng, code, X, member, w, Y = _problem(seed)
    n_cl = code.max() + 1
    ok = rng.random(len(code)) < 0.9
    cols = J.varying_columns(X, ok)
    assert cols.tolist() == [True, True, True, False, True]
    m = I._dr_means(Y, member, w, X, code, n_cl, ok, cols=cols)
    Xk = X[:, cols]
    assert m.est == pytest.approx(_literal_means(Y, Xk, member, w, ok), rel=1e-10)
    used = np.unique(code[ok & (member | (w > 0))])
    loo = np.array([_literal_means(Y, Xk, member, w, ok & (code != g)) for g in used])
    G = len(used)
    expect = np.sqrt((G - 1) / G) * (loo.mean(axis=0) - loo)
    assert m.psi[used] == pytest.approx(expect, rel=1e-7, abs=1e-11)
    assert not np.any(np.delete(m.psi, used, axis=0))


def test_block_estimates_alone_share_the_rows_and_match_least_squares(monkeypatch):
    """``se="none"`` with the ``fit`` of a jackknife call on the same rows (the completion
    derivatives' means): the estimates against the literal weighted least squares, and the
    rows reused (not recomputed); a design with two nearly collinear columns (condition number
    ~1e14) takes the SVD least squares and matches to 1e-8 (the whole-array path before issue
    22 was 6e-9 from the literal fit on this problem: the fit's own rounding)."""
    monkeypatch.setattr(J, "CHUNK", 7)
    rng, code, X, member, w, Y = _problem(3)
    X = X[:, [0, 1, 2, 4]]                           # well conditioned: the weights c_i
    n_cl = code.max() + 1
    ok = rng.random(len(code)) < 0.9
    D = {f"d{i}": rng.normal(size=len(code)) for i in range(4)}
    fit: dict = {}
    I._dr_means(Y, member, w, X, code, n_cl, ok, fit=fit)
    rows = fit["sorted"]
    g = I._dr_means(D, member, w, X, code, n_cl, ok, se="none", fit=fit)
    assert fit["sorted"] is rows and g.psi is None
    assert g.est == pytest.approx(_literal_means(D, X, member, w, ok), rel=1e-10, abs=1e-13)
    Xc = np.c_[X, X[:, 1] + 1e-7 * rng.normal(size=len(code))]
    g2 = I._dr_means(D, member, w, Xc, code, n_cl, ok, se="none")
    assert g2.est == pytest.approx(_literal_means(D, Xc, member, w, ok), rel=1e-8, abs=1e-10)
    m2 = I._dr_means(Y, member, w, Xc, code, n_cl, ok)
    assert m2.est == pytest.approx(_literal_means(Y, Xc, member, w, ok), rel=1e-8)


def test_block_jackknife_falls_back_for_a_single_row_of_full_leverage():
    """A customer with one comparison row that is the only one of its trial (leverage 1,
    the closed-form branch): the influence functions are kept, as with the batched solve."""
    rng = np.random.default_rng(6)
    n, n_cl = 300, 80
    code = rng.integers(1, n_cl, n)
    trial = (rng.random(n) < 0.5).astype(float)
    member = rng.random(n) < 0.3
    trial[0], member[0], code[0] = 2.0, False, 0     # customer 0: one row, alone in trial 2
    trial[1], member[1] = 2.0, True
    X = np.c_[np.ones(n), rng.normal(size=n), trial == 1, trial == 2].astype(float)
    y = {"y": rng.normal(size=n)}
    ok = np.ones(n, bool)
    jack = I._dr_means(y, member, np.ones(n), X, code, n_cl, ok)
    infl = I._dr_means(y, member, np.ones(n), X, code, n_cl, ok, se="influence")
    assert np.array_equal(jack.psi, infl.psi)


def test_varying_columns_decides_as_the_standard_deviation_of_the_copied_rows():
    """The columns a segment keeps, against ``_varies`` of the copied rows: columns varying,
    constant integers (0 and 3) and a constant 0.1 (whose mean may round away from 0.1, so
    ``_varies`` itself decides), on a column-major design as the trials build it."""
    rng = np.random.default_rng(9)
    n = 5000
    X = np.asfortranarray(np.c_[np.ones(n), rng.normal(size=n), np.zeros(n), np.full(n, 3.0),
                                np.full(n, 0.1), rng.random(n) < 0.5])
    for rows in (np.ones(n, bool), rng.random(n) < 0.3, np.arange(n) < 2):
        want = np.r_[True, hazard._varies(X[np.flatnonzero(rows)][:, 1:])]
        assert J.varying_columns(X, rows).tolist() == want.tolist()
    Xi = X[:, [0, 1, 2, 3, 5]]
    rows = rng.random(n) < 0.5
    assert J.varying_columns(Xi, rows).tolist() == [True, True, False, False, True]
