"""The doubly robust means of the rolling design and their delete-one-customer jackknife
(:func:`~retention_lab.impact.rolling.inference._jackknife_psi` gives the estimator and its
references) computed over the comparison rows gathered once, ordered by (customer's number of
comparison rows, customer, row), in blocks of rows (issue 22).

Why: the same numbers as the whole-array computation (to rounding: sums are taken in another
order), without its temporaries. The customers with ``s`` comparison rows are one contiguous
block, so the jackknife's batches of equal size are views instead of gathers; the weighted
least squares and the jackknife pass over blocks of :data:`CHUNK` rows, so no (rows × columns)
array besides the gathered design is made (at 1M customers each was 0.5 GB); a customer with
one comparison row has the closed form ``(1 − h)⁻¹`` of the batched solve; the outcomes and
the completion derivatives are read from the caller's arrays by row index, never stacked
whole. The gathered rows are kept in ``fit`` for the next call on the same rows (the means and
their model-uncertainty term).
"""
from __future__ import annotations

import numpy as np

from ..core.estimators import Means
from .hazard import _varies

#: rows per block of the passes over the comparison rows (a block of 27 columns is 3.5 MB)
CHUNK = 1 << 14


def _rows_of(X: np.ndarray, asc: np.ndarray, cols, order=None) -> np.ndarray:
    """``X[asc[order]][:, cols]`` (``cols`` None: every column; ``order`` None: as they are)
    as a C-ordered array. ``asc`` ascending: the rows are read in order (from a column-major
    ``X`` at 200k customers 0.05 s instead of 0.15 s for rows in the customers' order) and
    then permuted."""
    if cols is None:
        out = X[asc]
    else:
        out = np.empty((len(asc), len(cols)), order="F")
        for j, c in enumerate(cols):
            np.take(X[:, c], asc, out=out[:, j])
        out = np.ascontiguousarray(out)
    return out if order is None else out.take(order, axis=0)


def _gram(Xs: np.ndarray, ws: np.ndarray) -> np.ndarray:
    """``Xs' diag(ws) Xs`` accumulated over blocks of :data:`CHUNK` rows."""
    G = np.zeros((Xs.shape[1], Xs.shape[1]))
    for lo in range(0, len(Xs), CHUNK):
        Xc = Xs[lo:lo + CHUNK]
        G += (Xc * ws[lo:lo + CHUNK, None]).T @ Xc
    return G


def _outcomes(Y: list, idx: np.ndarray) -> np.ndarray:
    """The outcomes of rows ``idx`` as columns (NaN and ±inf as ``np.nan_to_num`` makes them,
    as the estimator always took them)."""
    out = np.empty((len(idx), len(Y)))
    for j, y in enumerate(Y):
        np.take(np.asarray(y, float), idx, out=out[:, j])
    return np.nan_to_num(out, copy=False)


def varying_columns(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The columns of ``X`` kept in a fit on the rows ``rows`` (boolean): the first (the
    intercept) and those of the others that vary there, as
    :func:`~retention_lab.impact.rolling.hazard._varies` of ``X[rows][:, 1:]`` decides —
    without the copy of those rows: maximum and minimum column by column; a constant column
    of integers (sums exact in any order, so its standard deviation is exactly 0) is dropped
    without its standard deviation; any other constant column gets ``_varies`` itself."""
    r = np.flatnonzero(rows)
    keep = np.ones(X.shape[1], bool)
    const = []
    for j in range(1, X.shape[1]):
        x = X[:, j].take(r)
        lo, hi = x.min(initial=np.inf), x.max(initial=-np.inf)
        keep[j] = hi > lo
        if not keep[j]:
            const.append(lo)
    exact = all(np.isfinite(c) and c == np.round(c) and abs(c) * len(r) < 2.0 ** 52
                for c in const)
    if const and not exact:
        keep[1:] = _varies(X[r][:, 1:])
    return keep


def sorted_rows(member, w, X, cluster, n_clusters, rows_ok, cols) -> dict:
    """The rows of the doubly robust means: members ``t = member & rows_ok`` (indices ``it``,
    design ``Xt``, per-customer sums ``Sx`` of the customers ``gm`` with member rows) and
    comparison rows ``c = ~member & rows_ok & (w > 0)`` in the order (customer's number of
    comparison rows, customer, row) (indices ``ic``, design ``Xs``, weights ``ws``, customers
    ``cc``, blocks ``(start, end, size)`` of customers of equal size); the weighted Gram matrix's
    pseudo-inverse ``A_inv`` and whether it is well conditioned (cond < 1e8, as before)."""
    if cols is not None and np.asarray(cols).dtype == bool:
        cols = np.flatnonzero(cols)
    t = member & rows_ok
    c = ~member & rows_ok & (w > 0)
    it, ic = np.flatnonzero(t), np.flatnonzero(c)
    cc = cluster[ic]
    counts = np.bincount(cc, minlength=n_clusters)
    size = counts[cc]
    order = np.argsort(size.astype(np.int64) * n_clusters + cc, kind="stable")
    Xs = _rows_of(X, ic, cols, order)
    ic, cc, size = ic[order], cc[order], size[order]
    edges = np.flatnonzero(np.r_[True, size[1:] != size[:-1], True]) if len(ic) else [0]
    blocks = [(a, b, int(size[a])) for a, b in zip(edges[:-1], edges[1:])]
    ws = w[ic]
    Xt = _rows_of(X, it, cols)
    G = _gram(Xs, ws)
    ev = np.linalg.eigvalsh(G)
    ct = cluster[it]
    mo = np.argsort(ct, kind="stable")          # as _cluster_sums: the same sums
    cts = ct[mo]
    ms = np.flatnonzero(np.r_[True, cts[1:] != cts[:-1]]) if len(cts) else np.zeros(0, int)
    gm = cts[ms]
    pos = np.full(n_clusters, -1, np.int64)
    pos[gm] = np.arange(len(gm))
    return dict(it=it, ic=ic, cc=cc, blocks=blocks, counts=counts, Xs=Xs, ws=ws, Xt=Xt,
                A_inv=np.linalg.pinv(G), well=bool(ev.min() > 1e-8 * ev.max()),
                mo=mo, ms=ms, gm=gm, pos=pos,
                Sx=np.add.reduceat(Xt[mo], ms, axis=0) if len(ms) else np.zeros((0, Xt.shape[1])),
                ntg=np.bincount(ct, minlength=n_clusters).astype(float))


def _coef(r: dict, Y: list) -> tuple[np.ndarray, np.ndarray]:
    """The weighted least squares coefficients of the outcomes ``Y`` on the comparison rows
    (normal equations when well conditioned, else the SVD least squares, as before) and the
    weighted sums ``ws' Y`` of the outcomes over those rows."""
    Xs, ws, ic = r["Xs"], r["ws"], r["ic"]
    XtWY = np.zeros((Xs.shape[1], len(Y)))
    wY = np.zeros(len(Y))
    for lo in range(0, len(ic), CHUNK):
        Yc = _outcomes(Y, ic[lo:lo + CHUNK]) * ws[lo:lo + CHUNK, None]
        XtWY += Xs[lo:lo + CHUNK].T @ Yc
        wY += Yc.sum(axis=0)
    if r["well"]:
        # well conditioned: the normal equations agree with the SVD least squares to
        # ~cond(A)² ε (1e-14 on the flagship, cond 39) at 1/20 of its cost
        return r["A_inv"] @ XtWY, wY
    sq = np.sqrt(ws)
    coef, *_ = np.linalg.lstsq(Xs * sq[:, None], _outcomes(Y, ic) * sq[:, None], rcond=None)
    return coef, wY


def sorted_dr_means(Y: dict, r: dict, n_clusters: int, se: str,
                    max_leverage: float, max_leverage_fn) -> Means | None:
    """:func:`~retention_lab.impact.rolling.inference._dr_means` for ``se`` "jackknife" or
    "none" on the rows ``r`` of :func:`sorted_rows`; None when a customer's joint leverage
    reaches ``max_leverage`` (the caller then keeps the influence functions, as before)."""
    keys = list(Y)
    Yl = [Y[k] for k in keys]
    coef, wY = _coef(r, Yl)
    Yt = _outcomes(Yl, r["it"])
    Xt, ws = r["Xt"], r["ws"]
    mu1 = Yt.mean(axis=0)
    mbar = (Xt @ coef).mean(axis=0)
    sw = ws.sum()
    names = [f"{name}|{suffix}" for name in keys for suffix in ("t", "c")]
    if se == "none":
        # the weighted mean residual of the comparison rows, Σw(y − Xβ̂)/Σw (0 up to rounding
        # with the intercept), from sums: no residual array. Ill conditioned (large
        # coefficients that cancel), from the residuals, block by block
        if r["well"]:
            rbar = (wY - (ws @ r["Xs"]) @ coef) / sw
        else:
            rbar = sum(ws[lo:lo + CHUNK] @ (_outcomes(Yl, r["ic"][lo:lo + CHUNK]) -
                                            r["Xs"][lo:lo + CHUNK] @ coef)
                       for lo in range(0, len(ws), CHUNK)) / sw
        return Means(names, np.column_stack([mu1, mbar + rbar]).ravel(), None)
    out = _jackknife(Yl, Yt, r, coef, n_clusters, max_leverage, max_leverage_fn)
    if out is None:
        return None
    psi, rsum = out
    return Means(names, np.column_stack([mu1, mbar + rsum / sw]).ravel(), psi)


def _jackknife(Yl, Yt, r, coef, n_clusters, max_leverage, max_leverage_fn):
    """The pseudo-values of :func:`~retention_lab.impact.rolling.inference._jackknife_psi`
    (same formulas, ``β̂₍₋g₎ = β̂ − A⁻¹ X_g'W_g (I − H_gg)⁻¹ r_g``) and the weighted sum of the
    comparison rows' residuals; None when a customer's joint leverage reaches the limit."""
    K = len(Yl)
    A_inv, Xs, ws, ic, cc = r["A_inv"], r["Xs"], r["ws"], r["ic"], r["cc"]
    Xt, gm, pos, Sx, ntg = r["Xt"], r["gm"], r["pos"], r["Sx"], r["ntg"]
    nt = len(r["it"])
    S1 = Yt.sum(axis=0)
    Sy = np.add.reduceat(Yt[r["mo"]], r["ms"], axis=0) if len(gm) else np.zeros((0, K))
    xs_t = Xt.sum(axis=0)
    denom = nt - ntg
    denom = np.where(denom > 0, denom, np.nan)
    mu1_g = np.empty((n_clusters, K))
    mu1_g[:] = (S1[None, :] - 0.0) / nt
    mu1_g[gm] = (S1[None, :] - Sy) / denom[gm, None]
    mu0_g = np.empty((n_clusters, K))
    mu0_g[:] = (xs_t[None, :] @ coef) / nt
    mu0_g[gm] = ((xs_t[None, :] - Sx) @ coef) / denom[gm, None]
    rsum = np.zeros(K)
    for a, b, s in r["blocks"]:
        step = max(1, CHUNK // s) * s               # whole customers per block of rows
        for lo in range(a, b, step):
            hi = min(lo + step, b)
            Xc, wc, g_row = Xs[lo:hi], ws[lo:hi], cc[lo:hi]
            R = _outcomes(Yl, ic[lo:hi]) - Xc @ coef
            rsum += wc @ R
            Bg = Xc @ A_inv                                       # (rows, p)
            # v_g = Σ_t X − Σ_{t∈g} X enters through w x' A⁻¹ v_g (A⁻¹ symmetric)
            q = Bg @ xs_t
            pg = pos[g_row]
            has = pg >= 0
            if has.any():
                q[has] -= np.einsum("ij,ij->i", Bg[has], Sx[pg[has]])
            aw = q * wc
            g = g_row[::s]
            if s == 1:
                h = np.einsum("ij,ij->i", Bg, Xc) * wc           # the row's leverage
                if h.max(initial=0.0) >= max_leverage:
                    return None
                corr = aw[:, None] * (R / (1 - h)[:, None])      # (I − H_gg)⁻¹ r_g, 1 × 1
            else:
                n_g = (hi - lo) // s
                Xg = Xc.reshape(n_g, s, -1)
                XAX = Bg.reshape(n_g, s, -1) @ Xg.transpose(0, 2, 1)
                wg = wc.reshape(n_g, s)
                if max_leverage_fn(XAX, wg) >= max_leverage:
                    return None
                M = np.eye(s)[None] - XAX * wg[:, None, :]
                Rg, ag = R.reshape(n_g, s, K), aw.reshape(n_g, s)
                if s == 2:      # the 2 × 2 inverse, a'(I − H)⁻¹ = a' adj(I − H) / det
                    det = M[:, 0, 0] * M[:, 1, 1] - M[:, 0, 1] * M[:, 1, 0]
                    l0 = (ag[:, 0] * M[:, 1, 1] - ag[:, 1] * M[:, 1, 0]) / det
                    l1 = (ag[:, 1] * M[:, 0, 0] - ag[:, 0] * M[:, 0, 1]) / det
                    corr = l0[:, None] * Rg[:, 0] + l1[:, None] * Rg[:, 1]
                else:
                    corr = (ag[:, None, :] @ np.linalg.solve(M, Rg))[:, 0, :]
            mu0_g[g] -= corr / denom[g, None]
    used = (ntg > 0) | (r["counts"] > 0)
    G = int(used.sum())
    cols = []
    for k in range(K):
        for theta in (mu1_g[:, k], mu0_g[:, k]):
            psi = np.zeros(n_clusters)
            v = theta[used]
            psi[used] = np.sqrt((G - 1) / G) * (np.nanmean(v) - np.nan_to_num(v, nan=np.nanmean(v)))
            cols.append(psi)
    return np.column_stack(cols), rsum
