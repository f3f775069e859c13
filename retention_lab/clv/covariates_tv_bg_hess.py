"""The analytic Hessian of the time-varying BG/NBD log-likelihood (:mod:`.covariates_tv_bg`;
issue 22: one pass instead of the ``2 dim θ`` gradient evaluations of central differences),
and the classes of purchase paths both it and the gradient evaluate once (:func:`_classes`).

Per row, ``log L = s + logaddexp(ℓ_a, ℓ_d)`` with the shared part ``s = S′γ_trans + log Γ(r+x)
− log Γ(r) + r log α − log B(a, b)``, the alive term ``ℓ_a = −m log(α + A(T)) + log B(a, y₂)``
and the dead term ``ℓ_d = −m log(α + A(t_x)) + log(B(a, y₁) − B(a, y₂))`` (``m = r + x``,
``y₂ = b + C_x``, ``y₁ = y₂ − c_x``). With the shares ``w_a, w_d`` (``w_a + w_d = 1``)

    ∇² log L = ∇²s + w_a ∇²ℓ_a + w_d ∇²ℓ_d + w_a w_d (∇ℓ_a − ∇ℓ_d)(∇ℓ_a − ∇ℓ_d)′

(the Hessian of a log-sum-exp). The pieces, in the natural parameters ``(r, α, a, b, γ)``:
``∂²/∂γ² log(α + A) = H_A/(α + A) − g_A g_A′/(α + A)²`` with ``H_A = Σ a h x x′`` over the
segments; ``∂² log B(a, y)``: trigamma differences ``ψ₁(a) − ψ₁(a+y)``, ``−ψ₁(a+y)``,
``ψ₁(y) − ψ₁(a+y)``; the dead term's ``f = log(e^{B₁} − e^{B₂})`` has ``∇²f = (H₁ + g₁g₁′ −
q(H₂ + g₂g₂′))/(1 − q) − ∇f∇f′`` in ``(a, y₁, y₂)``, chained through ``y₁, y₂`` with
``∂²C_x/∂γ_life² = Σ_j c_j z_j z_j′``. The log-scale Hessian of ``(log r, log α, log a, log b)``
is ``x_i x_j H_ij + δ_ij x_i g_i``. The functions of ``(C_x, c_x)`` are taken once per class of
purchase paths (:func:`.covariates_tv_bg._classes`). Weighted sums over rows, never a
(rows × dim θ × dim θ) array.
"""
from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, polygamma

from .covariates_tv_data import _distinct_rows, _row_ids
from .covariates_tv_lik import _states


def _classes(d):
    """``(cls, rep, xinv, xu)``, computed once per data (cached on ``d``): ``cls[i]`` the class of
    row ``i`` among rows with the same purchase runs in the same order (dropout design rows and
    counts, :meth:`DynamicData._purchase_runs`), ``rep`` a row of each class; ``xu`` the distinct
    repeat counts and ``xinv`` each row's. Rows of one class have bit-identical ``C_x`` and
    ``c_x`` for every ``θ`` (the same sums in the same order), so the beta functions and
    digammas of :func:`bg_dynamic_loglik_grad` are evaluated once per class and gathered — the
    same numbers (issue 22: a few thousand classes among 200k rows with distinct histories)."""
    got = d.__dict__.get("_pclass")
    if got is None:
        n = d.n
        zid = _row_ids(np.ascontiguousarray(d.run_Z, dtype=np.float64).view(np.int64))
        R = np.bincount(d.run_c, minlength=n)
        start = np.r_[0, np.cumsum(R)[:-1]]
        cls = np.empty(n, np.int64)
        reps, n_cls = [], 0
        for k in np.unique(R):
            rows = np.flatnonzero(R == k)
            at = start[rows][:, None] + np.arange(k)
            key = np.column_stack([zid[at], d.run_n[at].view(np.int64)]) if k else \
                np.zeros((len(rows), 1), np.int64)
            first, inv = _distinct_rows(key)
            cls[rows] = n_cls + inv
            reps.append(rows[first])
            n_cls += len(first)
        rep = np.concatenate(reps) if reps else np.zeros(0, np.int64)
        xu, xinv = np.unique(d.x, return_inverse=True)
        got = (cls, rep, xinv.ravel(), xu)
        d._pclass = got
    return got


def _outer(u, s, v=None) -> np.ndarray:
    """``Σ_i s_i u_i v_i′`` (``v = u`` by default)."""
    return (u * s[:, None]).T @ (u if v is None else v)


def _fixed(d):
    """Arrays of the gradient and Hessian that depend on the data only, cached on ``d``:
    ``(over, lastc, ilast, zlast)`` — each segment's exposure before ``t_x``, the rows with a
    last purchase, the position of their last run, each row's last dropout design row (0
    without purchases)."""
    got = d.__dict__.get("_bgfixed")
    if got is None:
        over = np.clip(d.tx[d.seg_c] - d.seg_u0, 0.0, d.seg_h)
        ilast = np.flatnonzero(d.run_last)
        lastc = d.run_c[ilast]
        zlast = np.zeros((d.n, d.run_Z.shape[1]))
        zlast[lastc] = d.run_Z[ilast]
        got = d._bgfixed = (over, lastc, ilast, zlast)
    return got


def _cols(c, wts, M, n) -> np.ndarray:
    """``(n, k)``: column ``j`` the sums of ``wts · M[:, j]`` by ``c``."""
    out = np.zeros((n, M.shape[1]))
    for j in range(M.shape[1]):
        out[:, j] = np.bincount(c, weights=wts * M[:, j], minlength=n)
    return out


def _trans_block(s, m, P, G, seg_c, seg_w, X):
    """``Σ_i s_i ∇²(−m_i log P_i)`` over ``(r, α, γ_trans)`` with ``P = α + Σ_seg seg_w``,
    ``G = ∂P/∂γ_trans`` and ``∂²P/∂γ² = Σ_seg seg_w x x′``."""
    kt = X.shape[1]
    H = np.zeros((2 + kt, 2 + kt))
    H[0, 1] = H[1, 0] = np.sum(-s / P)
    H[0, 2:] = H[2:, 0] = (-s / P) @ G
    H[1, 1] = np.sum(s * m / P ** 2)
    H[1, 2:] = H[2:, 1] = (s * m / P ** 2) @ G
    H[2:, 2:] = _outer(G, s * m / P ** 2) - _outer(X, (s * m / P)[seg_c] * seg_w)
    return H


def bg_dynamic_loglik_hess(theta, d) -> np.ndarray:
    """The Hessian (dim θ × dim θ) of the total log-likelihood (weighted by ``d.w``) in ``θ =
    (log r, log α, log a, log b, γ_trans, γ_life)`` (module docstring)."""
    r, alpha, a, b = np.exp(theta[:4])
    kt, kl, n = d.kt, d.kl, d.n
    K = 4 + kt + kl
    T, L = slice(4, 4 + kt), slice(4 + kt, K)
    ac, _, AT, _ = _states(theta, d)
    over, lastc, ilast, zlast = _fixed(d)
    Atx = np.bincount(d.seg_c, weights=ac * over, minlength=n)
    GAT = _cols(d.seg_c, ac * d.seg_h, d.seg_X, n)
    GAtx = _cols(d.seg_c, ac * over, d.seg_X, n)
    cj = np.exp(d.run_Z @ theta[4 + kt:])
    cn = cj * d.run_n
    Cx = np.bincount(d.run_c, weights=cn, minlength=n)
    GCx = _cols(d.run_c, cn, d.run_Z, n)
    clast = np.zeros(n)
    clast[lastc] = cj[ilast]
    Gcl = clast[:, None] * zlast
    cls, rep, _, _ = _classes(d)
    x, w = d.x, d.w
    m = r + x
    has = x > 0
    tg = lambda v: polygamma(1, v)  # noqa: E731  (trigamma)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # per class: the beta-function pieces in u = (a, y1, y2)
        y2 = b + Cx[rep]
        y1 = y2 - clast[rep]
        B1, B2 = betaln(a, y1), betaln(a, y2)
        q = np.exp(B2 - B1)
        g1 = (digamma(a) - digamma(a + y1), digamma(y1) - digamma(a + y1))
        g2 = (digamma(a) - digamma(a + y2), digamma(y2) - digamma(a + y2))
        t1, t2 = tg(a + y1), tg(a + y2)
        h1 = (tg(a) - t1, -t1, tg(y1) - t1)                      # aa, a1, 11
        h2 = (tg(a) - t2, -t2, tg(y2) - t2)                      # aa, a2, 22
        oq = 1.0 - q
        f = ((g1[0] - q * g2[0]) / oq, g1[1] / oq, -q * g2[1] / oq)           # ∇f: a, 1, 2
        F = {"aa": (h1[0] + g1[0] ** 2 - q * (h2[0] + g2[0] ** 2)) / oq - f[0] ** 2,
             "a1": (h1[1] + g1[0] * g1[1]) / oq - f[0] * f[1],
             "a2": -q * (h2[1] + g2[0] * g2[1]) / oq - f[0] * f[2],
             "11": (h1[2] + g1[1] ** 2) / oq - f[1] ** 2,
             "12": -f[1] * f[2],
             "22": -q * (h2[2] + g2[1] ** 2) / oq - f[2] ** 2}
        Pa, Pd = alpha + AT, alpha + Atx
        # the log-sum-exp shares, from the alive / dead terms as in the gradient
        alive = -m * np.log(Pa) + B2[cls]
        dead = np.where(has, -m * np.log(Pd) + B1[cls] + np.log(-np.expm1(B2 - B1))[cls],
                        -np.inf)
        wd = np.where(has, np.exp(dead - np.logaddexp(alive, dead)), 0.0)
        wa = 1.0 - wd
        # per-row gradients of ℓ_a and ℓ_d (natural scale)
        ga, gdd = np.zeros((n, K)), np.zeros((n, K))
        ga[:, 0], gdd[:, 0] = -np.log(Pa), np.where(has, -np.log(Pd), 0.0)
        ga[:, 1], gdd[:, 1] = -m / Pa, np.where(has, -m / Pd, 0.0)
        ga[:, T], gdd[:, T] = -(m / Pa)[:, None] * GAT, np.where(has, -m / Pd, 0.0)[:, None] * GAtx
        ga[:, 2], ga[:, 3] = g2[0][cls], g2[1][cls]
        ga[:, L] = g2[1][cls][:, None] * GCx
        fa, f1, f2 = (np.where(has, v[cls], 0.0) for v in f)
        gdd[:, 2], gdd[:, 3] = fa, f1 + f2
        gdd[:, L] = f1[:, None] * (GCx - Gcl) + f2[:, None] * GCx
        sa, sd = w * wa, np.where(has, w * wd, 0.0)
        H = np.zeros((K, K))
        # shared part
        H[0, 0] = w @ (tg(m) - tg(r))
        H[0, 1] = H[1, 0] = w.sum() / alpha
        H[1, 1] = -w.sum() * r / alpha ** 2
        H[2, 2] = -w.sum() * (tg(a) - tg(a + b))
        H[2, 3] = H[3, 2] = w.sum() * tg(a + b)
        H[3, 3] = -w.sum() * (tg(b) - tg(a + b))
        # purchase process, alive and dead
        ix = np.r_[0, 1, np.arange(4, 4 + kt)]
        H[np.ix_(ix, ix)] += _trans_block(sa, m, Pa, GAT, d.seg_c, ac * d.seg_h, d.seg_X)
        sdm = np.where(has, sd, 0.0)
        Pd_ = np.where(has, Pd, 1.0)
        H[np.ix_(ix, ix)] += _trans_block(sdm, m, Pd_, GAtx, d.seg_c, ac * over, d.seg_X)
        # dropout, alive: log B(a, y2)
        t2r, T2r = t2[cls], (tg(y2) - t2)[cls]
        H[2, 2] += sa @ (tg(a) - t2r)
        H[2, 3] += sa @ -t2r
        H[2, L] += (sa * -t2r) @ GCx
        H[3, 3] += sa @ T2r
        H[3, L] += (sa * T2r) @ GCx
        H[L, L] += _outer(GCx, sa * T2r) + _outer(d.run_Z, (sa * ga[:, 3])[d.run_c] * cn)
        # dropout, dead: f(a, y1, y2)
        Fr = {k: np.where(has, v[cls], 0.0) for k, v in F.items()}
        D1, D2 = GCx - Gcl, GCx
        H[2, 2] += sd @ Fr["aa"]
        H[2, 3] += sd @ (Fr["a1"] + Fr["a2"])
        H[2, L] += (sd * Fr["a1"]) @ D1 + (sd * Fr["a2"]) @ D2
        H[3, 3] += sd @ (Fr["11"] + 2 * Fr["12"] + Fr["22"])
        H[3, L] += (sd * (Fr["11"] + Fr["12"])) @ D1 + (sd * (Fr["12"] + Fr["22"])) @ D2
        H[L, L] += (_outer(D1, sd * Fr["11"]) + _outer(D1, sd * Fr["12"], D2)
                    + _outer(D2, sd * Fr["12"], D1) + _outer(D2, sd * Fr["22"])
                    + _outer(d.run_Z, (sd * (f1 + f2))[d.run_c] * cn))
        H[L, L] -= _outer(zlast, sd * f1 * clast)
        H[3, 2], H[L, 2], H[L, 3] = H[2, 3], H[2, L], H[3, L]
        # the log-sum-exp's cross term
        Dg = ga - gdd
        H += _outer(Dg, np.where(has, w * wa * wd, 0.0))
        # to the log scale of (r, α, a, b)
        g = (w @ (wa[:, None] * ga + wd[:, None] * gdd))[:4]
        g[0] += w @ (digamma(m) - digamma(r) + np.log(alpha))
        g[1] += w.sum() * r / alpha
        g[2] += -w.sum() * (digamma(a) - digamma(a + b))
        g[3] += -w.sum() * (digamma(b) - digamma(a + b))
    sc = np.r_[r, alpha, a, b, np.ones(kt + kl)]
    H = H * sc[:, None] * sc[None, :]
    H[np.arange(4), np.arange(4)] += sc[:4] * g
    return (H + H.T) / 2
