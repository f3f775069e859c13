"""Per-row likelihoods and predictions of the Pareto/NBD and BG/NBD models, with per-row
parameters — written once, used by the plain fitters (one parameter value broadcast to every
row), by the time-invariant covariate models (each customer's own ``α_i, β_i`` or
``α_i, a_i, b_i``) and by the time-varying model (shifted ``α, β``).

Pareto/NBD (Schmittlein, Morrison & Colombo 1987; the likelihood of Fader & Hardie 2005, "A
note on deriving the Pareto/NBD model and related expressions", eqs. 19–22, 24, 27):

    L = Γ(r+x) α^r β^s / Γ(r) · [ 1/((α+T)^{r+x} (β+T)^s) + s/(r+s+x) · A0 ],
    A0 = F(t_x) − F(T),  F(u) = 2F1(r+s+x, b; r+s+x+1; |α−β|/(m+u)) / (m+u)^{r+s+x}

with ``m = max(α, β)``, ``b = s+1`` if ``α ≥ β`` else ``r+x``; ``F`` is evaluated in Euler's
transformed form (bounded ``2F1(1, ·; ·; z)``, :func:`~retention_lab.clv.special.log_hyp1_grad`)
and every term in log space, so large ``x`` or ``T`` cannot overflow.

BG/NBD (Fader, Hardie & Lee 2005, eqs. 6, 10, 12).
"""
from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln

from .special import log_hyp1, log_hyp1_grad, log_hyp2f1

__all__ = ["pnbd_log_F_rows", "pnbd_loglik_terms", "pnbd_loglik_rows",
           "pnbd_probability_alive_rows", "pnbd_expected_if_alive_rows", "bgnbd_loglik_rows",
           "bgnbd_probability_alive_rows", "bgnbd_expected_if_alive_rows"]


def _branches(ge):
    """The rows of each branch of ``F`` (``α ≥ β`` or not): ``...`` (all rows) when they
    share the branch (always, for one ``α, β``)."""
    if ge.all():
        return ((True, ...),)
    if not ge.any():
        return ((False, ...),)
    return ((True, ge), (False, ~ge))


# ---------------------------------------------------------------------------- Pareto/NBD
def pnbd_log_F_rows(r, s, x, alpha, beta, u, grad: bool = False):
    """``log F(u)`` of the Pareto/NBD likelihood with per-row ``α, β`` (arrays or numbers), and
    with ``grad`` its derivatives in ``(r, α, s, β)`` (shape (5, rows): ``log F`` first).

    ``F(u) = 2F1(r+s+x, b; r+s+x+1; |α−β|/(m+u)) / (m+u)^{r+s+x}``, ``m = max(α, β)``, in the
    Euler-transformed form ``log F = log H − (r+x) log(α+u) − s log(β+u)``,
    ``H = 2F1(1, r+x; r+s+x+1; (α−β)/(α+u))`` for ``α ≥ β`` and ``log F = log H −
    (r+x−1) log(α+u) − (s+1) log(β+u)``, ``H = 2F1(1, s+1; r+s+x+1; (β−α)/(β+u))`` for
    ``α < β`` (``H`` is bounded by ``1/(1−z)``, so nothing overflows); the chain rule through
    ``b``, ``c = r+s+x+1`` and ``z`` gives the gradient. ``α``, ``β`` may be shifted (negative)
    as long as ``α+u, β+u > 0`` (the time-varying model uses that).
    """
    x, alpha, beta, u = np.broadcast_arrays(*(np.asarray(v, float) for v in (x, alpha, beta, u)))
    out = np.empty(((5,) if grad else ()) + x.shape)
    for ge, sel in _branches(alpha >= beta):
        xs, al, be, us = x[sel], alpha[sel], beta[sel], u[sel]
        la, lb = np.log(al + us), np.log(be + us)
        c = r + s + xs + 1.0
        if ge:
            z, bpar = (al - be) / (al + us), r + xs
        else:
            z, bpar = (be - al) / (be + us), np.full_like(xs, s + 1.0)
        if not grad:
            lH = log_hyp1(bpar, c, z)
            out[sel] = (lH - (r + xs) * la - s * lb if ge
                        else lH - (r + xs - 1.0) * la - (s + 1.0) * lb)
            continue
        hyp = log_hyp1_grad(bpar.ravel(), c.ravel(), z.ravel())
        lH, Hb, Hc, Hz = (v.reshape(xs.shape) for v in hyp)
        ia, ib = 1.0 / (al + us), 1.0 / (be + us)
        if ge:
            parts = (lH - (r + xs) * la - s * lb, Hb + Hc - la,
                     Hz * (be + us) * ia ** 2 - (r + xs) * ia, Hc - lb, -Hz * ia - s * ib)
        else:
            parts = (lH - (r + xs - 1.0) * la - (s + 1.0) * lb, Hc - la,
                     -Hz * ib - (r + xs - 1.0) * ia, Hb + Hc - lb,
                     Hz * (al + us) * ib ** 2 - (s + 1.0) * ib)
        for k, part in enumerate(parts):
            out[k][sel] = part
    return out


def pnbd_loglik_terms(r, s, alpha, beta, x, T, f_tx, f_T, grad: bool = False):
    """Per-row Pareto/NBD log-likelihood from ``log F(t_x)`` and ``log F(T)``
    (:func:`pnbd_log_F_rows`; with ``grad``, their (5, rows) arrays with derivatives), and with
    ``grad`` its derivatives in ``(r, α, s, β)`` (rows × 4).

    ``log A0 = log F(t_x) + log(1 − q)``, ``q = F(T)/F(t_x)``, so ``∂ log A0 = (∂ log F(t_x) −
    q ∂ log F(T)) / (1 − q)``; the bracket is a ``logaddexp`` of the alive and dead terms.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        A1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        la_T, lb_T = np.log(alpha + T), np.log(beta + T)
        alive = -(r + x) * la_T - s * lb_T
        if not grad:
            diff = np.minimum(f_T - f_tx, 0.0)
            dead = np.log(s) - np.log(r + s + x) + f_tx + np.log(-np.expm1(diff))
            return A1 + np.logaddexp(alive, dead)
        diff = np.minimum(f_T[0] - f_tx[0], 0.0)
        q, one_minus_q = np.exp(diff), -np.expm1(diff)
        dead = np.log(s) - np.log(r + s + x) + f_tx[0] + np.log(one_minus_q)
        d_A0 = (f_tx[1:] - q * f_T[1:]) / one_minus_q
        M = np.logaddexp(alive, dead)
        w_dead = np.exp(dead - M)          # 0 where t_x == T (A0 = 0)
        w_alive = 1.0 - w_dead
        d_A0 = np.where(w_dead > 0, d_A0, 0.0)
        g = np.empty((len(x), 4))
        g[:, 0] = (digamma(r + x) - digamma(r) + np.log(alpha) - w_alive * la_T
                   + w_dead * (d_A0[0] - 1.0 / (r + s + x)))
        g[:, 1] = r / alpha - w_alive * (r + x) / (alpha + T) + w_dead * d_A0[1]
        g[:, 2] = (np.log(beta) - w_alive * lb_T
                   + w_dead * (d_A0[2] + 1.0 / s - 1.0 / (r + s + x)))
        g[:, 3] = s / beta - w_alive * s / (beta + T) + w_dead * d_A0[3]
        return A1 + M, g


def pnbd_loglik_rows(r, s, alpha, beta, x, tx, T, grad: bool = False):
    """Per-row Pareto/NBD log-likelihood with per-row ``α_i, β_i``; with ``grad`` also the
    per-row derivatives in ``(r, α_i, s, β_i)`` (rows × 4)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not grad:
            f_tx = pnbd_log_F_rows(r, s, x, alpha, beta, tx)
            f_T = pnbd_log_F_rows(r, s, x, alpha, beta, T)
            return pnbd_loglik_terms(r, s, alpha, beta, x, T, f_tx, f_T)
        n = len(x)
        alpha_, beta_ = (np.broadcast_to(v, np.shape(x)) for v in (alpha, beta))
        lf = pnbd_log_F_rows(r, s, np.r_[x, x], np.r_[alpha_, alpha_], np.r_[beta_, beta_],
                             np.r_[tx, T], grad=True)
        return pnbd_loglik_terms(r, s, alpha, beta, x, T, lf[:, :n], lf[:, n:], grad=True)


def pnbd_probability_alive_rows(r, s, alpha, beta, x, tx, T):
    """P(alive at T | x, t_x, T) with per-row ``α_i, β_i`` (Fader & Hardie 2005 note, eq. 24)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        f_tx = pnbd_log_F_rows(r, s, x, alpha, beta, tx)
        f_T = pnbd_log_F_rows(r, s, x, alpha, beta, T)
        diff = np.minimum(f_T - f_tx, 0.0)
        log_odds = (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T)
                    + s * np.log(beta + T) + f_tx + np.log(-np.expm1(diff)))
    return expit(-log_odds)


def pnbd_expected_if_alive_rows(r, s, alpha, beta, x, T, t):
    """E[X(T, T+t) | alive at T] with per-row ``α_i, β_i`` (eq. 27 of the note without its
    P(alive) factor)."""
    t = np.asarray(t, float)
    p1 = (r + x) * (beta + T) / (alpha + T)
    if abs(s - 1) < 1e-8:
        p2 = np.log1p(t / (beta + T))
    else:
        p2 = -np.expm1((s - 1) * (np.log(beta + T) - np.log(beta + T + t))) / (s - 1)
    return p1 * p2


# ---------------------------------------------------------------------------- BG/NBD
def bgnbd_loglik_rows(r, alpha, a, b, x, tx, T, grad: bool = False):
    """Per-row BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6) with per-row
    ``α_i, a_i, b_i``; with ``grad`` the per-row derivatives in ``(r, α_i, a_i, b_i)``."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        has = x > 0
        bx1 = np.where(has, b + x - 1, 1.0)
        rx = r + x
        A3 = -rx * np.log(alpha + T)
        A4 = np.where(has, np.log(a) - np.log(bx1) - rx * np.log(alpha + tx), -np.inf)
        M = np.logaddexp(A3, A4)
        ll = (gammaln(rx) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
              + M)
        if not grad:
            return ll
        w4 = np.exp(A4 - M)
        w3 = 1.0 - w4
        dab = digamma(a + b) - digamma(a + b + x)
        g = np.empty((len(x), 4))
        g[:, 0] = (digamma(rx) - digamma(r) + np.log(alpha) - w3 * np.log(alpha + T)
                   - w4 * np.log(alpha + tx))
        g[:, 1] = r / alpha - rx * (w3 / (alpha + T) + w4 / (alpha + tx))
        g[:, 2] = dab + w4 / a
        g[:, 3] = digamma(b + x) - digamma(b) + dab - w4 * np.where(has, 1.0 / bx1, 0.0)
        return ll, g


def bgnbd_probability_alive_rows(r, alpha, a, b, x, tx, T):
    """P(alive at T) with per-row ``α_i, a_i, b_i`` (eq. 12); 1 for ``x = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds = (np.log(a) - np.log(np.where(x > 0, b + x - 1, 1.0))
                    + (r + x) * (np.log(alpha + T) - np.log(alpha + tx)))
    return np.where(x > 0, expit(-log_odds), 1.0)


def bgnbd_expected_if_alive_rows(r, alpha, a, b, x, T, t):
    """E[X(T, T+t) | alive at T] with per-row ``α_i, a_i, b_i`` (eq. 10 without P(alive))."""
    t = np.asarray(t, float)
    ln_hyp = log_hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    first = (a + b + x - 1) / (a - 1)
    return first * -np.expm1(ln_hyp + (r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
