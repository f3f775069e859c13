"""A Pareto/NBD whose likelihood is a one-dimensional quadrature, for the rolling design's
completion model (:func:`retention_lab.impact.rolling.trials._untreated_btyd`).

The model is the Pareto/NBD of Schmittlein, Morrison & Colombo (1987) — Poisson purchases at
rate ``λ ~ Gamma(r, α)`` while alive, an exponential lifetime at rate ``μ ~ Gamma(s, β)`` — and
its estimates are those of :class:`retention_lab.clv.ParetoNBDFitter` (same likelihood, same
parameters, same predictions). Only the evaluation of the likelihood differs. The closed form
(Fader & Hardie 2005 note, eqs. 19–22) needs a Gauss hypergeometric function that is slow to
evaluate where ``s`` and ``β`` are large (nearly homogeneous lifetimes, ``z → 1``): on 3,000
customers of tests/impact/test_rolling_foreign.py one fit took two minutes. Here ``λ`` and
``μ`` are integrated analytically and the lifetime ``ω`` (Lomax: ``P(ω > t) = (β/(β+t))^s``)
numerically:

    L = Γ(r+x)/Γ(r) α^r · [ (β/(β+T))^s (α+T)^{−(r+x)} + ∫_{t_x}^{T} f_ω(ω) (α+ω)^{−(r+x)} dω ]

(alive at ``T``, or died at ``ω`` between the last purchase and ``T``).

The fit maximises it over ``(log r, log α, log m, u)`` with ``m = s/β`` the mean dropout rate and
``u = 1/s ∈ [U_MIN, 50]`` (L-BFGS-B), so that nearly homogeneous lifetimes (``s → ∞``, the
exponential-lifetime limit, which the closed-form fitter can only approach along a flat ridge)
are a bound, not a divergence. At that bound ``s`` is held fixed and the covariance
(``variance_matrix_log_``, the inverse observed information) is over ``r, α, β`` only. With
``G = ((α+ω)/(α+t_x))^{1−k}``, ``k = r+x``, the sharply decaying factor becomes the measure,
``∫ = (α+t_x)^{1−k}/(k−1) ∫_{G(T)}^{1} f_ω(ω(G)) dG``, and the smooth Lomax density is
integrated by Gauss–Legendre on ``G``. The gradient is the exact derivative of that quadrature
(:func:`pnbd_loglik_grad`; it was central differences, five likelihood evaluations a step, and
the fit stopped with a gradient 1000× larger: estimates moved by ~1e-5 relative, the
log-likelihood rose by 4e-8, on the 20k-customer flagship data of benchmarks/flagship_scale.py).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from scipy import linalg, optimize
from scipy.special import digamma, gammaln

from ...clv.base import btyd_arrays, distinct_rows, hessian_from_function, hessian_from_gradient
from ...clv.pareto_nbd import ParetoNBDFitter


def gauss_legendre01(n: int):
    """Gauss–Legendre nodes and weights on (0, 1)."""
    t, w = np.polynomial.legendre.leggauss(n)
    return (t + 1) / 2, w / 2


#: Gauss–Legendre nodes of the lifetime integral (tests/impact/test_rolling.py checks
#: the log-likelihood against the closed form)
N_NODES = 16
_T_NODES, _W_NODES = gauss_legendre01(N_NODES)


#: lower bound of ``u = 1/s``: at it the lifetimes are treated as homogeneous (s = 1e6)
U_MIN = 1e-6


def pnbd_loglik(params, x, tx, T, nodes=None) -> np.ndarray:
    """Per-customer Pareto/NBD log-likelihood by quadrature over the lifetime (module
    docstring); ``nodes``: Gauss–Legendre nodes and weights on (0, 1) (default
    :data:`N_NODES`)."""
    t_n, w_n = nodes if nodes is not None else (_T_NODES, _W_NODES)
    r, alpha, s, beta = (float(v) for v in params)
    k = r + x
    out = -s * np.log1p(T / beta) - k * np.log(alpha + T)       # alive at T
    L = np.log((alpha + T) / (alpha + tx))
    i = np.flatnonzero(L > 0)                                    # else no room to die
    if i.size:
        ki, Li, ai = k[i], L[i], alpha + tx[i]
        km1 = np.where(np.abs(ki - 1) < 1e-12, 1e-12, ki - 1)
        D = -np.expm1(-km1 * Li)                                 # 1 − G(T), G(t_x) = 1
        # α + ω at the nodes: (α + t_x) G^{−1/(k−1)}, G = 1 − D t
        a_om = ai[:, None] * np.exp(-np.log1p(-D[:, None] * t_n[None, :]) / km1[:, None])
        log_f = -(s + 1) * np.log1p((a_om - alpha) / beta)       # Lomax density / (s/β)
        top = log_f.max(axis=1)
        dead = (top + np.log(np.exp(log_f - top[:, None]) @ w_n) + np.log(s / beta)
                + np.log(D / km1) + (1 - ki) * np.log(ai))
        out[i] = np.logaddexp(out[i], dead)
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + out


#: rows per block of :func:`pnbd_loglik_grad`
_BLOCK = 2048


def _dead_term_grad(ki, Li, ai, aTi, alpha, s, beta, t_n, w_n):
    """The died-before-T term of :func:`pnbd_loglik` and its gradient in ``(r, α, s, β)``
    for rows with room to die (``k = r + x``, ``L = log((α+T)/(α+t_x))``, ``α + t_x``,
    ``α + T``)."""
    dL_da = 1 / aTi - 1 / ai
    km1 = np.where(np.abs(ki - 1) < 1e-12, 1e-12, ki - 1)
    E = np.exp(-km1 * Li)
    D = -np.expm1(-km1 * Li)
    dD_dr, dD_da = E * Li, E * km1 * dL_da
    Dt = D[:, None] * t_n[None, :]
    l1 = np.log1p(-Dt)                                       # log(1 − D t)
    a_om = ai[:, None] * np.exp(-l1 / km1[:, None])          # α + ω at the nodes
    q = (a_om - alpha) / beta
    lq = np.log1p(q)
    log_f = -(s + 1) * lq
    top = log_f.max(axis=1)
    ef = np.exp(log_f - top[:, None])
    sw = ef @ w_n
    pi = ef * (w_n[None, :] / sw[:, None])                    # the nodes' shares
    dead = (top + np.log(sw) + np.log(s / beta) + np.log(D / km1) + (1 - ki) * np.log(ai))
    # with c = π (s+1)/(β + a_om − α) and d log(α + ω)/dθ = 1{α}/(α + t_x)
    # + t D'/((1 − D t)(k − 1)) + log(1 − D t) (k − 1)'/(k − 1)²:
    c = pi * ((s + 1) / beta) / (1 + q)
    ca = c * a_om
    S1 = (ca / (1 - Dt)) @ t_n
    S2 = np.sum(ca * l1, axis=1)
    S3 = ca.sum(axis=1)
    S4 = c.sum(axis=1)
    gD = np.column_stack([
        -(dD_dr / km1 * S1 + S2 / km1 ** 2) + dD_dr / D - 1 / km1 - np.log(ai),
        -(S3 / ai + dD_da / km1 * S1 - S4) + dD_da / D + (1 - ki) / ai,
        -np.sum(pi * lq, axis=1) + 1 / s,
        -S4 + (s + 1) / beta - 1 / beta])
    return dead, gD


def pnbd_loglik_grad(params, x, tx, T, nodes=None):
    """:func:`pnbd_loglik` and its exact derivatives in ``(r, α, s, β)``, ``(n, 4)`` — of the
    quadrature itself (the nodes move with ``r`` and ``α`` through ``G``), so that the fit's
    optimum is that of :func:`pnbd_loglik` (tests/impact/test_rolling_scale.py checks them
    against central differences)."""
    t_n, w_n = nodes if nodes is not None else (_T_NODES, _W_NODES)
    r, alpha, s, beta = (float(v) for v in params)
    k = r + x
    aT = alpha + T
    A = -s * np.log1p(T / beta) - k * np.log(aT)                 # alive at T
    gA = np.column_stack([-np.log(aT), -k / aT, -np.log1p(T / beta),
                          s * T / (beta * (beta + T))])
    out, g = A.copy(), gA
    L = np.log(aT / (alpha + tx))
    i = np.flatnonzero(L > 0)                                    # else no room to die
    if i.size:
        # in blocks of rows: the (rows, nodes) temporaries stay in cache (bit-identical; ~1.5x
        # faster at 200k, measured on a loaded machine)
        dead, gD = np.empty(i.size), np.empty((i.size, 4))
        err = np.geterr()         # numpy's error state is per thread: the blocks get the caller's

        def block(lo):
            j = i[lo:lo + _BLOCK]
            with np.errstate(**err):
                dead[lo:lo + _BLOCK], gD[lo:lo + _BLOCK] = _dead_term_grad(
                    k[j], np.log(aT[j] / (alpha + tx[j])), alpha + tx[j], aT[j], alpha, s,
                    beta, t_n, w_n)
        starts = range(0, i.size, _BLOCK)
        if len(starts) < 8:
            for lo in starts:
                block(lo)
        else:
            # the blocks write disjoint rows: two threads on two cores (issue 22), the same
            # numbers as one after the other
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(block, starts))
        both = np.logaddexp(A[i], dead)
        pa = np.exp(A[i] - both)[:, None]
        g = g.copy()
        g[i] = pa * gA[i] + (1 - pa) * gD
        out[i] = both
    front = np.column_stack([digamma(k) - digamma(r) + np.log(alpha),
                             np.full(len(k), r / alpha), np.zeros(len(k)), np.zeros(len(k))])
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + out, front + g


#: bounds of the fits' working parameters ``(log r, log α, log m, u = 1/s)`` (module docstring)
FIT_BOUNDS = [(-15, 15), (-15, 25), (-25, 5), (U_MIN, 50.0)]


#: options of the fits' L-BFGS-B
_FIT_OPTIONS = {"ftol": 1e-14, "gtol": 1e-9, "maxiter": 500}


def _working_nll(z, x, tx, T, w, seen: dict | None = None, loglik_grad=None):
    """The mean negative log-likelihood of the distinct rows ``(x, tx, T)`` with weights ``w``
    at the working parameters ``z`` and its gradient in them: the exact gradient of the
    quadrature (:func:`pnbd_loglik_grad`) by the chain rule, ``r = e^{z0}``, ``α = e^{z1}``,
    ``β = 1/(u m)`` with ``m = e^{z2}``, ``s = 1/u``, ``u = z3``; ``(1e10, 0)`` where not
    finite. ``seen`` (a dict) keeps the per-row log-likelihoods of the last evaluations by
    ``z``, so that the fit's log-likelihood at its optimum is not computed again.
    ``loglik_grad``: another per-row log-likelihood and gradient in ``(r, α, s, β)`` (the
    Pareto/CNBD-k's, :func:`~.renewal.cnbd_loglik_grad`) in place of :func:`pnbd_loglik_grad`."""
    r, alpha, s, beta = p = natural_params(z)
    ll, g = (loglik_grad or pnbd_loglik_grad)(p, x, tx, T)
    if seen is not None:
        seen[np.asarray(z, float).tobytes()] = ll
        while len(seen) > 3:
            seen.pop(next(iter(seen)))
    v = -np.dot(w, ll) / w.sum()
    gr = -(w @ g) / w.sum()
    gz = np.array([gr[0] * r, gr[1] * alpha, -gr[3] * beta, -gr[2] * s ** 2 - gr[3] * beta * s])
    if not (np.isfinite(v) and np.all(np.isfinite(gz))):
        return 1e10, np.zeros(4)
    return v, gz


def _preconditioned_minimum(nll, z0, curvature):
    """L-BFGS-B on ``nll`` (value and gradient in the working parameters) in the coordinates
    ``ζ = Lᵀ(z − z0)/σ``, ``LLᵀ = curvature`` (a Hessian near the optimum, e.g. a subsample's:
    there the Hessian is close to the identity, and the quasi-Newton steps close to Newton's)
    and ``σ`` the length of the Newton step at ``z0`` (L-BFGS-B's first trial step has unit
    length: so it is that Newton step). Issue 22: 6 likelihood evaluations instead of 15 at
    200,000 customers of the flagship, the optimum the same to 4e-8 relative, its
    log-likelihood to 1e-15. Without box bounds in those coordinates (points outside
    :data:`FIT_BOUNDS` count as non-finite): None, and the caller takes the bounded fit, where
    ``curvature`` is not positive definite, the fit did not converge to a stationary point, or
    that point is at the bounds (``s`` at its homogeneous-lifetime bound)."""
    try:
        L = np.linalg.cholesky(np.asarray(curvature, float))
    except np.linalg.LinAlgError:
        return None
    lo, hi = np.array(FIT_BOUNDS).T
    v0, g0 = nll(z0)
    step = linalg.solve_triangular(L, g0, lower=True)
    sigma = float(np.sqrt(step @ step))
    if not (np.all(np.isfinite(L)) and v0 < 1e10 and sigma > 0):
        return None

    def f(zeta):
        if not zeta.any():                       # the start, evaluated above
            return v0, sigma * step
        z = z0 + sigma * linalg.solve_triangular(L.T, zeta, lower=False)
        if not np.all((z >= lo) & (z <= hi)):    # outside the bounds: as a non-finite value
            return 1e10, np.zeros(4)
        v, g = nll(z)
        return v, sigma * linalg.solve_triangular(L, g, lower=True)
    res = optimize.minimize(f, np.zeros(4), method="L-BFGS-B", jac=True, options=_FIT_OPTIONS)
    z = z0 + sigma * linalg.solve_triangular(L.T, res.x, lower=False)
    # converged to a stationary point (Newton decrement below 1e-12 of the mean likelihood,
    # not stopped at the wall of the bounds) inside the bounds
    stationary = float(np.sum((np.asarray(res.jac) / sigma) ** 2)) < 1e-12
    if not (res.success and stationary and np.all((z > lo) & (z < hi)) and z[3] > 1.01 * U_MIN):
        return None
    res.x = z
    return res


def working_hessian(z, x, tx, T, w, step: float = 1e-4):
    """Central differences of the gradient of :func:`_working_nll` at ``z`` (symmetrised)."""
    return hessian_from_gradient(lambda t: _working_nll(t, x, tx, T, w)[1], np.asarray(z, float),
                                 step=step)


def natural_params(z) -> np.ndarray:
    """``(r, α, s, β)`` from the working parameters ``(log r, log α, log m, u)``, ``m = s/β``,
    ``u = 1/s``."""
    r, alpha, m = np.exp(z[:3])
    s = 1.0 / z[3]
    return np.array([r, alpha, s, s / m])


def inverse_information(H, names) -> pd.DataFrame:
    """The covariance (inverse observed information ``H``, indexed by ``names``), NaN where
    ``H`` is singular or not positive definite."""
    try:
        evals = np.linalg.eigvalsh(H)
        cov = (np.linalg.inv(H) if evals.min() > 1e-10 * max(1.0, evals.max())
               else np.full(H.shape, np.nan))
    except np.linalg.LinAlgError:
        cov = np.full(H.shape, np.nan)
    return pd.DataFrame(cov, index=names, columns=names)


class QuadratureParetoNBD(ParetoNBDFitter):
    """:class:`~retention_lab.clv.ParetoNBDFitter` with the likelihood of :func:`pnbd_loglik`
    (the same model and predictions; see the module docstring)."""

    _step = 1e-5

    def _prepare(self, x, tx, T):
        return dict(x=np.asarray(x, float), tx=np.asarray(tx, float), T=np.asarray(T, float))

    def _subset(self, d, idx):
        return self._prepare(d["x"][idx], d["tx"][idx], d["T"][idx])

    def _loglik(self, params, d):
        return pnbd_loglik(params, d["x"], d["tx"], d["T"])

    def _loglik_grad(self, params, d):
        return pnbd_loglik_grad(np.asarray(params, float), d["x"], d["tx"], d["T"])

    @property
    def variance_matrix_log_(self) -> pd.DataFrame:
        """The inverse observed information in the log parameters (central second differences
        of the quadrature log-likelihood; over ``r, α, β`` when ``s`` is at its bound; NaN where
        the information is singular), computed on first access after :meth:`fit`."""
        if self.__dict__.get("_variance") is None:
            if "variance_matrix_log_" in self.__dict__:      # pickled before it was lazy
                return self.__dict__["variance_matrix_log_"]
            if self.__dict__.get("_information_inputs") is None:
                raise AttributeError("variance_matrix_log_: the model is not fitted")
            self._variance = self._inverse_information(*self._information_inputs)
            self._information_inputs = None
        return self._variance

    @variance_matrix_log_.setter
    def variance_matrix_log_(self, value):
        self._variance, self._information_inputs = value, None

    def _inverse_information(self, params, x, tx, T_, w) -> pd.DataFrame:
        names = list(self._param_names)
        free = [n for n in names if not (self.at_bound_ and n == "s")]
        idx = [names.index(n) for n in free]

        def total(theta):
            p = params.copy()
            p[idx] = np.exp(theta)
            return -np.dot(w, pnbd_loglik(p, x, tx, T_))
        return inverse_information(hessian_from_function(total, np.log(params[idx])), free)

    def working_hessian(self):
        """The Hessian of the mean negative log-likelihood in the working parameters
        ``(log r, log α, log m, u)`` at the estimate (:func:`working_hessian`), to precondition
        a fit to more customers (:meth:`fit`'s ``curvature``); None at the ``s`` bound or once
        the covariance was computed."""
        inputs = self.__dict__.get("_information_inputs")
        if inputs is None or self.at_bound_:
            return None
        params, x, tx, T_, w = inputs
        r, alpha, s, beta = params
        return working_hessian(np.array([np.log(r), np.log(alpha), np.log(s / beta), 1 / s]),
                               x, tx, T_, w)

    def probability_alive(self, frequency, recency, T):
        """1 where the last purchase is at ``T`` (a Pareto/NBD customer is alive at their
        purchases), else the closed form."""
        x, tx, T = self._xs(frequency, recency, T)
        out = np.ones(np.broadcast(x, tx, T).shape)
        gap = np.broadcast_to(tx < T, out.shape)
        if gap.any():
            xb, txb, Tb = (np.broadcast_to(v, out.shape)[gap] for v in (x, tx, T))
            out[gap] = super().probability_alive(xb, txb, Tb)
        return out

    def _store_optimum(self, z):
        """Set ``params_``, ``_log_params`` and ``at_bound_`` (``s`` held at ``1/U_MIN``) from
        the optimum ``z`` of the working parameters; returns ``(params, names)``."""
        params = natural_params(z)
        self.at_bound_ = bool(z[3] <= 1.01 * U_MIN)
        names = list(self._param_names)
        self.params_ = pd.Series(params, index=names, name="coef")
        self._log_params = np.log(params)
        return params, names

    def fit(self, data, recency=None, T=None, weights=None, init=None, curvature=None, **_):
        """Maximum likelihood (module docstring), started at ``init`` (parameters ``r, alpha,
        s, beta``, e.g. a fit to a subsample: :func:`~.gcomputation.choose_completion_model`)
        when given, and with ``curvature`` (the Hessian of the mean negative log-likelihood in
        the working parameters at ``init``, e.g. the subsample fit's :meth:`working_hessian`)
        preconditioned by it (:func:`_preconditioned_minimum`); sets ``params_``,
        ``log_likelihood_``, ``at_bound_`` (``s`` held at ``1/U_MIN``) and
        ``variance_matrix_log_`` (computed when first read)."""
        x, tx, T_, w = btyd_arrays(data, recency, T, weights)
        keep = w > 0
        (x, tx, T_), _, w = distinct_rows(x[keep], tx[keep], T_[keep], weights=w[keep])
        self.time_unit_ = "D"
        self.n_customers_ = float(w.sum())

        seen: dict = {}

        def nll(z):
            return _working_nll(z, x, tx, T_, w, seen)
        z0 = np.array([0.0, np.log(np.average(T_, weights=w) / np.average(x + 1, weights=w)),
                       -np.log(2 * np.average(T_, weights=w) + 1.0), 1.0])
        if init is not None:
            r0, a0, s0, b0 = (float(init[n]) for n in ("r", "alpha", "s", "beta"))
            z0 = np.clip([np.log(r0), np.log(a0), np.log(s0 / b0), 1 / s0],
                         [b[0] for b in FIT_BOUNDS], [b[1] for b in FIT_BOUNDS])
        res = (_preconditioned_minimum(nll, z0, curvature)
               if init is not None and curvature is not None else None)
        if res is None:
            res = optimize.minimize(nll, z0, method="L-BFGS-B", jac=True, bounds=FIT_BOUNDS,
                                    options=_FIT_OPTIONS)
        params, names = self._store_optimum(res.x)
        # pnbd_loglik_grad's log-likelihood is pnbd_loglik's, bit for bit (test_rolling_speed):
        # the optimum's, when among the last evaluations, is not computed again
        ll = seen.get(np.asarray(res.x, float).tobytes())
        self.log_likelihood_ = float(np.dot(w, pnbd_loglik(params, x, tx, T_) if ll is None
                                            else ll))
        # the covariance costs 33 likelihood evaluations: computed when first read (the
        # rolling design reads it only when this model is the chosen completion model)
        self._variance = None
        self._information_inputs = (params, x, tx, T_, w)
        self.converged_ = bool(res.success)
        return self
