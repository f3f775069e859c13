"""Shared maximum-likelihood machinery for the BTYD fitters.

Every fitter maximises a weighted log-likelihood over the *logarithms* of its (positive)
parameters by BFGS — scipy's, bit for bit, without importing :mod:`scipy.optimize`
(:func:`.optimizer.minimize_bfgs`) — with analytic gradients where the model has them, central
differences otherwise. Standard errors come from the observed information: the
Hessian of the total negative log-likelihood at the optimum, by central differences of the
gradient on the log scale, mapped to the natural scale by the delta method
(``Var θ = diag(θ) Var(log θ) diag(θ)``). The 95 % intervals are Wald intervals on the log scale,
``exp(log θ ± 1.96 se(log θ))`` — always positive and better calibrated for the small shape
parameters of these models than ``θ ± 1.96 se(θ)``.

Weights: a row with ``weight = w`` counts as ``w`` identical customers, so fitting the table
collapsed by :func:`retention_lab.features.collapse_summary` gives the same estimates as the
full table at the cost of its distinct rows.

Penalizer (as in ``lifetimes``): ``penalizer_coef * Σ θ²`` is added to the *mean* negative
log-likelihood; the reported ``log_likelihood_`` is always the unpenalised one.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import BoundaryWarning, ConvergenceWarning, DataError
from ..units import DAYS_PER_UNIT, Z95
from .inference import (
    covariance_from_information,
    hessian_from_function,
    hessian_from_gradient,
    numerical_gradient,
)
from .optimizer import minimize_bfgs
from .persistence import PersistenceMixin

__all__ = ["ConvergenceError", "ConvergenceWarning", "BoundaryWarning", "BOUNDARY_LOG",
           "boundary_flags", "covariate_scale", "flag_boundary", "check_identified"]

#: an estimate whose log (positive parameters) or whose effect across the covariate's range
#: (coefficients: |γ|·(max − min)) exceeds this in absolute value has run to the boundary of
#: the parameter space (e^12 ≈ 1.6e5): the likelihood keeps rising towards 0 / ∞ there
BOUNDARY_LOG = 12.0


class ConvergenceError(RuntimeError):
    """The optimiser did not reach a finite maximum of the likelihood."""


# ---------------------------------------------------------------------------- input handling
def _as_float_array(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    return arr


def check_columns(frame: pd.DataFrame, columns, table: str = "summary") -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{table}: missing column(s) {missing}; got {list(frame.columns)}",
                        table=table, column=missing[0], rule="required column",
                        n_rows=len(frame))


def check_rule(table: str, column: str, rule: str, bad: np.ndarray, frame=None) -> None:
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        mask = pd.Series(bad)
        fr = frame.reset_index(drop=True) if isinstance(frame, pd.DataFrame) else None
        raise DataError.for_rule(table, column, rule, mask, fr)


def btyd_arrays(data, recency=None, T=None, weights=None, *, table: str = "summary"):
    """``(frequency, recency, T, weights)`` as float arrays from a summary frame or arrays.

    Validates the BTYD rules: finite, ``frequency >= 0``, ``0 <= recency <= T``, ``T >= 0``,
    ``recency == 0`` when ``frequency == 0``, ``weight >= 0``. A customer first seen on the
    observation end (``T == 0``) is valid: their likelihood term is 1 (nothing observed yet),
    as in lifetimes.
    """
    if isinstance(data, pd.DataFrame):
        check_columns(data, ["frequency", "recency", "T"], table)
        frame = data
        x = data["frequency"].to_numpy(dtype=float)
        tx = data["recency"].to_numpy(dtype=float)
        T_ = data["T"].to_numpy(dtype=float)
        if weights is None and "weight" in data.columns:
            weights = data["weight"].to_numpy(dtype=float)
    else:
        if recency is None or T is None:
            raise TypeError("give a summary DataFrame or the arrays frequency, recency, T")
        x, tx, T_ = (_as_float_array(v, n) for v, n in ((data, "frequency"),
                                                          (recency, "recency"), (T, "T")))
        if not (len(x) == len(tx) == len(T_)):
            raise ValueError("frequency, recency and T must have the same length")
        frame = pd.DataFrame({"frequency": x, "recency": tx, "T": T_})
    w = np.ones_like(x) if weights is None else _as_float_array(weights, "weight")
    if len(w) != len(x):
        raise ValueError("weights must have one entry per row")
    if len(x) == 0 or w.sum() <= 0:
        raise DataError(f"{table}: no customers to fit (empty table or zero total weight)",
                        table=table, column="frequency", rule="non-empty", n_rows=0)
    for col, arr in (("frequency", x), ("recency", tx), ("T", T_), ("weight", w)):
        check_rule(table, col, "finite", ~np.isfinite(arr), frame)
    check_rule(table, "frequency", "frequency >= 0", x < 0, frame)
    check_rule(table, "frequency", "frequency is a whole number", x != np.round(x), frame)
    check_rule(table, "T", "T >= 0", T_ < 0, frame)
    check_rule(table, "recency", "0 <= recency <= T", (tx < 0) | (tx > T_ * (1 + 1e-12)), frame)
    check_rule(table, "recency", "recency == 0 when frequency == 0", (x == 0) & (tx != 0), frame)
    check_rule(table, "weight", "weight >= 0", w < 0, frame)
    return x, np.minimum(tx, T_), T_, w


def check_identified(x, T, w, *, table: str = "summary", model: str = "BTYD model",
                     age_column: str = "T") -> None:
    """Refuse a summary from which the BTYD parameters cannot be estimated at all.

    * every customer's age ``T`` is 0 (all first seen on the observation end): every
      likelihood term is 1 whatever the parameters — nothing is observed;
    * nobody made a repeat purchase (``frequency == 0`` for all): the purchase rate runs to 0
      and the dropout parameters do not enter the likelihood (BG/NBD: ``B(a, b+x)/B(a, b) = 1``
      at ``x = 0``), so predictions come out as 0, ±inf or NaN.

    A customer with ``T = 0`` among others is valid (their prediction is the unconditional one
    of a customer just acquired). Rows with zero weight are ignored. Raises
    :class:`~retention_lab.DataError` naming the column, the rule and the count.
    """
    x, T, w = (np.asarray(v, float) for v in (x, T, w))
    on = w > 0
    n = int(on.sum())
    if n and not np.any(T[on] > 0):
        raise DataError(f"{table}.{age_column}: all {n:,} customers have {age_column} = 0 (first "
                        f"seen on the observation end); the {model} cannot be estimated from "
                        f"customers observed for no time — rule 'some customer with "
                        f"{age_column} > 0'", table=table, column=age_column,
                        rule=f"some customer with {age_column} > 0", n_rows=n)
    if n and not np.any(x[on] > 0):
        raise DataError(f"{table}.frequency: all {n:,} customers have frequency = 0 (no repeat "
                        f"purchase at all); the {model}'s purchase and dropout processes are not "
                        f"identified — rule 'some customer with frequency > 0'", table=table,
                        column="frequency", rule="some customer with frequency > 0", n_rows=n)


def boundary_flags(coef, names, *, positive=None, scale=None, limit: float = BOUNDARY_LOG):
    """Which estimates ran to the boundary of the parameter space (a bool Series by name).

    A positive parameter (``positive[j]``) is at the boundary when ``|log θ_j| > limit``
    (towards 0 or ∞); a regression coefficient when ``|γ_j| · scale_j > limit``, ``scale_j`` the
    spread of its covariate (:func:`covariate_scale`; 1 for a dummy): a rate ratio beyond e^12
    between customers at the low and the high end of the covariate — the signature of a likelihood that keeps rising as the
    coefficient runs to ±∞ (separation, or a process the data do not identify).
    """
    coef = np.asarray(coef, float)
    positive = np.ones(len(coef), bool) if positive is None else np.asarray(positive, bool)
    scale = np.ones(len(coef)) if scale is None else np.asarray(scale, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.where(positive, np.abs(np.log(np.where(positive, coef, 1.0))),
                        np.abs(coef) * scale)
    return pd.Series((size > limit) | ~np.isfinite(size), index=list(names), name="at_boundary")


def covariate_scale(design) -> np.ndarray:
    """Per column of a design matrix, the spread that :func:`boundary_flags` multiplies a
    coefficient by: the 1st–99th percentile range (robust to a few extreme values of a numeric
    covariate), or the full range where that is 0 (a rare dummy: 1)."""
    M = np.asarray(design, float)
    if M.ndim != 2 or M.shape[1] == 0 or M.shape[0] == 0:
        return np.zeros(0 if M.ndim != 2 else M.shape[1])
    lo, hi = np.percentile(M, [1, 99], axis=0)
    return np.where(hi > lo, hi - lo, np.ptp(M, axis=0))


def flag_boundary(model, flags: pd.Series, *, stacklevel: int = 3) -> None:
    """Record boundary estimates on a fitted model: ``model.at_boundary_`` (bool per parameter),
    ``model.summary.attrs['at_boundary']`` (the same as a dict, kept by persistence), the
    standard error, interval and p-value of each flagged row set to NaN in ``summary`` (they are
    not ordinary inference at a boundary: the Wald approximation fails there), and a
    :class:`~retention_lab.errors.BoundaryWarning` naming them."""
    flags = flags.astype(bool)
    model.at_boundary_ = flags
    summary = model.summary
    summary.attrs["at_boundary"] = {str(k): bool(v) for k, v in flags.items()}
    bad = [k for k, v in flags.items() if v]
    if not bad:
        return
    cols = [c for c in ("se", "lower 95%", "upper 95%", "p") if c in summary.columns]
    summary.loc[bad, cols] = np.nan
    if hasattr(model, "standard_errors_"):
        model.standard_errors_.loc[bad] = np.nan
    values = ", ".join(f"{k} = {model.params_[k]:.4g}" for k in bad)
    warnings.warn(f"{type(model).__name__}: estimate(s) at the boundary of the parameter space "
                  f"({values}); the data do not identify them, so no standard error, interval "
                  f"or p-value is given for them (summary.attrs['at_boundary']) — simplify the "
                  f"model (drop the covariate / use a simpler model) or add a penalizer_coef",
                  BoundaryWarning, stacklevel=stacklevel)


def distinct_rows(*columns, weights=None):
    """The distinct rows of equal-length arrays, how to map back, and their total weights.

    Returns ``(uniq, inverse, counts)``: ``uniq`` a tuple of arrays (the distinct rows in
    lexicographic order), ``inverse`` such that ``uniq[k][inverse] == columns[k]`` and ``counts``
    the summed ``weights`` of each distinct row (row counts without weights). Each column is
    coded by hashing (``pandas.factorize``, sorted codes) and the codes combined into one integer
    key, itself hashed: linear time, where sorting a million rows (``np.unique``) dominated the
    cost of a BG/NBD fit.
    """
    n = len(columns[0])
    key = np.zeros(n, dtype=np.int64)
    values, sizes = [], []
    for col in columns:
        codes, u = pd.factorize(np.asarray(col).ravel(), sort=True, use_na_sentinel=False)
        if len(u) and key.max(initial=0) >= np.iinfo(np.int64).max // len(u):
            # too many combinations for one int64 key: the generic (slower) row sort
            _, first, inverse = np.unique(np.stack(columns, 1), axis=0, return_index=True,
                                          return_inverse=True)
            inverse = inverse.ravel()
            uniq = tuple(np.asarray(c)[first] for c in columns)
            break
        key = key * len(u) + codes
        values.append(u)
        sizes.append(len(u))
    else:
        inverse, ukey = pd.factorize(key, sort=True)
        uniq = [None] * len(columns)
        for k in range(len(columns) - 1, -1, -1):  # decode the key, last column first
            ukey, code = np.divmod(ukey, sizes[k])
            uniq[k] = np.asarray(values[k])[code]
        uniq = tuple(uniq)
    counts = np.bincount(inverse, weights=weights, minlength=len(uniq[0])).astype(float)
    return uniq, inverse, counts


def time_unit_of(summary) -> float | None:
    """Days per time unit of a summary made by :func:`retention_lab.features.rfm_summary`
    (``attrs['freq']`` × ``attrs['freq_multiplier']``), or ``None`` when unknown."""
    attrs = getattr(summary, "attrs", None) or {}
    if "freq" not in attrs:
        return None
    return DAYS_PER_UNIT[str(attrs["freq"]).upper()] * float(attrs.get("freq_multiplier", 1))


# ---------------------------------------------------------------------------- the base class
class BaseFitter(PersistenceMixin):
    """Maximum likelihood on log-parameters with Hessian standard errors.

    Subclasses define ``_param_names``, ``_prepare(*args, **kw) -> (data, weights, n_obs)``,
    ``_loglik(params, data) -> per-row log-likelihood`` and optionally
    ``_loglik_grad(params, data) -> (per-row ll, per-row d ll / d params)`` (natural scale),
    and ``_initial(data, weights)``.
    """

    _param_names: tuple[str, ...] = ()
    _model_name = "model"
    _reference = ""

    def __init__(self, penalizer_coef: float = 0.0):
        if penalizer_coef < 0:
            raise ValueError("penalizer_coef must be >= 0")
        self.penalizer_coef = float(penalizer_coef)

    # -- to implement -------------------------------------------------------------------
    def _loglik(self, params: np.ndarray, data) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    _loglik_grad = None
    #: above this many distinct rows, fits start from a fit to a random half of that many
    _warm_start_rows = 40_000

    def _subset(self, data, idx):
        """The data restricted to rows ``idx`` (``None``: no warm start for this model)."""
        return None

    def _initial(self, data, weights) -> np.ndarray:
        return np.ones(len(self._param_names))

    # -- objective ----------------------------------------------------------------------
    def _objective(self, log_params, data, weights, wsum):
        p = np.exp(log_params)
        ll = self._loglik(p, data)
        val = -np.dot(weights, ll) / wsum + self.penalizer_coef * np.sum(p ** 2)
        return val if np.isfinite(val) else np.inf

    def _objective_grad(self, log_params, data, weights, wsum):
        p = np.exp(log_params)
        ll, g = self._loglik_grad(p, data)
        val = -np.dot(weights, ll) / wsum + self.penalizer_coef * np.sum(p ** 2)
        grad = (-(weights @ g) / wsum + 2 * self.penalizer_coef * p) * p
        if not np.isfinite(val) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros_like(p)
        return val, grad

    def _total_nll_grad(self, log_params, data, weights):
        """Gradient of the total (weighted-sum, penalised) negative log-likelihood."""
        wsum = weights.sum()
        if self._loglik_grad is not None:
            return self._objective_grad(log_params, data, weights, wsum)[1] * wsum
        return numerical_gradient(lambda t: self._objective(t, data, weights, wsum),
                                  log_params) * wsum

    # -- fitting ------------------------------------------------------------------------
    def _fit(self, data, weights, n_obs: int, initial_params=None, maxiter: int = 500):
        wsum = float(weights.sum())
        x0 = np.log(np.asarray(initial_params if initial_params is not None
                               else self._initial(data, weights), dtype=float))
        if self._loglik_grad is not None:
            fun = lambda t: self._objective_grad(t, data, weights, wsum)  # noqa: E731
            jac = True
        else:
            obj = lambda t: self._objective(t, data, weights, wsum)  # noqa: E731
            fun = obj
            jac = lambda t: numerical_gradient(obj, t)  # noqa: E731
        starts = [x0, x0 + 1.0, x0 - 1.0]
        hess_inv0 = None
        if initial_params is None and len(weights) > self._warm_start_rows:
            # big tables: optimise on a random subset of the rows first (an unbiased estimate
            # of the objective), then finish on all rows from there with its inverse Hessian
            rng = np.random.default_rng(0)
            idx = np.sort(rng.choice(len(weights), self._warm_start_rows // 2, replace=False))
            sub_w = weights[idx]
            sub = self._subset(data, idx)
            if sub is not None:
                sub_fun = lambda t: self._objective_grad(t, sub, sub_w, sub_w.sum())  # noqa: E731
                with np.errstate(all="ignore"):
                    pre = minimize_bfgs(sub_fun, x0, True, gtol=1e-6, maxiter=maxiter)
                if np.isfinite(pre.fun) and np.all(np.isfinite(pre.x)):
                    starts = [pre.x] + starts
                    h = (pre.hess_inv + pre.hess_inv.T) / 2
                    if np.all(np.isfinite(h)) and np.linalg.eigvalsh(h).min() > 0:
                        hess_inv0 = h
        best = None
        for k, start in enumerate(starts):
            if not np.isfinite(fun(start)[0] if jac is True else fun(start)):
                continue
            h0 = hess_inv0 if k == 0 else None
            with np.errstate(all="ignore"):
                res = minimize_bfgs(fun, start, jac, gtol=1e-8, maxiter=maxiter, hess_inv0=h0)
                if not res.success and np.max(np.abs(res.jac)) > 1e-6:
                    # BFGS can stop on precision loss short of the optimum: polish with
                    # L-BFGS-B (scipy.optimize: heavy to import, so only on this rare path)
                    from scipy import optimize
                    res2 = optimize.minimize(fun, res.x, jac=jac, method="L-BFGS-B",
                                             options={"ftol": 1e-15, "gtol": 1e-10,
                                                      "maxiter": maxiter})
                    if res2.fun <= res.fun:
                        res = res2
            gnorm = np.max(np.abs(res.jac)) if getattr(res, "jac", None) is not None else np.inf
            if np.isfinite(res.fun) and (best is None or res.fun < best.fun - 1e-12):
                best = res
            if np.isfinite(res.fun) and gnorm < 1e-5:
                break
        if best is None or not np.isfinite(best.fun) or not np.all(np.isfinite(best.x)):
            raise ConvergenceError(
                f"{type(self).__name__}: the optimiser found no finite maximum of the likelihood "
                f"(data degenerate for this model?)")
        gnorm = float(np.max(np.abs(best.jac)))
        if gnorm > 1e-4:
            warnings.warn(f"{type(self).__name__}: the optimiser stopped with gradient norm "
                          f"{gnorm:.2g} ({best.message}); estimates may be inaccurate",
                          ConvergenceWarning, stacklevel=3)
        log_params = best.x
        self._store(log_params, data, weights, n_obs)
        flag_boundary(self, boundary_flags(np.exp(log_params), self._param_names),
                      stacklevel=4)
        return self

    def _store(self, log_params, data, weights, n_obs):
        names = list(self._param_names)
        params = np.exp(log_params)
        self.params_ = pd.Series(params, index=names, name="coef")
        self._log_params = log_params
        self.log_likelihood_ = float(np.dot(weights, self._loglik(params, data)))
        self.n_customers_ = float(weights.sum())
        self.n_rows_ = int(n_obs)
        k = len(names)
        self.AIC_ = 2 * k - 2 * self.log_likelihood_
        self.BIC_ = k * np.log(self.n_customers_) - 2 * self.log_likelihood_
        if self._loglik_grad is not None:
            H = hessian_from_gradient(lambda t: self._total_nll_grad(t, data, weights),
                                      log_params)
        else:
            wsum = weights.sum()
            H = hessian_from_function(lambda t: self._objective(t, data, weights, wsum) * wsum,
                                      log_params)
        self.hessian_ = H
        cov_log = covariance_from_information(
            H, f"{type(self).__name__}: the information matrix is singular or not positive "
               "definite at the estimate; standard errors are undefined (reported as NaN) — the "
               "model is not identified by these data", stacklevel=5)
        self.variance_matrix_log_ = pd.DataFrame(cov_log, index=names, columns=names)
        J = np.diag(params)
        self.variance_matrix_ = pd.DataFrame(J @ cov_log @ J, index=names, columns=names)
        se_log = np.sqrt(np.diag(cov_log))
        self.standard_errors_ = pd.Series(params * se_log, index=names, name="se")
        self.summary = pd.DataFrame({
            "coef": params,
            "se": params * se_log,
            "lower 95%": np.exp(log_params - Z95 * se_log),
            "upper 95%": np.exp(log_params + Z95 * se_log),
        }, index=pd.Index(names, name="param"))
        self.summary.attrs["method"] = ("maximum likelihood; se from the observed information "
                                        "(delta method); 95% Wald interval on log scale")
        return self

    # -- results ------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "params_"):
            if hasattr(self, "_fitted_as"):
                raise RuntimeError(
                    f"{type(self).__name__} is not fitted: fit(…, covariates=…) returned a new "
                    f"fitted {self._fitted_as} — use the model it returns "
                    f"(m = {type(self).__name__}().fit(summary, covariates=df))")
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() first")

    def _unload(self, *names):
        """Parameter values by name (all of ``_param_names`` by default, in that order), so
        that ``params_`` set by hand may be a Series in any order or a dict."""
        self._check_fitted()
        params = self.params_
        names = names or self._param_names
        missing = [n for n in names if n not in params]
        if missing:
            raise KeyError(f"{type(self).__name__}.params_ lacks {missing}; it needs "
                           f"{list(self._param_names)}")
        return [float(params[n]) for n in names]

    @property
    def confidence_intervals_(self) -> pd.DataFrame:
        """The 95 % intervals (lifetimes' attribute name)."""
        self._check_fitted()
        return self.summary[["lower 95%", "upper 95%"]]

    def sample_params(self, n_draws: int = 1000, seed=0) -> np.ndarray:
        """Parameter draws (``n_draws × k``, natural scale) from the asymptotic normal of the
        log-parameters — the parametric bootstrap behind CLV intervals."""
        self._check_fitted()
        cov = self.variance_matrix_log_.to_numpy()
        if not np.all(np.isfinite(cov)):
            raise ConvergenceError(f"{type(self).__name__}: no finite covariance to sample from")
        rng = np.random.default_rng(seed)
        return np.exp(rng.multivariate_normal(self._log_params, cov, size=n_draws,
                                              method="cholesky"))

    def _with_params(self, params):
        """A shallow copy of this fitter with other parameter values (for bootstrap draws)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.params_ = pd.Series(np.asarray(params, float), index=list(self._param_names))
        return clone

    def print_summary(self, decimals: int = 3, file=None) -> None:
        self._check_fitted()
        lines = [f"<retention_lab.clv.{type(self).__name__}: {self._model_name}>",
                 f"  reference        {self._reference}",
                 f"  customers        {self.n_customers_:,.0f} ({self.n_rows_:,} rows, "
                 f"{getattr(self, 'n_distinct_rows_', self.n_rows_):,} distinct)",
                 f"  log-likelihood   {self.log_likelihood_:.{decimals}f}",
                 f"  AIC              {self.AIC_:.{decimals}f}",
                 f"  penalizer_coef   {self.penalizer_coef:g}",
                 "",
                 self.summary.round(decimals).to_string(),
                 "",
                 f"  {self.summary.attrs['method']}"]
        at = [k for k, v in self.summary.attrs.get("at_boundary", {}).items() if v]
        if at:
            lines.append(f"  at the boundary (not identified; no se/interval): {', '.join(at)}")
        print("\n".join(lines), file=file)

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"<retention_lab.clv.{type(self).__name__}: not fitted>"
        ps = ", ".join(f"{k}: {v:.3f}" for k, v in self.params_.items())
        return (f"<retention_lab.clv.{type(self).__name__}: fitted with "
                f"{self.n_customers_:,.0f} customers, {ps}>")
