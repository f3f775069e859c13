"""The BG/CNBD-k, the rolling completion's BG/NBD with regular purchase timing: Erlang-k gaps
as in :mod:`retention_lab.impact.rolling.renewal` (whose module docstring gives the model and
the predictions from a purchase), and the BG/NBD's dropout — after each repeat purchase the
customer leaves for good with probability ``p ~ Beta(a, b)`` (Fader, Hardie & Lee 2005;
Reutterer, Platzer & Schröder 2021, *IJRM* 38(3), without their dropout at the first purchase;
BTYDplus ``bgcnbd``). ``k = 1`` is the BG/NBD.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, special
from scipy.special import gammaln

from ...clv.base import hessian_from_function
from ...clv.beta_geo import BetaGeoFitter
from .renewal import (
    _ErlangFit,
    _inverse_information,
    _poly_grad,
    _roots,
    gauss_beta,
    gauss_gamma,
)


def bgcnbd_loglik(params, x, tx, T, k: int, grad: bool = False):
    """Per-customer BG/CNBD-k log-likelihood without the gap constant (closed form): Erlang-k
    gaps as in :func:`cnbd_loglik`, and after each repeat purchase the customer leaves for good
    with probability ``p ~ Beta(a, b)`` (Fader, Hardie & Lee 2005's dropout; k = 1 is their
    BG/NBD, eq. 6):

        L = B(a, b+x)/B(a, b) · L_λ(T − t_x) + [x > 0] B(a+1, b+x−1)/B(a, b) · L_λ(0).

    ``grad=True``: also the (n, 4) derivatives in the log parameters ``log r, log α, log a,
    log b``."""
    r, alpha, a, b = (float(v) for v in params)
    K0 = r + k * x
    base = gammaln(K0) - gammaln(r) + r * np.log(alpha) - special.betaln(a, b)
    aT, atx = alpha + k * T, alpha + k * tx
    zT = k * (T - tx) / aT
    P, dP_dK, dP_dz = _poly_grad(K0, zT, k)
    alive = base + special.betaln(a, b + x) - K0 * np.log(aT) + np.log(P)
    has = x > 0
    bx1 = np.where(has, b + x - 1, 1.0)
    left = np.where(has, base + special.betaln(a + 1, bx1) - K0 * np.log(atx), -np.inf)
    ll = np.logaddexp(alive, left)
    if not grad:
        return ll
    w = np.exp(left - ll)                       # share of "left after the last purchase"
    dg = special.digamma
    g = np.empty((len(ll), 4))
    d_base = (dg(K0) - dg(r) + np.log(alpha), r / alpha, -(dg(a) - dg(a + b)),
              -(dg(b) - dg(a + b)))
    d_alive = (-np.log(aT) + dP_dK / P, -K0 / aT - dP_dz / P * zT / aT,
               dg(a) - dg(a + b + x), dg(b + x) - dg(a + b + x))
    d_left = (-np.log(atx), -K0 / atx, dg(a + 1) - dg(a + b + x),
              np.where(has, dg(bx1) - dg(a + b + x), 0.0))
    for j, v in enumerate((r, alpha, a, b)):
        g[:, j] = v * (d_base[j] + (1 - w) * d_alive[j] + w * d_left[j])
    return ll, g


class BGCNBD(_ErlangFit, BetaGeoFitter):
    """BG/CNBD-k with the Erlang shape ``k`` fixed (:func:`bgcnbd_loglik`; Reutterer, Platzer &
    Schröder 2021 without their dropout at the first purchase, BTYDplus ``bgcnbd``); parameters
    ``r, alpha, a, b`` as the BG/NBD's. Like :class:`ParetoCNBD`, ``fit`` needs ``log_gaps``."""

    _model_name = "BG/CNBD-2"
    family = "bg"

    def _loglik(self, params, d):
        return bgcnbd_loglik(params, d["x"], d["tx"], d["T"], self.k)

    def _loglik_grad(self, params, d):
        ll, g = bgcnbd_loglik(params, d["x"], d["tx"], d["T"], self.k, grad=True)
        return ll, g / np.asarray(params, float)          # d/dθ from d/dlog θ

    def fit(self, data, recency=None, T=None, weights=None, init=None, **_):
        """Maximum likelihood over the log parameters (L-BFGS-B), started at ``init`` (e.g.
        the fit of k − 1) when given; sets ``params_``, ``log_likelihood_`` (with the gap
        constant), ``variance_matrix_log_`` (lazily)."""
        x, tx, T_, w, const = self._fit_rows(data, recency, T, weights)
        k = self.k

        def nll(z):
            ll, g = bgcnbd_loglik(np.exp(z), x, tx, T_, k, grad=True)
            v = -np.dot(w, ll) / w.sum()
            if not np.isfinite(v):
                return 1e10, np.zeros(4)
            return v, -(w @ g) / w.sum()
        z0 = (np.log([float(init[n]) for n in self._param_names]) if init is not None else
              np.log([1.0, k * max(float(np.average(T_, weights=w)) / 8, 1e-3), 1.0, 1.0]))
        res = optimize.minimize(nll, np.clip(z0, -15, 15), method="L-BFGS-B", jac=True,
                                bounds=[(-15, 15), (-15, 25), (-15, 15), (-15, 15)],
                                options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 500})
        params = np.exp(res.x)
        self.at_bound_ = False
        self.params_ = pd.Series(params, index=list(self._param_names), name="coef")
        self._log_params = np.log(params)
        self.log_likelihood_ = float(np.dot(w, bgcnbd_loglik(params, x, tx, T_, k))) + const
        self.converged_ = bool(res.success)
        names = list(self._param_names)

        def covariance():
            H = hessian_from_function(
                lambda th: -np.dot(w, bgcnbd_loglik(np.exp(th), x, tx, T_, k)), np.log(params))
            return _inverse_information(H, names)
        self._cov, self._cov_fn = None, covariance
        return self

    def probability_alive(self, frequency, recency, T):
        """P(alive just after the last purchase) when it is at ``T``: ``(b+x−1)/(a+b+x−1)``
        (1 for x = 0)."""
        x, tx, T = self._at_purchase(frequency, recency, T)
        a, b = float(self.params_["a"]), float(self.params_["b"])
        return np.where(x > 0, (b + x - 1) / (a + b + np.maximum(x, 1) - 1), 1.0)

    def _bg_nodes(self, x, T, n_lam, n_p):
        """Gauss rules of the posterior at a purchase: λ (n, n_lam, 1), q = 1 − p (n, 1, n_p),
        the factor of being alive after the purchase times the product weights (n, n_lam, n_p):
        ``λ ~ Gamma(r+kx, α+kT)``, ``p ~ Beta(a, b+x−1)`` (x ≥ 1; the customer must survive
        the last purchase: factor q) or ``Beta(a, b)`` (x = 0: factor 1)."""
        r, alpha, a, b = (float(self.params_[n]) for n in self._param_names)
        x, T = np.asarray(x, float), np.asarray(T, float)
        g, wl = gauss_gamma(r + self.k * x, n_lam)
        lam = g / (alpha + self.k * T)[:, None]
        p, wp = gauss_beta(a, np.where(x > 0, b + x - 1, b), n_p)
        q = 1 - p
        alive = np.where((x > 0)[:, None], q, 1.0) * wp
        return lam[:, :, None], q[:, None, :], wl[:, :, None] * alive[:, None, :]

    def expected_purchases(self, t, frequency, recency, T, n_lam: int = 12, n_p: int = 8):
        """Expected purchase days in ``(T, T + t]`` from a purchase at ``T``: given λ and
        ``q = 1 − p``, the renewal density thinned by ``q`` at each purchase is
        ``(θ/k) q^{1/k−1} Σ_l ω_l e^{−θ(1 − ω_l q^{1/k}) t}``, ``θ = kλ``."""
        x, tx, T, t = np.broadcast_arrays(*(np.asarray(v, float)
                                            for v in (frequency, recency, T, t)))
        self._at_purchase(x, tx, T)
        lam, q, alive = self._bg_nodes(x.ravel(), T.ravel(), n_lam, n_p)
        k, th, rho = self.k, self.k * lam, q ** (1.0 / self.k)
        tc = t.ravel()[:, None, None]
        out = 0.0
        for om, mult in _roots(k):
            c = th * (1 - om * rho)
            small = np.abs(c * tc) < 1e-9
            term = np.where(small, tc, -np.expm1(-c * tc) / np.where(small, 1.0, c))
            out = out + mult * (om * term).real
        val = th / k * q ** (1.0 / k - 1) * out * alive
        return val.sum(axis=(1, 2)).reshape(t.shape)

    def retention_at_purchase(self, x, T, gap, R, n_lam: int = 12, n_p: int = 8):
        """P(a purchase day in ``(T + gap, T + gap + R]``) from a purchase at ``T``: alive after
        it, the phase ``j`` (Poisson(θ) events since the last purchase, mod k) at ``T + gap``
        with every purchase survived has weight ``e^{−θg} q^{−j/k} (1/k) Σ_l ω_l^{−j}
        e^{ω_l q^{1/k} θ g}``, and from phase ``j`` the next purchase comes within ``R`` with
        probability ``P(Gamma(k−j, θ) ≤ R)`` (dropout only happens at purchases)."""
        lam, q, alive = self._bg_nodes(x, T, n_lam, n_p)
        k, th, rho = self.k, self.k * lam, q ** (1.0 / self.k)
        g = np.asarray(gap, float)[:, None, None]
        R = np.asarray(R, float)[:, None, None]
        roots = _roots(k)
        E = [np.exp(th * g * (om * rho - 1)) for om, _ in roots]       # once per root
        tot = 0.0
        for j in range(k):
            s = sum(mult * (om ** (-j) * e).real for (om, mult), e in zip(roots, E)) / k
            wj = np.clip(s * rho ** (-j), 0.0, 1.0) if j else np.clip(s, 0.0, 1.0)
            tot = tot + wj * special.gammainc(k - j, th * R)
        return np.sum(alive * tot, axis=(1, 2))


def bg_cnbd(k: int) -> type:
    """The :class:`BGCNBD` class with Erlang shape ``k``."""
    return type(f"BGCNBD{k}", (BGCNBD,), {"k": k, "_model_name": f"BG/CNBD-{k}",
                                          "__doc__": f"BG/CNBD-{k}."})


BGCNBD2, BGCNBD3, BGCNBD4 = (bg_cnbd(k) for k in (2, 3, 4))
