"""Regular purchase timing for the rolling design's completion model: the Pareto/CNBD-k, a
Pareto/NBD whose purchases are a renewal process with Erlang-k gaps (Platzer & Reutterer 2016,
*Marketing Science* 35(5), the Pareto/GGG with the gap shape fixed at an integer ``k``;
Reutterer, Platzer & Schröder 2021, *IJRM* 38(3), the CNBD-k with a BG dropout; BTYDplus
``pcnbd``/``mbgcnbd``). ``k = 1`` is the Pareto/NBD. The same timing with the BG/NBD's dropout
at purchases, the BG/CNBD-k, is in :mod:`retention_lab.impact.rolling.renewal_bg`.

The model
---------
While alive, a customer's gaps between purchase days are Erlang(k, rate ``kλ``) (mean ``1/λ``,
coefficient of variation ``1/√k``), starting at the first purchase; ``λ ~ Gamma(r, α)``; the
lifetime is exponential at rate ``μ ~ Gamma(s, β)`` (a Lomax lifetime), independent of ``λ``.
With ``x`` repeat purchase days, the last at ``t_x``, observed to ``T`` and ``u`` the time from the
last purchase to ``T`` (alive) or to the death ``ω`` (dead in ``(t_x, T]``), the Erlang gaps give
``λ^{kx} e^{−kλ t_x}`` times ``C = k^{kx} Π g_j^{k−1} / Γ(k)^x`` (free of the parameters), and no
purchase in ``u`` has probability ``Σ_{m<k} e^{−kλu} (kλu)^m / m!``. Integrating ``λ``:

    L_λ(u) = Σ_{m<k} (ku)^m/m! · Γ(r+kx+m)/Γ(r) · α^r (α + k t_x + k u)^{−(r+kx+m)}

    L = C · [ (β/(β+T))^s L_λ(T − t_x) + ∫_{t_x}^{T} f_ω(ω) L_λ(ω − t_x) dω ]

The lifetime integral is computed as in :mod:`retention_lab.impact.rolling.completion`: the
substitution ``G = ((α+kω)/(α+kt_x))^{1−(r+kx)}`` takes up the sharply decaying factor, and what
is left — the Lomax density times ``Σ_m Γ(r+kx+m)/(Γ(r+kx) m!) z^m``, ``z = k(ω−t_x)/(α+kω)`` —
is smooth on ``G`` and integrated by Gauss–Legendre (16 nodes for k ≤ 2, 32 above; the error
against 64 nodes is below 0.001 a customer). ``C`` does not move the estimates of
``(r, α, s, β)`` for a given ``k``, but it is in ``log_likelihood_`` so that the likelihoods of
different ``k`` (and of the BG/NBD and Pareto/NBD, ``k = 1``, ``C = 1``) can be compared: the
completion keeps the largest (:func:`retention_lab.impact.rolling.gcomputation.choose_completion_model`).

Why: with gamma(2) gaps, the Poisson models' (x, T) carry half the information about ``λ``
that regular gaps carry (the gamma(2) posterior is ``Gamma(r + 2x,
α + 2T)``), so they shrink the heavy buyers who enrol later toward the mean, and they count
λ·t purchases after a purchase where a renewal process makes fewer at first.

Predictions from a purchase (``t_x = T``, the only case the completion needs): the customer is
alive, ``λ | x, T ~ Gamma(r + kx, α + kT)`` and ``μ | T ~ Gamma(s, β + T)``. Seen as a Poisson
process of rate ``kλ`` of which every k-th event is a purchase, the phase (events since the last
purchase, mod k) after ``t`` from a purchase is ``j`` with probability
``(1/k) Σ_l ω_l^{−j} exp(kλt(ω_l − 1))`` (``ω_l`` the k-th roots of unity); the renewal density is
``λ Σ_l ω_l exp(−kλ(1 − ω_l) t)``, so the expected purchases in ``t`` before death are
``λ Σ_l ω_l (1 − e^{−c_l t}) / c_l`` with ``c_l = kλ(1 − ω_l) + μ``; from phase ``j`` a purchase
comes within ``R`` before death with probability
``(kλ/(kλ+μ))^{k−j} P(Gamma(k−j, kλ+μ) ≤ R)``. ``λ`` and ``μ`` are integrated by Gauss rules
of their Gamma posteriors (generalized Gauss–Laguerre by Golub–Welsch, :func:`gauss_gamma`;
12 × 6 nodes, within 0.001 of 40 × 30) and the ``l = 0`` term of the expectation in closed form.

Why (issue 19), measured: on the gamma(2)-gap simulator of tests/impact/test_rolling_foreign.py
the Pareto/NBD completion under-predicted the completed rows by 0.092 purchase days and 0.039
retention (the whole bias of the effect); the likelihood keeps the Pareto/CNBD-2 there and the
errors fall to −0.024 and −0.003 (see :func:`retention_lab.impact.rolling.gcomputation.\
_untreated_btyd`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, special
from scipy.special import digamma, gammaln

from ...clv.base import btyd_arrays, distinct_rows, hessian_from_function
from .completion import (
    _T_NODES,
    _W_NODES,
    FIT_BOUNDS,
    QuadratureParetoNBD,
    _working_nll,
    gauss_legendre01,
    inverse_information,
    natural_params,
)


def _golub_welsch(diag: np.ndarray, off: np.ndarray):
    """Nodes and weights of the Gauss rules of a batch of Jacobi matrices (Golub & Welsch 1969,
    *Math. Comp.* 23): ``diag`` (m, n), ``off`` (m, n − 1); the weights sum to 1."""
    m, n = diag.shape
    J = np.zeros((m, n, n))
    i = np.arange(n)
    J[:, i, i] = diag
    J[:, i[:-1], i[1:]] = off
    J[:, i[1:], i[:-1]] = off
    nodes, vec = np.linalg.eigh(J)
    return nodes, vec[:, 0, :] ** 2


def gauss_gamma(shape, n_nodes: int):
    """Gauss rule for ``E f(G)``, ``G ~ Gamma(shape, 1)`` (generalized Gauss–Laguerre), one
    row per entry of ``shape``: ``(nodes, weights)``, each (len(shape), n_nodes); exact for
    polynomials of degree < 2 n_nodes, and no overflow at large shapes."""
    u, inv = np.unique(np.asarray(shape, float), return_inverse=True)
    j = np.arange(n_nodes, dtype=float)[None, :]
    a = u[:, None] - 1
    diag = 2 * j + a + 1
    off = np.sqrt(j[:, 1:] * (j[:, 1:] + a))
    nodes, w = _golub_welsch(diag, off)
    return nodes[inv.reshape(-1)], w[inv.reshape(-1)]


def gauss_beta(a: float, b, n_nodes: int):
    """Gauss rule for ``E f(P)``, ``P ~ Beta(a, b)`` (Gauss–Jacobi on ``2P − 1``), one row per
    entry of ``b``: ``(nodes in (0, 1), weights)``."""
    u, inv = np.unique(np.asarray(b, float), return_inverse=True)
    al, be = u[:, None] - 1, a - 1.0                  # weight (1 − x)^al (1 + x)^be
    j = np.arange(n_nodes, dtype=float)[None, :]
    s2 = 2 * j + al + be
    with np.errstate(divide="ignore", invalid="ignore"):
        diag = np.where(j == 0, (be - al) / (al + be + 2), (be ** 2 - al ** 2) / (s2 * (s2 + 2)))
        jj, ss = j[:, 1:], s2[:, 1:]
        # j = 1 with (1 + al + be) cancelled (it vanishes when a + b = 1)
        off = np.sqrt(np.where(jj == 1, 4 * (1 + al) * (1 + be) / (ss ** 2 * (ss + 1)),
                               4 * jj * (jj + al) * (jj + be) * (jj + al + be)
                               / (ss ** 2 * (ss + 1) * (ss - 1))))
    nodes, w = _golub_welsch(diag, off)
    return ((nodes + 1) / 2)[inv.reshape(-1)], w[inv.reshape(-1)]


#: Gauss–Legendre nodes of the lifetime integral for k >= 3 (the polynomial in z needs more
#: than the 16 of k <= 2 for a likelihood error below about 1e-3 per customer)
_NODES_32 = gauss_legendre01(32)

#: largest Erlang shape tried by the completion (k = 1 is the Pareto/NBD)
MAX_K = 4


def cnbd_loglik(params, x, tx, T, k: int, nodes=None) -> np.ndarray:
    """Per-customer Pareto/CNBD-k log-likelihood without the gap constant ``log C`` (module
    docstring), by quadrature over the lifetime; for ``k = 1`` it is
    :func:`retention_lab.impact.rolling.completion.pnbd_loglik`."""
    t_n, w_n = nodes if nodes is not None else (_T_NODES, _W_NODES) if k <= 2 else _NODES_32
    r, alpha, s, beta = (float(v) for v in params)
    K0 = r + k * x
    base = gammaln(K0) - gammaln(r) + r * np.log(alpha)
    u_alive = T - tx
    # alive at T: Σ_m Γ(K0+m)/Γ(K0)/m! (ku)^m (α+kT)^{−m}, u = T − t_x
    zT = k * u_alive / (alpha + k * T)
    alive = (base - s * np.log1p(T / beta) - K0 * np.log(alpha + k * T)
             + np.log(_poly(K0, zT, k)))
    L = np.log((alpha + k * T) / (alpha + k * tx))
    i = np.flatnonzero(L > 0)                                     # else no room to die
    if i.size:
        # died at ω in (t_x, T]: substitute G = ((α+kω)/(α+kt_x))^{1−K0} (the sharply decaying
        # factor, as in completion.pnbd_loglik); what is left, the Lomax density times the
        # polynomial in z = k(ω − t_x)/(α + kω) ∈ [0, 1), is smooth on G
        Ki, Li, ai, txi = K0[i], L[i], alpha + k * tx[i], tx[i]
        km1 = np.where(np.abs(Ki - 1) < 1e-12, 1e-12, Ki - 1)
        D = -np.expm1(-km1 * Li)
        a_om = ai[:, None] * np.exp(-np.log1p(-D[:, None] * t_n[None, :]) / km1[:, None])
        om = (a_om - alpha) / k                                   # ω at the nodes
        log_f = -(s + 1) * np.log1p(om / beta)                    # Lomax density / (s/β)
        if k > 1:
            log_f = log_f + np.log(_poly(Ki[:, None], k * (om - txi[:, None]) / a_om, k))
        top = log_f.max(axis=1)
        dead = (top + np.log(np.exp(log_f - top[:, None]) @ w_n) + np.log(s / beta)
                + np.log(D / km1) + (1 - Ki) * np.log(ai) - np.log(k) + base[i])
        alive[i] = np.logaddexp(alive[i], dead)
    return alive


def _poly(K, z, k: int):
    """``Σ_{m<k} Γ(K+m)/(Γ(K) m!) z^m`` (Horner; 1 for k = 1)."""
    out = np.ones(np.broadcast(K, z).shape)
    for m in range(k - 1, 0, -1):
        out = 1 + out * z * (K + m - 1) / m
    return out


#: rows per block of :func:`cnbd_loglik_grad` (its rows × nodes temporaries stay small)
_GRAD_BLOCK = 4096


def cnbd_loglik_grad(params, x, tx, T, k: int, nodes=None):
    """:func:`cnbd_loglik` (the same operations, so the same numbers) and its exact derivatives
    in ``(r, α, s, β)``, ``(n, 4)``, of the quadrature itself (the nodes move with ``r`` and
    ``α`` through ``G``), as :func:`~.completion.pnbd_loglik_grad` for k = 1: with ``ω`` at the
    nodes, ``d log(α + kω) = d log(α + k t_x) + t dD/((1 − D t)(K − 1)) + log(1 − D t) d(K − 1)
    /(K − 1)²`` and the node shares ``π`` of the lifetime sum, ``d dead = Σ π d log f + d(log
    s/β + log D/(K − 1) + (1 − K) log(α + k t_x))``. Issue 22: the Pareto/CNBD-k fits took
    their gradient by finite differences (five likelihoods per gradient)."""
    t_n, w_n = nodes if nodes is not None else (_T_NODES, _W_NODES) if k <= 2 else _NODES_32
    r, alpha, s, beta = (float(v) for v in params)
    K0 = r + k * x
    base = gammaln(K0) - gammaln(r) + r * np.log(alpha)
    u_alive = T - tx
    aT = alpha + k * T
    zT = k * u_alive / aT
    alive = (base - s * np.log1p(T / beta) - K0 * np.log(alpha + k * T)
             + np.log(_poly(K0, zT, k)))
    P, P_K, P_z = _poly_grad(K0, zT, k)
    g = np.column_stack([-np.log(aT) + P_K / P, -K0 / aT - P_z / P * zT / aT,
                         -np.log1p(T / beta), s * T / (beta * (beta + T))])
    L = np.log((alpha + k * T) / (alpha + k * tx))
    i = np.flatnonzero(L > 0)
    for lo in range(0, i.size, _GRAD_BLOCK):
        j = i[lo:lo + _GRAD_BLOCK]
        dead, gD = _cnbd_dead_grad(K0[j], L[j], alpha + k * tx[j], aT[j], tx[j], base[j],
                                   alpha, s, beta, k, t_n, w_n)
        both = np.logaddexp(alive[j], dead)
        pa = np.exp(alive[j] - both)[:, None]
        g[j] = pa * g[j] + (1 - pa) * gD
        alive[j] = both
    g[:, 0] += digamma(K0) - digamma(r) + np.log(alpha)
    g[:, 1] += r / alpha
    return alive, g


def _cnbd_dead_grad(Ki, Li, ai, aTi, txi, base_i, alpha, s, beta, k, t_n, w_n):
    """The died-before-T term of :func:`cnbd_loglik` (the same operations) and its gradient
    in ``(r, α, s, β)`` without that of ``base`` (:func:`cnbd_loglik_grad`)."""
    km1 = np.where(np.abs(Ki - 1) < 1e-12, 1e-12, Ki - 1)
    D = -np.expm1(-km1 * Li)
    E = np.exp(-km1 * Li)
    dD_dr, dD_da = E * Li, E * km1 * (1 / aTi - 1 / ai)
    Dt = D[:, None] * t_n[None, :]
    l1 = np.log1p(-Dt)
    a_om = ai[:, None] * np.exp(-l1 / km1[:, None])
    om = (a_om - alpha) / k
    lq = np.log1p(om / beta)
    log_f = -(s + 1) * lq
    # d log(α + kω) in r and α
    dla_r = (t_n[None, :] * dD_dr[:, None] / (1 - Dt) + l1 / km1[:, None]) / km1[:, None]
    dla_a = 1 / ai[:, None] + t_n[None, :] * dD_da[:, None] / ((1 - Dt) * km1[:, None])
    dom_r, dom_a = a_om * dla_r / k, (a_om * dla_a - 1) / k
    dlf_dom = -(s + 1) / (beta + om)
    dlf_r, dlf_a = dlf_dom * dom_r, dlf_dom * dom_a
    if k > 1:
        zq = k * (om - txi[:, None]) / a_om
        log_f = log_f + np.log(_poly(Ki[:, None], zq, k))
        Pq, Pq_K, Pq_z = _poly_grad(Ki[:, None], zq, k)
        dz_r = (k * dom_r - zq * a_om * dla_r) / a_om
        dz_a = (k * dom_a - zq * a_om * dla_a) / a_om
        dlf_r = dlf_r + (Pq_K + Pq_z * dz_r) / Pq
        dlf_a = dlf_a + Pq_z * dz_a / Pq
    top = log_f.max(axis=1)
    ef = np.exp(log_f - top[:, None])
    sw = ef @ w_n
    dead = (top + np.log(sw) + np.log(s / beta)
            + np.log(D / km1) + (1 - Ki) * np.log(ai) - np.log(k) + base_i)
    pi = ef * (w_n[None, :] / sw[:, None])
    gD = np.column_stack([
        np.sum(pi * dlf_r, axis=1) + dD_dr / D - 1 / km1 - np.log(ai),
        np.sum(pi * dlf_a, axis=1) + dD_da / D + (1 - Ki) / ai,
        -np.sum(pi * lq, axis=1) + 1 / s,
        np.sum(pi * (om / (beta + om)), axis=1) * (s + 1) / beta - 1 / beta])
    return dead, gD


def _poly_grad(K, z, k: int):
    """:func:`_poly` and its derivatives in ``K`` and ``z``."""
    P, dK, dz = np.ones_like(z), np.zeros_like(z), np.zeros_like(z)
    c, dc = np.ones_like(z), np.zeros_like(z)         # c_m = Π_{i<m} (K+i) / m!, dc_m/dK
    for m in range(1, k):
        dc = (dc * (K + m - 1) + c) / m
        c = c * (K + m - 1) / m
        P = P + c * z ** m
        dK = dK + dc * z ** m
        dz = dz + m * c * z ** (m - 1)
    return P, dK, dz


def _roots(k: int) -> list:
    """The k-th roots of unity up to conjugation, with multiplicities: for an expression ``f``
    with real coefficients, ``Σ_l f(ω_l) = Σ mult · Re f(root)`` (1 and −1 are kept real, so
    their terms are real arithmetic)."""
    out = [(1.0, 1)]
    for ell in range(1, k // 2 + 1):
        out.append((-1.0, 1) if 2 * ell == k else (np.exp(2j * np.pi * ell / k), 2))
    return out


def gap_constant(x, log_gaps, k: int) -> np.ndarray:
    """``log C`` of the module docstring: ``kx log k + (k − 1) Σ log g_j − x log Γ(k)``."""
    return k * x * np.log(k) + (k - 1) * log_gaps - x * gammaln(k)


class _ErlangFit:
    """What the Pareto/CNBD-k and BG/CNBD-k share: the rows of a fit with the gap constant, the
    lazily computed covariance, per-row scores by central differences (for the completion's
    parameter-uncertainty term), and predictions from a purchase only."""

    k = 2
    _step = 1e-5
    _cov = None
    _cov_fn = None

    @property
    def variance_matrix_log_(self):
        """Inverse observed information in the log parameters, computed on first use (the
        completion fits several k and needs it for the one it keeps)."""
        if self._cov is None and self._cov_fn is not None:
            self._cov, self._cov_fn = self._cov_fn(), None
        return self._cov

    @variance_matrix_log_.setter
    def variance_matrix_log_(self, value):
        self._cov, self._cov_fn = value, None

    def _prepare(self, x, tx, T):
        return dict(x=np.asarray(x, float), tx=np.asarray(tx, float), T=np.asarray(T, float))

    def _subset(self, d, idx):
        return self._prepare(d["x"][idx], d["tx"][idx], d["T"][idx])

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

    def _fit_rows(self, data, recency, T, weights):
        """Distinct ``(x, t_x, T)`` rows with weights and the summed gap constant."""
        x_all, tx_all, T_all, w_all = btyd_arrays(data, recency, T, weights)
        if not (isinstance(data, pd.DataFrame) and "log_gaps" in data.columns):
            raise ValueError(f"{type(self).__name__}.fit needs the column 'log_gaps' (each "
                             "customer's sum of log gaps between purchase days)")
        log_gaps = data["log_gaps"].to_numpy(float)
        keep = w_all > 0
        const = float(np.dot(w_all[keep], gap_constant(x_all[keep], log_gaps[keep], self.k)))
        (x, tx, T_), _, w = distinct_rows(x_all[keep], tx_all[keep], T_all[keep],
                                          weights=w_all[keep])
        self.time_unit_ = "D"
        self.n_customers_ = float(w.sum())
        return x, tx, T_, w, const

    def _at_purchase(self, frequency, recency, T):
        x, tx, T = self._xs(frequency, recency, T)
        if np.any(np.broadcast_to(tx < T, np.broadcast(x, tx, T).shape)):
            raise NotImplementedError(f"{self._model_name} predicts from a purchase only "
                                      "(recency == T)")
        return x, tx, T


class ParetoCNBD(_ErlangFit, QuadratureParetoNBD):
    """Pareto/CNBD-k with the Erlang shape ``k`` fixed (module docstring); the parameters and
    their covariance are named as the Pareto/NBD's (``r, alpha, s, beta``). ``fit`` needs the
    column ``log_gaps`` (each customer's sum of log gaps between purchase days, in days) in the
    summary for the likelihood constant."""

    _model_name = "Pareto/CNBD-2"
    family = "pareto"

    def probability_alive(self, frequency, recency, T):
        """1 at a purchase (``recency == T``), the only case the completion needs."""
        x, tx, T = self._at_purchase(frequency, recency, T)
        return np.ones(np.broadcast(x, tx, T).shape)

    def _loglik(self, params, d):
        return cnbd_loglik(params, d["x"], d["tx"], d["T"], self.k)

    def fit(self, data, recency=None, T=None, weights=None, init=None,
            gradient: str = "differences", **_):
        """Maximum likelihood over ``(log r, log α, log s/β, 1/s)`` as
        :meth:`QuadratureParetoNBD.fit`, started at ``init`` (parameters ``r, alpha, s, beta``,
        e.g. the fit of k − 1) when given; sets ``params_``, ``log_likelihood_`` (with the gap
        constant), ``variance_matrix_log_`` (lazily), ``at_bound_``. ``gradient="exact"``:
        L-BFGS-B with :func:`cnbd_loglik_grad` instead of its finite differences (issue 22: a
        third of the CPU; the optimum's likelihood as high or higher — the differences stop
        short on the flat ridge of large ``s`` and ``β``, whose parameters then move by up to
        2e-3 relative, ``r`` and ``α`` by 6e-6 on tests/impact/test_rolling_renewal.py's
        simulator — so only where the fit decides but is not kept: the screening of
        :func:`~.gcomputation._regular_timing_pays`)."""
        x, tx, T_, w, const = self._fit_rows(data, recency, T, weights)
        k = self.k

        if gradient == "exact":
            def nll(z):
                return _working_nll(z, x, tx, T_, w,
                                    loglik_grad=lambda p, *a: cnbd_loglik_grad(p, *a, k))
        else:
            def nll(z):
                v = -np.dot(w, cnbd_loglik(natural_params(z), x, tx, T_, k)) / w.sum()
                return v if np.isfinite(v) else 1e10
        z0 = np.array([0.0, np.log(k * np.average(T_, weights=w) / np.average(x + 1, weights=w)),
                       -np.log(2 * np.average(T_, weights=w) + 1.0), 1.0])
        bounds = FIT_BOUNDS
        if init is not None:
            r0, a0, s0, b0 = (float(init[n]) for n in ("r", "alpha", "s", "beta"))
            z0 = np.clip([np.log(r0), np.log(a0), np.log(s0 / b0), 1 / s0],
                         [b[0] for b in bounds], [b[1] for b in bounds])
        res = optimize.minimize(nll, z0, method="L-BFGS-B", jac=gradient == "exact",
                                bounds=bounds,
                                options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 500})
        params, names = self._store_optimum(res.x)
        self.log_likelihood_ = float(np.dot(w, cnbd_loglik(params, x, tx, T_, k))) + const
        free = [n for n in names if not (self.at_bound_ and n == "s")]
        idx = [names.index(n) for n in free]

        def total(theta):
            p = params.copy()
            p[idx] = np.exp(theta)
            return -np.dot(w, cnbd_loglik(p, x, tx, T_, k))

        def covariance():
            return _inverse_information(hessian_from_function(total, np.log(params[idx])), free)
        self._cov, self._cov_fn = None, covariance
        self.converged_ = bool(res.success)
        return self

    def _nodes(self, x, T, n_lam: int, n_mu: int):
        """Gauss rules of the posterior at a purchase (``t_x = T``): ``λ`` (n, n_lam, 1),
        ``μ`` (n, 1, n_mu) and the product weights (n, n_lam, n_mu)."""
        par = self.params_
        r, alpha, s_, beta = (float(par[n]) for n in ("r", "alpha", "s", "beta"))
        x, T = np.asarray(x, float), np.asarray(T, float)
        g, wl = gauss_gamma(r + self.k * x, n_lam)
        lam = g / (alpha + self.k * T)[:, None]
        # homogeneous lifetimes (s at its bound): one node is exact
        h, wm = gauss_gamma(np.array([s_]), 1 if s_ > 1e5 else n_mu)
        mu = h / (beta + T)[:, None]
        return lam[:, :, None], mu[:, None, :], wl[:, :, None] * wm[:, None, :], \
            (r, alpha, s_, beta)

    def expected_purchases(self, t, frequency, recency, T, n_lam: int = 12, n_mu: int = 6):
        """Expected purchase days in ``(T, T + t]`` for a customer whose last purchase is at
        ``T`` (``recency == T``; module docstring)."""
        x, tx, T = (np.asarray(v, float) for v in (frequency, recency, T))
        x, tx, T, t = np.broadcast_arrays(x, tx, T, np.asarray(t, float))
        self._at_purchase(x, tx, T)
        lam, mu, wts, (r, alpha, s_, beta) = self._nodes(x.ravel(), T.ravel(), n_lam, n_mu)
        tt = t.ravel()
        # l = 0: E[λ] E[(1 − e^{−μt})/μ], μ ~ Gamma(s, β + T) (closed form)
        b = beta + T.ravel()
        lead = (r + self.k * x.ravel()) / (alpha + self.k * T.ravel())
        if s_ > 1e5:
            m0 = s_ / b
            life = np.where(m0 * tt > 1e-12, -np.expm1(-m0 * tt) / np.maximum(m0, 1e-300), tt)
        else:
            life = b / (s_ - 1) * -np.expm1((s_ - 1) * (np.log(b) - np.log(b + tt))) \
                if abs(s_ - 1) > 1e-9 else b * np.log1p(tt / b)
        out = lead * life
        k = self.k
        tc = tt[:, None, None]
        for om, mult in _roots(k)[1:]:
            c = k * lam * (1 - om) + mu
            out = out + mult * np.sum((lam * om * -np.expm1(-c * tc) / c).real * wts,
                                      axis=(1, 2))
        return out.reshape(t.shape)

    def retention_at_purchase(self, x, T, gap, R, n_lam: int = 12, n_mu: int = 6):
        """P(a purchase day in ``(T + gap, T + gap + R]``) for a customer whose last purchase
        is at ``T`` (module docstring)."""
        lam, mu, wts, _ = self._nodes(x, T, n_lam, n_mu)
        k = self.k
        gap = np.asarray(gap, float)[:, None, None]
        R = np.asarray(R, float)[:, None, None]
        th = k * lam
        alive = np.exp(-mu * gap)
        roots = _roots(k)[1:]
        E = [np.exp(th * gap * (om - 1)) for om, _ in roots]          # once per root
        tot = 0.0
        for j in range(k):
            pj = (1 + sum(mult * (om ** (-j) * e).real
                          for (om, mult), e in zip(roots, E))) / k
            need = k - j
            buy = (th / (th + mu)) ** need * special.gammainc(need, (th + mu) * R)
            tot = tot + np.clip(pj, 0.0, 1.0) * buy
        return np.sum(alive * tot * wts, axis=(1, 2))


def pareto_cnbd(k: int) -> type:
    """The :class:`ParetoCNBD` class with Erlang shape ``k`` (one class per ``k``, so that
    the completion can list the candidates as classes)."""
    return type(f"ParetoCNBD{k}", (ParetoCNBD,), {"k": k, "_model_name": f"Pareto/CNBD-{k}",
                                                  "__doc__": f"Pareto/CNBD-{k}."})


ParetoCNBD2, ParetoCNBD3, ParetoCNBD4 = (pareto_cnbd(k) for k in (2, 3, 4))


_inverse_information = inverse_information
