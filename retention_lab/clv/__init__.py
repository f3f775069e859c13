"""BTYD customer-lifetime-value models fitted by maximum likelihood with standard errors.

``BetaGeoFitter`` (BG/NBD), ``ParetoNBDFitter``, ``GammaGammaFitter`` (spend) and
``ShiftedBetaGeoFitter`` (sBG, contractual retention) follow lifetimes' names and conventions
(``fit()`` returns ``self``; ``params_``, ``summary``, ``log_likelihood_``, ``print_summary()``,
``conditional_expected_number_of_purchases_up_to_time``, ``conditional_probability_alive``, …)
with standard errors and intervals; :func:`customer_lifetime_value` adds intervals to CLV.
:mod:`retention_lab.clv.simulate` draws data from each model (tests, benchmarks).
``BetaGeoBetaBinomFitter`` (BG/BB, discrete time) and ``ModifiedBetaGeoFitter`` (MBG/NBD) add
models; :mod:`~retention_lab.clv.predictive` P(alive) at a future time, P(no purchase), the
conditional count distribution and DERT; every fitter has ``save(path)`` / ``load(path)``
(:mod:`~retention_lab.clv.persistence`, JSON) and the BTYD ones ``plot_*`` methods;
:func:`compare_models` sets BG/NBD, MBG/NBD and Pareto/NBD side by side.
"""
import importlib

from .base import ConvergenceError, ConvergenceWarning
from .beta_geo import BetaGeoFitter
from .beta_geo_beta_binom import BetaGeoBetaBinomFitter
from .gamma_gamma import GammaGammaFitter
from .modified_beta_geo import ModifiedBetaGeoFitter
from .pareto_nbd import ParetoNBDFitter
from .persistence import load_model, save_model
from .shifted_beta_geo import ShiftedBetaGeoFitter
from .value import CLVResult, customer_lifetime_value

#: Names loaded on first use (issue 22, first-call cost): the covariate and time-varying models
#: import scipy.optimize (0.2-0.3 s), the analysis and validation helpers the summaries; a fit of
#: a plain BTYD model needs none of them. Name → submodule (the name itself when ``None``).
_LAZY = {"simulate": None, "validation": None, "CLVAnalysis": "analysis",
         "analyze_clv": "analysis", "compare_models": "comparison",
         "ParetoNBDCovariatesFitter": "covariates", "BetaGeoCovariatesFitter": "covariates",
         "TimeVaryingParetoNBDFitter": "covariates_tv", "membership_covariates": "covariates_tv",
         "TimeVaryingBetaGeoFitter": "covariates_tv_bg"}

__all__ = ["BetaGeoFitter", "ParetoNBDFitter", "GammaGammaFitter", "ShiftedBetaGeoFitter",
           "BetaGeoBetaBinomFitter", "ModifiedBetaGeoFitter", "load_model", "save_model",
           "compare_models",
           "customer_lifetime_value", "CLVResult", "ConvergenceError", "ConvergenceWarning",
           "analyze_clv", "CLVAnalysis", "simulate", "validation",
           "ParetoNBDCovariatesFitter", "BetaGeoCovariatesFitter",
           "TimeVaryingParetoNBDFitter", "membership_covariates",
           "TimeVaryingBetaGeoFitter"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f".{_LAZY[name] or name}", __name__)
    value = module if _LAZY[name] is None else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
