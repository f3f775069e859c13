"""BFGS for the BTYD fits without importing :mod:`scipy.optimize` (issue 22, first-call cost).

``import scipy.optimize`` costs 0.2–0.3 s of CPU in a new process (it imports scipy.linalg,
scipy.sparse, scipy.spatial, scipy.fft and HiGHS) — most of what a first ``fit`` paid over the
second. The fits need one algorithm from it: ``minimize(method="BFGS")``, whose line search is
MINPACK's ``dcsrch`` (Moré & Thuente 1994), which scipy ships as a numpy-only module
(``scipy/optimize/_dcsrch.py``, a Python port of the Fortran).

:func:`minimize_bfgs` is scipy 1.17's ``_minimize_bfgs`` and ``line_search_wolfe1`` restated
statement for statement (BSD-3-Clause, © the SciPy developers), on scipy's own ``DCSRCH`` class
loaded from that one file. It evaluates the objective at the same points in the same order, so
its results are *bit-identical* to ``scipy.optimize.minimize(fun, x0, jac=…, method="BFGS")``
(tests/clv/test_optimizer.py compares every field on the CDNOW fits). The rare fallbacks import
scipy.optimize after all: the pure-Python Wolfe line search when ``dcsrch`` finds no step
(as scipy does), and — when scipy's file layout changes and ``_dcsrch.py`` cannot be loaded —
scipy's ``minimize`` itself (:data:`DCSRCH_SOURCE` says which ran).
"""
from __future__ import annotations

import importlib.util
import os
import warnings
from types import SimpleNamespace

import numpy as np
import scipy  # the bare package: cheap (its subpackages load on demand)

_STATUS = {"success": "Optimization terminated successfully.",
           "maxiter": "Maximum number of iterations has been exceeded.",
           "pr_loss": "Desired error not necessarily achieved due to precision loss.",
           "nan": "NaN result encountered."}

#: Where the MINPACK line search comes from: ``"scipy/optimize/_dcsrch.py"`` (loaded alone) or
#: ``"scipy.optimize"`` (the whole package imported: the file was not found).
DCSRCH_SOURCE = None
_DCSRCH = None


def _load_dcsrch():
    """scipy's ``DCSRCH`` class, from its numpy-only module file, without executing
    ``scipy/optimize/__init__.py``; ``None`` when that file is missing or does not define it."""
    global _DCSRCH, DCSRCH_SOURCE
    if DCSRCH_SOURCE is None:
        path = os.path.join(os.path.dirname(scipy.__file__), "optimize", "_dcsrch.py")
        try:
            spec = importlib.util.spec_from_file_location("retention_lab.clv._scipy_dcsrch", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _DCSRCH, DCSRCH_SOURCE = module.DCSRCH, "scipy/optimize/_dcsrch.py"
        except (OSError, ImportError, AttributeError, SyntaxError):
            _DCSRCH, DCSRCH_SOURCE = None, "scipy.optimize"
    return _DCSRCH


class _Function:
    """scipy's ``ScalarFunction`` for ``jac=True`` or a gradient callable: the value and the
    gradient at the last point asked for, each computed once (``MemoizeJac``), the value as a
    Python float and the gradient at least 1-d, as scipy hands them to BFGS."""

    def __init__(self, fun, jac, x0):
        self.fun, self.jac = fun, jac
        self.x, self.f, self.g = None, None, None
        self._update(x0)
        self.value(x0)
        self.grad(x0)

    def _update(self, x):
        if self.x is None or not np.array_equal(x, self.x):
            self.x = np.atleast_1d(np.asarray(x)).astype(np.float64)
            self.f, self.g = None, None

    def _both(self):
        out = self.fun(np.copy(self.x))
        self.f, self.g = _scalar(out[0]), np.atleast_1d(out[1])

    def value(self, x):
        self._update(x)
        if self.f is None:
            if self.jac is True:
                self._both()
            else:
                self.f = _scalar(self.fun(np.copy(self.x)))
        return self.f

    def grad(self, x):
        self._update(x)
        if self.g is None:
            if self.jac is True:
                self._both()
            else:
                self.g = np.atleast_1d(self.jac(np.copy(self.x)))
        return self.g


def _scalar(fx):
    return fx if np.isscalar(fx) else np.asarray(fx).item()


def _vecnorm(x, ord=2):
    if ord == np.inf:
        return np.amax(np.abs(x))
    return np.sum(np.abs(x) ** ord, axis=0) ** (1.0 / ord)


def _line_search_wolfe1(f, fprime, xk, pk, gfk, old_fval, old_old_fval, c1=1e-4, c2=0.9,
                        amax=1e100, amin=1e-100, xtol=1e-14):
    """scipy's ``line_search_wolfe1`` with ``scalar_search_wolfe1`` inlined (MINPACK dcsrch)."""
    gval, fc, gc = [gfk], [0], [0]

    def phi(s):
        fc[0] += 1
        return f(xk + s * pk)

    def derphi(s):
        gval[0] = fprime(xk + s * pk)
        gc[0] += 1
        return np.dot(gval[0], pk)

    derphi0 = np.dot(gfk, pk)
    phi0 = old_fval
    if old_old_fval is not None and derphi0 != 0:
        alpha1 = min(1.0, 1.01 * 2 * (phi0 - old_old_fval) / derphi0)
        if alpha1 < 0:
            alpha1 = 1.0
    else:
        alpha1 = 1.0
    dcsrch = _DCSRCH(phi, derphi, c1, c2, xtol, amin, amax)
    stp, phi1, phi0, _task = dcsrch(alpha1, phi0=phi0, derphi0=derphi0, maxiter=100)
    return stp, fc[0], gc[0], phi1, phi0, gval[0]


def _line_search(f, fprime, xk, pk, gfk, old_fval, old_old_fval):
    """scipy's ``_line_search_wolfe12``: dcsrch, else the pure-Python Wolfe search."""
    ret = _line_search_wolfe1(f, fprime, xk, pk, gfk, old_fval, old_old_fval)
    if ret[0] is None:
        # a rare fallback, as scipy's: its pure-Python Wolfe search, in scipy.optimize —
        # heavy to import, so only here
        from scipy.optimize._linesearch import LineSearchWarning, line_search_wolfe2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LineSearchWarning)
            ret = line_search_wolfe2(f, fprime, xk, pk, gfk, old_fval, old_old_fval,
                                     c1=1e-4, c2=0.9, amax=1e100)
    return ret


def minimize_bfgs(fun, x0, jac=True, *, gtol: float = 1e-5, maxiter: int | None = None,
                  hess_inv0=None):
    """``scipy.optimize.minimize(fun, x0, jac=jac, method="BFGS", options={"gtol": gtol,
    "maxiter": maxiter, "hess_inv0": hess_inv0})``, bit for bit, without importing
    scipy.optimize. ``jac=True``: ``fun`` returns ``(value, gradient)``; else ``jac`` is the
    gradient callable. Returns an object with scipy's fields ``x, fun, jac, hess_inv, nit,
    status, success, message``."""
    if _load_dcsrch() is None:
        # scipy's file layout changed: scipy.optimize after all (heavy to import)
        from scipy import optimize
        options = {"gtol": gtol, "maxiter": maxiter}
        if hess_inv0 is not None:
            options["hess_inv0"] = hess_inv0
        return optimize.minimize(fun, x0, jac=jac, method="BFGS", options=options)
    x0 = np.asarray(x0).flatten()
    if maxiter is None:
        maxiter = len(x0) * 200
    sf = _Function(fun, jac, x0)
    f, myfprime = sf.value, sf.grad
    old_fval = f(x0)
    gfk = myfprime(x0)
    k = 0
    N = len(x0)
    I = np.eye(N, dtype=int)  # noqa: E741 - scipy's name
    Hk = I if hess_inv0 is None else hess_inv0
    old_old_fval = old_fval + np.linalg.norm(gfk) / 2  # an initial step of about 1
    xk = x0
    warnflag = 0
    gnorm = _vecnorm(gfk, ord=np.inf)
    while (gnorm > gtol) and (k < maxiter):
        pk = -np.dot(Hk, gfk)
        found = _line_search(f, myfprime, xk, pk, gfk, old_fval, old_old_fval)
        if found[0] is None:  # no step found (scipy's _LineSearchError): precision loss
            warnflag = 2
            break
        alpha_k, _fc, _gc, old_fval, old_old_fval, gfkp1 = found
        sk = alpha_k * pk
        xkp1 = xk + sk
        xk = xkp1
        if gfkp1 is None:
            gfkp1 = myfprime(xkp1)
        yk = gfkp1 - gfk
        gfk = gfkp1
        k += 1
        gnorm = _vecnorm(gfk, ord=np.inf)
        if gnorm <= gtol:
            break
        if alpha_k * _vecnorm(pk) <= 0 * (0 + _vecnorm(xk)):  # scipy's xrtol = 0 test
            break
        if not np.isfinite(old_fval):
            warnflag = 2
            break
        rhok_inv = np.dot(yk, sk)
        rhok = 1000.0 if rhok_inv == 0. else 1. / rhok_inv
        A1 = I - sk[:, np.newaxis] * yk[np.newaxis, :] * rhok
        A2 = I - yk[:, np.newaxis] * sk[np.newaxis, :] * rhok
        Hk = np.dot(A1, np.dot(Hk, A2)) + (rhok * sk[:, np.newaxis] * sk[np.newaxis, :])
    fval = old_fval
    if warnflag == 2:
        msg = _STATUS["pr_loss"]
    elif k >= maxiter:
        warnflag, msg = 1, _STATUS["maxiter"]
    elif np.isnan(gnorm) or np.isnan(fval) or np.isnan(xk).any():
        warnflag, msg = 3, _STATUS["nan"]
    else:
        msg = _STATUS["success"]
    return SimpleNamespace(fun=fval, jac=gfk, hess_inv=Hk, status=warnflag,
                           success=(warnflag == 0), message=msg, x=xk, nit=k)
