"""Session 7's speed changes of the rolling analysis (issue 22), against independent oracles.

* ``_design_matrix`` (filled in place, constant columns found by min/max) against the literal
  construction it replaced (``np.c_`` of the parts, ``std(axis=0) > 0``), values and memory
  layout (BLAS sums depend on it);
* ``_varies`` against ``std(axis=0) > 0`` on columns built to trip it (constants whose mean
  rounds away from them, tiny differences, NaN, a single row);
* the quadrature Pareto/NBD started at a subsample's fit against a Nelder–Mead polish, and
  preconditioned by that fit's Hessian against central differences of the likelihood (and
  ``_preconditioned_minimum`` against a quadratic's closed-form minimum);
* the price index's period effects against the two-way fixed-effects least squares solved
  directly;
* the Pareto/NBD gradient's blocks in two threads against central differences.
* the completion's inputs (shared history positions) against a brute-force count.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from test_rolling_scale import assert_pnbd_grad_matches_differences

import retention_lab as rl
from retention_lab.impact.core.outcomes import categorical_columns
from retention_lab.impact.rolling import (
    completion,
    gcomputation as gc,
    hazard,
    trials as tr,
)
from retention_lab.impact.rolling.completion import QuadratureParetoNBD
from retention_lab.units import days_per


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


def _pareto_fits():
    summ = rl.clv.simulate.pareto_nbd(6000, 0.8, 40.0, 0.7, 300.0, T=700.0, seed=9)
    summ = summ.round({"recency": 0, "T": 0})          # days, as the rolling histories
    sub = summ.iloc[np.sort(np.random.default_rng(0).choice(len(summ), 1500, replace=False))]
    warm = QuadratureParetoNBD().fit(summ, init=QuadratureParetoNBD().fit(sub).params_)
    x, tx, T = (summ[k].to_numpy(float) for k in ("frequency", "recency", "T"))

    def nll(z):
        return -np.mean(completion.pnbd_loglik(np.exp(z), x, tx, T))
    return summ, warm, QuadratureParetoNBD().fit(summ), nll


def test_pareto_fit_started_at_a_subsample_fit_reaches_the_same_maximum():
    """The quadrature Pareto/NBD started at its fit to a subsample (what the completion does
    above ``SCREEN_N`` customers) reaches the log-likelihood of the default start (1e-12
    relative), and the central-difference gradient of the mean log-likelihood at it is below
    1e-7 (as test_rolling_scale's check of the default start)."""
    _, warm, cold, nll = _pareto_fits()
    assert warm.log_likelihood_ == pytest.approx(cold.log_likelihood_, rel=1e-12)
    z0 = np.log(warm.params_.to_numpy(float))
    grad = [(nll(z0 + 1e-5 * e) - nll(z0 - 1e-5 * e)) / 2e-5 for e in np.eye(4)]
    assert np.max(np.abs(grad)) < 1e-7


def test_pareto_fit_preconditioned_by_a_subsample_hessian_reaches_the_maximum():
    """The quadrature Pareto/NBD started at a subsample's fit and preconditioned by that fit's
    Hessian (what the completion does above ``SCREEN_N`` customers, session 8) reaches the
    log-likelihood of the default start (1e-12 relative); at it the central-difference
    gradient of the mean log-likelihood (:func:`pnbd_loglik`, not the analytic gradient the
    fit uses) is below 1e-7, and a Newton step from central second differences moves the log
    parameters by less than 1e-6."""
    summ, _, cold, nll = _pareto_fits()
    sub = summ.iloc[np.sort(np.random.default_rng(0).choice(len(summ), 1500, replace=False))]
    start = QuadratureParetoNBD().fit(sub)
    fit = QuadratureParetoNBD().fit(summ, init=start.params_, curvature=start.working_hessian())
    assert fit.log_likelihood_ == pytest.approx(cold.log_likelihood_, rel=1e-12)
    z0, h = np.log(fit.params_.to_numpy(float)), 1e-4
    grad = np.array([(nll(z0 + h * e) - nll(z0 - h * e)) / (2 * h) for e in np.eye(4)])
    assert np.max(np.abs(grad)) < 1e-7
    E = np.eye(4) * h
    hess = np.array([[(nll(z0 + a + b) - nll(z0 + a - b) - nll(z0 - a + b) + nll(z0 - a - b))
                      / (4 * h * h) for b in E] for a in E])
    assert np.max(np.abs(np.linalg.solve(hess, grad))) < 1e-6


def test_preconditioned_minimum_of_a_quadratic():
    """``_preconditioned_minimum`` on a quadratic in the working parameters (its minimum in
    closed form) with a curvature 30 % off the true Hessian: the minimum to 1e-9; None (the
    caller then takes the bounded fit) for a minimum outside the bounds (``u = 1/s < 0``) and
    for a curvature that is not positive definite."""
    rng = np.random.default_rng(4)
    A = rng.normal(size=(4, 4))
    Hq = A @ A.T + 0.5 * np.eye(4)

    def quadratic(zmin):
        return lambda z: (0.5 * (z - zmin) @ Hq @ (z - zmin), Hq @ (z - zmin))
    zmin = np.array([0.3, 3.5, -6.0, 1.1])
    z0 = zmin + np.array([0.05, -0.08, 0.1, 0.2])
    off = Hq * 1.3 + 0.05 * np.eye(4)
    res = completion._preconditioned_minimum(quadratic(zmin), z0, off)
    np.testing.assert_allclose(res.x, zmin, rtol=0, atol=1e-9)
    outside = zmin - np.array([0, 0, 0, 1.2])
    assert completion._preconditioned_minimum(quadratic(outside), z0, off) is None
    assert completion._preconditioned_minimum(quadratic(zmin), z0, -Hq) is None


@pytest.mark.xfail(strict=False, reason="measured 1.08e-6 relative on beta (rtol 1e-6): the "
                   "likelihood is flat along a ridge in (s, beta), where L-BFGS-B and "
                   "Nelder-Mead stop at different points with the same log-likelihood")
def test_pareto_fit_started_at_a_subsample_fit_matches_a_nelder_mead_polish():
    """Parameters of both starts against an independent polish (Nelder–Mead on the
    log-likelihood alone, from the default-start estimate), 1e-6 relative. Measured
    (2026-12-06): the default start within 1e-6, the subsample start 1.08e-6 off in beta."""
    _, warm, cold, nll = _pareto_fits()
    polish = optimize.minimize(nll, np.log(cold.params_.to_numpy(float)), method="Nelder-Mead",
                               options={"xatol": 1e-10, "fatol": 1e-15, "maxiter": 4000})
    for m in (cold, warm):
        np.testing.assert_allclose(m.params_.to_numpy(float), np.exp(polish.x), rtol=1e-6)


def test_price_index_is_the_two_way_fixed_effects_least_squares():
    """The price index's period effects (the periods' least squares system with the customer
    effects profiled out, session 8; alternating projections before, within 1e-6 here) against
    the two-way fixed-effects least squares on customer and period dummies (lstsq), centred the
    same way, on the package's rolling simulator with a 20 %-a-year price drift added, 1e-10."""
    data = rl.datasets.simulate_loyalty_experiment(n_customers=600, design="rolling", seed=3)
    tx = data.transactions.copy()
    age = (tx["date"] - tx["date"].min()).dt.days.to_numpy()
    tx["amount"] = tx["amount"] * 1.2 ** (age / 365)
    data.transactions = tx
    _rows, _info, H, frame = tr.build_trials(data)
    got = gc._price_index(H, frame, min_days=1)["tau"]
    spend = np.diff(H.c_spend)
    d = H.day - frame["shift"]
    use = ~(frame["enrol_day"][H.code] < d) & (spend > 0)
    per = np.floor(d / days_per("M")).astype(np.int64)[use]
    cust = H.code[use]
    up, pi = np.unique(per, return_inverse=True)
    uc, ci = np.unique(cust, return_inverse=True)
    D = np.zeros((use.sum(), len(uc) + len(up) - 1))
    D[np.arange(use.sum()), ci] = 1.0
    D[np.arange(use.sum()), len(uc) + pi - 1] = np.where(pi > 0, 1.0, 0.0)
    coef, *_ = np.linalg.lstsq(D, np.log(spend[use]), rcond=None)
    tau = np.r_[0.0, coef[len(uc):]]
    tau -= tau.mean()
    np.testing.assert_allclose(got.loc[up].to_numpy(), tau, atol=1e-10)


def test_pareto_gradient_in_threaded_blocks_matches_central_differences():
    """:func:`pnbd_loglik_grad` on enough rows for its blocks to run in two threads (40,000
    customers, 20 blocks): the log-likelihood equals :func:`pnbd_loglik` (a separate
    implementation, no blocks) bit for bit, and the gradient matches fourth-order central
    differences of it per customer (as test_rolling_scale checks the one-thread path)."""
    summ = rl.clv.simulate.pareto_nbd(40_000, 0.8, 40.0, 0.7, 300.0, T=700.0, seed=12)
    x, tx, T = (summ[k].to_numpy(float) for k in ("frequency", "recency", "T"))
    p = np.array([1.5, 47.0, 0.76, 529.0])
    assert np.sum(np.log((p[1] + T) / (p[1] + tx)) > 0) > 8 * completion._BLOCK
    assert_pnbd_grad_matches_differences(p, x, tx, T)


def test_completion_inputs_match_a_brute_force_count(monkeypatch):
    """``_completion_inputs`` (each history position searched once, session 8) against a count
    of every comparison row's purchase days and spend in its windows, customer by customer, on
    the package's rolling simulator: the observed outcomes, and for the rows that enrol during
    their follow-up what they bought before their enrolment (or the window end)."""
    data = rl.datasets.simulate_loyalty_experiment(n_customers=1500, design="rolling", seed=8)
    seen = {}
    real = tr._completion_inputs

    def spy(H, code, t0, enrol, follow_end, horizon_days, price=None):
        seen.update(H=H, code=code, t0=t0, enrol=enrol, follow_end=follow_end, h=horizon_days)
        seen["inp"] = real(H, code, t0, enrol, follow_end, horizon_days, price)
        return seen["inp"]
    monkeypatch.setattr(tr, "_completion_inputs", spy)
    tr.rolling_effects(data)
    H, code, inp = seen["H"], seen["code"], seen["inp"]
    ends = np.r_[H.start[1:], len(H.day)]
    spend = np.diff(H.c_spend)

    def count(c, lo, hi):
        days = H.day[H.start[c]:ends[c]]
        inside = (days > lo) & (days <= hi)
        return inside.sum(), spend[H.start[c]:ends[c]][inside].sum()
    e = np.where(np.isfinite(seen["enrol"]), seen["enrol"], np.inf)
    pre = {int(r): k for k, r in enumerate(inp["i"])}
    assert len(pre) > 50
    for r, c in enumerate(code):
        t0, w_end = seen["t0"][r], seen["t0"][r] + seen["h"]
        o, s = count(c, t0, w_end)
        ro, _ = count(c, w_end, seen["follow_end"][r])
        assert inp["out"][r, 0] == o and inp["out"][r, 1] == pytest.approx(s, rel=1e-12)
        assert inp["out"][r, 2] == float(ro > 0)
        if r in pre:
            o, s = count(c, t0, min(e[r], w_end))
            assert inp["o_pre"][pre[r]] == o
            assert inp["s_pre"][pre[r]] == pytest.approx(s, rel=1e-12, abs=1e-9)
