"""Pareto/NBD: Poisson purchasing with exponential lifetimes, gamma heterogeneity in both.

Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987), "Counting your customers: who are they
and what will they do next?", *Management Science* 33(1); the likelihood as in Fader, P. S. &
Hardie, B. G. S. (2005), "A note on deriving the Pareto/NBD model and related expressions"
(eqs. 19–22), as used by Fader, Hardie & Lee (2005) for the CDNOW estimates.

Purchase rate ``λ ~ Gamma(r, α)``, dropout rate ``μ ~ Gamma(s, β)``. For ``x`` repeat purchases,
the last at ``t_x``, observed to ``T``:

    L = Γ(r+x) α^r β^s / Γ(r) · [ 1/((α+T)^{r+x} (β+T)^s) + s/(r+s+x) · A0 ]
    A0 = F(t_x) − F(T),   F(u) = 2F1(r+s+x, b; r+s+x+1; |α−β|/(m+u)) / (m+u)^{r+s+x}

with ``m = max(α, β)`` and ``b = s+1`` if ``α ≥ β`` else ``b = r+x``.

Numerical stability: ``2F1(a, b; a+1; z)`` grows like ``(1−z)^{−b}``, which overflows for
``b = r+x`` with large ``x``. Euler's transformation ``2F1(a, b; c; z) = (1−z)^{c−a−b}
2F1(c−a, c−b; c; z)`` with ``c − a = 1`` leaves ``2F1(1, c−b; c; z) ∈ [1, 1/(1−z)]``, which is
bounded, so ``log F`` is a sum of logs of moderate numbers; ``log A0`` is
``log F(t_x) + log1p(−exp(log F(T) − log F(t_x)))`` and the bracket a ``logaddexp``. No term is
ever exponentiated before the end, so large ``x`` or ``T`` cannot overflow.
"""
from __future__ import annotations

import numpy as np
from scipy import integrate
from scipy.special import digamma, expit, gammaln, hyp2f1

from .base import BaseFitter, distinct_rows
from .beta_geo import BtydMixin


def _log_F(r, alpha, s, beta, x, u):
    """``log F(u)`` of the module docstring (vectorised over ``x``, ``u``)."""
    a = r + s + x
    if alpha >= beta:
        m, b_euler = alpha, r + x          # 2F1(a, s+1; a+1; z) = (1-z)^-s 2F1(1, r+x; a+1; z)
        power = -s
    else:
        m, b_euler = beta, s + 1.0         # 2F1(a, r+x; a+1; z) = (1-z)^(1-r-x) 2F1(1, s+1; a+1; z)
        power = 1.0 - r - x
    z = abs(alpha - beta) / (m + u)
    log_hyp = power * np.log1p(-z) + np.log(hyp2f1(1.0, b_euler, a + 1.0, z))
    return log_hyp - a * np.log(m + u)


#: above this z the 2F1 series converges slowly (> ~700 terms): parameter derivatives of its
#: log there come from central differences of scipy's 2F1 instead (see _log_hyp1_grad)
_SERIES_MAX_Z = 0.95


def _hyp1_series(b, c, z):
    """``log H`` and its derivatives in ``b``, ``c``, ``z`` for ``H = 2F1(1, b; c; z)``,
    ``0 <= z <= _SERIES_MAX_Z``, ``c > b > 0``, from the series ``H = Σ_n t_n``,
    ``t_{n+1} = t_n z (b+n)/(c+n)``, ``t_0 = 1``, differentiated term by term:
    ``∂t_n/∂b = t_n Σ_{k<n} 1/(b+k)``, ``∂t_n/∂c = −t_n Σ_{k<n} 1/(c+k)``, ``∂t_n/∂z = n t_n/z``.
    With ``c > b`` every term is below ``z^n`` and the sums are summed until the remaining
    tail is below 1e-17 of the total."""
    n_rows = len(b)
    out = np.empty((4, n_rows))
    idx = np.arange(n_rows)
    b, c, z = b.copy(), c.copy(), z.copy()
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


def _log_hyp1_grad(b, c, z):
    """``(log H, ∂log H/∂b, ∂log H/∂c, ∂log H/∂z)`` for ``H = 2F1(1, b; c; z)``: the series
    for ``z <= _SERIES_MAX_Z``; above it, ``log H`` and ``∂/∂z`` from scipy's 2F1 (``∂H/∂z =
    (b/c) 2F1(2, b+1; c+1; z)``) and ``∂/∂b``, ``∂/∂c`` by central differences of scipy's
    ``log 2F1`` (relative error ~1e-9; such z need |α−β| > 0.95·max(α, β), far from usual fits)."""
    out = np.empty((4, len(b)))
    ser = z <= _SERIES_MAX_Z
    if ser.any():
        out[:, ser] = _hyp1_series(b[ser], c[ser], z[ser])
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
    return out


def _log_F_grad(r, alpha, s, beta, x, u):
    """``log F(u)`` (module docstring) and its gradient in ``(r, α, s, β)``, shape (5, rows).

    With ``1 − z = (min+u)/(m+u)`` the Euler-transformed form reads
    ``log F = log H − (r+x) log(α+u) − s log(β+u)``, ``H = 2F1(1, r+x; r+s+x+1; (α−β)/(α+u))``
    for ``α ≥ β``, and ``log F = log H − (r+x−1) log(α+u) − (s+1) log(β+u)``,
    ``H = 2F1(1, s+1; r+s+x+1; (β−α)/(β+u))`` for ``α < β``; the chain rule through ``b``,
    ``c = r+s+x+1`` and ``z`` gives the rest.
    """
    la, lb = np.log(alpha + u), np.log(beta + u)
    c = r + s + x + 1.0
    out = np.empty((5, len(x)))
    if alpha >= beta:
        z = (alpha - beta) / (alpha + u)
        lH, Hb, Hc, Hz = _log_hyp1_grad(r + x, c, z)
        out[0] = lH - (r + x) * la - s * lb
        out[1] = Hb + Hc - la
        out[2] = Hz * (beta + u) / (alpha + u) ** 2 - (r + x) / (alpha + u)
        out[3] = Hc - lb
        out[4] = -Hz / (alpha + u) - s / (beta + u)
    else:
        z = (beta - alpha) / (beta + u)
        lH, Hb, Hc, Hz = _log_hyp1_grad(np.full_like(x, s + 1.0), c, z)
        out[0] = lH - (r + x - 1.0) * la - (s + 1.0) * lb
        out[1] = Hc - la
        out[2] = -Hz / (beta + u) - (r + x - 1.0) / (alpha + u)
        out[3] = Hb + Hc - lb
        out[4] = Hz * (alpha + u) / (beta + u) ** 2 - (s + 1.0) / (beta + u)
    return out


def log_A0(r, alpha, s, beta, x, tx, T):
    """``log A0`` of the Pareto/NBD likelihood (−inf where ``t_x == T``)."""
    lf_tx = _log_F(r, alpha, s, beta, x, tx)
    lf_T = _log_F(r, alpha, s, beta, x, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.minimum(lf_T - lf_tx, 0.0)
        return lf_tx + np.log(-np.expm1(diff))


class ParetoNBDFitter(BtydMixin, BaseFitter):
    """Pareto/NBD model (Schmittlein, Morrison & Colombo 1987). Parameters ``r, alpha, s, beta``.

    The likelihood (Fader & Hardie 2005 note, eqs. 19–22) is maximised with its analytic
    gradient: the parameter derivatives of ``log 2F1`` come from differentiating its series
    term by term (:func:`_log_F_grad`); standard errors from central differences of that
    gradient.
    """

    _param_names = ("r", "alpha", "s", "beta")
    _model_name = "Pareto/NBD"
    _reference = "Schmittlein, Morrison & Colombo (1987); Fader & Hardie (2005) note, eqs. 19-22"

    def _prepare(self, x, tx, T):
        # rows are already distinct (x, t_x, T) triples (BtydMixin.fit merges identical ones);
        # F(u) depends on (x, u) only: the gradient evaluates it once per distinct (x, u) pair,
        # u = t_x or T
        n = len(x)
        (px, pu), inv, _ = distinct_rows(np.r_[x, x], np.r_[tx, T])
        return dict(x=x, tx=tx, T=T, px=px, pu=pu, i_tx=inv[:n], i_T=inv[n:])

    def _subset(self, d, idx):
        return self._prepare(d["x"][idx], d["tx"][idx], d["T"][idx])

    def _loglik_grad(self, params, d):
        r, alpha, s, beta = params
        x, T = d["x"], d["T"]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lf = _log_F_grad(r, alpha, s, beta, d["px"], d["pu"])
            f_tx, f_T = lf[:, d["i_tx"]], lf[:, d["i_T"]]
            # log A0 = log(F(t_x) − F(T)); ∂ log A0 = (∂ log F(t_x) − q ∂ log F(T)) / (1 − q)
            diff = np.minimum(f_T[0] - f_tx[0], 0.0)
            q, one_minus_q = np.exp(diff), -np.expm1(diff)
            log_A0 = f_tx[0] + np.log(one_minus_q)
            d_A0 = (f_tx[1:] - q * f_T[1:]) / one_minus_q
            A1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
            la_T, lb_T = np.log(alpha + T), np.log(beta + T)
            alive = -(r + x) * la_T - s * lb_T
            dead = np.log(s) - np.log(r + s + x) + log_A0
            M = np.logaddexp(alive, dead)
            w_dead = np.exp(dead - M)      # 0 where t_x == T (A0 = 0)
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

    def _initial(self, data, weights):
        alpha0 = max(float(np.average(data["T"], weights=weights)) / 4, 1e-3)
        return np.array([1.0, alpha0, 1.0, alpha0])

    def _loglik(self, params, d):
        r, alpha, s, beta = params
        x, tx, T = d["x"], d["tx"], d["T"]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            A1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
            alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
            dead = np.log(s) - np.log(r + s + x) + log_A0(r, alpha, s, beta, x, tx, T)
            return A1 + np.logaddexp(alive, dead)

    # -- predictions ----------------------------------------------------------------------
    def probability_alive(self, frequency, recency, T):
        """P(active at ``T`` | x, t_x, T) (Fader & Hardie 2005 note, eq. 24)."""
        r, alpha, s, beta = self._unload()
        x, tx, T = self._xs(frequency, recency, T)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds = (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T)
                        + s * np.log(beta + T) + log_A0(r, alpha, s, beta, x, tx, T))
        return expit(-log_odds)

    def expected_purchases(self, t, frequency, recency, T):
        """E[X(T, T+t) | x, t_x, T] (Fader & Hardie 2005 note, eq. 27)."""
        x, tx, T = self._xs(frequency, recency, T)
        return self._expected_purchases_if_alive(t, x, T) * self.probability_alive(x, tx, T)

    def _expected_purchases_if_alive(self, t, x, T):
        """E[X(T, T+t) | alive at T, x, T]: eq. 27 without its P(alive) factor (it depends on
        (x, T) only)."""
        r, alpha, s, beta = self._unload()
        t = np.asarray(t, float)
        p1 = (r + x) * (beta + T) / (alpha + T)
        if abs(s - 1) < 1e-8:
            p2 = np.log1p(t / (beta + T))
        else:
            p2 = -np.expm1((s - 1) * (np.log(beta + T) - np.log(beta + T + t))) / (s - 1)
        return p1 * p2

    def expected_number_of_purchases_up_to_time(self, t):
        """Unconditional E[X(t)] for a customer just acquired (eq. 17 of the note)."""
        r, alpha, s, beta = self._unload()
        t = np.asarray(t, float)
        if abs(s - 1) < 1e-8:
            return r * beta / alpha * np.log1p(t / beta)
        return r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))

    def probability_of_n_purchases_up_to_time(self, t, n):
        """P(X(t) = n) for a customer just acquired, by integrating the NBD count over the
        Pareto (Lomax) lifetime: ``NBD(n; t)·S(t) + ∫_0^t NBD(n; τ) f(τ) dτ``."""
        r, alpha, s, beta = self._unload()
        n = int(n)

        def nbd(tau):
            return np.exp(gammaln(r + n) - gammaln(r) - gammaln(n + 1) + r * np.log(alpha / (alpha + tau))
                          + (n * np.log(tau / (alpha + tau)) if n else 0.0))

        def one(tt):
            surv = (beta / (beta + tt)) ** s
            dens = lambda tau: nbd(tau) * s * beta ** s / (beta + tau) ** (s + 1)  # noqa: E731
            return nbd(tt) * surv + integrate.quad(dens, 0, tt, limit=200)[0]

        return np.vectorize(one)(np.asarray(t, float))
