"""The log-likelihood of the Pareto/NBD with time-varying covariates and its analytic gradient
(Bachmann, Meierer & Näf 2021; the derivation is in :mod:`.covariates_tv`'s docstring), over the
arrays of :class:`.covariates_tv_data.DynamicData`. Moved from :mod:`.covariates_tv` (issue 21).
"""
from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from .covariates import pnbd_log_F_rows
from .covariates_tv_data import DynamicData


def _cum_by_customer(values, d):
    """Cumulative sums of per-segment ``values`` within each customer's block of segments,
    excluding the current one — position by position (each customer's own running sum, so
    a row's value does not depend on the customers before it, as a global cumsum's rounding
    would)."""
    scan = d.__dict__.get("_scan")
    if scan is None:
        first = d.seg_first
        counts = np.diff(np.r_[first, len(d.seg_c)])
        order = np.argsort(-counts, kind="stable")
        n_longer = np.searchsorted(np.sort(counts), np.arange(1, counts.max(initial=1)),
                                   side="right")       # customers with ≤ j segments
        scan = [first[order[:len(counts) - k]] + j for j, k in enumerate(n_longer, start=1)]
        d._scan = scan
    out = np.zeros(len(values))
    for idx in scan:
        out[idx] = out[idx - 1] + values[idx - 1]
    return out


def _states(theta, d: DynamicData):
    """``(a_seg, c_seg, A(T), C(T))`` for parameters ``θ``."""
    kt = d.kt
    gt, gl = theta[4:4 + kt], theta[4 + kt:]
    a = np.exp(d.seg_X @ gt)
    c = np.exp(d.seg_Z @ gl)
    AT = np.bincount(d.seg_c, weights=a * d.seg_h, minlength=d.n)
    CT = np.bincount(d.seg_c, weights=c * d.seg_h, minlength=d.n)
    return a, c, AT, CT


def dynamic_loglik_terms(theta, d: DynamicData):
    """Per-customer ``(log L, log alive-term, log dead-term)`` (the last two share the factor
    ``Π a · Γ(r+x)/Γ(r) α^r β^s``, left out)."""
    r, alpha, s, beta = np.exp(theta[:4])
    kt = d.kt
    a, c, AT, CT = _states(theta, d)
    x = d.x
    m = r + x
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        alive = -m * np.log(alpha + AT) - s * np.log(beta + CT)
        dead = np.full(d.n, -np.inf)
        if len(d.dead_seg):
            k = d.dead_seg
            Astart = _cum_by_customer(a * d.seg_h, d)[k]
            Cstart = _cum_by_customer(c * d.seg_h, d)[k]
            ak, ck = a[k], c[k]
            off = d.dead_lo - d.seg_u0[k]
            p = (alpha + Astart + ak * off) / ak
            q = (beta + Cstart + ck * off) / ck
            xc = x[d.dead_c]
            n2 = len(k)
            lf = pnbd_log_F_rows(r, s, np.r_[xc, xc], np.r_[p, p], np.r_[q, q],
                                 np.r_[np.zeros(n2), d.dead_h])
            f0, fh = lf[:n2], lf[n2:]
            piece = (-(r + xc) * np.log(ak) - s * np.log(ck) + f0
                     + np.log(-np.expm1(np.minimum(fh - f0, 0.0))))
            mx = np.maximum.reduceat(piece, d.dead_first)
            tot = np.add.reduceat(np.exp(piece - np.repeat(mx, np.diff(np.r_[d.dead_first, n2]))),
                                  d.dead_first)
            dead[d.dead_cust] = np.log(s) - np.log(r + s + x[d.dead_cust]) + mx + np.log(tot)
        base = (d.S @ theta[4:4 + kt] + gammaln(m) - gammaln(r) + r * np.log(alpha)
                + s * np.log(beta))
        return base + np.logaddexp(alive, dead), alive, dead


def dynamic_loglik_grad(theta, d: DynamicData, rows: bool = False):
    """Total log-likelihood and its gradient in ``θ = (log r, log α, log s, log β, γ_trans,
    γ_life)``, analytically: the ``(r, p, s, q)`` derivatives of each piece's ``log F`` (the
    2F1 series of :func:`.covariates.pnbd_log_F_rows`) and the chain rule through
    ``p = (α + A(lo))/a``, ``q = (β + C(lo))/c`` with ``∂A(lo)/∂γ = Σ_{earlier} a h x + a·off·x``
    and ``∂a/∂γ = a x`` (the same for ``C``, ``c``, ``z``). Totals are weighted by ``d.w``.
    ``rows=True``: the per-row log-likelihoods and gradients (rows × parameters) instead —
    the per-customer scores of the sandwich."""
    r, alpha, s, beta = np.exp(theta[:4])
    kt, kl = d.kt, d.kl
    a, c, AT, CT = _states(theta, d)
    x = d.x
    m = r + x
    n = d.n
    ah, ch = a * d.seg_h, c * d.seg_h
    GAT = np.zeros((n, kt))
    GCT = np.zeros((n, kl))
    for j in range(kt):
        GAT[:, j] = np.bincount(d.seg_c, weights=ah * d.seg_X[:, j], minlength=n)
    for j in range(kl):
        GCT[:, j] = np.bincount(d.seg_c, weights=ch * d.seg_Z[:, j], minlength=n)
    K = 4 + kt + kl
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        la, lb = np.log(alpha + AT), np.log(beta + CT)
        alive = -m * la - s * lb
        g_alive = np.zeros((n, K))      # natural-scale derivatives for r, α, s, β; γ as is
        g_alive[:, 0] = -la
        g_alive[:, 1] = -m / (alpha + AT)
        g_alive[:, 2] = -lb
        g_alive[:, 3] = -s / (beta + CT)
        g_alive[:, 4:4 + kt] = -(m / (alpha + AT))[:, None] * GAT
        g_alive[:, 4 + kt:] = -(s / (beta + CT))[:, None] * GCT
        dead = np.full(n, -np.inf)
        g_dead = np.zeros((n, K))
        if len(d.dead_seg):
            k = d.dead_seg
            Astart = _cum_by_customer(ah, d)[k]
            Cstart = _cum_by_customer(ch, d)[k]
            ak, ck = a[k], c[k]
            off = d.dead_lo - d.seg_u0[k]
            p = (alpha + Astart + ak * off) / ak
            q = (beta + Cstart + ck * off) / ck
            Xk, Zk = d.seg_X[k], d.seg_Z[k]
            GA = np.column_stack([_cum_by_customer(ah * d.seg_X[:, j], d)[k]
                                  for j in range(kt)]) if kt else np.zeros((len(k), 0))
            GC = np.column_stack([_cum_by_customer(ch * d.seg_Z[:, j], d)[k]
                                  for j in range(kl)]) if kl else np.zeros((len(k), 0))
            GA = GA + (ak * off)[:, None] * Xk
            GC = GC + (ck * off)[:, None] * Zk
            xc = x[d.dead_c]
            n2 = len(k)
            lf = pnbd_log_F_rows(r, s, np.r_[xc, xc], np.r_[p, p], np.r_[q, q],
                                 np.r_[np.zeros(n2), d.dead_h], grad=True)
            f0, fh = lf[:, :n2], lf[:, n2:]
            diff = np.minimum(fh[0] - f0[0], 0.0)
            qh, one_m = np.exp(diff), -np.expm1(diff)
            with np.errstate(invalid="ignore"):
                dL = (f0[1:] - qh * fh[1:]) / one_m      # d log(F0 − Fh) / d(r, p, s, q)
            dL = np.where(one_m > 0, dL, 0.0)           # an empty piece: weight 0 below
            log_ak, log_ck = np.log(ak), np.log(ck)
            piece = -(r + xc) * log_ak - s * log_ck + f0[0] + np.log(one_m)
            gp = np.empty((n2, K))
            gp[:, 0] = -log_ak + dL[0]
            gp[:, 1] = dL[1] / ak
            gp[:, 2] = -log_ck + dL[2]
            gp[:, 3] = dL[3] / ck
            gp[:, 4:4 + kt] = (-(r + xc)[:, None] * Xk
                               + dL[1][:, None] * (GA / ak[:, None] - p[:, None] * Xk))
            gp[:, 4 + kt:] = (-s * Zk
                              + dL[3][:, None] * (GC / ck[:, None] - q[:, None] * Zk))
            first = d.dead_first
            counts = np.diff(np.r_[first, n2])
            mx = np.maximum.reduceat(piece, first)
            e = np.exp(piece - np.repeat(mx, counts))
            tot = np.add.reduceat(e, first)
            wk = e / np.repeat(tot, counts)
            cust = d.dead_cust
            dead[cust] = np.log(s) - np.log(r + s + x[cust]) + mx + np.log(tot)
            g_dead[cust] = np.add.reduceat(wk[:, None] * gp, first, axis=0)
            g_dead[cust, 0] -= 1.0 / (r + s + x[cust])
            g_dead[cust, 2] += 1.0 / s - 1.0 / (r + s + x[cust])
        M = np.logaddexp(alive, dead)
        w_dead = np.exp(dead - M)
        w_alive = 1.0 - w_dead
        ll = (d.S @ theta[4:4 + kt] + gammaln(m) - gammaln(r) + r * np.log(alpha)
              + s * np.log(beta) + M)
        wt = d.w                              # customers per row (1 unless compacted)
        fin = np.isfinite(dead)
        if rows:
            G = w_alive[:, None] * g_alive
            G[fin] += w_dead[fin, None] * g_dead[fin]
            G[:, 0] += digamma(m) - digamma(r) + np.log(alpha)
            G[:, 1] += r / alpha
            G[:, 2] += np.log(beta)
            G[:, 3] += s / beta
            G[:, 4:4 + kt] += d.S
            G[:, :4] *= (r, alpha, s, beta)
            return ll, G
        g = (wt * w_alive) @ g_alive + (wt * w_dead)[fin] @ g_dead[fin]
        W = wt.sum()
        g[0] += wt @ (digamma(m) - digamma(r) + np.log(alpha))
        g[1] += W * r / alpha
        g[2] += W * np.log(beta)
        g[3] += W * s / beta
        g[4:4 + kt] += wt @ d.S
        g[:4] *= (r, alpha, s, beta)          # to the log scale
        return float(wt @ ll), g
