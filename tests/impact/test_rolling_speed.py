"""Session 7's speed changes of the rolling analysis (issue 22), against independent oracles.

* ``_design_matrix`` (filled in place, constant columns found by min/max) against the literal
  construction it replaced (``np.c_`` of the parts, ``std(axis=0) > 0``), values and memory
  layout (BLAS sums depend on it);
* ``_varies`` against ``std(axis=0) > 0`` on columns built to trip it (constants whose mean
  rounds away from them, tiny differences, NaN, a single row).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

import retention_lab as rl
from retention_lab.impact.core.outcomes import categorical_columns
from retention_lab.impact.rolling import hazard, trials as tr


def test_varies_matches_the_standard_deviation_test():
    rng = np.random.default_rng(11)
    n = 1001
    cols = [np.full(n, 0.1), np.full(n, 1.0), np.zeros(n), np.full(n, 1e150),
            np.r_[np.full(n - 1, 0.1), 0.1 + 1e-17], np.r_[np.full(n - 1, 3.0), np.nextafter(3.0, 4)],
            rng.normal(size=n), (rng.random(n) < 0.001).astype(float), np.full(n, -7.25)]
    X = np.column_stack(cols)
    for A in (X, np.asfortranarray(X), X[:1], X[:, :0]):
        np.testing.assert_array_equal(tr._varies(A), A.std(axis=0) > 0)
    Xn = X.copy()
    Xn[3, 6] = np.nan                       # a NaN column: std is NaN, so not "> 0"
    np.testing.assert_array_equal(tr._varies(Xn), Xn.std(axis=0) > 0)


def test_design_matrix_is_the_literal_construction():
    data = rl.datasets.simulate_loyalty_experiment(n_customers=3000, design="rolling", seed=5)
    rows, _info, _H, frame = tr.build_trials(data)
    rows["no_history"] = 0.0                   # a constant column, which the design drops
    *_, code, X, keep_col = hazard._design_matrix(rows, frame)
    cust = frame["cust"]
    cats = [c for c in categorical_columns(cust.set_index("customer_id"))
            if c not in ("arm", "enrolled_at", "signup_date")]
    Xcat = (pd.get_dummies(cust[cats].astype("string").fillna("missing"), drop_first=True,
                           dtype=float).to_numpy(float) if cats else np.zeros((len(cust), 0)))
    Z, _ = hazard._standardize(rows[tr.HISTORY])
    trial = rows["trial"].to_numpy()
    levels = np.unique(trial)
    ref = np.c_[np.ones(len(rows)), Z, Xcat[code], (trial[:, None] == levels[None, 1:])
                .astype(float)]
    keep = np.r_[True, ref[:, 1:].std(axis=0) > 0]
    ref = ref[:, keep]
    assert not keep.all()
    np.testing.assert_array_equal(keep_col, keep)
    np.testing.assert_array_equal(X, ref)
    assert X.strides == ref.strides            # the same layout, so BLAS adds in the same order
