"""The CLV analysis behind ``notebooks/03_clv.ipynb``: validate, refit, value, segment, flag.

1. **Validate**: fit the transaction model (BG/NBD or Pareto/NBD) on the calibration window
   (first purchase → ``calibration_end``) and compare its predictions with what customers did in
   the holdout (``calibration_end`` → ``observation_end``).
2. **Refit** the transaction model and the Gamma-Gamma spend model on everything up to
   ``observation_end``, the starting point of the forecast.
3. **Value** every customer: expected CLV over ``horizon_months`` with 95 % intervals
   (:func:`~retention_lab.clv.customer_lifetime_value`, parametric bootstrap).
4. **Segment**: CLV by RFM segment (:func:`retention_lab.features.rfm_scores`).
5. **Flag** the high-value customers at risk — the proactive-engagement list: CLV in the top
   ``1 − at_risk_clv_quantile`` *and* P(alive) below ``at_risk_p_alive``.

Ages are in weeks (``freq="D", freq_multiplier=7``) unless told otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..features import calibration_holdout, rfm_scores, rfm_summary
from .beta_geo import BetaGeoFitter
from .gamma_gamma import GammaGammaFitter
from .pareto_nbd import ParetoNBDFitter
from .validation import calibration_holdout_table
from .value import CLVResult, customer_lifetime_value

MODELS = {"bgnbd": BetaGeoFitter, "pareto": ParetoNBDFitter}


@dataclass
class CLVAnalysis:
    """Everything the CLV notebook shows; see :func:`analyze_clv`."""

    settings: dict
    cal_holdout: pd.DataFrame
    validation_model: object
    model: object
    spend_model: GammaGammaFitter
    summary: pd.DataFrame
    clv: CLVResult
    holdout_table: pd.DataFrame
    segments: pd.DataFrame
    at_risk: pd.DataFrame
    headline: dict = field(default_factory=dict)

    @property
    def parameters(self) -> pd.DataFrame:
        """Both models' estimates with SEs and 95 % intervals, one row per parameter."""
        frames = []
        for label, m in (("transactions (calibration)", self.validation_model),
                         ("transactions (full window)", self.model),
                         ("spend (Gamma-Gamma)", self.spend_model)):
            frames.append(m.summary.assign(model=label).set_index("model", append=True)
                          .reorder_levels([1, 0]))
        return pd.concat(frames)

    def at_risk_display(self, n: int = 10) -> pd.DataFrame:
        """The top ``n`` of the at-risk list by CLV, *without* customer ids (rank numbers only):
        for reports that may travel; the ids are in :attr:`at_risk` for the CRM export."""
        return self.at_risk.head(n).reset_index(drop=True).set_index("rank")

    def record(self) -> dict:
        """Record the headline numbers with :func:`retention_lab.report.recording.record`."""
        # display layer: imported on use, estimation never depends on it
        from ..report import recording as reporting
        out = {}
        h = self.headline
        method_fit = self.model.summary.attrs["method"]
        for name, value in self.model.params_.items():
            row = self.model.summary.loc[name]
            out[f"{self.settings['model']}_{name}"] = reporting.record(
                f"{self.settings['model']}_{name}", value, (row["lower 95%"], row["upper 95%"]),
                method=method_fit, n=int(self.model.n_customers_))
        out["clv_mean"] = reporting.record("clv_mean", self.clv.mean, self.clv.mean_ci,
                                           method=self.clv.method, unit="currency per customer",
                                           n=self.clv.n)
        out["clv_total"] = reporting.record("clv_total", self.clv.total, self.clv.total_ci,
                                            method=self.clv.method, unit="currency", n=self.clv.n)
        out["holdout_purchases_predicted"] = reporting.record(
            "holdout_purchases_predicted", h["holdout_predicted"], method="calibration model",
            actual=h["holdout_actual"], n=h["n_calibration"])
        out["at_risk_customers"] = reporting.record("at_risk_customers", h["n_at_risk"],
                                                    method="top-CLV and P(alive) thresholds",
                                                    clv_share=h["at_risk_clv_share"])
        return out


def analyze_clv(transactions: pd.DataFrame, calibration_end, observation_end, *,
                model: str = "bgnbd", horizon_months: int = 12, discount_rate: float = 0.01,
                margin: float = 1.0, freq: str = "D", freq_multiplier: float = 7,
                n_draws: int = 200, seed: int = 0, at_risk_clv_quantile: float = 0.8,
                at_risk_p_alive: float = 0.5, penalizer_coef: float = 0.0) -> CLVAnalysis:
    """Run the CLV analysis (module docstring) on a transactions table.

    ``model`` is ``"bgnbd"`` or ``"pareto"``; ``discount_rate`` is per month; ``margin`` turns
    revenue into profit. Returns a :class:`CLVAnalysis`.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, not {model!r}")
    Fitter = MODELS[model]
    cal = calibration_holdout(transactions, calibration_end, observation_end, freq=freq,
                              freq_multiplier=freq_multiplier)
    validation_model = Fitter(penalizer_coef).fit(cal)
    holdout = calibration_holdout_table(validation_model, cal)
    predicted = validation_model.expected_purchases(cal["duration_holdout"], cal["frequency"],
                                                    cal["recency"], cal["T"])

    summary = rfm_summary(transactions, observation_end, freq=freq, freq_multiplier=freq_multiplier)
    fitted = Fitter(penalizer_coef).fit(summary)
    spend = GammaGammaFitter(penalizer_coef).fit(summary)
    value = customer_lifetime_value(fitted, spend, summary, horizon=horizon_months, horizon_unit="M",
                                    discount_rate=discount_rate, margin=margin,
                                    n_draws=n_draws, seed=seed)
    table = summary.join(value.customers)
    table["p_alive"] = fitted.probability_alive(summary["frequency"], summary["recency"],
                                                summary["T"])
    scores = rfm_scores(transactions, observation_end, validate=False)
    table = table.join(scores[["RFM", "segment"]])

    total = table["clv"].sum()
    segments = table.groupby("segment").agg(
        customers=("clv", "size"), mean_clv=("clv", "mean"), total_clv=("clv", "sum"),
        mean_p_alive=("p_alive", "mean"), mean_frequency=("frequency", "mean"))
    segments["share_of_clv"] = segments["total_clv"] / total
    segments = segments.sort_values("total_clv", ascending=False)

    threshold = float(table["clv"].quantile(at_risk_clv_quantile))
    risky = table[(table["clv"] >= threshold) & (table["p_alive"] < at_risk_p_alive)]
    risky = risky.sort_values("clv", ascending=False)
    at_risk = risky[["clv", "lower 95%", "upper 95%", "p_alive", "frequency", "recency", "T",
                     "monetary_value", "segment"]].copy()
    at_risk.insert(0, "rank", np.arange(1, len(at_risk) + 1))

    repeat = summary[summary["frequency"] > 0]
    headline = dict(
        n_calibration=len(cal), n_customers=len(summary),
        holdout_actual=float(cal["frequency_holdout"].sum()),
        holdout_predicted=float(np.sum(predicted)),
        spend_frequency_correlation=float(repeat["frequency"].corr(repeat["monetary_value"])),
        n_at_risk=len(at_risk), at_risk_clv_threshold=threshold,
        at_risk_clv_share=float(at_risk["clv"].sum() / total) if total else float("nan"),
        clv_mean=value.mean, clv_mean_ci=value.mean_ci, clv_total=value.total,
        clv_total_ci=value.total_ci,
    )
    settings = dict(model=model, calibration_end=pd.Timestamp(calibration_end),
                    observation_end=pd.Timestamp(observation_end), horizon_months=horizon_months,
                    discount_rate=discount_rate, margin=margin, freq=freq,
                    freq_multiplier=freq_multiplier, at_risk_clv_quantile=at_risk_clv_quantile,
                    at_risk_p_alive=at_risk_p_alive)
    return CLVAnalysis(settings=settings, cal_holdout=cal, validation_model=validation_model,
                       model=fitted, spend_model=spend, summary=table, clv=value,
                       holdout_table=holdout, segments=segments, at_risk=at_risk,
                       headline=headline)
