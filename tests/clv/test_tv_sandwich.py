"""The robust standard errors of the time-varying membership fitters (issue 19, item 4):
``TimeVaryingParetoNBDFitter`` / ``TimeVaryingBetaGeoFitter`` with ``se="robust"`` (default).

The estimator is the sandwich clustered by customer, ``H⁻¹ (Σ_i s_i s_iᵀ) H⁻¹`` (White 1982;
Liang & Zeger 1986 for clusters): ``s_i`` is the score of customer ``i``'s whole history — all
their purchases and covariate periods, one likelihood term — never of a single period or
purchase. The fitter evaluates it on distinct rows (identical customers once, weighted by how
many share the row), ``Σ_rows w_r s_r s_rᵀ``, which is the per-customer sum only because
customers sharing a row have identical scores.

Oracles: (1) brute force — each customer's score by central differences of their own
log-likelihood on the uncompacted per-customer data (the likelihood is checked against
numerical integration in test_tv_pareto_nbd / test_tv_beta_geo), the information by central
second differences of the total, the sandwich assembled here; (2) slow — a customer bootstrap
(whole histories resampled with replacement, refitted) on a fixed seed of the enrolment world
of test_membership_calibration.

Measured, for the record (2026-12-06, this session; seeds 1000–1005 of the 200-seed study in
tests/clv/test_membership_slow.py, 2,000 customers, 100 customer-bootstrap refits each),
Pareto/NBD ``trans.member``: bootstrap SE / robust SE 0.873, 0.895, 0.979, 1.059, 1.102, 1.091
(pooled RMS ratio 0.994; mean log ratio −0.004 ± 0.041), bootstrap / model-based 1.000,
robust / model-based 1.006; ``life.member``: bootstrap / robust 1.028 pooled. The finite-sample
corrections of the cluster sandwich are negligible here: the approximate jackknife (CR3,
``(H − H_i)⁻¹ s_i``) moves the ``trans.member`` SE by +0.26 % (seed 1000) and the
Bell & McCaffrey (2002) degrees of freedom with the model as working covariance are ~400
(t quantile 1.966 for 1.960); CR1's ``G/(G−1)`` is 1.0005.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from test_membership_calibration import fit_membership, simulate_enrolment


def _brute_sandwich(m):
    """``H⁻¹ (Σ_i s_i s_iᵀ) H⁻¹`` from the per-customer log-likelihoods of the uncompacted data,
    all derivatives by central differences (none of the fitter's gradients or rows)."""
    d, th = m.data_, m._theta
    k = len(th)
    h = 1e-4 * np.maximum(1.0, np.abs(th))
    E = np.diag(h)

    def ll(t):
        with np.errstate(all="ignore"):
            return m._terms(t, d)[0]           # one entry per customer
    S = np.column_stack([(ll(th + E[j]) - ll(th - E[j])) / (2 * h[j]) for j in range(k)])
    H = np.empty((k, k))
    for a in range(k):
        for b in range(a + 1):
            H[a, b] = H[b, a] = -(ll(th + E[a] + E[b]).sum() - ll(th + E[a] - E[b]).sum()
                                  - ll(th - E[a] + E[b]).sum()
                                  + ll(th - E[a] - E[b]).sum()) / (4 * h[a] * h[b])
    Hinv = np.linalg.inv(H)
    return Hinv @ (S.T @ S) @ Hinv, S


@pytest.mark.parametrize("model", ["pnbd", "bgnbd"])
def test_robust_covariance_is_the_sandwich_over_customers(model):
    """On 600 customers of the enrolment world (members switching mid-history, several orders
    a day), with distinct rows shared by several customers: the fitter's robust covariance
    equals the brute-force customer-clustered sandwich, and its per-customer scores the
    brute-force ones."""
    tx, cust, end = simulate_enrolment(600, model, seed=31)
    m = fit_membership(model, tx, cust, end)
    assert m.n_distinct_rows_ < m.n_customers_ == 600          # rows shared by customers
    assert cust["enrolled_at"].notna().sum() > 100
    V, S = _brute_sandwich(m)
    np.testing.assert_allclose(m.scores_, S, rtol=1e-4, atol=1e-5 * np.abs(S).max())
    got = m.variance_matrix_robust_log_.to_numpy()
    np.testing.assert_allclose(np.sqrt(np.diag(got)), np.sqrt(np.diag(V)), rtol=1e-3)
    np.testing.assert_allclose(got, V, rtol=1e-2, atol=1e-3 * np.abs(V).max())
    se = m.standard_errors_[["trans.member", "life.member"]].to_numpy()
    np.testing.assert_allclose(se, np.sqrt(np.diag(V))[4:], rtol=1e-3)


def _customer_bootstrap(model, tx, cust, end, n_boot, seed):
    """Refits on customers drawn with replacement (whole histories, relabelled)."""
    n = len(cust)
    tx = tx.sort_values("customer_id", kind="stable").reset_index(drop=True)
    ids = tx["customer_id"].to_numpy()
    start = np.searchsorted(ids, np.arange(n))
    stop = np.searchsorted(ids, np.arange(n), side="right")
    enr = cust["enrolled_at"].to_numpy()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        pick = rng.integers(0, n, n)
        rows = np.concatenate([np.arange(a, b) for a, b in zip(start[pick], stop[pick])])
        btx = tx.iloc[rows].assign(customer_id=np.repeat(np.arange(n), stop[pick] - start[pick]))
        bcust = pd.DataFrame({"customer_id": np.arange(n), "enrolled_at": enr[pick]})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b = fit_membership(model, btx.reset_index(drop=True), bcust, end)
        out.append(b.params_[["trans.member", "life.member"]].to_numpy())
    return np.asarray(out)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["pnbd", "bgnbd"])
def test_robust_se_against_a_customer_bootstrap(model):
    """Null programme, 1,000 customers, seed 41 (chosen before running): the robust SEs of
    ``trans.member`` and ``life.member`` are within 25 % of the SD of 100 customer-bootstrap
    refits (the bootstrap SD's own Monte Carlo error is ~7 %). Measured (2026-12-06, first run):
    bootstrap SD / robust SE, Pareto/NBD 0.990 (trans) and 1.031 (life), BG/NBD 0.969 and
    0.964; 2 min CPU for both."""
    tx, cust, end = simulate_enrolment(1000, model, seed=41)
    m = fit_membership(model, tx, cust, end)
    boot = _customer_bootstrap(model, tx, cust, end, 100, seed=42)
    se = m.standard_errors_[["trans.member", "life.member"]].to_numpy()
    sd = boot.std(axis=0, ddof=1)
    print(model, "robust", se, "bootstrap", sd, "ratio", sd / se)
    np.testing.assert_allclose(se, sd, rtol=0.25)
