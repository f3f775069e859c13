"""Members' discounted projections under the time-varying BG/NBD, and their derivatives, in one
pass (the CLV effect of :mod:`.clv_effects` at a million customers, issue 22).

The quantity (:class:`retention_lab.clv.TimeVaryingBetaGeoFitter`'s prediction, Fader, Hardie
& Lee 2005 with the covariates of :mod:`retention_lab.clv.covariates_tv_bg`): for a member with
``m = r + x``, ``B = α + A(e)``, ``β = b + C_x``, a constant future path ``(a_f, c_f)`` and
``P`` = P(alive at the cut-off),

    proj = P · S,   S = Σ_k c_k E_p[ v(t_k) / π ],   v(t) = 1 − (B / (B + a_f π t))^m,
    π = 1 − (1 − p)^{c_f},   p ~ Beta(a, β),   t_k = t_0 + k Δ,

with ``c_k`` the discount weights of the monthly increments (``Σ_k f_k (E(t_k) − E(t_{k−1}))``
telescoped: ``c_0 = −f_1``, ``c_k = f_k − f_{k+1}``, ``c_M = f_M``) — the quantity
:meth:`TimeVaryingBetaGeoFitter._cum_expected` gives, summed the same way. ``E_p`` is a
Gauss–Jacobi rule with the Beta weight ``p^(a−1) (1 − p)^(⌊β⌋−1)`` (:func:`rules`,
:data:`N_NODES` = 36 nodes, within 1e-9 relative of adaptive quadrature on the tests' rows)
instead of the fitter's 64-node rule with the weight ``p^(a−1)`` only.

What is new is the cost: one fused loop (numba, two threads; a chunked numpy fallback gives the
same numbers) instead of (months + 1) × nodes × members arrays, evaluated once per *distinct*
input row (members with equal ``m, B, a_f, c_f, β, t_0`` share one evaluation), and the
partial derivatives ``∂S/∂(m, B, a_f, c_f, β, a)`` in the same pass (closed forms below), so
that the gradient of the mean effect in the model's parameters costs one pass per future path
instead of ``2 dim θ`` full re-evaluations.

Derivatives, with ``L_k = log(1 + a_f π t_k / B)``, ``u_k = e^{−m L_k}``, ``V = Σ c_k (1 − u_k)``,
``A = Σ c_k m u_k t_k / (B + a_f π t_k)`` and ``G = V / π`` at a node:
``∂G/∂m = Σ c_k L_k u_k / π``, ``∂G/∂B = −a_f A / B``, ``∂G/∂a_f = A``,
``∂G/∂c_f = (a_f A / π − V / π²) · ∂π/∂c_f`` with ``∂π/∂c_f = −(1 − π) log(1 − p)``, and the
node weight ``W = w_q (1 − p_q)^δ / B(a, β)`` gives ``∂S/∂β = Σ W G log(1 − p) − (ψ(β) −
ψ(a + β)) S``. ``a`` moves the rule itself: ``∂S/∂a = Σ_q [∂w_q/∂a (1 − p_q)^δ G / B(a, β) +
W (∂G/∂p − δ G / (1 − p)) ∂p_q/∂a] − (ψ(a) − ψ(a + β)) S`` with ``∂G/∂p = ∂G/∂π · c_f (1 −
π) / (1 − p)`` and the nodes' and weights' derivatives by central differences of the rule
(:func:`rule_derivatives`) — the derivative of the quadrature itself, accurate where the rule
is (differentiating under the integral instead, ``E[log p · g]``, converges slowly: 1 % at 36
nodes).
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy.special import betaln, digamma, expit, roots_jacobi

from ...clv.covariates_tv_data import _distinct_rows

#: Gauss–Jacobi nodes per Beta-weight table (:func:`rules`). Measured against adaptive
#: quadrature and a 200-node evaluation: on the members of a 20k-customer rolling study S is
#: within 6e-10 (relative) at 32 nodes, its partial derivatives within 3e-7; the hardest row of
#: the tests (3 repeat purchases in 5 days, 1000 days ahead) needs 36 for 1e-9 (32: 1.1e-8).
#: The fitter's own ``p^(a−1)`` rule needs 48 nodes on the same members (32: 2e-6).
N_NODES = 36
#: the outputs of one pass: S and its partial derivatives
PARTS = ("S", "m", "B", "af", "cf", "beta_log", "a_rule")


#: 1/(j+1)! for j = 10 … 0: ``1 − e^{−y} = y Σ_j (−y)^j / (j + 1)!`` by Horner below 0.05,
#: where the first term left out (y^11 / 12!) is below 1e-23 relative
_ONE_MINUS_EXP = tuple(1.0 / math.factorial(j + 1) for j in range(10, -1, -1))


def _kernel_py(logq, wq, dp, dwq, grp, m, B, af, cf, delta, lbeta, t0, dt, c, grad, out):
    """The pass for rows ``out.shape[0]`` (plain Python; compiled by numba when available):
    row ``i`` uses the node table ``grp[i]`` (``logq``, ``wq``: groups × nodes; ``dp``, ``dwq``
    their nodes' and weights' derivatives in ``a``) and the weight correction
    ``(1 − p)^delta[i] / B(a, β_i)``.

    Per month and node it takes one ``log`` and (above ``m L = 0.05``) one ``exp``, the
    minimum (issue 22, session 9; the time is theirs): ``L = log1p(z)`` as
    ``log(1 + z) · z / ((1 + z) − 1)`` (Goldberg 1991, Theorem 4: within a few ulp of
    ``log1p`` at every ``z ≥ 0``, without its slower call and without a branch), ``1 − e^{−mL}``
    below 0.05 by its Taylor series (:data:`_ONE_MINUS_EXP`) instead of ``expm1``, and
    ``t / (B + K t)`` as ``(t / B) / (1 + z)`` with ``t / B`` once per row. Against the
    earlier pass (``log1p``/``expm1`` below 0.05): within 4e-15 on S, 6e-13 on the partials
    (the 200k flagship's members)."""
    n = m.shape[0]
    nq = logq.shape[1]
    nk = c.shape[0]
    tb = np.empty(nk)
    for i in range(n):
        gi = grp[i]
        s = 0.0
        sm = 0.0
        sa = 0.0
        sc = 0.0
        sl = 0.0
        sr = 0.0
        Bi = B[i]
        mi = m[i]
        afi = af[i]
        cfi = cf[i]
        for k in range(nk):
            tb[k] = (t0[i] + dt * k) / Bi
        for q in range(nq):
            lq = logq[gi, q]
            ew = math.exp(delta[i] * lq - lbeta[i])
            W = wq[gi, q] * ew
            pi = -math.expm1(cfi * lq)
            K = afi * pi
            V = 0.0
            A = 0.0
            LU = 0.0
            for k in range(nk):
                z = K * tb[k]
                w1 = 1.0 + z
                d1 = w1 - 1.0
                L = math.log(w1) * (z / d1) if d1 != 0.0 else z
                y = mi * L
                if y < 0.05:
                    e = 0.0
                    for j in range(len(_ONE_MINUS_EXP)):
                        e = _ONE_MINUS_EXP[j] - y * e
                    v = y * e
                else:
                    v = 1.0 - math.exp(-y)
                u = 1.0 - v     # (as the numpy pass: the same numbers where e^{−y} is tiny)
                V += c[k] * v
                if grad:
                    A += c[k] * u * tb[k] / w1
                    LU += c[k] * L * u
            A *= mi
            G = V / pi
            s += W * G
            if grad:
                sm += W * LU / pi
                sa += W * A
                dGdpi = A * afi / pi - V / (pi * pi)
                sc += W * dGdpi * (-(1.0 - pi) * lq)
                sl += W * G * lq
                # the rule's own dependence on a: its nodes move (dG/dp, and the correction
                # (1 − p)^δ) and its weights change
                one_p = math.exp(lq)
                dGdp = dGdpi * cfi * (1.0 - pi) / one_p
                sr += dwq[gi, q] * ew * G + W * (dGdp - delta[i] * G / one_p) * dp[gi, q]
        out[i, 0] = s
        if grad:
            out[i, 1] = sm
            out[i, 2] = -(afi / Bi) * sa
            out[i, 3] = sa
            out[i, 4] = sc
            out[i, 5] = sl
            out[i, 6] = sr


_compiled = False   # not compiled yet: numba is imported on first use (it costs ~0.4 s)


def _kernel():
    """The numba-compiled :func:`_kernel_py`, or ``None`` without numba.

    Compiled serial, not ``parallel=True`` (issue 22): at scale the CLV effect runs in the
    analysis' side process (:mod:`retention_lab.engines.side_process`) beside the trial emulation,
    which has the other core, and numba's default OpenMP threading layer aborts a forked
    process when the parent has used it. Each row's sums run in the same order either way, so
    the numbers are bit-identical to the parallel build's (checked on the 20k flagship)."""
    global _compiled
    if _compiled is False:
        try:
            import numba  # heavy optional import, deferred to the first projection
            # error_model='numpy': no zero-division test per division (B, π, 1 − p > 0 at
            # every node; a zero would give inf / NaN, a non-finite member, not raise)
            _compiled = numba.njit(cache=True, error_model="numpy")(_kernel_py)
        except ImportError:  # pragma: no cover
            _compiled = None
    return _compiled


def _pass_numpy(logq, wq, dp, dwq, grp, m, B, af, cf, delta, lbeta, t0, dt, c, grad, out,
                chunk=2048):
    """The same pass as arrays, ``chunk`` rows at a time (months × nodes × rows)."""
    k = np.arange(len(c), dtype=float)
    for lo in range(0, len(m), chunk):
        sl_ = slice(lo, lo + chunk)
        mi, Bi, afi, cfi = m[sl_], B[sl_], af[sl_], cf[sl_]
        lq = logq[grp[sl_]].T                                           # (q, n)
        ew = np.exp(delta[sl_][None, :] * lq - lbeta[sl_][None, :])
        W = wq[grp[sl_]].T * ew
        pi = -np.expm1(cfi[None, :] * lq)
        K = afi[None, :] * pi
        t = (t0[sl_][None, :] + dt * k[:, None])[:, None, :]              # (k, 1, n)
        L = np.log1p(K[None] * t / Bi)
        v = -np.expm1(-mi * L)                                          # (k, q, n)
        V = np.tensordot(c, v, axes=(0, 0))
        G = V / pi
        out[sl_, 0] = np.sum(W * G, axis=0)
        if grad:
            u = 1.0 - v
            A = np.tensordot(c, mi * u * t / (Bi + K[None] * t), axes=(0, 0))
            LU = np.tensordot(c, L * u, axes=(0, 0))
            out[sl_, 1] = np.sum(W * LU / pi, axis=0)
            sa = np.sum(W * A, axis=0)
            out[sl_, 2] = -(afi / Bi) * sa
            out[sl_, 3] = sa
            dGdpi = A * afi / pi - V / pi ** 2
            out[sl_, 4] = np.sum(W * dGdpi * (-(1.0 - pi) * lq), axis=0)
            out[sl_, 5] = np.sum(W * G * lq, axis=0)
            one_p = np.exp(lq)
            dGdp = dGdpi * cfi * (1.0 - pi) / one_p
            out[sl_, 6] = np.sum(dwq[grp[sl_]].T * ew * G
                                 + W * (dGdp - delta[sl_][None, :] * G / one_p)
                                 * dp[grp[sl_]].T, axis=0)


def rules(a: float, beta, n: int = N_NODES, beta_weight: bool = True):
    """Node tables for the expectation over ``p ~ Beta(a, β)`` of each row: ``(log(1 − p),
    w, group of each row, δ of each row)`` with ``E[h] = Σ_q w_q (1 − p_q)^δ h(p_q) / B(a, β)``.

    ``beta_weight=True`` (default): Gauss–Jacobi with the weight ``p^(a−1) (1 − p)^(β₀−1)``,
    ``β₀ = ⌊β⌋`` (``β`` itself below 1), one table per distinct ``β₀``: the Beta density is in
    the rule, the rest (``(1 − p)^δ``, ``δ < 1``, and the integrand) is smooth on the scale of
    the posterior. ``beta_weight=False``: the fitter's rule, weight ``p^(a−1)`` only, every row
    ``δ = β − 1`` (its 64 nodes are the reference of the tests).
    """
    beta = np.asarray(beta, float)
    if not beta_weight:
        b0 = np.ones(len(beta))
        grp = np.zeros(len(beta), np.int64)
        levels = np.array([1.0])
    else:
        b0 = np.where(beta >= 1.0, np.floor(beta), beta)
        levels, grp = np.unique(b0, return_inverse=True)
    logq = np.empty((len(levels), n))
    wq = np.empty((len(levels), n))
    for j, lv in enumerate(levels):
        xs, ws = _jacobi(n, float(lv - 1.0), float(a - 1.0))
        logq[j] = np.log((1.0 - xs) / 2.0)
        wq[j] = ws * 2.0 ** -(a + lv - 1.0)
    return logq, wq, grp.ravel().astype(np.int64), beta - b0


@functools.lru_cache(maxsize=4096)
def _jacobi(n: int, alpha: float, beta: float):
    """``roots_jacobi(n, alpha, beta)``, cached: the membership-on and -off passes and their
    derivative rules ask for the same tables (read-only arrays)."""
    xs, ws = roots_jacobi(n, alpha, beta)
    xs.flags.writeable = False
    ws.flags.writeable = False
    return xs, ws


def rule_derivatives(a: float, beta, n: int = N_NODES, beta_weight: bool = True,
                     h: float = 1e-6):
    """``(∂p_q/∂a, ∂w_q/∂a)`` of the tables of :func:`rules` (central differences of the
    Gauss rule, a smooth function of ``a``; the weight correction does not involve ``a``)."""
    up, dn = rules(a + h, beta, n, beta_weight), rules(a - h, beta, n, beta_weight)
    dp = (np.exp(dn[0]) - np.exp(up[0])) / (2 * h)          # p = 1 − e^{log(1 − p)}
    return dp, (up[1] - dn[1]) / (2 * h)


def discounted_pass(a: float, m, B, af, cf, beta, t0, dt: float, c, *, grad: bool = False,
                    use_numba: bool | None = None, n_nodes: int = N_NODES,
                    beta_weight: bool = True) -> np.ndarray:
    """``S`` (and with ``grad`` its partial derivatives, columns :data:`PARTS`) of each row,
    evaluated once per distinct row (nodes from :func:`rules`). ``beta_log`` is
    ``Σ W G log(1 − p)``; :func:`d_beta` turns it into ``∂S/∂β``."""
    X = np.column_stack([np.asarray(v, float) for v in (m, B, af, cf, beta, t0)])
    fin = np.all(np.isfinite(X), axis=1)
    # distinct rows by their bits (hash factorisation; np.unique(axis=0) sorted them as
    # records, seconds at 200k members): each row's result does not depend on the others
    first, inv = _distinct_rows(np.ascontiguousarray(X[fin]).view(np.int64))
    uniq = X[fin][first]
    mu, Bu, afu, cfu, bu, tu = (np.ascontiguousarray(uniq[:, j]) for j in range(6))
    res = np.zeros((len(uniq), len(PARTS)))
    c = np.ascontiguousarray(np.asarray(c, float))
    if len(uniq):
        logq, wq, grp, delta = rules(a, bu, n_nodes, beta_weight)
        dp, dwq = rule_derivatives(a, bu, n_nodes, beta_weight) if grad else (logq, wq)
        with np.errstate(all="ignore"):
            lbeta = betaln(a, bu)
        kern = _kernel() if use_numba is not False else None
        args = tuple(np.ascontiguousarray(v) for v in (logq, wq, dp, dwq)) + (
            grp, mu, Bu, afu, cfu, delta, lbeta, tu, float(dt), c, bool(grad), res)
        if kern is not None:
            kern(*args)
        else:
            with np.errstate(all="ignore"):
                _pass_numpy(*args)
    out = np.full((len(X), len(PARTS)), np.nan)
    out[fin] = res[inv]
    return out


def d_beta(out: np.ndarray, a: float, beta) -> np.ndarray:
    """``∂S/∂β`` from a ``grad`` pass."""
    with np.errstate(all="ignore"):
        return out[:, 5] - (digamma(beta) - digamma(a + beta)) * out[:, 0]


def d_a(out: np.ndarray, a: float, beta) -> np.ndarray:
    """``∂S/∂a`` from a ``grad`` pass: the rule's nodes and weights, and ``1/B(a, β)``."""
    with np.errstate(all="ignore"):
        return out[:, 6] - (digamma(a) - digamma(a + beta)) * out[:, 0]


def discount_coefficients(months: int, discount_rate: float) -> np.ndarray:
    """``c_k`` (k = 0 … months) with ``Σ_k c_k E(t_k) = Σ_{k≥1} f_k (E(t_k) − E(t_{k−1}))``,
    ``f_k = (1 + rate)^−k``."""
    f = (1.0 + discount_rate) ** -np.arange(1, months + 1)
    c = np.zeros(months + 1)
    c[0] = -f[0]
    c[1:months] = f[:-1] - f[1:]
    c[months] = f[-1]
    return c


def _with_distinct(Cx, clast):
    """``(C_x, c_x, first, inverse)`` with the distinct ``(C_x, c_x)`` pairs by their bits."""
    first, inv = _distinct_rows(np.column_stack([Cx, clast]).view(np.int64))
    return Cx, clast, first, inv


def _bg_projections(theta, d, t0, dt, c, future_rows, states, purchase_sums, loglik_terms,
                    step: float = 1e-5):
    """Each member's discounted expected purchases with membership on and off under the
    time-varying BG/NBD at ``θ`` — ``P(alive) · S`` of :mod:`.clv_projection`, the same
    quantity as ``factors @ diff(fitted._cum_expected(θ, d, horizons, future))`` — and their
    gradients in ``θ`` (members × dim θ). The per-member inputs ``m, B, a_f, c_f, β, P`` are
    cheap functions of ``θ`` (their derivatives by central differences, step ``1e-5``
    relative, as the earlier full re-evaluations); the expensive expectation over ``p`` runs
    once per future path, with its partial derivatives in the same pass (in ``a`` through the
    quadrature rule's nodes and weights). Returns ``((on, off), (d_on, d_off))``.

    The state sums ``A(T), A(t_x)`` (transaction coefficients) and the purchase sums
    ``C_x, c_x`` (lifetime coefficients and future path) are computed once per distinct
    argument and shared by both futures and all central differences; ``P`` is formed here
    from them with the expressions of ``loglik_terms`` (:func:`~retention_lab.clv.
    covariates_tv_bg.bg_dynamic_loglik_terms`, which is therefore no longer called: before,
    26 calls recomputed every sum twice)."""
    kt = d.kt
    over = np.clip(d.tx[d.seg_c] - d.seg_u0, 0.0, d.seg_h)
    memo = {}

    def shared(key, f):
        if key not in memo:
            memo[key] = f()
        return memo[key]

    def inputs(th, Xf, Zf, member):
        r, alpha, a, b = np.exp(th[:4])
        gt, gl = th[4:4 + kt], th[4 + kt:]
        af = np.exp(Xf @ gt)
        cf = np.exp(Zf @ gl)

        def trans():   # A(T) and A(t_x): depend on the transaction coefficients only
            ac, _, AT, _ = states(th, d)
            return AT, np.bincount(d.seg_c, weights=ac * over, minlength=d.n)
        AT, Atx = shared(("A", gt.tobytes()), trans)
        Cx, clast, first, inv = shared(("C", member, gl.tobytes()),
                                       lambda: _with_distinct(*purchase_sums(th, d, cf)))
        m = r + d.x
        # the alive and dead terms of bg_dynamic_loglik_terms (the same expressions, so the
        # same numbers; tested), from the shared sums instead of recomputing them per call;
        # the beta functions once per distinct (C_x, c_x) (a few thousand values)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ab = betaln(a, b)
            bxu = betaln(a, b + Cx[first])
            b1u = betaln(a, b + Cx[first] - clast[first])
            lq = np.log(-np.expm1(bxu - b1u))[inv]
            alive = -m * np.log(alpha + AT) + bxu[inv] - ab
            dead = np.where(d.x > 0, -m * np.log(alpha + Atx) + b1u[inv] + lq - ab, -np.inf)
            p_alive = expit(alive - dead)
        return np.column_stack([r + d.x, alpha + AT, af, cf, b + Cx, p_alive])

    vals, grads = [], []
    for member in (1.0, 0.0):
        Xf, Zf = future_rows({"member": member}, d)
        base = inputs(theta, Xf, Zf, member)
        m, B, af, cf, beta, P = base.T
        a = float(np.exp(theta[2]))
        with np.errstate(all="ignore"):
            out = discounted_pass(a, m, B, af, cf, beta, t0, dt, c, grad=True)
            S = out[:, 0]
            dS = np.column_stack([out[:, 1], out[:, 2], out[:, 3], out[:, 4],
                                  d_beta(out, a, beta)])         # ∂S/∂(m, B, af, cf, β)
            g = np.empty((len(S), len(theta)))
            for j in range(len(theta)):
                h = step * max(1.0, abs(theta[j]))
                e = np.zeros(len(theta))
                e[j] = h
                dIn = (inputs(theta + e, Xf, Zf, member)
                       - inputs(theta - e, Xf, Zf, member)) / (2 * h)
                g[:, j] = dIn[:, 5] * S + P * np.sum(dS * dIn[:, :5], axis=1)
                if j == 2:   # a = exp(θ_2) also moves the nodes and the Beta normalisation
                    g[:, j] += P * a * d_a(out, a, beta)
        vals.append(P * S)
        grads.append(g)
    return tuple(vals), tuple(grads)
