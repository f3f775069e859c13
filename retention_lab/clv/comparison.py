"""Side-by-side fit and holdout accuracy of the BTYD transaction models on one data set.

:func:`compare_models` fits BG/NBD, MBG/NBD and Pareto/NBD to the calibration columns of a
calibration/holdout table and reports, per model, the in-sample fit (log-likelihood, AIC, BIC)
and the holdout forecast (total predicted vs actual repeat purchases, mean absolute error per
customer), plus the share of customers without repeat purchases that each model believes
gone — the quantity where the models differ by construction (BG/NBD: none can be; MBG/NBD and
Pareto/NBD: some). Batislam, Denizel & Filiztekin (2007) make this comparison for MBG/NBD.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .base import btyd_arrays, check_columns
from .beta_geo import BetaGeoFitter
from .modified_beta_geo import ModifiedBetaGeoFitter
from .pareto_nbd import ParetoNBDFitter

MODELS = {"bgnbd": BetaGeoFitter, "mbgnbd": ModifiedBetaGeoFitter, "pareto": ParetoNBDFitter}


def compare_models(cal_holdout: pd.DataFrame, models=("bgnbd", "mbgnbd", "pareto")) -> pd.DataFrame:
    """One row per model: ``parameters, log_likelihood, AIC, delta_AIC`` (AIC minus the
    smallest), ``BIC, holdout_actual,
    holdout_predicted, holdout_error`` (predicted/actual − 1), ``mae_per_customer`` and
    ``p_gone_no_repeat`` (mean 1 − P(alive) of customers without repeat purchases).

    ``cal_holdout`` is :func:`retention_lab.features.calibration_holdout` output (``frequency,
    recency, T, frequency_holdout, duration_holdout``); ``models`` are keys of :data:`MODELS`.
    """
    check_columns(cal_holdout, ["frequency_holdout", "duration_holdout"], "cal_holdout")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    x, tx, T, _ = btyd_arrays(cal_holdout, table="cal_holdout")
    actual = cal_holdout["frequency_holdout"].to_numpy(float)
    horizon = cal_holdout["duration_holdout"].to_numpy(float)
    rows = []
    for key in models:
        m = MODELS[key]().fit(cal_holdout[["frequency", "recency", "T"]])
        pred = m.expected_purchases(horizon, x, tx, T)
        rows.append({"model": m._model_name, "parameters": len(m.params_),
                     "log_likelihood": m.log_likelihood_, "AIC": m.AIC_, "BIC": m.BIC_,
                     "holdout_actual": actual.sum(), "holdout_predicted": pred.sum(),
                     "holdout_error": pred.sum() / actual.sum() - 1,
                     "mae_per_customer": float(np.mean(np.abs(pred - actual))),
                     "p_gone_no_repeat": float(np.mean(1 - m.probability_alive(
                         x[x == 0], tx[x == 0], T[x == 0]))) if (x == 0).any() else np.nan})
    out = pd.DataFrame(rows).set_index("model")
    out.insert(out.columns.get_loc("AIC") + 1, "delta_AIC", out["AIC"] - out["AIC"].min())
    out.attrs["method"] = ("maximum likelihood on the calibration period; holdout: conditional "
                           "expected purchases over each customer's holdout duration")
    return out
