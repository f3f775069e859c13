"""``clv.optimizer.minimize_bfgs`` against its oracle, scipy's own BFGS (issue 22, item 4).

The fitters run BFGS without importing scipy.optimize (0.2-0.3 s in a new process); the
restated loop must give *every* field of ``scipy.optimize.minimize(method="BFGS")`` bit for bit:
on the CDNOW objectives of BG/NBD, Pareto/NBD (Fader, Hardie & Lee 2005a) and Gamma-Gamma
(2005b), from the three starts the fitters use, with a warm-start inverse Hessian, and with a
numerical gradient (Rosenbrock, scipy's own test function).
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import optimize

import retention_lab as rl
from retention_lab.clv import optimizer
from retention_lab.clv.base import btyd_arrays, distinct_rows
from retention_lab.clv.inference import numerical_gradient

FIELDS = ("x", "fun", "jac", "hess_inv", "nit", "status", "success", "message")


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_sample):
    return rl.features.rfm_summary(cdnow_sample, "1997-09-30", freq="D", freq_multiplier=7)


def assert_same(ours, theirs):
    for field in FIELDS:
        a, b = getattr(ours, field), getattr(theirs, field)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), field
        else:
            assert a == b, field


def objective(fitter, summary):
    """The fitter's own objective and first start, as ``BaseFitter._fit`` minimises them."""
    if isinstance(fitter, rl.clv.GammaGammaFitter):
        repeat = summary[summary["frequency"] > 0]
        x, m = (repeat[c].to_numpy(float) for c in ("frequency", "monetary_value"))
        data, weights = fitter._prepare(x, m), np.ones(len(x))
    else:
        x, tx, T, _ = btyd_arrays(summary)
        (ux, utx, uT), _, weights = distinct_rows(x, tx, T)
        data = fitter._prepare(ux, utx, uT)
    wsum = float(weights.sum())
    x0 = np.log(fitter._initial(data, weights))
    return (lambda t: fitter._objective_grad(t, data, weights, wsum)), x0


@pytest.mark.parametrize("Fitter", [rl.clv.BetaGeoFitter, rl.clv.ParetoNBDFitter,
                                    rl.clv.GammaGammaFitter])
@pytest.mark.parametrize("shift", [0.0, 1.0, -1.0])
def test_bit_identical_to_scipy_on_cdnow(cdnow_summary, Fitter, shift):
    fun, x0 = objective(Fitter(), cdnow_summary)
    with np.errstate(all="ignore"):
        theirs = optimize.minimize(fun, x0 + shift, jac=True, method="BFGS",
                                   options={"gtol": 1e-8, "maxiter": 500})
        ours = optimizer.minimize_bfgs(fun, x0 + shift, True, gtol=1e-8, maxiter=500)
    assert optimizer.DCSRCH_SOURCE == "scipy/optimize/_dcsrch.py"  # not the fallback
    assert_same(ours, theirs)
    assert theirs.nit > 5  # a real run, not a start at the optimum


def test_bit_identical_with_a_warm_start_inverse_hessian(cdnow_summary):
    """The big-table path of ``BaseFitter._fit``: a subset fit's inverse Hessian as
    ``hess_inv0`` of the full fit."""
    fun, x0 = objective(rl.clv.BetaGeoFitter(), cdnow_summary)
    sub = cdnow_summary.iloc[::2]
    sub_fun, _ = objective(rl.clv.BetaGeoFitter(), sub)
    pre = optimize.minimize(sub_fun, x0, jac=True, method="BFGS", options={"gtol": 1e-6})
    h0 = (pre.hess_inv + pre.hess_inv.T) / 2
    theirs = optimize.minimize(fun, pre.x, jac=True, method="BFGS",
                               options={"gtol": 1e-8, "maxiter": 500, "hess_inv0": h0})
    ours = optimizer.minimize_bfgs(fun, pre.x, True, gtol=1e-8, maxiter=500, hess_inv0=h0)
    assert_same(ours, theirs)


def test_bit_identical_with_a_gradient_callable():
    """``jac`` a callable (the fitters without an analytic gradient pass central differences):
    Rosenbrock's function from the standard start, 2 and 4 dimensions."""
    for x0 in (np.array([-1.2, 1.0]), np.array([-1.2, 1.0, -1.2, 1.0])):
        grad = lambda x: numerical_gradient(optimize.rosen, x)  # noqa: E731
        theirs = optimize.minimize(optimize.rosen, x0, jac=grad, method="BFGS",
                                   options={"gtol": 1e-8, "maxiter": 500})
        ours = optimizer.minimize_bfgs(optimize.rosen, x0, grad, gtol=1e-8, maxiter=500)
        assert_same(ours, theirs)
        np.testing.assert_allclose(ours.x, 1.0, atol=1e-5)  # the known minimum


def test_falls_back_to_scipy_when_its_line_search_file_is_missing(monkeypatch, cdnow_summary):
    monkeypatch.setattr(optimizer, "DCSRCH_SOURCE", None)
    monkeypatch.setattr(optimizer.scipy, "__file__", "/nonexistent/scipy/__init__.py")
    fun, x0 = objective(rl.clv.BetaGeoFitter(), cdnow_summary)
    ours = optimizer.minimize_bfgs(fun, x0, True, gtol=1e-8, maxiter=500)
    assert optimizer.DCSRCH_SOURCE == "scipy.optimize"
    assert_same(ours, optimize.minimize(fun, x0, jac=True, method="BFGS",
                                        options={"gtol": 1e-8, "maxiter": 500}))


def test_a_plain_fit_does_not_import_scipy_optimize(cdnow_summary, tmp_path):
    """In a new process, ``import retention_lab.clv`` and a BG/NBD and a Pareto/NBD fit leave
    scipy.optimize unimported (what saves the first call 0.2-0.3 s), with the CDNOW
    estimates."""
    path = tmp_path / "cdnow.csv"
    cdnow_summary[["frequency", "recency", "T"]].to_csv(path)
    code = (f"import sys, pandas as pd; import retention_lab.clv as clv; "
            f"d = pd.read_csv({str(path)!r}); bg = clv.BetaGeoFitter().fit(d); "
            f"pn = clv.ParetoNBDFitter().fit(d); "
            f"print('scipy.optimize' in sys.modules, 'scipy.integrate' in sys.modules, "
            f"round(bg.params_['r'], 3), round(pn.params_['r'], 3))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False", "0.243", "0.553"]
