"""Non-finite standard errors of the time-varying Pareto/NBD / BG/NBD are never silent (issue 19,
item 4: 3 of 200 customer-bootstrap refits of seed 1003 gave NaN robust SEs). Those refits ran
to the boundary s → ∞ with s/β fixed (s ≈ 100–150, β ≈ 1–1.7·10⁴: no heterogeneity in the
dropout rate), where the log-likelihood is flat (curvature ≈ 0.01 along (log s, log β) by second
differences) and not finite a little further on; the finite-difference information there had a
negative eigenvalue, so ``covariance_from_information`` gave NaNs — with a warning the bootstrap
script had silenced. The fitter now names the cause (``se_problem_``, the warning) and the
report's CLV check quotes it. The constructed cases below have a known eigen-structure (the
oracle): an information matrix with a chosen negative eigenvalue along a chosen direction."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from test_membership_calibration import fit_membership, simulate_enrolment

from retention_lab.clv.base import ConvergenceWarning
from retention_lab.clv.covariates_tv import (
    TimeVaryingParetoNBDFitter,
    covariance_problem,
    membership_covariates,
)
from retention_lab.clv.covariates_tv_bg import TimeVaryingBetaGeoFitter

NAMES = ["r", "alpha", "s", "beta", "trans.member", "life.member"]


def _information(k, lam_min=-5.0, pair=(2, 3)):
    """``Q diag(λ) Qᵀ``: eigenvalues 10, 20, … except ``lam_min`` along ``(e_i + e_j)/√2``."""
    i, j = pair
    Q = np.eye(k)
    Q[[i, j, i, j], [i, i, j, j]] = np.array([1, 1, -1, 1]) / np.sqrt(2)
    lam = 10.0 * np.arange(1, k + 1)
    lam[i] = lam_min
    return Q @ np.diag(lam) @ Q.T


def test_covariance_problem_names_the_eigenvalue_and_the_direction():
    theta = np.log([0.9, 3.5, 151.0, 16930.0, 1.0, 1.0])
    theta[4:] = (-0.01, 0.06)
    msg = covariance_problem(_information(6), NAMES, theta)
    assert "not positive definite" in msg and "eigenvalue -5 of largest 60" in msg
    assert "+0.71 log s +0.71 log beta" in msg
    assert "s = 151 and beta = 1.69e+04" in msg and "dropout rate" in msg
    msg = covariance_problem(_information(6, pair=(0, 1)), NAMES, theta)
    assert "+0.71 log r +0.71 log alpha" in msg and "purchase rate" in msg
    # another direction: no boundary named, only the generic reason
    msg = covariance_problem(_information(6, pair=(3, 4)), NAMES, theta)
    assert "+0.71 log beta +0.71 trans.member" in msg and "flat ridge" in msg
    # mostly (log s, log β) with some life.member (refit 1 of seed 1003: +0.73, +0.58, -0.34)
    v = np.array([0, 0, 0.73, 0.58, 0, -0.34])
    v /= np.linalg.norm(v)
    H = 1e3 * np.eye(6) - (1e3 + 18.2) * np.outer(v, v)       # -18.2 along v, else 1e3
    msg = covariance_problem(H, NAMES, theta)
    assert "eigenvalue -18.2" in msg and "dropout rate" in msg, msg
    assert covariance_problem(_information(6, lam_min=1.0), NAMES, theta) is None
    H = _information(6, lam_min=1.0)
    H[0, 0] = np.nan
    assert "not finite" in covariance_problem(H, NAMES, theta)


@pytest.fixture(scope="module")
def world():
    return simulate_enrolment(300, "pnbd", seed=5)


def _fit(world, cls=TimeVaryingParetoNBDFitter):
    tx, cust, end = world
    panel = membership_covariates(cust, tx["date"].min(), end, freq="W", compact=True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m = cls().fit(tx, panel, end, freq="W")
    return m, [str(x.message) for x in w if issubclass(x.category, ConvergenceWarning)]


def test_a_regular_fit_has_no_problem(world):
    m = fit_membership("pnbd", *world)
    assert m.se_problem_ is None and np.all(np.isfinite(m.standard_errors_))


@pytest.mark.parametrize("cls", [TimeVaryingParetoNBDFitter, TimeVaryingBetaGeoFitter])
def test_an_indefinite_information_warns_with_its_cause(world, monkeypatch, cls):
    monkeypatch.setattr(cls, "_information",
                        staticmethod(lambda theta, d: _information(len(theta))))
    m, warned = _fit(world, cls)
    assert np.all(np.isnan(m.standard_errors_))
    assert m.se_problem_.startswith("the information matrix is not positive definite")
    assert any(m.se_problem_ in w for w in warned)


def test_non_finite_scores_warn_with_their_count(world, monkeypatch):
    real = TimeVaryingParetoNBDFitter._score_rows

    def scores(self, theta, d):
        sc = real(self, theta, d)
        sc[[0, 3]] = np.nan
        return sc
    monkeypatch.setattr(TimeVaryingParetoNBDFitter, "_score_rows", scores)
    m, warned = _fit(world)
    assert m.se_problem_ == "the scores of 2 row(s) of customers are not finite"
    assert any(m.se_problem_ in w for w in warned)
    assert np.all(np.isnan(m.standard_errors_))
    assert np.all(np.isfinite(m.variance_matrix_model_log_))


def test_the_clv_check_quotes_the_cause(monkeypatch):
    """The rolling report's CLV check (BG/NBD) on a fit whose information is indefinite: a
    ``warn`` with the fitter's reason, and the row's interval NaN — not the generic 'the
    parameters part of the influence function is not finite'."""
    from types import SimpleNamespace

    from retention_lab.experiment_data import ExperimentData
    from retention_lab.impact.core.clv_effects import rolling_clv_rows

    tx, cust, end = simulate_enrolment(400, "bgnbd", seed=6)
    data = ExperimentData(transactions=tx, customers=cust, observation_end=end)
    enr = cust.dropna(subset=["enrolled_at"])
    trials = pd.DataFrame({"customer_id": enr["customer_id"], "member": 1, "kept": True,
                           "index_date": enr["enrolled_at"]})
    rows, check = rolling_clv_rows(data, SimpleNamespace(trials=trials))
    assert check["status"] == "pass" and np.isfinite(rows.iloc[0]["ci_low"])
    monkeypatch.setattr(TimeVaryingBetaGeoFitter, "_information",
                        staticmethod(lambda theta, d: _information(len(theta))))
    rows, check = rolling_clv_rows(data, SimpleNamespace(trials=trials))
    assert check["status"] == "warn"
    assert "no interval: the information matrix is not positive definite" in check["detail"]
    assert np.isnan(rows.iloc[0]["ci_low"]) and np.isfinite(rows.iloc[0]["abs_diff"])
