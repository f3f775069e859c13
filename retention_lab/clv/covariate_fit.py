"""Maximum likelihood with time-invariant covariates on top of a no-covariate BTYD fitter
(the model and its parameterization: :mod:`retention_lab.clv.covariates`).

``θ = (log r, log α, log s|a, log β|b, γ_trans, γ_life)`` is fitted with the analytic gradient
(the per-row gradient in the four shape/scale parameters, :mod:`retention_lab.clv.rows`, times
``∂α_i/∂γ = −α_i x_i`` and so on), started from the no-covariate fit with ``γ = 0``; standard
errors from the observed information (forward differences of the analytic gradient).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import ndtr

from ..units import Z95
from .base import (
    ConvergenceError,
    ConvergenceWarning,
    boundary_flags,
    btyd_arrays,
    covariance_from_information,
    covariate_scale,
    distinct_rows,
    flag_boundary,
    time_unit_of,
)
from .covariate_design import design_matrix, select_columns
from .covariate_value import covariate_clv

__all__ = ["LogShapeParamsMixin", "StaticCovariatesMixin"]

#: rows above which a fit starts from a fit to a random subset of this many rows
_WARM_START_ROWS = 20_000


def _forward_hessian(grad, theta, step=1e-5):
    """Symmetrised forward-difference Jacobian of an analytic gradient (``k + 1`` gradient
    evaluations instead of the ``2k`` of central differences; error O(step) relative, far
    below what matters for standard errors)."""
    g0 = grad(theta)
    H = np.empty((len(theta), len(theta)))
    for i in range(len(theta)):
        h = step * max(1.0, abs(theta[i]))
        e = np.zeros(len(theta))
        e[i] = h
        H[:, i] = (grad(theta + e) - g0) / h
    return (H + H.T) / 2


class LogShapeParamsMixin:
    """Parameter draws and re-parameterised copies for the covariate models, whose ``θ`` holds
    the four shape/scale parameters on the log scale followed by the coefficients."""

    def sample_params(self, n_draws: int = 1000, seed=0) -> np.ndarray:
        """Draws of all parameters (natural scale) from the asymptotic normal of ``θ``."""
        self._check_fitted()
        cov = self.variance_matrix_log_.to_numpy()
        if not np.all(np.isfinite(cov)):
            raise ConvergenceError(f"{type(self).__name__}: no finite covariance to sample from")
        th = np.random.default_rng(seed).multivariate_normal(self._theta, cov, size=n_draws,
                                                             method="cholesky")
        th[:, :4] = np.exp(th[:, :4])
        return th

    def _with_params(self, params):
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        params = np.asarray(params, float)
        clone.params_ = pd.Series(params, index=self.params_.index, name="coef")
        clone._theta = np.r_[np.log(params[:4]), params[4:]]
        return clone


class StaticCovariatesMixin(LogShapeParamsMixin):
    """Maximum likelihood with covariates on top of a no-covariate BTYD fitter class.

    Subclasses set ``_base``, ``_shape_names`` (the four positive parameters), ``_rows`` (per-row
    log-likelihood/gradient from per-row parameters) and ``_individual(params, X, Z)``.
    """

    _base: type = None
    _trans_scaled = 1      # index (in the 4 positive parameters) scaled by the transaction covs
    _life_scaled: tuple = ()  # indices scaled by the lifetime covs
    _life_sign = -1.0      # β_i = β exp(−γ′z) (Pareto/NBD); a_i = a exp(+γ′z) (BG/NBD)

    # -- individual parameters -----------------------------------------------------------
    def _individual(self, theta, X, Z):
        """The four per-row positive parameters for the design ``X`` (trans), ``Z`` (life)."""
        p = np.exp(theta[:4])
        kt = X.shape[1]
        gt, gl = theta[4:4 + kt], theta[4 + kt:]
        out = [np.full(len(X), v) for v in p]
        out[self._trans_scaled] = p[self._trans_scaled] * np.exp(-(X @ gt))
        life = np.exp(self._life_sign * (Z @ gl))
        for j in self._life_scaled:
            out[j] = p[j] * life
        return out

    def _nll_grad(self, theta, d, w, wsum):
        ind = self._individual(theta, d["X"], d["Z"])
        ll, g = self._rows(*ind, d["x"], d["tx"], d["T"], grad=True)
        val = -np.dot(w, ll) / wsum
        # chain rule to θ: log-scale for the positive parameters, γ through α_i / β_i
        gi = [g[:, j] * ind[j] for j in range(4)]      # d ll / d log(param_i)
        grad = np.empty(len(theta))
        for j in range(4):
            grad[j] = np.dot(w, gi[j])
        kt = d["X"].shape[1]
        grad[4:4 + kt] = -(w * gi[self._trans_scaled]) @ d["X"]
        life = sum(gi[j] for j in self._life_scaled)
        grad[4 + kt:] = self._life_sign * ((w * life) @ d["Z"])
        grad = -grad / wsum
        if not np.isfinite(val) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros_like(theta)
        return val, grad

    def _minimize(self, theta0, d, w, hess_inv0=None, gtol=1e-7):
        # scipy.optimize: heavy to import (0.2-0.3 s), so not when the module loads — every
        # no-covariate fitter imports this one (issue 22, first-call cost)
        from scipy import optimize

        wsum = w.sum()
        fun = lambda t: self._nll_grad(t, d, w, wsum)  # noqa: E731
        options = {"gtol": gtol, "maxiter": 1000}
        if hess_inv0 is not None:
            options["hess_inv0"] = hess_inv0
        with np.errstate(all="ignore"):
            res = optimize.minimize(fun, theta0, jac=True, method="BFGS", options=options)
            if np.max(np.abs(res.jac)) > 1e-6:
                res2 = optimize.minimize(fun, res.x, jac=True, method="L-BFGS-B",
                                         options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 1000})
                if res2.fun <= res.fun:
                    res = res2
        return res

    # -- fit -------------------------------------------------------------------------------
    def fit(self, data, recency=None, T=None, weights=None, *, covariates=None,
            covariates_trans=None, covariates_life=None, initial_params=None, **kwargs):
        """Fit with time-invariant covariates.

        Parameters
        ----------
        data : DataFrame
            The BTYD summary (``frequency, recency, T`` and optionally ``weight``), indexed by
            customer.
        covariates : DataFrame
            One row per customer of ``data`` (same index; extra rows are ignored). Numeric and
            boolean columns enter as they are, text/categorical ones as dummies
            ``<col>=<level>`` against their first level.
        covariates_trans, covariates_life : list of str, optional
            The columns of each process (default: every column in both).
        initial_params : sequence, optional
            Starting values ``(r, alpha, s|a, beta|b)``; the coefficients start at 0.

        Returns ``self`` with ``params_`` named ``r, alpha, s, beta`` (``a, b`` for BG/NBD),
        ``trans.<col>``, ``life.<col>``, ``summary`` (coef, se, lower/upper 95%, p).
        """
        if covariates is None:  # no covariates: the plain model, a new fitter
            return self._base(penalizer_coef=self.penalizer_coef).fit(
                data, recency, T, weights, initial_params=initial_params, **kwargs)
        if not isinstance(data, pd.DataFrame):
            raise TypeError("with covariates, give the summary as a DataFrame indexed by customer "
                            "(the covariates are matched on its index)")
        x, tx, T_, w = btyd_arrays(data, None, None, weights)
        D, names, levels = design_matrix(covariates, data.index)
        tnames = select_columns(names, covariates_trans, "covariates_trans")
        lnames = select_columns(names, covariates_life, "covariates_life")
        X = D[:, [names.index(n) for n in tnames]]
        Z = D[:, [names.index(n) for n in lnames]]
        self.covariates_trans_, self.covariates_life_ = tnames, lnames
        self._cov_columns, self._cov_levels = list(covariates.columns), levels
        self._X_fit, self._Z_fit, self._n_fit = X, Z, len(x)
        self.time_unit_ = time_unit_of(data)
        self._fit_data_ranges = dict(T=float(T_.max()), frequency=float(x.max()),
                                     recency=float(tx.max()))
        keep = w > 0
        cols = [x[keep], tx[keep], T_[keep]] + list(X[keep].T) + list(Z[keep].T)
        uniq, _, wd = distinct_rows(*cols, weights=w[keep])
        kt, kl = X.shape[1], Z.shape[1]
        d = dict(x=uniq[0], tx=uniq[1], T=uniq[2],
                 X=np.column_stack(uniq[3:3 + kt]) if kt else np.zeros((len(wd), 0)),
                 Z=np.column_stack(uniq[3 + kt:]) if kl else np.zeros((len(wd), 0)))
        self.n_distinct_rows_ = len(wd)
        if initial_params is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                base = self._base(penalizer_coef=0.0).fit(x[keep], tx[keep], T_[keep],
                                                          weights=w[keep])
            initial_params = base.params_.to_numpy()
        theta0 = np.r_[np.log(np.asarray(initial_params, float)), np.zeros(kt + kl)]
        hess_inv0 = None
        if len(wd) > 2 * _WARM_START_ROWS:
            # big tables: optimise on a random subset first (an unbiased estimate of the mean
            # objective), then finish on all rows from there with its inverse Hessian
            rng = np.random.default_rng(0)
            idx = np.sort(rng.choice(len(wd), _WARM_START_ROWS, replace=False))
            sub = {k: v[idx] for k, v in d.items()}
            pre = self._minimize(theta0, sub, wd[idx], gtol=1e-6)
            if np.isfinite(pre.fun) and np.all(np.isfinite(pre.x)):
                theta0 = pre.x
                h = (pre.hess_inv + pre.hess_inv.T) / 2
                if np.all(np.isfinite(h)) and np.linalg.eigvalsh(h).min() > 0:
                    hess_inv0 = h
        res = self._minimize(theta0, d, wd, hess_inv0=hess_inv0)
        if not np.isfinite(res.fun) or not np.all(np.isfinite(res.x)):
            raise ConvergenceError(f"{type(self).__name__}: no finite maximum of the likelihood")
        if np.max(np.abs(res.jac)) > 1e-4:
            warnings.warn(f"{type(self).__name__}: the optimiser stopped with gradient norm "
                          f"{np.max(np.abs(res.jac)):.2g}; estimates may be inaccurate",
                          ConvergenceWarning, stacklevel=2)
        self._store_cov(res.x, d, wd, len(x), tnames, lnames)
        return self

    def _store_cov(self, theta, d, w, n_obs, tnames, lnames):
        names = (list(self._base._param_names) + [f"trans.{n}" for n in tnames]
                 + [f"life.{n}" for n in lnames])
        self._theta = theta
        pos = np.arange(len(theta)) < 4
        coef = np.where(pos, np.exp(theta), theta)
        self.params_ = pd.Series(coef, index=names, name="coef")
        ind = self._individual(theta, d["X"], d["Z"])
        self.log_likelihood_ = float(np.dot(w, self._rows(*ind, d["x"], d["tx"], d["T"])))
        self.n_customers_ = float(w.sum())
        self.n_rows_ = int(n_obs)
        k = len(names)
        self.AIC_ = 2 * k - 2 * self.log_likelihood_
        self.BIC_ = k * np.log(self.n_customers_) - 2 * self.log_likelihood_
        wsum = w.sum()
        H = _forward_hessian(lambda t: self._nll_grad(t, d, w, wsum)[1] * wsum, theta)
        self.hessian_ = H
        cov = covariance_from_information(
            H, f"{type(self).__name__}: the information matrix is singular at the estimate (a "
               "covariate constant or collinear?); standard errors are NaN", stacklevel=4)
        # the covariance of θ (log scale for the positive parameters, natural for γ)
        self.variance_matrix_log_ = pd.DataFrame(cov, index=names, columns=names)
        J = np.diag(np.where(pos, coef, 1.0))
        self.variance_matrix_ = pd.DataFrame(J @ cov @ J, index=names, columns=names)
        se_t = np.sqrt(np.diag(cov))
        se = np.where(pos, coef * se_t, se_t)
        self.standard_errors_ = pd.Series(se, index=names, name="se")
        lo = np.where(pos, np.exp(theta - Z95 * se_t), theta - Z95 * se_t)
        hi = np.where(pos, np.exp(theta + Z95 * se_t), theta + Z95 * se_t)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(pos, np.nan, 2 * ndtr(-np.abs(theta / se_t)))
        self.summary = pd.DataFrame({"coef": coef, "se": se, "lower 95%": lo, "upper 95%": hi,
                                     "p": p}, index=pd.Index(names, name="param"))
        self.summary.attrs["method"] = (
            "maximum likelihood with time-invariant covariates (Fader & Hardie 2007; CLVTools' "
            "parameterization); se from the observed information; 95% Wald intervals on the log "
            "scale for r, alpha, s|a, beta|b and on the natural scale for the coefficients, "
            "whose p tests coefficient = 0")
        scale = np.r_[np.ones(4), covariate_scale(self._X_fit), covariate_scale(self._Z_fit)]
        flag_boundary(self, boundary_flags(coef, names, positive=pos, scale=scale), stacklevel=4)
        return self

    @property
    def _log_params(self):
        return self._theta

    # -- predictions -----------------------------------------------------------------------
    def _designs(self, covariates, n):
        """The (trans, life) design rows for ``n`` customers: from a covariate DataFrame, or the
        fitted customers' own when ``covariates`` is None and ``n`` is the fitted count."""
        if covariates is None:
            if n != self._n_fit:
                raise ValueError(f"{type(self).__name__} has covariates: pass covariates= (one "
                                 f"row per customer) to predict for {n} customers other than "
                                 f"the {self._n_fit} it was fitted to")
            return self._X_fit, self._Z_fit
        if isinstance(covariates, pd.DataFrame):
            D, names, _ = design_matrix(covariates[self._cov_columns],
                                        levels=dict(self._cov_levels))
            X = D[:, [names.index(c) for c in self.covariates_trans_]]
            Z = D[:, [names.index(c) for c in self.covariates_life_]]
        else:
            arr = np.atleast_2d(np.asarray(covariates, float))
            kt = len(self.covariates_trans_)
            X, Z = arr[:, :kt], arr[:, kt:]
        if len(X) != n:
            raise ValueError(f"covariates has {len(X)} rows for {n} customers")
        return X, Z

    def individual_params(self, covariates=None) -> pd.DataFrame:
        """Each customer's own ``(r, α_i, s|a_i, β_i|b_i)``."""
        self._check_fitted()
        n = self._n_fit if covariates is None else len(covariates)
        X, Z = self._designs(covariates, n)
        ind = self._individual(self._theta, X, Z)
        idx = covariates.index if isinstance(covariates, pd.DataFrame) else None
        return pd.DataFrame(dict(zip(self._base._param_names, ind)), index=idx)

    def _ind(self, x, covariates):
        X, Z = self._designs(covariates, np.size(x))
        return self._individual(self._theta, X, Z)

    def probability_alive(self, frequency, recency, T, covariates=None):
        """P(active at ``T`` | x, t_x, T) of each customer, with their covariates."""
        self._check_fitted()
        x, tx, T = (np.atleast_1d(np.asarray(v, float)) for v in (frequency, recency, T))
        return self._palive_rows(*self._ind(x, covariates), x, tx, T)

    def expected_purchases(self, t, frequency, recency, T, covariates=None):
        """E[X(T, T+t) | x, t_x, T] of each customer, with their covariates (``t`` a scalar or
        a column ``(k, 1)`` of horizons)."""
        self._check_fitted()
        x, tx, T = (np.atleast_1d(np.asarray(v, float)) for v in (frequency, recency, T))
        ind = self._ind(x, covariates)
        return (self._if_alive_rows(*ind, x, T, np.asarray(t, float))
                * self._palive_rows(*ind, x, tx, T))

    def _expected_purchases_if_alive(self, t, x, T, covariates=None):
        return self._if_alive_rows(*self._ind(np.asarray(x), covariates), np.asarray(x, float),
                                   np.asarray(T, float), np.asarray(t, float))

    def conditional_expected_number_of_purchases_up_to_time(self, t, frequency, recency, T,
                                                            covariates=None):
        return self.expected_purchases(t, frequency, recency, T, covariates)

    predict = conditional_expected_number_of_purchases_up_to_time

    def conditional_probability_alive(self, frequency, recency, T, covariates=None):
        return self.probability_alive(frequency, recency, T, covariates)

    def _clv_with_covariates(self, spend_model, summary, **kw):
        """:func:`retention_lab.clv.customer_lifetime_value` for this model (per customer)."""
        return covariate_clv(self, spend_model, summary, **kw)

    def _unsupported(self, *a, **k):
        raise NotImplementedError(f"{type(self).__name__}: unconditional expectations are not "
                                  "defined without a customer's covariates; use "
                                  "individual_params() or the conditional predictions")

    expected_number_of_purchases_up_to_time = _unsupported
    probability_of_n_purchases_up_to_time = _unsupported
