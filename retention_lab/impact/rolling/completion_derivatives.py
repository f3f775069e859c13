"""Derivatives of the rolling design's completed outcomes in the completion model's log
parameters, for the term that adds the model's parameter uncertainty to the influence functions
(:func:`retention_lab.impact.rolling.inference._completion_uncertainty`).

The completed outcomes (:func:`~retention_lab.impact.rolling.gcomputation._completed_from`) of a
row with history ``(x, T)`` at its enrolment, ``g`` days left in its window and a retention
window of ``R`` days are ``E = P(alive) · F`` expected purchase days and ``P(alive) · Q``
retention, where, given alive, ``λ ~ Gamma(k, β)`` with ``k = r + x``, ``β = α + T`` and

* BG/NBD (Fader, Hardie & Lee 2005), ``p ~ Beta(a, b + x)``:
  ``F = E_p[(1 − (β/(β + p g))^k) / p]`` (eq. 10 of the paper is its closed form in 2F1) and
  ``Q = E_p[(β/(β + p g))^k − (β/(β + p g + R))^k]``, both by the Gauss–Jacobi rule of
  :func:`~retention_lab.impact.rolling.completion_retention._bgnbd_retention`;
* Pareto/NBD (Schmittlein, Morrison & Colombo 1987), ``μ ~ Gamma(s, B)``, ``A = α + T``,
  ``B = β + T``: ``F = (k/A) · B (1 − (B/(B + g))^{s−1}) / (s − 1)`` and ``Q`` the
  Gauss–Legendre integral of :func:`~retention_lab.impact.rolling.completion_retention._pnbd_retention`.

The derivatives are those of these integrals, differentiated under the integral sign and taken
by the same rule, the BG/NBD's Gauss–Jacobi nodes and weights differentiated in ``a`` and ``b``
exactly (:func:`beta_rule_derivatives`). They replace forward differences, one full completion
per parameter (issue 22: 4 of the 5 passes over the completed rows, 1.5 s of CPU at 200,000
customers): the differences' own error (``O(h)``, ``h = 1e-5``) was ~1e-6 relative.

The completed outcomes themselves are computed in the same pass, by
:func:`~retention_lab.impact.rolling.gcomputation._completed_from` itself (its retention step
replaced by one that also fills the derivatives).
"""
from __future__ import annotations

import functools

import numpy as np

from ...clv.base import distinct_rows
from ...clv.beta_geo import BetaGeoFitter
from .completion import QuadratureParetoNBD
from .completion_retention import (
    _beta_eigen,
    _beta_nodes,
    _bgnbd_blocks,
    _jacobi_coefficients,
    _pnbd_blocks,
    model_kind,
)
from .gcomputation import _completed_from

#: largest rule for which the weights' derivatives come from the dense first-order eigenvector
#: perturbation (``O(n³)``); larger rules take Richardson-extrapolated central differences of
#: the rule (error ~1e-12, tests/impact/test_rolling_completion_derivatives.py)
DENSE_MAX = 384


def _jacobi_derivatives(a: float, b: float, n: int):
    """Derivatives in ``a`` and ``b`` of the Jacobi matrix of Beta(a, b) (diagonal, off-diagonal
    each ``(2, ·)``), by complex step (its entries are rational in ``a``, ``b``: exact to
    rounding)."""
    h = 1e-30
    dd, do = [], []
    _, off2 = _jacobi_coefficients(a, b, n)
    off = np.sqrt(off2)
    for da, db in ((h, 0.0), (0.0, h)):
        diag_c, off2_c = _jacobi_coefficients(a + 1j * da, b + 1j * db, n)
        dd.append(diag_c.imag / h)
        do.append(off2_c.imag / h / (2 * off))
    return np.array(dd), np.array(do)


@functools.lru_cache(maxsize=1024)
def beta_rule_derivatives(a: float, b: float, n: int):
    """The ``n``-point Gauss rule of Beta(a, b) (:func:`~.gcomputation._beta_nodes`: nodes
    ``p``, weights ``w``) and its derivatives in ``(a, b)``, each ``(2, n)``: ``dp`` by
    Hellmann–Feynman (``dt_i = v_iᵀ dJ v_i``), ``dw = 2 v_{0i} dv_{0i}`` with the first-order
    eigenvector perturbation ``dv_i = Σ_{j≠i} v_j (v_jᵀ dJ v_i)/(t_i − t_j)`` (Golub–Welsch:
    the weights are the squared first components); above :data:`DENSE_MAX` nodes Richardson
    central differences of the rule. Returns ``(p, w, dp, dw)``."""
    if n > DENSE_MAX:
        return _beta_nodes(a, b, n) + _rule_differences(a, b, n)
    # the rule and the eigenvectors from one solution (the rule is _beta_nodes', bit for bit)
    p, w, t, V = _beta_eigen(a, b, n)
    dd, do = _jacobi_derivatives(a, b, n)
    gap = t[None, :] - t[:, None]                   # [j, i] = t_i − t_j
    np.fill_diagonal(gap, np.inf)
    dp, dw = np.empty((2, n)), np.empty((2, n))
    for q in range(2):
        dJV = dd[q][:, None] * V
        dJV[:-1] += do[q][:, None] * V[1:]
        dJV[1:] += do[q][:, None] * V[:-1]
        M = V.T @ dJV                               # [j, i] = v_jᵀ dJ v_i
        dp[q] = np.diagonal(M) / 2
        dw[q] = 2 * V[0] * (V[0] @ (M / gap))
    for arr in (p, w, dp, dw):
        arr.flags.writeable = False
    return p, w, dp, dw


def _rule_differences(a: float, b: float, n: int):
    """``(dp, dw)`` of the Beta(a, b) Gauss rule in ``(a, b)`` by Richardson-extrapolated
    central differences (steps 1e-3 and 2e-3 relative)."""
    rule = _beta_nodes.__wrapped__
    out = []
    for q in range(2):
        h = 1e-3 * (a, b)[q]
        d = []
        for s in (h, 2 * h):
            plus = rule(a + s * (q == 0), b + s * (q == 1), n)
            minus = rule(a - s * (q == 0), b - s * (q == 1), n)
            d.append([(u - v) / (2 * s) for u, v in zip(plus, minus)])
        out.append([(4 * d1 - d2) / 3 for d1, d2 in zip(*d)])
    dp = np.array([out[0][0], out[1][0]])
    dw = np.array([out[0][1], out[1][1]])
    return dp, dw


def _bgnbd_terms(bg, x, T, gap, R, n_nodes: int = 24):
    """For BG/NBD rows (``gap`` the days left in the window, ``R`` the retention window):
    ``Q`` exactly as :func:`~.completion_retention._bgnbd_retention` sums it (before its
    P(alive) factor; the same blocks, :func:`~.completion_retention._bgnbd_blocks`, so the same
    bits), and ``dQ``, ``F``, ``dF`` (module docstring), the derivatives ``(n, 4)`` in
    ``(r, α, a, b)``."""
    x, T, gap, R = (np.asarray(v, float).ravel() for v in np.broadcast_arrays(x, T, gap, R))
    k, be = float(bg.params_["r"]) + x, float(bg.params_["alpha"]) + T
    Q = np.empty(len(x))
    # row sums: v·[dw_a, dw_b], y·[w, w dp_a, w dp_b], z·w, m·[w/p, …], c·w/p, f·[w, …]
    S = np.empty((len(x), 13))
    rule = None
    for rr, nodes, pg, L1, L2, e1, e2 in _bgnbd_blocks(bg, x, T, gap, R, n_nodes,
                                                       beta_rule_derivatives):
        if nodes is not rule:                     # a new rule: its matrices, once per x
            rule = nodes
            P, W, dP, dW = nodes
            wdp = W * dP
            mats = (np.column_stack([dW[0], dW[1]]),
                    np.column_stack([W, wdp[0], wdp[1]]),
                    W,
                    np.column_stack([W / P, (dW[0] - wdp[0] / P) / P, (dW[1] - wdp[1] / P) / P]),
                    W / P,
                    np.column_stack([W, wdp[0] / P, wdp[1] / P]))
        bb, Rr = be[rr, None], R[rr, None]
        v = e1 - e2
        Q[rr] = np.sum(W * v, axis=1)
        S[rr, 0:2] = v @ mats[0]
        pg += bb                                       # β + p g
        y = np.divide(e1, pg, out=v)                   # f = e1/(β + p g)
        S[rr, 10:13] = y @ mats[5]
        pg += Rr
        y -= np.divide(e2, pg, out=pg)
        S[rr, 2:5] = y @ mats[1]
        L1 *= e1
        L2 *= e2
        S[rr, 9] = L1 @ mats[4]
        L2 -= L1
        S[rr, 5] = L2 @ mats[2]
        # 1 − e1: its rounding (1e-16 absolute) is below 1e-9 of F (module docstring)
        S[rr, 6:9] = np.subtract(1.0, e1, out=e1) @ mats[3]
    kg = k * gap
    dQ = np.column_stack([S[:, 5], k / be * Q - k * S[:, 2], S[:, 0] - kg * S[:, 3],
                          S[:, 1] - kg * S[:, 4]])
    F = S[:, 6]
    dF = np.column_stack([S[:, 9], -kg / be * S[:, 10], S[:, 7] + kg * S[:, 11],
                          S[:, 8] + kg * S[:, 12]])
    return Q, dQ, F, dF


def _bgnbd_alive_derivative(bg, x, alive):
    """d P(alive)/d(r, α, a, b) of BG/NBD at a purchase (``t_x = T``: the odds are
    ``a / (b + x − 1)`` for ``x > 0``; P(alive) = 1 for ``x = 0``)."""
    b = float(bg.params_["b"])
    s = np.where(x > 0, alive * (1 - alive), 0.0)
    return np.column_stack([np.zeros(len(x)), np.zeros(len(x)), -s / float(bg.params_["a"]),
                            s / np.where(x > 0, b + x - 1, 1.0)])


def _pnbd_terms(pn, x, T, gap, R, n_nodes: int = 24):
    """For Pareto/NBD rows: ``Q`` exactly as :func:`~.completion_retention._pnbd_retention`
    sums it (before its P(alive) factor, 1 at a purchase; the same blocks,
    :func:`~.completion_retention._pnbd_blocks`, so the same bits) and
    ``dQ``, ``F`` (E[purchases in ``gap`` | alive], closed form: module docstring), ``dF`` in
    ``(r, α, s, β)``. With ``P = V Σ h f(v)``, ``v = c V``, ``V = log(1 + R/A)``,
    ``log f = log k − k v − s ℓ``, ``ℓ = log(1 + N/B)``, ``N = g + A(e^v − 1)``: the
    derivatives under the sum, ``V`` moving with ``A``."""
    x, T, gap, R = (np.asarray(v, float).ravel() for v in np.broadcast_arrays(x, T, gap, R))
    s_ = float(pn.params_["s"])
    k, A, B = float(pn.params_["r"]) + x, float(pn.params_["alpha"]) + T, \
        float(pn.params_["beta"]) + T
    V = np.log1p(R / A)
    Q = np.empty(len(x))
    S = np.empty((len(x), 5))          # Σ h f · [v, ℓ, N/(B+N), (e^v − 1)/(B+N), v e^v/(B+N)]
    for rows, w, Vr, Br, v, em, N, ell, f in _pnbd_blocks(pn, x, T, gap, R, n_nodes):
        Q[rows] = np.sum(w[None, :] / 2 * Vr * f, axis=1)
        hf = w / 2 * f
        iBN = 1 / (Br + N)
        S[rows] = np.column_stack([np.sum(hf * v, axis=1), np.sum(hf * ell, axis=1),
                                   np.sum(hf * N * iBN, axis=1), np.sum(hf * em * iBN, axis=1),
                                   np.sum(hf * v * (em + 1) * iBN, axis=1)])
    S0 = Q / V
    dV = -R / (A * (A + R))
    dQ = np.column_stack([V * (S0 / k - S[:, 0]),
                          dV * (S0 - k * S[:, 0] - s_ * A * S[:, 4]) - s_ * V * S[:, 3],
                          -V * S[:, 1],
                          s_ * V * S[:, 2] / B])
    # F = (k/A) B (1 − ρ^{s−1})/(s − 1), ρ = B/(B + g) (log ρ by log1p: B is large where s is)
    log_rho = -np.log1p(gap / B)
    p1 = k * B / A
    if abs(s_ - 1) < 1e-8:
        p2 = -log_rho
        dp2_ds, q = -log_rho ** 2 / 2, np.ones(len(x))
    else:
        q = np.exp((s_ - 1) * log_rho)
        p2 = -np.expm1((s_ - 1) * log_rho) / (s_ - 1)
        dp2_ds = -(q * log_rho) / (s_ - 1) - p2 / (s_ - 1)
    F = p1 * p2
    dF = np.column_stack([p2 * B / A, -F / A, p1 * dp2_ds,
                          F / B - p1 * q * gap / (B * (B + gap))])
    return Q, dQ, F, dF


#: the parameters in the order of the columns of :func:`_bgnbd_terms` / :func:`_pnbd_terms`
_ORDER = {"bg": ("r", "alpha", "a", "b"), "pareto": ("r", "alpha", "s", "beta")}


def _model_kind(bg) -> str | None:
    """:func:`~.completion_retention.model_kind` (the retention's dispatch), where the
    derivatives here are those of that retention: ``"bg"`` for a
    :class:`~retention_lab.clv.BetaGeoFitter`, ``"pareto"`` for the quadrature Pareto/NBD
    (their derivatives take P(alive) = 1 at a purchase, which holds exactly for it), else None
    (the Erlang-k models and other classes: the caller takes forward differences)."""
    kind = model_kind(bg)
    exact = {"bg": BetaGeoFitter, "pareto": QuadratureParetoNBD}.get(kind)
    return kind if exact is not None and isinstance(bg, exact) else None


def completed_with_derivatives(inp: dict, bg):
    """:func:`~.gcomputation._completed_from` (computed by it: the same numbers, bit for bit)
    and the derivatives of the completed rows' outcomes in the log parameters of ``bg``: an
    array ``(completed rows inp["i"], 3, parameters)`` in the order of ``bg.params_`` (orders,
    spend, retained), filled while the retention is computed. Returns ``(out, cens,
    derivatives)``, or None for the models without derivatives here (the Erlang-k models: the
    caller takes forward differences)."""
    kind = _model_kind(bg)
    if kind is None:
        return None
    cens, j = inp["cens"], inp.get("j")
    D = np.zeros((len(inp["i"]) if cens.any() else 0, 3, len(bg.params_)))

    def retention(xj, Tj, gj, Rj):
        xj, Tj, gj = (np.asarray(v, float).ravel() for v in (xj, Tj, gj))
        # once per distinct (x, T, days left, R): 19 % fewer rows at 200,000 customers of the
        # flagship, 35 % at a million (each row's sums depend on its own inputs only)
        uniq, inv, _ = distinct_rows(xj, Tj, gj, np.asarray(Rj, float).ravel())
        terms = _bgnbd_terms if kind == "bg" else _pnbd_terms
        Q, dQ, F, dF = (v[inv] for v in terms(bg, *uniq))
        alive = bg.probability_alive(xj, Tj, Tj)
        da = (_bgnbd_alive_derivative(bg, xj, alive) if kind == "bg"
              else np.zeros((len(xj), 4)))          # P(alive) = 1 at a purchase
        cols = [_ORDER[kind].index(name) for name in bg.params_.index]
        logs = bg.params_.to_numpy(float)            # d/d log θ = θ d/dθ
        dE = (da * F[:, None] + alive[:, None] * dF)[:, cols] * (logs * (gj > 0)[:, None])
        D[j, 0] = dE
        D[j, 1] = dE * inp["per_day_spend"][j, None]
        D[j, 2] = (da * Q[:, None] + alive[:, None] * dQ)[:, cols] * logs
        return alive * Q
    out, cens = _completed_from(inp, bg, retention)
    return out, cens, D
