"""Always-valid confidence sequences for a running holdout.

The boundary
------------
Every interval here is the two-sided *Gaussian-mixture* (Robbins normal-mixture) boundary in the
form of the asymptotic confidence sequence (AsympCS) of Waudby-Smith, Arnold, Wu, Howard & Ramdas
(2023, "Time-uniform central limit theory and asymptotic confidence sequences", Ann. Statist.;
arXiv:2103.06476, Theorem 2.2): for i.i.d. (or martingale-difference) terms ``φ_i`` with mean
``ψ`` and standard deviation ``σ``, with ``ψ̂_t`` and ``σ̂_t`` their running mean and SD,

    ψ̂_t ± σ̂_t · sqrt( 2 (t ρ² + 1) / (t² ρ²) · log( sqrt(t ρ² + 1) / α ) )          (AsympCS)

covers ``ψ`` at every ``t`` simultaneously with probability → ``1 − α``. It is the normal-mixture
boundary of Howard, Ramdas, McAuliffe & Sekhon (2021, eq. (14), two-sided, mixing variance
``σ²/ρ²`` in intrinsic time ``v = t σ²``) applied to the Gaussian process that strongly
approximates the partial sums. ``ρ`` only moves where the sequence is tightest, never its
validity; it is fixed in advance from the planned number of terms ``t*`` by the paper's
approximate optimum ``ρ² = (−2 log α + log(1 − 2 log α)) / t*``.

In *information time* (``I = 1/se²`` of an estimate that behaves like a Brownian motion with
drift in ``I``) the same boundary reads ``|θ̂ − θ| ≤ sqrt((I + η) log((I + η)/(η α²))) / I`` with
``η = I*/(−2 log α + log(1 − 2 log α))`` for a planned information ``I*``: with ``I = t/σ²`` and
``η = 1/(σ² ρ²)`` this is exactly (AsympCS). :func:`mixture_halfwidth` is that form; it serves
estimates with a variance formula rather than a running mean (the Kaplan–Meier difference of
:mod:`retention_lab.monitor.survival`).

The ITT difference with regression adjustment
---------------------------------------------
With assignment to treatment by a known probability ``p`` (1 − the holdout share) the terms

    φ_i = (A_i − p) / (p (1 − p)) · (Y_i − m̂_{i−1}(X_i))

have conditional mean equal to the ITT effect whatever the predictor ``m̂`` is, as long as it is
fitted on customers who completed *before* customer i (predictable): ``A_i`` is independent of
``(Y_i(0), Y_i(1), X_i)`` and of the past. This is the paper's randomized-experiment AsympCS
(Waudby-Smith et al. 2023, Sec. 3, the doubly-robust pseudo-outcome with known propensity) with
``m̂`` a pooled OLS of the outcome on pre-period behaviour (CUPED's covariate; Deng, Xu, Kohavi &
Walker 2013): the adjustment shrinks ``Var φ`` by about the ``R²`` of the pre-period predictor and
cannot bias the estimate.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import betaln

from ..errors import DataError

__all__ = ["mixture_constant", "rho2_for", "asympcs_halfwidth", "mixture_halfwidth",
           "eta_for", "itt_sequence", "sequential_srm"]


def mixture_constant(alpha: float) -> float:
    """``−2 log α + log(1 − 2 log α)``: the approximate optimum of the mixture tuning."""
    la = -2.0 * np.log(alpha)
    return float(la + np.log1p(la))


def rho2_for(t_opt: float, alpha: float = 0.05) -> float:
    """``ρ²`` that makes (AsympCS) tightest near ``t_opt`` terms (Waudby-Smith et al. 2023)."""
    if not t_opt > 0:
        raise ValueError(f"t_opt must be positive, got {t_opt!r}")
    return mixture_constant(alpha) / float(t_opt)


def asympcs_halfwidth(t, sigma, rho2: float, alpha: float = 0.05):
    """Half-width of (AsympCS) after ``t`` terms of SD ``sigma`` (arrays broadcast)."""
    t = np.asarray(t, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(2 * (t * rho2 + 1) / (t ** 2 * rho2) * np.log(np.sqrt(t * rho2 + 1) / alpha))
    return np.where(t > 0, np.asarray(sigma, float) * r, np.inf)


def eta_for(info_opt: float, alpha: float = 0.05) -> float:
    """Mixture variance ``η`` in information units, tightest near information ``info_opt``."""
    if not info_opt > 0:
        raise ValueError(f"info_opt must be positive, got {info_opt!r}")
    return float(info_opt) / mixture_constant(alpha)


def mixture_halfwidth(se, eta: float, alpha: float = 0.05):
    """Half-width ``sqrt((I + η) log((I + η)/(η α²))) / I`` at information ``I = 1/se²``."""
    se = np.asarray(se, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        info = 1.0 / se ** 2
        hw = np.sqrt((info + eta) * np.log((info + eta) / (eta * alpha ** 2))) / info
    return np.where(np.isfinite(se) & (se > 0), hw, np.inf)


def _predictable_fit(X: np.ndarray, y: np.ndarray, batch: np.ndarray, n_batches: int,
                     min_n: int) -> np.ndarray:
    """``m̂(X_i)`` from OLS of y on [1, X] fitted to the customers of earlier batches only."""
    n, k = X.shape
    Z = np.column_stack([np.ones(n), X])
    p = k + 1
    zz = np.zeros((n_batches, p, p))
    zy = np.zeros((n_batches, p))
    np.add.at(zz, batch, Z[:, :, None] * Z[:, None, :])
    np.add.at(zy, batch, Z * y[:, None])
    # sums over batches strictly before each batch
    zz_prev = np.cumsum(zz, axis=0) - zz
    zy_prev = np.cumsum(zy, axis=0) - zy
    n_prev = zz_prev[:, 0, 0]
    beta = np.zeros((n_batches, p))
    for b in range(n_batches):
        if n_prev[b] >= max(min_n, 5 * p):
            try:
                beta[b] = np.linalg.solve(zz_prev[b] + 1e-9 * np.eye(p), zy_prev[b])
                continue
            except np.linalg.LinAlgError:  # pragma: no cover - collinear covariates
                pass
        if n_prev[b] > 0:  # too few for a slope: the running mean
            beta[b, 0] = zy_prev[b, 0] / n_prev[b]
    return np.einsum("ij,ij->i", Z, beta[batch])


def itt_sequence(y, treated, batch, *, p_treat: float, x=None, alpha: float = 0.05,
                 t_opt: float | None = None, rho2: float | None = None,
                 min_fit: int = 50) -> pd.DataFrame:
    """The always-valid confidence sequence of the ITT difference, one row per batch.

    ``y``: each customer's outcome (purchases or spend in their window); ``treated``: bool, the
    arm; ``batch``: a non-negative integer, the look at which the customer's outcome became
    known (days since the start); ``p_treat``: the assignment probability of treatment, known by
    design; ``x``: pre-period covariates (n × k) for the predictable regression adjustment, or
    None. ``rho2`` (or ``t_opt``, the planned number of customers) tunes the boundary.

    Columns: ``batch``, ``n`` (customers so far), ``estimate``, ``sd`` (SD of the φ terms),
    ``lower``, ``upper`` (the confidence sequence), ``naive_lower``, ``naive_upper`` (the
    fixed-horizon z interval of the same estimate, invalid under repeated looks; for contrast).
    """
    y = np.asarray(y, float)
    a = np.asarray(treated, bool)
    b = np.asarray(batch)
    if not (y.shape == a.shape == b.shape) or y.ndim != 1:
        raise ValueError("y, treated and batch must be 1-D arrays of the same length")
    if not 0 < p_treat < 1:
        raise ValueError(f"p_treat must be in (0, 1), got {p_treat!r}")
    if len(y) and (not np.all(np.isfinite(y))):
        raise DataError.for_rule("outcomes", "y", "finite", int((~np.isfinite(y)).sum()),
                                 total=len(y))
    if len(b) and b.min() < 0:
        raise DataError.for_rule("outcomes", "batch", "non-negative", int((b < 0).sum()),
                                 total=len(b))
    b = b.astype(np.int64)
    n_batches = int(b.max()) + 1 if len(b) else 0
    if rho2 is None:
        rho2 = rho2_for(t_opt if t_opt else max(len(y), 1), alpha)
    if x is not None:
        X = np.asarray(x, float).reshape(len(y), -1)
        m = _predictable_fit(X, y, b, n_batches, min_fit)
    else:
        m = _predictable_fit(np.zeros((len(y), 0)), y, b, n_batches, min_fit)
    phi = (a - p_treat) / (p_treat * (1 - p_treat)) * (y - m)
    cnt = np.cumsum(np.bincount(b, minlength=n_batches))
    s1 = np.cumsum(np.bincount(b, phi, minlength=n_batches))
    s2 = np.cumsum(np.bincount(b, phi ** 2, minlength=n_batches))
    with np.errstate(divide="ignore", invalid="ignore"):
        est = s1 / cnt
        var = np.maximum(s2 / cnt - est ** 2, 0.0) * cnt / np.maximum(cnt - 1, 1)
    sd = np.sqrt(var)
    hw = asympcs_halfwidth(cnt, sd, rho2, alpha)
    hw = np.where(cnt >= 2, hw, np.inf)
    z = stats.norm.ppf(1 - alpha / 2)
    naive = np.where(cnt >= 2, z * sd / np.sqrt(np.maximum(cnt, 1)), np.inf)
    out = pd.DataFrame({"batch": np.arange(n_batches), "n": cnt, "estimate": est, "sd": sd,
                        "lower": est - hw, "upper": est + hw,
                        "naive_lower": est - naive, "naive_upper": est + naive})
    out.attrs.update(rho2=rho2, alpha=alpha, p_treat=p_treat)
    return out


def sequential_srm(n_treated, n_total, *, p_treat: float, alpha: float = 0.05,
                   concentration: float = 100.0) -> pd.DataFrame:
    """Sequential sample-ratio-mismatch test: a beta-binomial mixture e-process.

    Under the design each customer is treated with probability ``p_treat``. Against the
    alternatives ``q ~ Beta(κ p, κ (1 − p))`` (κ = ``concentration``) the mixture likelihood
    ratio ``E_n = B(κp + x, κ(1−p) + n − x) / B(κp, κ(1−p)) / (p^x (1−p)^(n−x))`` is a
    nonnegative martingale under the null, so by Ville's inequality ``P(sup_n E_n ≥ 1/α) ≤ α``:
    the check may be run after every customer (Lindon & Malek 2022, "Anytime-valid inference for
    multinomial count data", NeurIPS — the Dirichlet-multinomial test for two arms).

    ``n_treated``, ``n_total``: cumulative counts at each look. Columns ``n``, ``n_treated``,
    ``share``, ``log_e`` (log E at that row), ``e_value`` (the running maximum of E over the
    rows), ``p_value`` (always-valid, ``1/max E`` capped at 1) and ``mismatch``
    (``e_value ≥ 1/α``).
    """
    x = np.asarray(n_treated, float)
    n = np.asarray(n_total, float)
    if np.any(x > n) or np.any(x < 0):
        raise DataError.for_rule("assignment", "n_treated", "0 <= n_treated <= n_total",
                                 int(np.sum((x > n) | (x < 0))), total=len(n))
    a, b = concentration * p_treat, concentration * (1 - p_treat)
    log_e = (betaln(a + x, b + n - x) - betaln(a, b)
             - x * np.log(p_treat) - (n - x) * np.log1p(-p_treat))
    e_run = np.exp(np.maximum.accumulate(log_e)) if len(log_e) else np.array([])
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(n > 0, x / n, np.nan)
    return pd.DataFrame({"n": n.astype(int), "n_treated": x.astype(int), "share": share,
                         "log_e": log_e, "e_value": e_run, "p_value": np.minimum(1.0, 1.0 / e_run),
                         "mismatch": e_run >= 1.0 / alpha})
