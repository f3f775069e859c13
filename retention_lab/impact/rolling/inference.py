"""Inference of the rolling design: the doubly robust means of members and their
counterfactuals (Sant'Anna & Zhao 2020) with one influence row per customer, the
delete-one-customer jackknife of those means, the effect rows built from them, and the term
that adds the completion model's parameter uncertainty to each customer's influence row
(linearization after imputation, Kim & Rao 2009).
"""
from __future__ import annotations

import copy

import numpy as np

from ..core.balance import METRICS
from ..core.estimators import Means, effect_row
from .jackknife import sorted_dr_means, sorted_rows

#: the standard errors of the doubly robust means (:func:`_dr_means`): "jackknife" (CV3)
SE_METHOD = "jackknife"
SE_METHODS = ("jackknife", "cv2", "influence", "none")


def _dr_means(Y: dict, member: np.ndarray, w: np.ndarray, X: np.ndarray, cluster: np.ndarray,
              n_clusters: int, rows_ok: np.ndarray, m0: np.ndarray | None = None,
              se: str | None = None, fit: dict | None = None, cols=None) -> Means:
    """Members' means (``y|t``) and their doubly robust counterfactual means (``y|c``), with
    one row of ``psi`` per customer code (cluster): ``se="influence"`` the influence functions
    summed within customer (CV0); ``se="jackknife"`` the delete-one-customer jackknife
    pseudo-values of :func:`~.jackknife.sorted_dr_means` (their sum of squares is the jackknife variance,
    CV3); ``se="cv2"`` the Bell–McCaffrey rows of :func:`_cv2_psi` (CR2); ``se="none"`` the
    estimates only (``psi`` None); None: :data:`SE_METHOD`. The jackknife and CV2 fall back to
    the influence functions when a customer's leverage reaches :data:`MAX_JACKKNIFE_LEVERAGE`.
    ``w``: comparison weights; ``rows_ok``: rows used (e.g. surveyed); ``cols``: the columns
    of ``X`` used (None: all; a segment's design without its constant columns). ``fit``: a
    dict shared by calls on the same rows (same ``member, w, X, cluster, rows_ok, cols``
    objects, e.g. the main means and their model-uncertainty term): the rows and the
    factorised ``X'WX`` are computed by the first call and reused by the others (issue 22).

    The jackknife and the estimates alone are computed by
    :func:`~retention_lab.impact.rolling.jackknife.sorted_dr_means` over the comparison rows
    gathered once by customer, in blocks (the same numbers to rounding, without the
    whole-array temporaries); the other standard errors by :func:`_dr_means_rows`."""
    se = SE_METHOD if se is None else se
    if se not in SE_METHODS:
        raise ValueError(f"se must be one of {SE_METHODS}, not {se!r}")
    if m0 is None and se in ("jackknife", "none"):
        source = (member, w, X, cluster, rows_ok, cols)
        r = fit.get("sorted") if fit is not None else None
        if r is None or not all(p is q for p, q in zip(r["source"], source)):
            r = dict(sorted_rows(member, w, X, cluster, n_clusters, rows_ok, cols),
                     source=source)
            if fit is not None:
                fit["sorted"] = r
        m = sorted_dr_means(Y, r, n_clusters, se, MAX_JACKKNIFE_LEVERAGE, _max_leverage)
        if m is not None:
            return m
        se = "influence"       # a customer's leverage reached the limit: as before
    if cols is not None:
        X = X[:, cols]
        fit = None
    return _dr_means_rows(Y, member, w, X, cluster, n_clusters, rows_ok, m0, se, fit)


def _dr_means_rows(Y: dict, member: np.ndarray, w: np.ndarray, X: np.ndarray,
                   cluster: np.ndarray, n_clusters: int, rows_ok: np.ndarray,
                   m0: np.ndarray | None = None, se: str | None = None,
                   fit: dict | None = None) -> Means:
    """:func:`_dr_means` over whole arrays of rows, for the influence functions, CV2, the
    estimates alone and a given ``m0`` (the jackknife is :mod:`.jackknife`'s)."""
    if m0 is not None:
        fit = None
    if fit is None or not _same_rows(fit, member, w, X, cluster, rows_ok):
        fit = _dr_fit(member, w, X, cluster, rows_ok, m0 is None, fit)
    X, w, cluster, t, c, keep = (fit[k] for k in ("X", "w", "cluster", "t", "c", "keep"))
    if keep is not None:
        # only the members and the comparison rows used enter (a segment's rows: issue 22)
        Y = {k: np.asarray(v, float)[keep] for k, v in Y.items()}
        m0 = None if m0 is None else m0[keep]
    nt = t.sum()
    Ym = np.column_stack([np.nan_to_num(np.asarray(Y[k], float)) for k in Y])
    lev = None
    if m0 is None:
        # with the weighted least squares fit (intercept included) the weighted residuals sum
        # to 0, so the counterfactual mean is mean_t X β̂: each comparison row enters through
        # β̂, with w r · X (X'WX)⁻¹ mean_t(X). This equals w r / Σw only when the weights
        # balance X exactly, which odds weights from a logit do only approximately.
        A, A_inv = fit["A"], fit["A_inv"]
        b = Ym[c] * fit["sqrt_w"][:, None]
        if fit["well"]:
            # well conditioned (cond(A) < 1e4): the normal equations agree with the SVD least
            # squares to ~cond(A)² ε (1e-14 on the flagship, cond 39) at 1/20 of its cost
            coef = A_inv @ (A.T @ b)
        else:
            coef, *_ = np.linalg.lstsq(A, b, rcond=None)
        m0 = X @ coef
        lev = fit["lev"]
    sw = w[c].sum()
    # the point estimates for every outcome at once (column-wise means and weighted sums)
    mu1 = Ym[t].mean(axis=0)
    R = Ym - m0
    rbar = (w[c] @ R[c]) / sw
    mbar = m0[t].mean(axis=0)
    mu0 = mbar + rbar
    names = [f"{name}|{suffix}" for name in Y for suffix in ("t", "c")]
    est = np.column_stack([mu1, mu0]).ravel()
    se = SE_METHOD if se is None else se
    if se not in SE_METHODS:
        raise ValueError(f"se must be one of {SE_METHODS}, not {se!r}")
    jack = None
    if lev is not None and se == "cv2":
        jack = _cv2_psi(Ym, R, m0, t, c, w, X, cluster, n_clusters, A_inv, lev)
    if jack is not None or se == "none":    # "none": the estimates only (psi None)
        return Means(names, est, jack)
    cols = []
    for k in range(Ym.shape[1]):
        psi1 = np.zeros(len(Ym))
        psi1[t] = (Ym[t, k] - mu1[k]) / nt
        psi0 = np.zeros(len(Ym))
        psi0[t] = (m0[t, k] - mbar[k]) / nt
        psi0[c] = w[c] * (R[c, k] - rbar[k]) / sw if lev is None else w[c] * R[c, k] * lev
        cols += [np.bincount(cluster, weights=psi, minlength=n_clusters) for psi in (psi1, psi0)]
    return Means(names, est, np.column_stack(cols))


def _same_rows(fit, member, w, X, cluster, rows_ok) -> bool:
    """Whether ``fit`` was computed from these very arrays (identity, not values)."""
    src = fit.get("source")
    return src is not None and all(p is q for p, q in zip(src, (member, w, X, cluster, rows_ok)))


def _dr_fit(member, w, X, cluster, rows_ok, regression: bool, fit: dict | None) -> dict:
    """The rows of :func:`_dr_means` (members and comparison rows used) and, when
    ``regression``, the weighted design ``A = W½ X_c``, ``(A'A)⁺``, whether ``A'A`` is well
    conditioned and each comparison row's leverage on the counterfactual mean. Stored in
    ``fit`` (when given) for the next call on the same rows."""
    source = (member, w, X, cluster, rows_ok)
    t = member & rows_ok
    c = ~member & rows_ok & (w > 0)
    used = t | c
    keep = None
    if not used.all():
        keep = np.flatnonzero(used)
        X, w, cluster, t, c = X[keep], w[keep], cluster[keep], t[keep], c[keep]
    out = dict(X=X, w=w, cluster=cluster, t=t, c=c, keep=keep)
    if regression:
        Xc = X[c]
        sqrt_w = np.sqrt(w[c])
        A = Xc * sqrt_w[:, None]
        AtA = A.T @ A
        A_inv = np.linalg.pinv(AtA)
        ev = np.linalg.eigvalsh(AtA)
        out.update(A=A, A_inv=A_inv, sqrt_w=sqrt_w, well=bool(ev.min() > 1e-8 * ev.max()),
                   # a vector product, not (n, p) @ (p, p)
                   lev=Xc @ (A_inv @ X[t].mean(axis=0)))
        if fit is not None:
            fit.clear()
            fit.update(out, source=source)
    return out


#: largest leverage of a row for which the delete-one-customer jackknife (or CV2) is used
MAX_JACKKNIFE_LEVERAGE = 0.9


def _cv2_psi(Ym, R, m0, t, c, w, X, cluster, n_clusters, A_inv, lev) -> np.ndarray | None:
    """Bell–McCaffrey bias-reduced cluster-robust rows (CR2: Bell & McCaffrey 2002, *Survey
    Methodology* 28(2); Pustejovsky & Tipton 2018, *JBES* 36(4), with the working model
    ``Φ = W⁻¹`` of a weighted fit) of the doubly robust means, in the column order of
    :func:`_dr_means`; their sum of squares is the CR2 variance.

    The means are two regressions on separate rows — the members' means (intercept only, so a
    customer with ``n_tg`` of the ``n_t`` member rows has leverage ``n_tg / n_t``) and the
    weighted least squares of the comparison rows — and each customer's residuals are adjusted
    within their own regression: the members' sums by ``(1 − n_tg/n_t)^{-1/2}``, the comparison
    rows' weighted residuals ``W_g½ r_g`` by ``(I − M_g)^{-1/2}`` (symmetric inverse square root,
    ``M_g = W_g½ X_g A⁻¹ X_g' W_g½``, ``A = X'WX``), which makes the variance unbiased when the
    errors have variance ``σ²/w``. A comparison customer's row is then
    ``(W_g½ ℓ_g)' (I − M_g)^{-1/2} W_g½ r_g`` with ``ℓ = X_g A⁻¹ mean_t(X)`` (the plain sandwich
    without the adjustment, :func:`_dr_means` ``se="influence"``). ``Ym``: the outcomes and
    ``R`` their residuals ``y − m0``, of every row used. None when a customer's joint leverage in either regression
    reaches :data:`MAX_JACKKNIFE_LEVERAGE`."""
    nt = t.sum()
    ct = cluster[t]
    ntg = np.bincount(ct, minlength=n_clusters).astype(float)
    if ntg.max(initial=0.0) >= MAX_JACKKNIFE_LEVERAGE * nt:
        return None
    Ym_t = Ym[t]
    S1, S0 = _cluster_sums(ct, n_clusters, (Ym_t - Ym_t.mean(axis=0)) / nt,
                           (m0[t] - m0[t].mean(axis=0)) / nt)
    scale = 1 / np.sqrt(1 - ntg / nt)
    S1 *= scale[:, None]
    S0 *= scale[:, None]
    ic = np.flatnonzero(c)
    cc = cluster[ic]
    order = np.argsort(cc, kind="stable")
    ic, cc, lc = ic[order], cc[order], lev[order]
    starts = np.flatnonzero(np.r_[True, cc[1:] != cc[:-1]])
    sizes = np.diff(np.r_[starts, len(cc)])
    Xs, sq = X[ic], np.sqrt(w[ic])
    Rs = R[ic] * sq[:, None]                                   # W½ r
    a = sq * lc                                                # W½ ℓ
    for size in np.unique(sizes):
        first = starts[sizes == size]
        rows = first[:, None] + np.arange(size)[None, :]        # (clusters, size)
        Xg, sg = Xs[rows], sq[rows]
        XAX = (Xg.reshape(-1, Xg.shape[2]) @ A_inv).reshape(Xg.shape) @ Xg.transpose(0, 2, 1)
        M = XAX * sg[:, :, None] * sg[:, None, :]
        lam, V = np.linalg.eigh(M)                              # M = V diag(λ) V'
        if lam.max(initial=0.0) >= MAX_JACKKNIFE_LEVERAGE:
            return None
        # (W½ℓ)' V diag((1 − λ)^{-½}) V' W½ r, vectors first: no (clusters, size, size) product
        left = (a[rows][:, None, :] @ V)[:, 0, :] / np.sqrt(1 - lam)    # (clusters, size)
        S0[cc[first]] += (left[:, None, :] @ (V.transpose(0, 2, 1) @ Rs[rows]))[:, 0, :]
    return np.column_stack([col for k in range(R.shape[1]) for col in (S1[:, k], S0[:, k])])


def _cluster_sums(cluster, n_clusters, *arrays) -> list:
    """Each 2-D array's rows summed by cluster, ``(n_clusters, columns)``: one stable sort and
    one ``np.add.reduceat`` per array (issue 22: one bincount per column with ``minlength``
    clusters and their ``column_stack`` cost more). Equal to ``np.bincount``'s sequential
    sums to rounding (numpy adds clusters of more than 8 rows pairwise; bit-identical on the
    flagship benchmark, whose customers have few member rows)."""
    order = np.argsort(cluster, kind="stable")
    cs = cluster[order]
    starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]]) if len(cs) else np.zeros(0, int)
    out = []
    for V in arrays:
        S = np.zeros((n_clusters, V.shape[1]))
        if len(cs):
            S[cs[starts]] = np.add.reduceat(V[order], starts, axis=0)
        out.append(S)
    return out


def _max_leverage(XAX, wg) -> float:
    """The largest joint leverage of a batch of customers — the largest eigenvalue of
    ``W½ X_g A⁻¹ X_g' W½`` (that of ``H_gg``, in [0, 1]; a customer's rows can be collinear
    with leverage 1 together while each row's own leverage is lower) — or, when that is below
    :data:`MAX_JACKKNIFE_LEVERAGE`, an upper bound below it. The eigenvalues of this positive
    semi-definite block sum to its trace, so only customers whose trace reaches the threshold
    need the eigenvalue solver (issue 22: most customers' trace is far below it)."""
    if XAX.shape[1] == 1:
        return float(np.max(XAX[:, 0, 0] * wg[:, 0], initial=0.0))
    trace = np.sum(np.diagonal(XAX, axis1=1, axis2=2) * wg, axis=1)
    big = trace >= MAX_JACKKNIFE_LEVERAGE - 1e-9     # margin for eigvalsh's rounding
    if not big.any():
        return float(np.max(trace, initial=0.0))
    sw = np.sqrt(wg[big])
    M = XAX[big] * sw[:, :, None] * sw[:, None, :]
    return float(np.max(np.linalg.eigvalsh(M), initial=0.0))

def _effect(name, m, method, n, alpha) -> dict:
    num, den = METRICS[name]

    def lvl(mm, g):
        return mm[f"{num}|{g}"] / mm[f"{den}|{g}"] if den else mm[f"{num}|{g}"]
    return effect_row(name, "effect on members", m, lambda mm: lvl(mm, "c"),
                      lambda mm: lvl(mm, "t"), method=method, n=n, alpha=alpha)


def _completion_uncertainty(bg, fit_codes, summary, fit_warnings, complete, base, comp, n_rows,
                            n_cl, outcomes, step: float = 1e-5, derivatives=None) -> dict:
    """What the BG/NBD completion adds to the influence functions (linearization after
    imputation, Kim & Rao 2009, *Biometrika* 96(4), §2; Tsiatis 2006, *Semiparametric Theory and
    Missing Data*, §9.1): the doubly robust means are linear in the outcomes, so with ``θ`` the
    BG/NBD log parameters ``μ̂(θ̂) ≈ μ̂(θ) + Gᵀ(θ̂ − θ)`` with ``G = μ̂(∂Ỹ/∂θ)`` (the estimator
    applied to the derivative of the completed outcomes: ``derivatives``, ``(positions among
    the comparison rows, (completed rows, outcomes, parameters of bg.params_))`` in the log
    parameters, from
    :func:`~retention_lab.impact.rolling.completion_derivatives.completed_with_derivatives`, or
    when None forward differences of ``complete`` with step ``step``), and
    ``θ̂ − θ ≈ Σ_i V s_i`` (``s_i`` a customer's score in ``θ``, ``V`` the fit's
    ``variance_matrix_log_``). Each customer's term ``Gᵀ V s_i`` is added to that customer's
    influence row, so its covariance with the same customer's doubly robust term is kept, and
    ``Σ_i V s_i s_iᵀ V`` is the sandwich variance of ``θ̂`` (robust to a misspecified BG/NBD).

    Returns ``dict(ok, psi_theta (n_cl, k), D (k dicts outcome → per-row derivative), detail)``;
    ``ok`` is False (with the reason in ``detail``) when the covariance is not finite or the
    scores are not, and then the intervals leave the parameter uncertainty out. ``base``: the
    completed outcomes at ``θ̂`` (``complete(bg)[0]``)."""
    V = getattr(bg, "variance_matrix_log_", None)
    # the parameters with a covariance (a Pareto/NBD at its homogeneous-lifetime bound holds s)
    names = list(V.index) if V is not None else list(bg.params_.index)
    why = None
    if V is None or not np.all(np.isfinite(V.to_numpy())):
        why = (f"the {bg._model_name} information matrix is singular or not positive definite "
               "at the estimate, so its covariance is not finite")
    else:
        params = bg.params_.to_numpy(float)
        x, tx, T = (summary[k].to_numpy(float) for k in ("frequency", "recency", "T"))
        _ll, g = bg._loglik_grad(params, bg._prepare(x, tx, T))
        col = [list(bg.params_.index).index(n) for n in names]
        score = g[:, col] * params[col]                     # d ll_i / d log θ
        if not np.all(np.isfinite(score)):
            why = "the BG/NBD scores are not finite at the estimate"
    if why is not None:
        msg = "; ".join(dict.fromkeys(str(w.message) for w in fit_warnings))
        return dict(ok=False, psi_theta=None, D=None, names=names,
                    detail=why + (f" (fit warnings: {msg})" if msg else ""))
    psi_theta = np.zeros((n_cl, len(names)))
    psi_theta[fit_codes] = score @ V.to_numpy()
    D = []
    at = np.flatnonzero(comp)
    for name in names:
        Dk = {}
        if derivatives is not None:
            pos, d = derivatives
            d = d[:, :, list(bg.params_.index).index(name)]
            for j, k in enumerate(outcomes):
                Dk[k] = np.zeros(n_rows)
                Dk[k][at[pos]] = d[:, j]
        else:
            b = copy.copy(bg)
            b.params_ = bg.params_.copy()
            b.params_[name] = float(bg.params_[name]) * np.exp(step)
            d = (complete(b)[0] - base) / step
            for j, k in enumerate(outcomes):
                Dk[k] = np.zeros(n_rows)
                Dk[k][comp] = d[:, j]
        D.append(Dk)
    return dict(ok=True, psi_theta=psi_theta, D=D, names=names, detail="")


def _with_model_uncertainty(m: Means, unc: dict, member, w, X, code, n_cl, ok,
                            fit: dict | None = None, cols=None) -> Means:
    """``m`` with the BG/NBD parameter term of :func:`_completion_uncertainty` added to each
    customer's influence row (unchanged when that term is not available); ``fit``, ``cols``:
    those of the call that made ``m`` (:func:`_dr_means`), whose regression is reused."""
    if not unc["ok"]:
        return m
    # one weighted least squares for every (parameter, outcome) derivative at once
    stacked = {f"{k}#{i}": v for i, Dk in enumerate(unc["D"]) for k, v in Dk.items()}
    gm = _dr_means(stacked, member, w, X, code, n_cl, ok, se="none", fit=fit,   # only gm.est
                   cols=cols)
    G = np.zeros((len(unc["names"]), len(m.names)))
    for name, val in zip(gm.names, gm.est):
        k_i, g = name.split("|")
        k, i = k_i.rsplit("#", 1)
        if f"{k}|{g}" in m.names:
            G[int(i), m.names.index(f"{k}|{g}")] = val
    return Means(m.names, m.est, m.psi + unc["psi_theta"] @ G)
