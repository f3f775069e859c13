"""Numerical inference helpers shared by the maximum-likelihood fitters.

Central-difference Hessians (of an analytic gradient, or second differences of a scalar
function), a central-difference gradient, and the covariance as the inverse of the observed
information with a :class:`~retention_lab.errors.ConvergenceWarning` where that information is
singular — the standard-error machinery described in :mod:`retention_lab.clv.base`, which
re-exports every name here. Central differences: Nocedal & Wright, *Numerical Optimization*
(2nd ed., 2006), § 8.1.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import ConvergenceWarning

__all__ = ["hessian_from_gradient", "hessian_from_function", "numerical_gradient",
           "covariance_from_information"]


def hessian_from_gradient(grad, theta: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """Symmetrised central-difference Jacobian of an analytic gradient."""
    k = len(theta)
    H = np.empty((k, k))
    for i in range(k):
        h = step * max(1.0, abs(theta[i]))
        e = np.zeros(k)
        e[i] = h
        H[:, i] = (grad(theta + e) - grad(theta - e)) / (2 * h)
    return (H + H.T) / 2


def hessian_from_function(fun, theta: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central second differences of a scalar function."""
    k = len(theta)
    H = np.empty((k, k))
    f0 = fun(theta)
    hs = step * np.maximum(1.0, np.abs(theta))
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = hs[i]
        H[i, i] = (fun(theta + ei) - 2 * f0 + fun(theta - ei)) / hs[i] ** 2
        for j in range(i):
            ej = np.zeros(k)
            ej[j] = hs[j]
            H[i, j] = H[j, i] = (fun(theta + ei + ej) - fun(theta + ei - ej)
                                 - fun(theta - ei + ej) + fun(theta - ei - ej)) / (4 * hs[i] * hs[j])
    return H


def numerical_gradient(fun, theta: np.ndarray, step: float = 1e-6) -> np.ndarray:
    g = np.empty_like(theta)
    for i in range(len(theta)):
        h = step * max(1.0, abs(theta[i]))
        e = np.zeros_like(theta)
        e[i] = h
        g[i] = (fun(theta + e) - fun(theta - e)) / (2 * h)
    return g


def covariance_from_information(H: np.ndarray, warning: str, stacklevel: int = 3) -> np.ndarray:
    """The inverse of the observed information ``H``; NaNs and a :class:`ConvergenceWarning`
    saying ``warning`` where ``H`` is singular or not positive definite (relative eigenvalue
    floor 1e-10), so that a fit on the boundary still gives its point estimates."""
    try:
        evals = np.linalg.eigvalsh(H)
        if evals.min() <= 1e-10 * max(1.0, evals.max()):
            raise np.linalg.LinAlgError("not positive definite")
        return np.linalg.inv(H)
    except np.linalg.LinAlgError:
        warnings.warn(warning, ConvergenceWarning, stacklevel=stacklevel)
        return np.full(H.shape, np.nan)
