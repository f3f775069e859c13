"""The time-varying BG/NBD evaluated per class of purchase paths (issue 22): rows whose
purchases form the same runs of dropout design rows share ``C_x``, ``c_x`` and every function of
them. Oracles: the classes against a Python dictionary of each customer's run sequence, and the
class-wise likelihood against the brute-force likelihood of tests/clv/test_tv_beta_geo.py is
covered there; here the per-row sums are recomputed by a literal loop over each customer's
purchases (not by the module's bincounts)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from clv_covariates_sim import simulate_dynamic
from retention_lab.clv.covariates_tv import DynamicData
from retention_lab.clv.covariates_tv_bg import _classes, _purchase_sums, bg_dynamic_loglik_grad


def _world():
    tx, panel, end = simulate_dynamic(700, (0.8, 8.0, 0.7, 20.0), {"member": 0.3},
                                      {"member": -0.4}, weeks=50, seed=11)
    tx = pd.concat([tx, tx.iloc[::7]], ignore_index=True)       # ties: runs of several
    return DynamicData(tx, panel, end, "W", events="orders")


def test_classes_are_the_customers_run_sequences():
    d = _world()
    cls, rep, xinv, xu = _classes(d)
    seqs = {}
    for i in range(d.n):
        buys = np.flatnonzero(d.buy_c == i)
        seqs[i] = tuple(tuple(d.buy_Z[j]) for j in buys)     # every purchase, in order
    # the same class exactly when the same sequence of dropout rows
    by_seq = {}
    for i, sq in seqs.items():
        by_seq.setdefault(sq, set()).add(cls[i])
    assert all(len(v) == 1 for v in by_seq.values())
    assert len(by_seq) == len(rep) < d.n / 2
    assert all(seqs[rep[c]] == seqs[i] for i, c in enumerate(cls))
    np.testing.assert_array_equal(xu[xinv], d.x)
    # C_x and c_x by a literal loop, at a few coefficients: equal within a class, and right
    for gl in (-0.4, 0.7, 1.3):
        theta = np.r_[0.0, 2.0, -0.3, 1.0, 0.3, gl]
        Cx, clast = _purchase_sums(theta, d)
        for i in range(0, d.n, 5):
            cs = [np.exp(z[0] * gl) for z in seqs[i]]
            assert Cx[i] == sum(cs) or abs(Cx[i] - sum(cs)) < 1e-12 * max(1.0, Cx[i])
            assert clast[i] == (cs[-1] if cs else 0.0)
        np.testing.assert_array_equal(Cx[rep][cls], Cx)
        np.testing.assert_array_equal(clast[rep][cls], clast)


def test_compacted_rows_keep_their_own_classes():
    """A subset (compaction) recomputes its classes; totals equal the per-customer ones."""
    d = _world()
    theta = np.r_[np.log([0.8, 8.0, 0.7, 3.0]), 0.3, -0.4]
    _classes(d)                                       # cached on the full data
    rows, inv = d.compact(True)
    assert "_pclass" not in rows.__dict__
    tot, g = bg_dynamic_loglik_grad(theta, d)
    tot_c, g_c = bg_dynamic_loglik_grad(theta, rows)
    assert abs(tot - tot_c) < 1e-10 * abs(tot)
    np.testing.assert_allclose(g_c, g, rtol=1e-10, atol=1e-8)
