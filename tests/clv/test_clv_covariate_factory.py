"""``fit(covariates=…)`` builds the covariate fitter (issue 21: no ``__class__`` reassignment).

Oracle: the published CDNOW estimates (Fader, Hardie & Lee 2005; Fader & Hardie 2005 note):
with a covariate that is 0 for everyone the covariate model is the plain model, so the fitter
that ``BetaGeoFitter().fit(summary, covariates=…)`` returns must reproduce BG/NBD's
r, α, a, b = 0.243, 4.414, 0.793, 2.426 (and Pareto/NBD's 0.553, 10.578, 0.606, 11.669).
"""
from __future__ import annotations

import warnings

import pandas as pd
import pytest

import retention_lab as rl


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_sample):
    return rl.features.rfm_summary(cdnow_sample, "1997-09-30", freq="D", freq_multiplier=7)


@pytest.mark.parametrize("cls, names, published", [
    ("BetaGeoFitter", ("r", "alpha", "a", "b"), [0.243, 4.414, 0.793, 2.426]),
    ("ParetoNBDFitter", ("r", "alpha", "s", "beta"), [0.553, 10.578, 0.606, 11.669]),
])
def test_fit_with_covariates_returns_a_new_covariate_fitter(cdnow_summary, cls, names, published):
    cov = pd.DataFrame({"z": 0.0}, index=cdnow_summary.index)
    plain = getattr(rl.clv, cls)(penalizer_coef=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # γ is not identified by a covariate that is 0
        model = plain.fit(cdnow_summary, covariates=cov)
    assert type(model).__name__ == cls.replace("Fitter", "CovariatesFitter")
    assert type(plain).__name__ == cls          # the plain fitter is not turned into another
    assert [round(model.params_[k], 3) for k in names] == published
    with pytest.raises(RuntimeError, match="use the model it returns"):
        plain.conditional_probability_alive(1, 1, 2)
    # a covariate fitter fitted without covariates is the plain model again, a new fitter
    again = model.fit(cdnow_summary)
    assert type(again).__name__ == cls and again is not model
    assert [round(again.params_[k], 3) for k in names] == published
