"""Parametric lifetime models chosen by AIC, for extrapolating retention beyond the observed
window.

Three accelerated-failure-time (AFT) families — Weibull, log-logistic and log-normal (Collett
2015, ch. 5–6; lifelines' ``WeibullFitter``, ``LogLogisticFitter``, ``LogNormalFitter`` and their
``*AFTFitter`` regressions) — are fitted by maximum likelihood and ranked by
``AIC = 2k − 2 log L`` (Akaike weights ``exp(−ΔAIC/2)`` normalised). Kaplan–Meier stops at the
last follow-up; a parametric curve can be read beyond it, at the risk of the family being wrong
out there — the table marks such horizons as extrapolated.

Parametric likelihoods need positive durations: the churn table's zero durations (one-purchase
customers who lapsed; the lapse is dated at their only purchase) are set to ``min_duration``
(half a day by default) and a note says how many.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import (LogLogisticAFTFitter, LogLogisticFitter, LogNormalAFTFitter,
                       LogNormalFitter, WeibullAFTFitter, WeibullFitter)

from ._base import check_survival_frame, collapse, design_matrix, positive_durations, zero_note
from .descriptive import RetentionCurves, km_at

__all__ = ["ParametricRetention", "MODELS"]

MODELS = {"weibull": (WeibullFitter, WeibullAFTFitter),
          "loglogistic": (LogLogisticFitter, LogLogisticAFTFitter),
          "lognormal": (LogNormalFitter, LogNormalAFTFitter)}


class ParametricRetention:
    """Fit the parametric families, choose by AIC, extrapolate retention.

    Parameters
    ----------
    models : sequence of {"weibull", "loglogistic", "lognormal"}
    min_duration : float
        Replacement for zero durations (in the table's unit).

    Attributes (after ``fit``)
    --------------------------
    fitters_ : dict name → fitted lifelines univariate fitter (population curve).
    aft_fitters_ : dict name → fitted lifelines AFT regression (only with ``covariates``).
    aic_table : DataFrame (model, n_params, log_likelihood, AIC, delta_AIC, akaike_weight),
        best first. With covariates the AFT regressions are ranked.
    best_ : name of the family with the smallest AIC.
    summary : the best model's parameters (coef, se, lower/upper 95 %, p_value).
    notes : list of str.
    """

    def __init__(self, models=("weibull", "loglogistic", "lognormal"), alpha: float = 0.05,
                 min_duration: float = 0.5):
        unknown = set(models) - set(MODELS)
        if unknown:
            raise ValueError(f"unknown model(s) {sorted(unknown)}; choose from {list(MODELS)}")
        self.models, self.alpha, self.min_duration = list(models), alpha, min_duration

    def fit(self, table: pd.DataFrame, covariates=None, *, duration_col: str = "duration",
            event_col: str = "churned", weights_col: str | None = None,
            collapse_rows: bool = True) -> "ParametricRetention":
        """Fit every family (population curves; with ``covariates`` also the AFT regressions,
        which then decide the AIC ranking). ``collapse_rows`` merges identical (duration,
        churned) rows into case weights: the same likelihood, so the same MLE up to the
        optimizer's tolerance (~1e-6 relative); ``False`` reproduces lifelines' unweighted run.
        """
        df = check_survival_frame(table, duration_col, event_col, weights_col)
        self.unit_ = table.attrs.get("unit", "D")
        d, n_zero = positive_durations(df[duration_col], self.min_duration)
        df[duration_col] = d
        self.notes = [zero_note(n_zero, self.min_duration)] if n_zero else []
        self.duration_col, self.event_col = duration_col, event_col
        self.max_followup_ = float(df[duration_col].max())
        if collapse_rows:
            c = collapse(df, [duration_col, event_col], weights_col)
        else:
            c = df[[duration_col, event_col]].assign(
                weight=df[weights_col] if weights_col else 1.0)
        self._collapsed = c
        self.fitters_, rows = {}, []
        for name in self.models:
            w = c["weight"] if collapse_rows or weights_col else None
            f = MODELS[name][0](alpha=self.alpha).fit(c[duration_col], c[event_col],
                                                      weights=w, label=name)
            self.fitters_[name] = f
            rows.append((name, len(f._fitted_parameter_names), f.log_likelihood_, f.AIC_))
        self.aft_fitters_ = {}
        if covariates:
            X, self.coding_ = design_matrix(df, covariates)
            frame = collapse(pd.concat([X, df[[duration_col, event_col]]], axis=1),
                             [*X.columns, duration_col, event_col])
            rows = []
            for name in self.models:
                f = MODELS[name][1](alpha=self.alpha).fit(frame, duration_col, event_col,
                                                          weights_col="weight")
                self.aft_fitters_[name] = f
                rows.append((name, len(f.params_), f.log_likelihood_, f.AIC_))
        t = pd.DataFrame(rows, columns=["model", "n_params", "log_likelihood", "AIC"])
        t["delta_AIC"] = t["AIC"] - t["AIC"].min()
        t["akaike_weight"] = np.exp(-t["delta_AIC"] / 2) / np.exp(-t["delta_AIC"] / 2).sum()
        self.aic_table = t.sort_values("AIC").set_index("model")
        self.best_ = str(self.aic_table.index[0])
        best = (self.aft_fitters_ or self.fitters_)[self.best_]
        s = best.summary
        lo = [k for k in s.columns if k.startswith("coef lower")][0]
        hi = [k for k in s.columns if k.startswith("coef upper")][0]
        self.summary = pd.DataFrame({"coef": s["coef"], "se": s["se(coef)"], "lower 95%": s[lo],
                                     "upper 95%": s[hi], "p_value": s["p"]})
        self.summary["method"] = (f"{self.best_} "
                                  f"{'AFT regression' if self.aft_fitters_ else 'model'} by "
                                  f"maximum likelihood (lifelines), Wald 95 % CI")
        self._km = RetentionCurves(alpha=self.alpha).fit(
            df, duration_col=duration_col, event_col=event_col, weights_col=weights_col)
        self.method = (f"{self.best_} lifetime model chosen by AIC among {', '.join(self.models)}"
                       f" (lifelines); 95 % CI by the delta method")
        return self

    def retention_at(self, horizons, model: str | None = None) -> pd.DataFrame:
        """Population retention at each horizon from ``model`` (default: the AIC choice), with
        lifelines' delta-method 95 % interval (clipped to [0, 1]) and, inside the follow-up, the
        Kaplan–Meier estimate beside it."""
        name = model or self.best_
        f = self.fitters_[name]
        h = np.atleast_1d(np.asarray(horizons, dtype=float))
        c = self._collapsed
        # lifelines evaluates its band on the fit's timeline: refit with the horizons as timeline
        band = type(f)(alpha=self.alpha).fit(
            c[self.duration_col], c[self.event_col], weights=c["weight"], label=name,
            timeline=h).confidence_interval_survival_function_
        est = f.survival_function_at_times(h).to_numpy()
        km = [km_at(next(iter(self._km.fitters_.values())), x)["estimate"] for x in h]
        return pd.DataFrame({"horizon": h, "estimate": est,
                             "lower 95%": np.clip(band.iloc[:, 0].to_numpy(), 0, 1),
                             "upper 95%": np.clip(band.iloc[:, 1].to_numpy(), 0, 1),
                             "kaplan_meier": km, "extrapolated": h > self.max_followup_,
                             "model": name, "method": f"{name} model (lifelines), delta-method "
                             f"95 % CI"})

    @property
    def interpretation(self) -> str:
        t = self.aic_table
        runner = t.index[1] if len(t) > 1 else None
        txt = f"The {self.best_} model fits best by AIC"
        if runner is not None:
            txt += (f" (ΔAIC to {runner} = {t.loc[runner, 'delta_AIC']:.1f}; Akaike weight "
                    f"{t.loc[self.best_, 'akaike_weight']:.2f})")
        return txt + (f". Beyond the last follow-up ({self.max_followup_:g}) the curve is an "
                      f"extrapolation that rests on this family being right.")
