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
from lifelines import (
    LogLogisticAFTFitter,
    LogLogisticFitter,
    LogNormalAFTFitter,
    LogNormalFitter,
    WeibullAFTFitter,
    WeibullFitter,
)

from ..units import z_value
from ._base import check_survival_frame, collapse, design_matrix, positive_durations, zero_note
from .descriptive import RetentionCurves, km_at
from .regression import require_events

__all__ = ["ParametricRetention", "MODELS"]

MODELS = {"weibull": (WeibullFitter, WeibullAFTFitter),
          "loglogistic": (LogLogisticFitter, LogLogisticAFTFitter),
          "lognormal": (LogNormalFitter, LogNormalAFTFitter)}


class ParametricRetention:
    """Fit the parametric families, choose by AIC, extrapolate retention.

    Parameters
    ----------
    models : sequence of {"weibull", "loglogistic", "lognormal"}
    zero_durations : {"point_mass", "shift"}
        ``"point_mass"`` (default): lapses at age 0 are a share ``π0`` of their own and the
        families describe the positive durations, ``S(t) = (1 − π0) S₊(t)`` (a one-purchase
        lapse is a different process from wearing out later; forcing both into one unimodal
        family bends the whole curve). ``"shift"``: set them to ``min_duration`` instead.
    min_duration : float
        Replacement for zero durations with ``"shift"`` (in the table's unit).

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
                 zero_durations: str = "point_mass", min_duration: float = 0.5):
        unknown = set(models) - set(MODELS)
        if unknown:
            raise ValueError(f"unknown model(s) {sorted(unknown)}; choose from {list(MODELS)}")
        if zero_durations not in ("point_mass", "shift"):
            raise ValueError(f"zero_durations must be 'point_mass' or 'shift', not "
                             f"{zero_durations!r}")
        self.models, self.alpha, self.min_duration = list(models), alpha, min_duration
        self.zero_durations = zero_durations

    def fit(self, table: pd.DataFrame, covariates=None, *, duration_col: str = "duration",
            event_col: str = "churned", weights_col: str | None = None,
            collapse_rows: bool = True) -> "ParametricRetention":
        """Fit every family (population curves; with ``covariates`` also the AFT regressions,
        which then decide the AIC ranking). ``collapse_rows`` merges identical (duration,
        churned) rows into case weights: the same likelihood, so the same MLE up to the
        optimizer's tolerance (~1e-6 relative); ``False`` reproduces lifelines' unweighted run.
        """
        df = check_survival_frame(table, duration_col, event_col, weights_col)
        # no lapse: every family's scale runs to infinity (lifelines only warns)
        require_events(df[event_col], df[weights_col] if weights_col else None,
                       column=event_col, model="a parametric lifetime model")
        self.unit_ = table.attrs.get("unit", "D")
        self.duration_col, self.event_col = duration_col, event_col
        self.max_followup_ = float(df[duration_col].max())
        full = df
        w_all = df[weights_col].to_numpy(float) if weights_col else np.ones(len(df))
        zero = (df[duration_col] <= 0).to_numpy()
        self.n_, self.notes = float(w_all.sum()), []
        self.zero_share_ = 0.0
        if zero.any() and self.zero_durations == "point_mass":
            # lapses at age 0 (and nothing else has age 0 in a churn table): π0 = their share
            self.zero_share_ = float(w_all[zero & (df[event_col] == 1).to_numpy()].sum()
                                     / self.n_)
            self.notes.append(
                f"{int(zero.sum()):,} zero duration(s) ({100 * self.zero_share_:.1f} % of "
                f"customers: one-purchase lapses dated at their only purchase) form a point mass "
                f"at age 0; the families are fitted to the positive durations and retention is "
                f"(1 − π0)·S(t)")
            df = df.loc[~zero].copy()
        elif zero.any():
            d, n_zero = positive_durations(df[duration_col], self.min_duration)
            df[duration_col] = d
            self.notes.append(zero_note(n_zero, self.min_duration))
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
            full, duration_col=duration_col, event_col=event_col, weights_col=weights_col)
        kmf = next(iter(self._km.fitters_.values()))
        grid = kmf.survival_function_.index.to_numpy(float)
        grid = grid[grid > 0]
        gap = np.abs(kmf.survival_function_at_times(grid).to_numpy()
                     - self.survival_function_at(grid))
        self.max_km_gap_ = float(gap.max()) if len(gap) else float("nan")
        self.method = (f"{self.best_} lifetime model chosen by AIC among {', '.join(self.models)}"
                       f" (lifelines); 95 % CI by the delta method")
        return self

    def survival_function_at(self, times, model: str | None = None) -> np.ndarray:
        """Retention ``(1 − π0) S₊(t)`` of ``model`` (default: the AIC choice) at ``times``."""
        t = np.maximum(np.atleast_1d(np.asarray(times, dtype=float)), 1e-9)
        f = self.fitters_[model or self.best_]
        return (1 - self.zero_share_) * f.survival_function_at_times(t).to_numpy()

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
        s_pos = f.survival_function_at_times(h).to_numpy()
        lo_pos, hi_pos = band.iloc[:, 0].to_numpy(), band.iloc[:, 1].to_numpy()
        z = (hi_pos - lo_pos) / 2
        pi0, n = self.zero_share_, self.n_
        est = (1 - pi0) * s_pos
        # delta method for (1 − π0)·S₊(t), π0 binomial and independent of the fit on positives
        zq = z_value(self.alpha)
        se = np.sqrt((s_pos ** 2) * pi0 * (1 - pi0) / n + (1 - pi0) ** 2 * (z / zq) ** 2)
        km = [km_at(next(iter(self._km.fitters_.values())), x)["estimate"] for x in h]
        how = f"{name} model (lifelines), delta-method 95 % CI" + (
            "; point mass at age 0" if pi0 else "")
        return pd.DataFrame({"horizon": h, "estimate": est,
                             "lower 95%": np.clip(est - zq * se, 0, 1),
                             "upper 95%": np.clip(est + zq * se, 0, 1),
                             "kaplan_meier": km, "extrapolated": h > self.max_followup_,
                             "model": name, "method": how})

    @property
    def interpretation(self) -> str:
        t = self.aic_table
        runner = t.index[1] if len(t) > 1 else None
        txt = f"The {self.best_} model fits best by AIC"
        if runner is not None:
            txt += (f" (ΔAIC to {runner} = {t.loc[runner, 'delta_AIC']:.1f}; Akaike weight "
                    f"{t.loc[self.best_, 'akaike_weight']:.2f})")
        txt += (f". Within the follow-up it stays within {100 * self.max_km_gap_:.1f} points of "
                f"the Kaplan–Meier curve" + (" — a close fit" if self.max_km_gap_ < 0.02 else
                                            " — read its extrapolation with care"))
        return txt + (f". Beyond the last follow-up ({self.max_followup_:g}) the curve is an "
                      f"extrapolation that rests on this family being right.")
