"""Interval machinery of :func:`retention_lab.clv.value.customer_lifetime_value`.

The parameter uncertainty of the CLV (module docstring of :mod:`retention_lab.clv.value`):
the independent random streams of the two models' draws (:func:`draw_streams`), the parametric
bootstrap with percentile intervals, the delta method on the log scale, and the influence-
function SE of the mean CLV as an estimate of the population mean (customer sampling and
parameter error together). Moved out of ``value.py`` unchanged (issue 21's size rule); every
name here is re-exported there. Model: Fader, Hardie & Lee (2005), "RFM and CLV"; influence
function: the delta method for M-estimators (van der Vaart 1998, *Asymptotic Statistics*, ch. 5).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..units import Z95
from .base import ConvergenceWarning

#: above this share of bootstrap draws with a non-finite CLV the interval is refused (NaN): the
#: draws left would be a trimmed distribution (issue 20); below it they are counted, in
#: ``settings['n_nonfinite_draws']`` and the method note, and a ConvergenceWarning says so
MAX_NONFINITE_SHARE = 0.05


def _fingerprint(model) -> list[int]:
    """The fitted parameters' bits as 32-bit words (the entropy that tells fits apart)."""
    if model is None:
        return []
    values = np.ascontiguousarray(pd.Series(model.params_).to_numpy(dtype=float))
    return values.view(np.uint32).tolist()


def draw_streams(seed, transaction_model, spend_model=None):
    """Independent random streams for the bootstrap draws of the two models.

    A :class:`numpy.random.SeedSequence` from ``seed`` *and* the fitted parameters, spawned into
    one child per model: the same fit with the same seed reproduces its draws, while two
    different fits (two experiment arms, two segments) never share them, whatever seed they are
    given — with shared draws their CLVs were correlated (0.997 on the two halves of CDNOW) and
    :meth:`CLVResult.difference` understated the uncertainty 17-fold. ``seed=None``: fresh
    entropy from the operating system.
    """
    entropy = None if seed is None else [int(seed)] + _fingerprint(transaction_model) \
        + _fingerprint(spend_model)
    return np.random.SeedSequence(entropy).spawn(2)


def _bootstrap_intervals(transaction_model, spend_model, has_spend_params, evaluate, ut, us,
                         pairs, n, margin, n_draws, seed, customers, customer_intervals,
                         settings):
    """``method="bootstrap"``: ``n_draws`` joint draws of each model's log-parameters from
    their own stream (:func:`draw_streams`), CLV recomputed per draw, percentile intervals
    (per customer into ``customers``); the count of non-finite draws goes into ``settings``.
    Returns ``(total_ci, total_draws, mean_draws, method note)``."""
    t_stream, s_stream = draw_streams(seed, transaction_model,
                                      spend_model if has_spend_params else None)
    t_draws = transaction_model.sample_params(n_draws, seed=t_stream)
    s_draws = (spend_model.sample_params(n_draws, seed=s_stream)
               if has_spend_params else [None] * n_draws)
    disc_b = np.empty((n_draws, len(ut[0])))
    spend_b = np.empty((n_draws, len(us[0])))
    for j in range(n_draws):
        tm = transaction_model._with_params(t_draws[j])
        sm = spend_model._with_params(s_draws[j]) if has_spend_params else spend_model
        with np.errstate(all="ignore"):
            disc_b[j], _, spend_b[j] = evaluate(tm, sm)
    bad = ~np.isfinite(disc_b).all(1) | ~np.isfinite(spend_b).all(1)
    n_nonfinite = int(bad.sum())
    refused = n_nonfinite > MAX_NONFINITE_SHARE * n_draws
    if n_nonfinite:
        # dropping them trims one tail of the draws: count them, say so, and above the
        # documented share refuse the interval instead of showing a trimmed one
        disc_b, spend_b = disc_b[~bad], spend_b[~bad]
        warnings.warn(f"customer_lifetime_value: {n_nonfinite} of {n_draws} bootstrap draws "
                      f"gave a non-finite CLV and were left out"
                      + (f"; above {MAX_NONFINITE_SHARE:.0%} of the draws, so no interval is "
                         f"given" if refused else ""), ConvergenceWarning, stacklevel=3)
    # total per draw = Σ_customers spend[is] disc[it]: via the (it, is) pair counts
    (p_t, p_s), pinv, counts = pairs
    total_draws = margin * ((spend_b[:, p_s] * disc_b[:, p_t]) @ counts)
    total_ci = (tuple(np.percentile(total_draws, [2.5, 97.5]).tolist()) if not refused
                else (np.nan, np.nan))
    lo = hi = None
    if customer_intervals and not refused:
        lo, hi = np.empty(len(p_t)), np.empty(len(p_t))
        for s0 in range(0, len(p_t), 20_000):
            sl = slice(s0, s0 + 20_000)
            v = margin * spend_b[:, p_s[sl]] * disc_b[:, p_t[sl]]
            lo[sl], hi[sl] = np.percentile(v, [2.5, 97.5], axis=0)
        customers["lower 95%"], customers["upper 95%"] = lo[pinv], hi[pinv]
    result_method = f"parametric bootstrap ({len(total_draws)} draws, seed {seed}), percentile"
    if n_nonfinite:
        result_method += (f"; {n_nonfinite} of {n_draws} draws non-finite and left out"
                          + (f" (over {MAX_NONFINITE_SHARE:.0%}: interval refused)"
                             if refused else ""))
    if refused:
        total_ci = (np.nan, np.nan)
        if customer_intervals:
            customers["lower 95%"] = customers["upper 95%"] = np.nan
    settings["n_nonfinite_draws"] = n_nonfinite
    mean_draws = total_draws / n
    return total_ci, total_draws, mean_draws, result_method


def _log_param_derivatives(model, f, step: float = 1e-5) -> list:
    """Central differences of ``f(model with perturbed parameters)`` in each of the model's
    log-parameters (step ``step·max(1, |log θ_k|)``); ``f`` may return a scalar or an array."""
    base = np.asarray(model._log_params, float)
    out = []
    for k in range(len(base)):
        h = step * max(1.0, abs(base[k]))
        vals = []
        for sign in (1, -1):
            lp = base.copy()
            lp[k] += sign * h
            vals.append(f(model._with_params(np.exp(lp))))
        out.append((vals[0] - vals[1]) / (2 * h))
    return out


def _delta_intervals(blocks, transaction_model, spend_model, evaluate, it, is_, w, clv, total,
                     margin, customers, customer_intervals):
    """``method="delta"``: the delta method on the log scale with finite-difference gradients
    of each customer's CLV in the models' log-parameters (block-diagonal covariance: the models
    are independent). Returns ``(total_ci, None, None, method note)``."""
    total_draws = mean_draws = None
    grads = []  # d clv_i / d log θ, customer rows
    for bi, model in enumerate(blocks):
        def clv_of(clone, bi=bi):
            d_, _, s_ = evaluate(clone if bi == 0 else transaction_model,
                                 clone if bi == 1 else spend_model)
            return margin * s_[is_] * d_[it]
        grads.extend(_log_param_derivatives(model, clv_of))
    G = np.stack(grads, 1)
    covs = [b.variance_matrix_log_.to_numpy() for b in blocks]
    cov = np.zeros((G.shape[1], G.shape[1]))
    o = 0
    for c in covs:
        cov[o:o + len(c), o:o + len(c)] = c
        o += len(c)
    gt = w @ G
    se_total = float(np.sqrt(gt @ cov @ gt))
    total_ci = (total * np.exp(-Z95 * se_total / total), total * np.exp(Z95 * se_total / total))
    if customer_intervals:
        se_i = np.sqrt(np.einsum("ij,jk,ik->i", G, cov, G))
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.exp(Z95 * np.where(clv > 0, se_i / clv, 0.0))
        customers["lower 95%"], customers["upper 95%"] = clv / f, clv * f
    result_method = "delta method on the log scale (finite-difference gradients)"
    return total_ci, total_draws, mean_draws, result_method


def _row_scores(model, prepared):
    """Per-row gradient of the log-likelihood in the log-parameters at the estimate, and the
    per-row log-likelihood."""
    params = np.asarray(model._unload(), float)
    if model._loglik_grad is not None:
        ll, g = model._loglik_grad(params, prepared)
        return ll, g * params
    ll = model._loglik(params, prepared)
    g = np.empty((len(ll), len(params)))
    for k in range(len(params)):
        h = 1e-6
        up, dn = params.copy(), params.copy()
        up[k] *= np.exp(h)
        dn[k] *= np.exp(-h)
        g[:, k] = (model._loglik(up, prepared) - model._loglik(dn, prepared)) / (2 * h)
    return ll, g


def _row_level_scores(model, which, ut, us, wt, ws):
    """Scores (d log-likelihood / d log θ) of the distinct transaction rows ``ut`` (``which ==
    0``) or spend rows ``us`` (``which == 1``, weights ``wt``/``ws``) when the summary is the
    data the model was fitted on (same log-likelihood and customer count), else ``None``: then
    the parameter error is independent of these customers. A spend model is anything with
    ``conditional_expected_average_profit`` and ``_prepare(frequency, monetary_value)`` (the
    Gamma-Gamma model)."""
    if which == 0:
        ll, g = _row_scores(model, model._prepare(*ut))
        w = wt
        same_n = abs(float(w.sum()) - model.n_customers_) <= 1e-6 * model.n_customers_
    elif hasattr(model, "conditional_expected_average_profit") and hasattr(model, "_prepare"):
        x, m = us
        rows = (x > 0) & (m > 0)
        ll, g = np.zeros(len(x)), np.zeros((len(x), len(model._param_names)))
        ll[rows], g[rows] = _row_scores(model, model._prepare(x[rows], m[rows]))
        w, same_n = ws, True
    else:
        return None
    fitted_here = same_n and abs(float(w @ ll) - model.log_likelihood_) \
        <= 1e-8 * abs(model.log_likelihood_) + 1e-8
    return g if fitted_here else None


def _mean_se_population(blocks, spend_model, evaluate, margin, n, ut, us, it, is_, w, pairs):
    """SE of the mean CLV as an estimate of the *population* mean (the quantity two arms are
    compared on): ``mean − μ ≈ (1/n) Σ_i ψ_i`` with the influence ``ψ_i = CLV_i − mean +
    n gᵀ Σ s_i`` — ``g`` the gradient of the mean in the log-parameters, ``Σ`` their covariance,
    ``s_i`` the customer's score. The customers who make up the mean also made the estimates,
    so the sampling and the parameter error are correlated (a sample that buys more gives both
    a higher mean and higher rates) and their variances do not simply add: on BG/NBD
    simulations the sum of the two gave 86.5 % coverage, the influence function 95.5 %. A model
    fitted on other customers contributes ``gᵀ Σ g`` (independent) instead. Computed on the
    distinct (transaction row, spend row) pairs ``pairs`` with their customer counts."""
    if n <= 1:
        return None
    (p_t, p_s), _, counts = pairs
    wt = np.bincount(it, weights=w, minlength=len(ut[0]))
    ws = np.bincount(is_, weights=w, minlength=len(us[0]))

    def mean_of(tm, sm):
        d_, _, s_ = evaluate(tm, sm)
        return margin * float(counts @ (s_[p_s] * d_[p_t])) / n, margin * s_[p_s] * d_[p_t]

    mean, clv = mean_of(blocks[0], spend_model)
    psi = clv - mean
    var_indep = 0.0
    for which, model in enumerate(blocks):
        cov = model.variance_matrix_log_.to_numpy()
        g = np.array(_log_param_derivatives(
            model, lambda clone, which=which: mean_of(clone if which == 0 else blocks[0],
                                                      clone if which == 1 else spend_model)[0]))
        scores = _row_level_scores(model, which, ut, us, wt, ws)
        if scores is None:
            var_indep += float(g @ cov @ g)
        else:
            psi = psi + n * (scores @ (cov @ g))[p_t if which == 0 else p_s]
    var = float(counts @ psi ** 2) / (n * (n - 1)) + var_indep
    return float(np.sqrt(var)) if np.isfinite(var) else None
