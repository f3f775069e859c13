"""Robust adjusted profile-likelihood intervals for one parameter of a fitted likelihood.

Royall, R. & Tsou, T.-S. (2003), "Interpreting statistical evidence by using imperfect models:
robust adjusted likelihood functions", *J. R. Stat. Soc. B* 65(2), 391–404; the same scaling
is Chandler & Bate's (2007, *Biometrika* 94(1), 167–183) adjustment of an independence
log-likelihood for clustered data, for one parameter.

Model. Parameters ``θ = (ψ, η)``, ``ψ`` scalar, log-likelihood ``ℓ(θ) = Σ_i ℓ_i(θ)`` over
independent units (customers), maximum ``θ̂``. The profile log-likelihood is ``ℓ_p(ψ) = max_η
ℓ(ψ, η)`` and the likelihood-ratio statistic ``W(ψ) = 2 [ℓ(θ̂) − ℓ_p(ψ)]``. Under the model
``W(ψ₀) → χ²₁``; when the model is wrong, ``W(ψ₀) → (σ²_R / σ²_M) χ²₁`` with ``σ²_M =
[H⁻¹]_ψψ`` (``H`` the observed information) and ``σ²_R = [H⁻¹ J H⁻¹]_ψψ`` (``J = Σ_i s_i s_iᵀ``,
the sandwich). The robust adjusted statistic

    W*(ψ) = (σ²_M / σ²_R) · W(ψ)

is ``χ²₁`` either way, and the interval is ``{ψ : W*(ψ) ≤ χ²₁(1 − α)}``, i.e. the two roots of
the signed root ``r*(ψ) = sign(ψ − ψ̂) √W*(ψ) = ±z_{1−α/2}``. Near ``ψ̂``, ``r*(ψ) ≈ (ψ − ψ̂)/σ_R``:
the Wald interval with the robust SE; further out the profile's own shape sets each arm, so
the interval can be asymmetric where the likelihood is (and is invariant to a monotone
reparameterisation of ``ψ``, which the Wald interval is not).

Computation. ``dℓ_p/dψ = ∂ℓ/∂ψ`` at the constrained maximum (the envelope theorem), so each
evaluation of the profile gives ``r*`` and its slope ``dr*/dψ = −(σ²_M/σ²_R) ℓ_p′(ψ) / r*``;
each endpoint is found by safeguarded Newton steps on ``r*`` from the robust Wald endpoint
(:func:`profile_endpoints`, usually 2–4 constrained fits a side). The constrained maxima
(:func:`constrained_maximum`) are BFGS on ``η`` started on the linear approximation of the
profile path, ``η̂ + (ψ − ψ̂) Σ_ηψ / Σ_ψψ`` (``Σ = H⁻¹``), with the first inverse Hessian
``H_ηη⁻¹``.

Measured on the membership fitters (tests/clv/test_membership_slow.py, 600 fits of the
enrolment world, 2,000 customers each): the log-likelihood is so nearly quadratic in the
membership coefficients that this interval is the robust Wald interval to 0.003 SE for
``trans.member`` and 0.11 SE for ``life.member``, with the same coverage; the fitters' summary
keeps the Wald interval, this one is on request (``profile_confidence_interval``).
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize, stats


def signed_root(ll_hat: float, ll_p: float, psi: float, psi_hat: float, scale: float) -> float:
    """``r*(ψ) = sign(ψ − ψ̂) √(scale · 2 [ℓ̂ − ℓ_p(ψ)])`` (``scale = σ²_M/σ²_R``; a profile
    value above ``ℓ̂`` by rounding counts as 0)."""
    return float(np.sign(psi - psi_hat) * np.sqrt(max(0.0, 2.0 * scale * (ll_hat - ll_p))))


def profile_endpoints(profile, psi_hat: float, ll_hat: float, se_robust: float,
                      scale: float = 1.0, level: float = 0.95, *, tol: float = 1e-4,
                      max_eval: int = 30) -> tuple[float, float, int]:
    """``(lower, upper, evaluations)``: the roots of ``r*(ψ) = ∓z`` (module docstring).

    ``profile(ψ) → (ℓ_p(ψ), ℓ_p′(ψ))``; ``scale = σ²_M / σ²_R`` (1: the plain profile
    interval). Each side starts at the robust Wald endpoint ``ψ̂ ± z σ_R`` and takes Newton
    steps on ``r*`` inside the bracket found so far (bisection when a step leaves it or the
    slope is unusable), until ``|r* ∓ z| < tol``. A side whose root is not found in
    ``max_eval`` evaluations is NaN (a profile that never reaches the level: ±inf)."""
    z = float(stats.norm.ppf(0.5 + level / 2))
    out, n_eval = [], 0
    for sign in (-1.0, 1.0):
        target = sign * z
        inner, outer = psi_hat, None          # |r*| below / above z
        psi = psi_hat + target * se_robust
        root = np.nan
        for _ in range(max_eval):
            ll, g = profile(psi)
            n_eval += 1
            r = signed_root(ll_hat, ll, psi, psi_hat, scale) if np.isfinite(ll) else np.nan
            if np.isfinite(r) and abs(r - target) < tol:
                root = psi
                break
            if np.isfinite(r) and abs(r) < z:
                inner = psi
            else:
                outer = psi
            slope = -scale * g / r if np.isfinite(r) and r != 0 and np.isfinite(g) else np.nan
            step = psi + (target - r) / slope if np.isfinite(slope) and slope > 0 else np.nan
            lo, hi = sorted((inner, psi_hat + 50 * target * se_robust if outer is None
                             else outer))
            if not (np.isfinite(step) and lo < step < hi):
                step = (inner + outer) / 2 if outer is not None else psi_hat + 2 * (psi - psi_hat)
            psi = step
        else:
            if outer is None:
                root = sign * np.inf
        out.append(root)
    return out[0], out[1], n_eval


def constrained_maximum(fun_grad, theta_start, j: int, value: float, hess_inv0=None,
                        n: float = 1.0, gtol: float = 1e-7):
    """``(θ*, ℓ(θ*), ∂ℓ/∂θ_j at θ*)``: the maximum of ``ℓ`` over ``θ`` with ``θ_j = value``,
    from ``theta_start``. ``fun_grad(θ) → (ℓ, ∇ℓ)``; ``hess_inv0``: BFGS's first inverse
    Hessian for the free coordinates, on the scale of ``ℓ/n`` (``n``: the objective is
    ``−ℓ/n``, as the fitters', so ``gtol`` means the same)."""
    free = np.arange(len(theta_start)) != j
    theta = np.asarray(theta_start, float).copy()
    theta[j] = value

    def fun(eta):
        t = theta.copy()
        t[free] = eta
        v, g = fun_grad(t)
        if not np.isfinite(v) or not np.all(np.isfinite(g)):
            return np.inf, np.zeros(len(eta))
        return -v / n, -g[free] / n
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        opts = {"gtol": gtol, "maxiter": 500}
        if hess_inv0 is not None:
            opts["hess_inv0"] = hess_inv0
        res = optimize.minimize(fun, theta[free], jac=True, method="BFGS", options=opts)
    theta[free] = res.x
    ll, g = fun_grad(theta)
    return theta, float(ll), float(g[j])


def likelihood_profile(fun_grad, theta_hat, H, j: int, n: float = 1.0):
    """``profile(ψ) → (ℓ_p(ψ), ℓ_p′(ψ))`` for parameter ``j`` of a likelihood maximised at
    ``theta_hat`` with observed information ``H`` (module docstring: each constrained fit
    starts from the nearest one already made, moved along the linear profile path)."""
    theta_hat = np.asarray(theta_hat, float)
    Sigma = np.linalg.inv(H)
    path = Sigma[:, j] / Sigma[j, j]          # dθ/dψ along the linear profile path
    free = np.arange(len(theta_hat)) != j
    Hff = H[np.ix_(free, free)]
    try:
        hinv = np.linalg.inv(Hff) * n
        hinv = (hinv + hinv.T) / 2
        np.linalg.cholesky(hinv)
    except np.linalg.LinAlgError:
        hinv = None
    done = [(theta_hat[j], theta_hat)]

    def profile(psi):
        p0, t0 = min(done, key=lambda pt: abs(pt[0] - psi))
        start = t0 + (psi - p0) * path
        theta, ll, g = constrained_maximum(fun_grad, start, j, psi, hinv, n)
        if np.isfinite(ll):
            done.append((psi, theta))
        return ll, g
    return profile


def robust_profile_interval(fun_grad, theta_hat, H, cov_robust, j: int, level: float = 0.95,
                            *, robust: bool = True, n: float = 1.0):
    """``(lower, upper)`` of parameter ``j``: the robust adjusted profile-likelihood interval
    (Royall & Tsou 2003; module docstring) of a likelihood ``fun_grad(θ) → (ℓ, ∇ℓ)`` maximised
    at ``theta_hat``, observed information ``H``, sandwich covariance ``cov_robust``;
    ``robust=False``: the plain profile-likelihood interval (scale 1)."""
    theta_hat = np.asarray(theta_hat, float)
    ll_hat = float(fun_grad(theta_hat)[0])
    var_model = float(np.linalg.inv(H)[j, j])
    var_robust = float(np.asarray(cov_robust)[j, j])
    scale = var_model / var_robust if robust else 1.0
    se = np.sqrt(var_robust if robust else var_model)
    lo, hi, _ = profile_endpoints(likelihood_profile(fun_grad, theta_hat, H, j, n),
                                  theta_hat[j], ll_hat, se, scale, level)
    return lo, hi


def fitter_profile_interval(model, name: str, level: float = 0.95, robust=None):
    """``(lower, upper)`` of parameter ``name`` of a fitted time-varying fitter
    (:class:`~retention_lab.clv.TimeVaryingParetoNBDFitter` or its BG/NBD subclass) by
    :func:`robust_profile_interval` on the fit's distinct rows: on the natural scale for the
    coefficients, back-transformed from the log scale for ``r, alpha, s/a, beta/b``.
    ``robust=None``: adjusted when the fit's SEs are robust (``se="robust"``, default)."""
    names = list(model.params_.index)
    if name not in names:
        raise ValueError(f"{name!r} is not a parameter of the model {names}")
    j = names.index(name)
    if robust is None:
        robust = getattr(model, "se_method_", "robust") == "robust"
    rows, _ = model.data_.compact(model._purchase_rows)
    lo, hi = robust_profile_interval(lambda t: model._total_and_grad(t, rows), model._theta,
                                     model.hessian_, model.variance_matrix_robust_log_.to_numpy(),
                                     j, level, robust=robust, n=model.n_customers_)
    return (float(np.exp(lo)), float(np.exp(hi))) if j < 4 else (float(lo), float(hi))
