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
integrated by Gauss–Legendre on ``G``. The gradient is by central differences in the log
parameters (eight likelihood evaluations, each a few milliseconds).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import gammaln

from ...clv.base import btyd_arrays, distinct_rows, hessian_from_function
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
        params = np.asarray(params, float)
        ll = self._loglik(params, d)
        g = np.empty((len(ll), len(params)))
        for j in range(len(params)):
            up, dn = params.copy(), params.copy()
            up[j] *= np.exp(self._step)
            dn[j] *= np.exp(-self._step)
            g[:, j] = (self._loglik(up, d) - self._loglik(dn, d)) / (2 * self._step * params[j])
        return ll, g

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

    def fit(self, data, recency=None, T=None, weights=None, **_):
        """Maximum likelihood (module docstring); sets ``params_``, ``log_likelihood_``,
        ``variance_matrix_log_`` (NaN where the information is singular) and ``at_bound_``
        (``s`` held at ``1/U_MIN``)."""
        x, tx, T_, w = btyd_arrays(data, recency, T, weights)
        keep = w > 0
        (x, tx, T_), _, w = distinct_rows(x[keep], tx[keep], T_[keep], weights=w[keep])
        self.time_unit_ = "D"
        self.n_customers_ = float(w.sum())

        def natural(z):
            r, alpha, m = np.exp(z[:3])
            s = 1.0 / z[3]
            return np.array([r, alpha, s, s / m])

        def nll(z):
            v = -np.dot(w, pnbd_loglik(natural(z), x, tx, T_)) / w.sum()
            return v if np.isfinite(v) else 1e10
        z0 = np.array([0.0, np.log(np.average(T_, weights=w) / np.average(x + 1, weights=w)),
                       -np.log(2 * np.average(T_, weights=w) + 1.0), 1.0])
        bounds = [(-15, 15), (-15, 25), (-25, 5), (U_MIN, 50.0)]
        res = optimize.minimize(nll, z0, method="L-BFGS-B", bounds=bounds,
                                options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 500})
        params = natural(res.x)
        self.at_bound_ = bool(res.x[3] <= 1.01 * U_MIN)
        names = list(self._param_names)
        self.params_ = pd.Series(params, index=names, name="coef")
        self._log_params = np.log(params)
        self.log_likelihood_ = float(np.dot(w, pnbd_loglik(params, x, tx, T_)))
        free = [n for n in names if not (self.at_bound_ and n == "s")]
        idx = [names.index(n) for n in free]

        def total(theta):
            p = params.copy()
            p[idx] = np.exp(theta)
            return -np.dot(w, pnbd_loglik(p, x, tx, T_))
        H = hessian_from_function(total, np.log(params[idx]))
        try:
            evals = np.linalg.eigvalsh(H)
            cov = (np.linalg.inv(H) if evals.min() > 1e-10 * max(1.0, evals.max())
                   else np.full(H.shape, np.nan))
        except np.linalg.LinAlgError:
            cov = np.full(H.shape, np.nan)
        self.variance_matrix_log_ = pd.DataFrame(cov, index=free, columns=free)
        self.converged_ = bool(res.success)
        return self
