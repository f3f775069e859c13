"""Time-invariant covariates in the Pareto/NBD and BG/NBD models.

Fader, P. S. & Hardie, B. G. S. (2007), "Incorporating time-invariant covariates into the
Pareto/NBD and BG/NBD models", http://brucehardie.com/notes/019/ — in the parameterization of
CLVTools (Bachmann, Meierer & Näf; R package, ``pnbd()`` / ``bgnbd()`` with static covariates).

Pareto/NBD. Customer ``i`` with covariates ``x_i`` (transaction process) and ``z_i`` (lifetime
process) has ``λ_i ~ Gamma(r, α_i)``, ``μ_i ~ Gamma(s, β_i)`` with

    α_i = α · exp(−γ_trans′ x_i),        β_i = β · exp(−γ_life′ z_i),

so ``E[λ_i] = (r/α) exp(γ_trans′x_i)`` and ``E[μ_i] = (s/β) exp(γ_life′z_i)``: a positive
coefficient raises the purchase rate (``trans.<col>``) or the dropout rate (``life.<col>``),
and ``exp(γ)`` is the rate ratio per unit of the covariate. The likelihood is the Pareto/NBD
likelihood (Fader & Hardie 2005 note, eqs. 19–22) with ``α_i, β_i`` in place of ``α, β``.

BG/NBD (CLVTools' ``bgnbd`` static-covariate form, documented in its ``?bgnbd``):

    α_i = α · exp(−γ_trans′ x_i),   a_i = a · exp(γ_life′ z_i),   b_i = b · exp(γ_life′ z_i)

with one lifetime coefficient shared by ``a`` and ``b``. Note what this means: the mean dropout
probability per purchase ``a_i / (a_i + b_i) = a / (a + b)`` does *not* depend on ``z_i``; the
lifetime coefficient scales the Beta distribution's concentration ``a_i + b_i`` (a positive
coefficient makes customers with that trait more alike in their dropout probability, a
negative one more dispersed). It is not "a positive coefficient raises dropout" as in the
Pareto/NBD; we keep CLVTools' form so that results compare with it, and say so here.

Estimation: maximum likelihood over ``θ = (log r, log α, log s|a, log β|b, γ_trans, γ_life)``
with the analytic gradient (the ``α_i, β_i`` derivatives of the likelihood times
``∂α_i/∂γ = −α_i x_i``, ``∂β_i/∂γ = −β_i z_i``), started from the no-covariate fit with
``γ = 0``. Standard errors from the observed information (central differences of the analytic
gradient); Wald intervals on the log scale for the four positive parameters (as the
no-covariate fitters) and on the natural scale for the coefficients, whose ``p`` tests
``γ = 0``.

Every prediction (P(alive), expected purchases, CLV) uses each customer's own ``α_i, β_i``
(or ``α_i, a_i, b_i``).

Where the code is: ``ParetoNBDFitter().fit(summary, covariates=df)`` builds and fits a
:class:`ParetoNBDCovariatesFitter` (defined beside its plain model in
:mod:`~retention_lab.clv.pareto_nbd`; :class:`BetaGeoCovariatesFitter` in
:mod:`~retention_lab.clv.beta_geo`); the estimation is :mod:`~retention_lab.clv.covariate_fit`,
the design :mod:`~retention_lab.clv.covariate_design`, the per-row likelihoods
:mod:`~retention_lab.clv.rows` and the CLV :mod:`~retention_lab.clv.covariate_value`. This
module gathers their public names.
"""
from __future__ import annotations

from .beta_geo import BetaGeoCovariatesFitter
from .covariate_design import design_matrix, select_columns
from .covariate_fit import LogShapeParamsMixin, StaticCovariatesMixin
from .covariate_value import MAX_NONFINITE_DRAW_SHARE, covariate_clv
from .pareto_nbd import ParetoNBDCovariatesFitter
from .rows import (
    bgnbd_expected_if_alive_rows,
    bgnbd_loglik_rows,
    bgnbd_probability_alive_rows,
    pnbd_expected_if_alive_rows,
    pnbd_log_F_rows,
    pnbd_loglik_rows,
    pnbd_probability_alive_rows,
)

#: the names of earlier releases (the time-varying models import ``_select``)
_select = select_columns
_StaticCovariatesMixin = StaticCovariatesMixin

__all__ = ["BetaGeoCovariatesFitter", "ParetoNBDCovariatesFitter", "design_matrix",
           "select_columns", "LogShapeParamsMixin", "StaticCovariatesMixin", "covariate_clv",
           "MAX_NONFINITE_DRAW_SHARE", "pnbd_log_F_rows", "pnbd_loglik_rows",
           "pnbd_probability_alive_rows", "pnbd_expected_if_alive_rows", "bgnbd_loglik_rows",
           "bgnbd_probability_alive_rows", "bgnbd_expected_if_alive_rows", "fit_with_covariates"]


def fit_with_covariates(fitter, data, recency=None, T=None, weights=None, **kwargs):
    """``fitter.fit(summary, covariates=df, …)`` for a plain ``ParetoNBDFitter`` /
    ``BetaGeoFitter``: a new covariate fitter with ``fitter``'s settings, fitted and returned
    (``fitter`` itself is left as it was)."""
    return fitter._covariate_fitter().fit(data, recency, T, weights, **kwargs)
