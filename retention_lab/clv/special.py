"""Hypergeometric functions for the BTYD likelihoods, in log space (a leaf: numpy and
:mod:`scipy.special` only).

* :func:`log_hyp2f1` — ``log 2F1(a, b; c; z)`` for ``0 <= z < 1``, with Euler's transformation
  ``2F1(a, b; c; z) = (1−z)^{c−a−b} 2F1(c−a, c−b; c; z)`` where the direct value overflows
  (Abramowitz & Stegun 15.3.3); used by the BG/NBD and MBG/NBD expectations.
* :func:`log_hyp1_grad` — ``log H`` and its derivatives in ``b``, ``c``, ``z`` for
  ``H = 2F1(1, b; c; z)``, the bounded factor of the Pareto/NBD likelihood after Euler's
  transformation (see :mod:`retention_lab.clv.pareto_nbd`): the series differentiated term by
  term (:func:`hyp1_series`), or scipy's 2F1 and central differences near ``z → 1``;
  rows where these are not finite (scipy's 2F1 gives NaN as ``z → 1`` with large ``b``: the
  Pareto/NBD at large ``s``) by exp-sinh quadrature of Euler's integral (:func:`_log_hyp1_quad`).
  :func:`log_hyp1` is ``log H`` alone, with the same fallback.
"""
from __future__ import annotations

import numpy as np
from scipy.special import hyp2f1

__all__ = ["log_hyp2f1", "hyp1_series", "log_hyp1_grad", "log_hyp1", "SERIES_MAX_Z"]

#: above this z the 2F1 series converges slowly (> ~700 terms): parameter derivatives of its
#: log there come from central differences of scipy's 2F1 instead (see log_hyp1_grad)
SERIES_MAX_Z = 0.95


def log_hyp2f1(a, b, c, z):
    """``log 2F1(a, b; c; z)`` for ``0 <= z < 1`` with Euler's transformation as fallback when
    the direct series overflows (large ``a``, ``b`` near ``z → 1``)."""
    with np.errstate(all="ignore"):
        out = np.log(hyp2f1(a, b, c, z))
        bad = ~np.isfinite(out)
        if np.any(bad):
            a, b, c, z = (np.broadcast_to(v, out.shape)[bad] for v in (a, b, c, z))
            out = np.array(out, copy=True)
            out[bad] = np.log(hyp2f1(c - a, c - b, c, z)) + (c - a - b) * np.log1p(-z)
    return out


def hyp1_series(b, c, z):
    """``log H`` and its derivatives in ``b``, ``c``, ``z`` for ``H = 2F1(1, b; c; z)``,
    ``0 <= z <= SERIES_MAX_Z``, ``c > b > 0``, from the series ``H = Σ_n t_n``,
    ``t_{n+1} = t_n z (b+n)/(c+n)``, ``t_0 = 1``, differentiated term by term:
    ``∂t_n/∂b = t_n Σ_{k<n} 1/(b+k)``, ``∂t_n/∂c = −t_n Σ_{k<n} 1/(c+k)``, ``∂t_n/∂z = n t_n/z``.
    With ``c > b`` every term is below ``z^n`` and the sums are summed until the remaining
    tail is below 1e-17 of the total."""
    n_rows = len(b)
    out = np.empty((4, n_rows))
    idx = np.arange(n_rows)
    t = np.ones(n_rows)
    H = np.ones(n_rows)
    Db, Dc, Dz, Sb, Sc = (np.zeros(n_rows) for _ in range(5))
    tail = 1.0 / (1.0 - z)
    n = 0
    while len(idx):
        for _ in range(8):
            ratio = (b + n) / (c + n)
            Sb += 1.0 / (b + n)
            Sc += 1.0 / (c + n)
            Dz += (n + 1) * t * ratio      # Σ n t_n / z, without dividing by z (z may be 0)
            t *= z * ratio
            H += t
            Db += t * Sb
            Dc += t * Sc
            n += 1
        # the tail Σ_{j>n} t_j (1 + S_j + j) is below t_n (1 + S + n + 1/(1-z)) / (1-z)
        bound = t * tail * (1.0 + Sb + Sc + n + tail)
        done = bound <= 1e-17 * H
        if done.any():
            i = idx[done]
            out[0, i], out[1, i], out[2, i], out[3, i] = (np.log(H[done]), Db[done] / H[done],
                                                          -Dc[done] / H[done], Dz[done] / H[done])
            keep = ~done
            idx = idx[keep]
            b, c, z, t, H, Db, Dc, Dz, Sb, Sc, tail = (v[keep] for v in
                                                       (b, c, z, t, H, Db, Dc, Dz, Sb, Sc, tail))
    return out


def log_hyp1_grad(b, c, z):
    """``(log H, ∂log H/∂b, ∂log H/∂c, ∂log H/∂z)`` for ``H = 2F1(1, b; c; z)``: the series
    for ``z <= SERIES_MAX_Z``; above it, ``log H`` and ``∂/∂z`` from scipy's 2F1 (``∂H/∂z =
    (b/c) 2F1(2, b+1; c+1; z)``) and ``∂/∂b``, ``∂/∂c`` by central differences of scipy's
    ``log 2F1`` (relative error ~1e-9; such z need |α−β| > 0.95·max(α, β), far from usual fits)."""
    ser = z <= SERIES_MAX_Z
    if ser.all():  # the usual case: no masks, no copies
        return _patch_nonfinite(hyp1_series(b, c, z), b, c, z)
    out = np.empty((4, len(b)))
    if ser.any():
        out[:, ser] = hyp1_series(b[ser], c[ser], z[ser])
    if not ser.all():
        bb, cc, zz = b[~ser], c[~ser], z[~ser]
        logH = np.log(hyp2f1(1.0, bb, cc, zz))
        hb = 1e-5 * np.maximum(1.0, bb)
        hc = 1e-5 * np.maximum(1.0, cc)
        out[0, ~ser] = logH
        out[1, ~ser] = (np.log(hyp2f1(1.0, bb + hb, cc, zz))
                        - np.log(hyp2f1(1.0, bb - hb, cc, zz))) / (2 * hb)
        out[2, ~ser] = (np.log(hyp2f1(1.0, bb, cc + hc, zz))
                        - np.log(hyp2f1(1.0, bb, cc - hc, zz))) / (2 * hc)
        out[3, ~ser] = bb / cc * hyp2f1(2.0, bb + 1, cc + 1, zz) / np.exp(logH)
    return _patch_nonfinite(out, b, c, z)


def log_hyp1(b, c, z):
    """``log H``, ``H = 2F1(1, b; c; z)`` (scipy's 2F1; rows where it is not finite by
    :func:`_log_hyp1_quad`), for arrays ``b``, ``c``, ``z`` of one shape."""
    return _patch_nonfinite(np.array(np.log(hyp2f1(1.0, b, c, z))), b, c, z)


#: exp-sinh (double exponential) nodes for :func:`_log_hyp1_quad`: ``y = L exp(π/2 sinh t)``,
#: ``t = −5 … 5`` step 1/32 (321 nodes; 50-digit checks give relative errors below 1e-12)
_DE_T = np.arange(-5.0, 5.0 + 1.0 / 64, 1.0 / 32)
_DE_E = np.exp(0.5 * np.pi * np.sinh(_DE_T))
_DE_LOGW = np.log(0.5 * np.pi / 32 * np.cosh(_DE_T) * _DE_E)


def _log_hyp1_quad(b, c, z):
    """``(log H, ∂log H/∂b, ∂log H/∂c, ∂log H/∂z)`` for ``H = 2F1(1, b; c; z)``, ``c > 1``,
    ``c > b > 0``, ``0 <= z < 1``, by quadrature of Euler's integral (DLMF 15.6.1 with
    ``t = y/(1+y)``): ``H = (c−1) ∫_0^∞ (1+y)^{−(c−b)} (1+(1−z)y)^{−b} dy`` — in log space,
    so it stays finite where the series is too slow and scipy's 2F1 gives NaN (``z → 1`` with
    large ``b``: the Pareto/NBD at large ``s``, the exponential-lifetime boundary). The
    derivatives are the integrals of ``log(1+y) − log(1+(1−z)y)``, ``−log(1+y)`` (plus
    ``1/(c−1)``) and ``b y/(1+(1−z)y)`` against the normalised integrand."""
    b, c, z = (np.asarray(v, float)[:, None] for v in (b, c, z))
    eps, m = 1.0 - z, c - b
    L = 1.0 / (m + b * eps)                 # the integrand's scale near y = 0
    y = L * _DE_E
    l1, l2 = np.log1p(y), np.log1p(eps * y)
    lf = -m * l1 - b * l2 + _DE_LOGW + np.log(L)
    mx = lf.max(axis=1, keepdims=True)
    f = np.exp(lf - mx)
    integral = f.sum(axis=1)
    return np.array([np.log(c[:, 0] - 1.0) + mx[:, 0] + np.log(integral),
                     (f * (l1 - l2)).sum(axis=1) / integral,
                     1.0 / (c[:, 0] - 1.0) - (f * l1).sum(axis=1) / integral,
                     (f * (b * y / (1.0 + eps * y))).sum(axis=1) / integral])


def _patch_nonfinite(parts, b, c, z):
    """Replace, in place, the rows of ``parts`` (``log H`` alone, or the (4, rows) output of
    :func:`log_hyp1_grad`) that are not finite by
    :func:`_log_hyp1_quad`; finite rows are left bit-identical."""
    grad = parts.ndim > np.ndim(b)
    flat = parts.reshape((4, -1) if grad else (1, -1))     # a view: parts is contiguous
    bad = ~np.isfinite(flat).all(axis=0)
    if bad.any():
        bb, cc, zz = (np.broadcast_to(v, parts.shape[grad:]).ravel()[bad] for v in (b, c, z))
        flat[:, bad] = _log_hyp1_quad(bb, cc, zz)[:len(flat)]
    return parts
