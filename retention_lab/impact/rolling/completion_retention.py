"""The retention probabilities of the rolling design's completion models and their Gauss
rules (:mod:`retention_lab.impact.rolling.gcomputation` completes the outcomes with them):
under the BG/NBD (Fader, Hardie & Lee 2005) by Gauss–Jacobi over the dropout probability, under
the Pareto/NBD (Schmittlein, Morrison & Colombo 1987) by Gauss–Legendre over the time to the
next purchase, and under the Erlang-k models by their own ``retention_at_purchase``
(:mod:`retention_lab.impact.rolling.renewal`). Moved out of gcomputation.py (500-line limit).
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import linalg, special

from ...clv.pareto_nbd import ParetoNBDFitter


def _retention_probability(bg, x, T, gap, R, n_nodes: int = 24):
    """P(a purchase in (T + gap, T + gap + R] | x repeat purchase days, last purchase at T)
    under the fitted completion model (:func:`_bgnbd_retention`, :func:`_pnbd_retention` or the
    Erlang-k models' ``retention_at_purchase``, :mod:`~retention_lab.impact.rolling.renewal`),
    as :func:`model_kind` says."""
    kind = model_kind(bg)
    if kind == "erlang":
        return bg.retention_at_purchase(x, T, gap, R)
    if kind == "pareto":
        return _pnbd_retention(bg, x, T, gap, R, n_nodes)
    return _bgnbd_retention(bg, x, T, gap, R, n_nodes)


def model_kind(bg) -> str:
    """Which retention a completion model takes (the one dispatch, also that of its derivatives,
    :mod:`~retention_lab.impact.rolling.completion_derivatives`): ``"erlang"`` for the Erlang-k
    models of :mod:`~retention_lab.impact.rolling.renewal` (their own ``retention_at_purchase``),
    ``"pareto"`` for a Pareto/NBD (:func:`_pnbd_retention`), else ``"bg"`` (the BG/NBD,
    :func:`_bgnbd_retention`)."""
    if hasattr(bg, "retention_at_purchase"):
        return "erlang"
    return "pareto" if isinstance(bg, ParetoNBDFitter) else "bg"


def _gamma_nodes(shape: np.ndarray, n_nodes: int) -> np.ndarray:
    """Midpoint quantiles ``(j + ½)/n`` of Gamma(shape, 1), one row per entry of ``shape``
    (computed once per distinct shape: purchase counts repeat)."""
    u, inv = np.unique(shape, return_inverse=True)
    q = (np.arange(n_nodes) + 0.5) / n_nodes
    return special.gammaincinv(u[:, None], q[None, :])[inv.reshape(-1)]


@functools.lru_cache(maxsize=None)     # one rule per node count of NODE_BUCKETS
def _leggauss(n: int):
    """``numpy.polynomial.legendre.leggauss(n)`` (nodes, weights on (−1, 1)), computed once per
    ``n`` (read-only: shared by the callers)."""
    t, w = np.polynomial.legendre.leggauss(n)
    t.flags.writeable = w.flags.writeable = False
    return t, w


@functools.lru_cache(maxsize=2048)   # reused across the completion's parameter perturbations
def _beta_nodes(a: float, b: float, n: int):
    """``n``-point Gauss quadrature of the Beta(a, b) distribution on (0, 1): Gauss–Jacobi
    nodes and probability weights by Golub–Welsch (the eigenvalues of the Jacobi matrix of the
    monic Jacobi polynomials with exponents ``b − 1`` at 1 and ``a − 1`` at −1, the weights the
    squared first components of its eigenvectors). Unlike ``scipy.special.roots_jacobi``, whose
    weights overflow to NaN when ``a + b`` is large (a BG/NBD fit with no dropout, b ≈ 3e4),
    the weights are never scaled by the total mass."""
    p, w, _, _ = _beta_eigen(a, b, n)
    p.flags.writeable = w.flags.writeable = False          # cached: shared by the callers
    return p, w


def _beta_eigen(a: float, b: float, n: int):
    """The Golub–Welsch solution behind :func:`_beta_nodes` (not cached): ``(p, w, t, V)``,
    the rule's nodes and weights and the Jacobi matrix's eigenvalues ``t`` and eigenvectors
    ``V`` (columns), which the rule's derivatives also need
    (:func:`~retention_lab.impact.rolling.completion_derivatives.beta_rule_derivatives`)."""
    diag, off2 = _jacobi_coefficients(a, b, n)
    t, v = linalg.eigh_tridiagonal(diag, np.sqrt(off2))
    return (1 + t) / 2, v[0] ** 2, t, v


def _jacobi_coefficients(a, b, n: int):
    """Diagonal and squared off-diagonal of the ``n × n`` Jacobi matrix of the Beta(a, b)
    distribution mapped to (−1, 1) (:func:`_beta_nodes`); rational in ``a`` and ``b``, so that
    complex arguments give their derivatives by complex step
    (:mod:`~retention_lab.impact.rolling.completion_derivatives`)."""
    al, be = b - 1.0, a - 1.0
    m = np.arange(1, n, dtype=float)
    s = 2 * m + al + be
    diag = np.r_[(be - al) / (al + be + 2), (be ** 2 - al ** 2) / (s * (s + 2))]
    off2 = 4 * m * (m + al) * (m + be) * (m + al + be) / (s ** 2 * (s + 1) * (s - 1))
    if n > 1:   # the first term without the factor (1 + α + β) that cancels
        off2[0] = 4 * (1 + al) * (1 + be) / ((2 + al + be) ** 2 * (3 + al + be))
    return diag, off2


#: node counts of the retention quadratures: each row gets the smallest one that its sharpness
#: needs (see :func:`_bgnbd_retention`, :func:`_pnbd_retention`)
NODE_BUCKETS = np.array([16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048])


def _node_buckets(need: np.ndarray) -> np.ndarray:
    """The smallest of :data:`NODE_BUCKETS` at or above ``need`` (the largest beyond it)."""
    i = np.searchsorted(NODE_BUCKETS, np.ceil(need), side="left")
    return NODE_BUCKETS[np.minimum(i, len(NODE_BUCKETS) - 1)]


def _bgnbd_retention(bg, x, T, gap, R, n_nodes: int = 24):
    """Retention under BG/NBD: alive at T with the model's P(alive); given alive,
    λ ~ Gamma(r + x, α + T) and p ~ Beta(a, b + x), independent; the customer survives ``gap``
    with probability exp(−λ p gap) (Poisson thinning of the dropouts at purchases) and then buys
    in ``R`` with probability 1 − exp(−λ R). λ integrates in closed form (the Gamma Laplace
    transform): with ``k = r + x``, ``β = α + T``,

        E_λ[e^{−λ p gap}(1 − e^{−λ R})] = (β/(β + p gap))^k − (β/(β + p gap + R))^k,

    analytic in p with a branch point at ``p = −1/z``, ``z = (gap + R)/β``, integrated over
    Beta(a, b + x) by Gauss–Jacobi (nodes per distinct x): ``n_nodes`` or, where the branch
    point is close (z large: a recent first purchase, a long gap), ``10√z + 4√(k z)`` (a rule
    calibrated on 600 random (a, b + x, k, z) for 1e-11 relative, covering 99.7 % of them).
    Against adaptive quadrature (tests/impact/test_rolling_scale.py, rows with z up to 900)
    the error is below 1e-8 relative; the 32 Gamma midpoint quantiles used before (on λ, with
    1F1 over p) were off by up to 0.28 % relative, on average +0.00046 in probability, on the
    20k-customer flagship data of benchmarks/flagship_scale.py."""
    x, T, gap, R = (np.asarray(v, float).ravel() for v in np.broadcast_arrays(x, T, gap, R))
    alive = bg.probability_alive(x, T, T)
    out = np.empty(len(x))
    for rr, (_, W), _, _, _, e1, e2 in _bgnbd_blocks(bg, x, T, gap, R, n_nodes, _beta_nodes):
        out[rr] = np.sum(W * (e1 - e2), axis=1)
    return alive * out


def _bgnbd_blocks(bg, x, T, gap, R, n_nodes, rule):
    """The integrand of :func:`_bgnbd_retention` at the Gauss–Jacobi nodes, block by block
    (shared with its derivatives, :func:`~.completion_derivatives._bgnbd_terms`): rows by node
    count (:func:`_node_buckets`), then by distinct ``x`` (one rule ``rule(a, b + x, n)``, the
    same tuple for all the blocks of an ``x``, first two entries nodes ``p`` and weights), in
    blocks of rows so that the temporaries stay in cache. Yields ``(rows, rule, p·gap, L1, L2,
    e1, e2)``, ``L1 = log(1 + p gap/β)``, ``L2 = log(1 + (p gap + R)/β)``, ``e = exp(−k L)``
    (rows × nodes; the caller may overwrite them)."""
    par = bg.params_
    r, alpha, a, b = (float(par[k]) for k in ("r", "alpha", "a", "b"))
    k, be = r + x, alpha + T
    z = (gap + R) / be
    n_row = _node_buckets(np.maximum(n_nodes, 10 * np.sqrt(z) + 4 * np.sqrt(k * z)))
    for n in np.unique(n_row):
        rows = np.flatnonzero(n_row == n)
        ux, inv = np.unique(x[rows], return_inverse=True)
        inv = inv.reshape(-1)
        order = np.argsort(inv, kind="stable")
        bounds = np.searchsorted(inv[order], np.arange(len(ux) + 1))
        step = max(256, (1 << 16) // int(n))
        for i, xv in enumerate(ux):
            nodes = rule(a, float(b + xv), int(n))
            grp = rows[order[bounds[i]:bounds[i + 1]]]
            for lo in range(0, len(grp), step):
                rr = grp[lo:lo + step]
                kk, bb = k[rr, None], be[rr, None]
                pg = nodes[0] * gap[rr, None]
                L1 = np.log1p(pg / bb)
                L2 = np.log1p((pg + R[rr, None]) / bb)
                yield rr, nodes, pg, L1, L2, np.exp(-kk * L1), np.exp(-kk * L2)


def _pnbd_retention(pn, x, T, gap, R, n_nodes: int = 24):
    """Retention under Pareto/NBD (Schmittlein, Morrison & Colombo 1987) for a customer whose
    last purchase is at T (so alive at T: P(alive) = 1 when t_x = T; the model's P(alive) is
    applied all the same). Given alive, λ ~ Gamma(r + x, α + T) and μ ~ Gamma(s, β + T),
    independent; the customer is still alive after ``gap`` with probability exp(−μ gap), and an
    alive customer buys in the next ``R`` before leaving with probability
    ∫₀ᴿ λ e^{−(λ+μ)t} dt (first of two competing exponential clocks). Both rates integrate in
    closed form under the integral over t (Gamma Laplace transforms): with ``k = r + x``,
    ``A = α + T``, ``B = β + T``,

        P = ∫₀ᴿ (k/A) (A/(A + t))^{k+1} (B/(B + gap + t))^s dt,

    integrated by Gauss–Legendre in ``v = log(1 + t/A)`` over ``[0, V]``, ``V = log(1 + R/A)``
    (the integrand is ``k e^{−k v}`` times a smooth factor): ``n_nodes`` nodes, or ``16 + k V``
    where the exponential is steep over the interval. Against adaptive quadrature
    (tests/impact/test_rolling_scale.py) the error is below 1e-8 relative; the 32 × 16 Gamma
    midpoint quantiles used before were off by up to 0.3 %."""
    x, T, gap, R = (np.asarray(v, float).ravel() for v in np.broadcast_arrays(x, T, gap, R))
    alive = pn.probability_alive(x, T, T)
    out = np.empty(len(x))
    for rows, w, Vr, *_, f in _pnbd_blocks(pn, x, T, gap, R, n_nodes):
        out[rows] = np.sum(w[None, :] / 2 * Vr * f, axis=1)
    return alive * out


def _pnbd_blocks(pn, x, T, gap, R, n_nodes):
    """The integrand of :func:`_pnbd_retention` at the Gauss–Legendre nodes, by node count
    (shared with its derivatives, :func:`~.completion_derivatives._pnbd_terms`). Yields
    ``(rows, weights, V, B, v, e^v − 1, N, ℓ, f)``: ``v`` the nodes on ``[0, V]``,
    ``N = gap + A(e^v − 1)``, ``ℓ = log(1 + N/B)``, ``f = k e^{−k v − s ℓ}`` (rows × nodes;
    ``k = r + x``, ``A = α + T``; the rows' ``V`` and ``B = β + T`` as columns)."""
    par = pn.params_
    r, alpha, s_, beta = (float(par[k]) for k in ("r", "alpha", "s", "beta"))
    k, A, B = r + x, alpha + T, beta + T
    V = np.log1p(R / A)
    n_row = _node_buckets(np.maximum(n_nodes, 16 + k * V))
    for n in np.unique(n_row):
        rows = np.flatnonzero(n_row == n)
        t, w = _leggauss(int(n))
        Vr, kr, Ar, Br = V[rows, None], k[rows, None], A[rows, None], B[rows, None]
        v = (t[None, :] + 1) / 2 * Vr
        em = np.expm1(v)
        N = gap[rows, None] + Ar * em
        ell = np.log1p(N / Br)
        yield rows, w, Vr, Br, v, em, N, ell, kr * np.exp(-kr * v - s_ * ell)
