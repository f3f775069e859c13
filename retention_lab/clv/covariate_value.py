"""Per-customer CLV from a covariate transaction model (each customer's own parameters), with
parametric-bootstrap intervals: :func:`retention_lab.clv.customer_lifetime_value`'s formula and
result for the time-invariant and time-varying covariate models.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .value import CLVResult, _customer_arrays, _resolve_time_unit, _spend, unit_days

__all__ = ["covariate_clv", "MAX_NONFINITE_DRAW_SHARE"]

#: above this share of parameter draws with a non-finite CLV, covariate_clv refuses its interval
MAX_NONFINITE_DRAW_SHARE = 0.05


def covariate_clv(model, spend_model, summary, horizon: int = 12, freq: str = "M",
                  discount_rate: float = 0.01, margin: float = 1.0, *, time_unit=None,
                  method: str = "bootstrap", n_draws: int = 200, seed=0,
                  customer_intervals: bool = True, covariates=None, expected_fn=None):
    """Per-customer CLV from a covariate transaction model (each customer's own parameters),
    with parametric-bootstrap intervals — :func:`retention_lab.clv.customer_lifetime_value`
    for covariate models (same formula, settings and result; ``method="delta"`` falls back to
    the bootstrap).

    ``expected_fn(model, horizons) -> (k, n)`` cumulative expected purchases at the horizons
    (summary units) overrides the model's own conditional expectation (the time-varying model
    uses it for a future covariate path).

    Draws whose CLV is not finite are left out and counted (``result.n_nonfinite_draws``, and
    in ``method``); when more than :data:`MAX_NONFINITE_DRAW_SHARE` of them are, the intervals
    are NaN and ``result.interval_refused`` says why.
    """
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive whole number of {freq} periods")
    horizon = int(horizon)
    unit = _resolve_time_unit(time_unit, summary, model)
    step = unit_days(freq) / unit
    x, tx, T_, m, w, _ = _customer_arrays(summary, spend_model)
    t = step * np.arange(1, horizon + 1)[:, None]
    factors = (1.0 + discount_rate) ** -np.arange(1, horizon + 1)
    if expected_fn is None:
        def expected_fn(mod, tt):
            return mod.expected_purchases(tt, x, tx, T_, covariates)

    def evaluate(tm, sm):
        cum = np.asarray(expected_fn(tm, t))
        disc = factors @ np.diff(cum, axis=0, prepend=0.0)
        return margin * _spend(sm, x, m) * disc, cum[-1]

    clv, cum = evaluate(model, spend_model)
    n = int(round(w.sum())) if np.all(w == np.round(w)) else float(w.sum())
    total = float(np.dot(w, clv))
    customers = pd.DataFrame({"clv": clv}, index=summary.index)
    has_spend = hasattr(spend_model, "sample_params")
    t_draws = model.sample_params(n_draws, seed=seed)
    s_seed = np.random.default_rng(seed).integers(2**32) + 1
    s_draws = (spend_model.sample_params(n_draws, seed=s_seed) if has_spend
               else [None] * n_draws)
    vals = np.empty((n_draws, len(x)))
    for j in range(n_draws):
        tm = model._with_params(t_draws[j])
        sm = spend_model._with_params(s_draws[j]) if has_spend else spend_model
        with np.errstate(all="ignore"):
            vals[j] = evaluate(tm, sm)[0]
    # draws with a non-finite CLV (parameters where the model's expectations overflow) are
    # counted, not dropped silently; above MAX_NONFINITE_DRAW_SHARE the interval is refused
    finite = np.isfinite(vals).all(1)
    n_bad = int((~finite).sum())
    vals = vals[finite]
    refused = None
    if n_bad > MAX_NONFINITE_DRAW_SHARE * n_draws:
        refused = (f"{n_bad} of {n_draws} parameter draws gave a non-finite CLV (more than "
                   f"{MAX_NONFINITE_DRAW_SHARE:.0%}); no interval")
    total_draws = vals @ w
    if refused:
        total_ci = (np.nan, np.nan)
    else:
        total_ci = tuple(float(v) for v in np.percentile(total_draws, [2.5, 97.5]))
    if customer_intervals:
        if refused:
            customers["lower 95%"] = customers["upper 95%"] = np.nan
        else:
            customers["lower 95%"], customers["upper 95%"] = np.percentile(vals, [2.5, 97.5],
                                                                           axis=0)
    customers["expected_purchases"] = cum
    customers["expected_spend"] = _spend(spend_model, x, m)
    if "weight" in summary.columns:
        customers["weight"] = w
    settings = dict(horizon=horizon, freq=freq, discount_rate=discount_rate, margin=margin,
                    summary_unit_days=unit, periods_per_step=step)
    res = CLVResult(customers=customers, total=total, total_ci=total_ci, mean=total / n,
                    mean_ci=(total_ci[0] / n, total_ci[1] / n), n=n,
                    method=f"parametric bootstrap ({len(vals)} draws, seed {seed}), percentile; "
                           f"per-customer covariates"
                           + (f"; {n_bad} non-finite draw(s) of {n_draws} left out" if n_bad
                              else "") + (f" — {refused}" if refused else ""),
                    settings=settings, total_draws=total_draws, mean_draws=total_draws / n)
    res.draws = vals  # per-customer CLV draws (draws × customers), for paired contrasts
    res.n_nonfinite_draws = n_bad
    res.interval_refused = refused
    return res
