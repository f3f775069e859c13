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
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from ..errors import DataError
from ..units import Z95
from .base import (ConvergenceError, ConvergenceWarning, boundary_flags, btyd_arrays,
                   covariance_from_information, covariate_scale, distinct_rows, flag_boundary,
                   time_unit_of)
from .beta_geo import BetaGeoFitter, log_hyp2f1
from .pareto_nbd import ParetoNBDFitter, _log_hyp1_grad

#: rows above which a fit starts from a fit to a random subset of this many rows
_WARM_START_ROWS = 20_000


# ---------------------------------------------------------------------------- covariate design
def design_matrix(covariates: pd.DataFrame, index=None, *, table: str = "covariates",
                  levels: dict | None = None):
    """Numeric design columns from a covariate frame (one row per customer of ``index``).

    Numeric and boolean columns enter as they are; text / categorical columns as 0/1 dummies
    ``<col>=<level>`` for every level but the first (the reference), with the levels fixed at
    fit time (``levels``). Returns ``(matrix, names, levels)``. Missing customers, missing
    values and non-finite numbers are a :class:`~retention_lab.DataError`.
    """
    if not isinstance(covariates, pd.DataFrame):
        raise TypeError("covariates must be a DataFrame indexed like the summary")
    cov = covariates
    if index is not None:
        if cov.index.has_duplicates:
            dup = cov.index.duplicated(keep=False)
            raise DataError.for_rule(table, str(cov.index.name or "index"),
                                     "one row per customer", pd.Series(dup), cov.reset_index())
        missing = ~pd.Index(index).isin(cov.index)
        if missing.any():
            raise DataError(f"{table}: {int(missing.sum()):,} of {len(index):,} customers of the "
                            f"summary have no covariate row (index must match the summary's, "
                            f"e.g. customer_id); first: {list(pd.Index(index)[missing][:5])}",
                            table=table, column=str(cov.index.name or "index"),
                            rule="a row for every summary customer", n_rows=int(missing.sum()))
        cov = cov.reindex(index)
    levels = {} if levels is None else levels
    cols, names = [], []
    for col in cov.columns:
        s = cov[col]
        if s.isna().any():
            raise DataError.for_rule(table, str(col), "not null", s.isna().reset_index(drop=True),
                                     cov.reset_index())
        numeric = pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
        if numeric and col not in levels:
            v = s.to_numpy(dtype=float)
            if not np.isfinite(v).all():
                raise DataError.for_rule(table, str(col), "finite",
                                         pd.Series(~np.isfinite(v)), cov.reset_index())
            cols.append(v)
            names.append(str(col))
        else:
            lv = levels.get(col)
            if lv is None:
                lv = (list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype)
                      else list(pd.Categorical(s).categories))
                levels[col] = lv
            unknown = ~s.isin(lv)
            if unknown.any():
                raise DataError.for_rule(table, str(col), f"a level seen at fit time {lv}",
                                         unknown.reset_index(drop=True), cov.reset_index())
            for level in lv[1:]:
                cols.append((s == level).to_numpy(dtype=float))
                names.append(f"{col}={level}")
    X = np.column_stack(cols) if cols else np.zeros((len(cov), 0))
    return X, names, levels


def _select(names_all, chosen, what):
    if chosen is None:
        return list(names_all)
    chosen = [chosen] if isinstance(chosen, str) else list(chosen)
    out = []
    for c in chosen:
        hits = [n for n in names_all if n == c or n.startswith(f"{c}=")]
        if not hits:
            raise DataError(f"covariates: {what} column {c!r} not among {list(names_all)}",
                            table="covariates", column=str(c), rule="column present")
        out += hits
    return out


# ---------------------------------------------------------------------------- Pareto/NBD rows
def pnbd_log_F_rows(r, s, x, alpha, beta, u, grad: bool = False):
    """``log F(u)`` of the Pareto/NBD likelihood with per-row ``α, β`` (arrays), and with
    ``grad`` its derivatives in ``(r, α, s, β)`` (shape (5, rows)).

    ``F(u) = 2F1(r+s+x, b; r+s+x+1; |α−β|/(m+u)) / (m+u)^{r+s+x}``, ``m = max(α, β)``, in the
    Euler-transformed form ``log F = log H − (r+x) log(α+u) − s log(β+u)``,
    ``H = 2F1(1, r+x; r+s+x+1; (α−β)/(α+u))`` for ``α ≥ β`` and ``log F = log H −
    (r+x−1) log(α+u) − (s+1) log(β+u)``, ``H = 2F1(1, s+1; r+s+x+1; (β−α)/(β+u))`` for
    ``α < β`` (``H`` is bounded by ``1/(1−z)``, so nothing overflows). ``α``, ``β`` may be
    shifted (negative) as long as ``α+u, β+u > 0`` (the time-varying model uses that).
    """
    x, alpha, beta, u = np.broadcast_arrays(*(np.asarray(v, float) for v in (x, alpha, beta, u)))
    la, lb = np.log(alpha + u), np.log(beta + u)
    c = r + s + x + 1.0
    ge = alpha >= beta
    z = np.where(ge, (alpha - beta) / (alpha + u), (beta - alpha) / (beta + u))
    bpar = np.where(ge, r + x, s + 1.0)
    if not grad:
        lH = np.log(hyp2f1(1.0, bpar, c, z))
        return np.where(ge, lH - (r + x) * la - s * lb, lH - (r + x - 1.0) * la - (s + 1.0) * lb)
    lH, Hb, Hc, Hz = _log_hyp1_grad(bpar.ravel(), c.ravel(), z.ravel())
    lH, Hb, Hc, Hz = (v.reshape(x.shape) for v in (lH, Hb, Hc, Hz))
    ia, ib = 1.0 / (alpha + u), 1.0 / (beta + u)
    out = np.empty((5,) + x.shape)
    out[0] = np.where(ge, lH - (r + x) * la - s * lb, lH - (r + x - 1.0) * la - (s + 1.0) * lb)
    out[1] = np.where(ge, Hb + Hc - la, Hc - la)
    out[2] = np.where(ge, Hz * (beta + u) * ia ** 2 - (r + x) * ia,
                      -Hz * ib - (r + x - 1.0) * ia)
    out[3] = np.where(ge, Hc - lb, Hb + Hc - lb)
    out[4] = np.where(ge, -Hz * ia - s * ib, Hz * (alpha + u) * ib ** 2 - (s + 1.0) * ib)
    return out


def pnbd_loglik_rows(r, s, alpha, beta, x, tx, T, grad: bool = False):
    """Per-row Pareto/NBD log-likelihood with per-row ``α_i, β_i``; with ``grad`` also the
    per-row derivatives in ``(r, α_i, s, β_i)`` (rows × 4)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        A1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        la_T, lb_T = np.log(alpha + T), np.log(beta + T)
        alive = -(r + x) * la_T - s * lb_T
        if not grad:
            f_tx = pnbd_log_F_rows(r, s, x, alpha, beta, tx)
            f_T = pnbd_log_F_rows(r, s, x, alpha, beta, T)
            diff = np.minimum(f_T - f_tx, 0.0)
            dead = np.log(s) - np.log(r + s + x) + f_tx + np.log(-np.expm1(diff))
            return A1 + np.logaddexp(alive, dead)
        n = len(x)
        lf = pnbd_log_F_rows(r, s, np.r_[x, x], np.r_[alpha, alpha], np.r_[beta, beta],
                             np.r_[tx, T], grad=True)
        f_tx, f_T = lf[:, :n], lf[:, n:]
        diff = np.minimum(f_T[0] - f_tx[0], 0.0)
        q, one_minus_q = np.exp(diff), -np.expm1(diff)
        dead = np.log(s) - np.log(r + s + x) + f_tx[0] + np.log(one_minus_q)
        d_A0 = (f_tx[1:] - q * f_T[1:]) / one_minus_q
        M = np.logaddexp(alive, dead)
        w_dead = np.exp(dead - M)
        w_alive = 1.0 - w_dead
        d_A0 = np.where(w_dead > 0, d_A0, 0.0)
        g = np.empty((n, 4))
        g[:, 0] = (digamma(r + x) - digamma(r) + np.log(alpha) - w_alive * la_T
                   + w_dead * (d_A0[0] - 1.0 / (r + s + x)))
        g[:, 1] = r / alpha - w_alive * (r + x) / (alpha + T) + w_dead * d_A0[1]
        g[:, 2] = (np.log(beta) - w_alive * lb_T
                   + w_dead * (d_A0[2] + 1.0 / s - 1.0 / (r + s + x)))
        g[:, 3] = s / beta - w_alive * s / (beta + T) + w_dead * d_A0[3]
        return A1 + M, g


def pnbd_probability_alive_rows(r, s, alpha, beta, x, tx, T):
    """P(alive at T | x, t_x, T) with per-row ``α_i, β_i`` (Fader & Hardie 2005 note, eq. 24)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        f_tx = pnbd_log_F_rows(r, s, x, alpha, beta, tx)
        f_T = pnbd_log_F_rows(r, s, x, alpha, beta, T)
        diff = np.minimum(f_T - f_tx, 0.0)
        log_odds = (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T)
                    + s * np.log(beta + T) + f_tx + np.log(-np.expm1(diff)))
    return expit(-log_odds)


def pnbd_expected_if_alive_rows(r, s, alpha, beta, x, T, t):
    """E[X(T, T+t) | alive at T] with per-row ``α_i, β_i`` (eq. 27 of the note without its
    P(alive) factor)."""
    t = np.asarray(t, float)
    p1 = (r + x) * (beta + T) / (alpha + T)
    if abs(s - 1) < 1e-8:
        p2 = np.log1p(t / (beta + T))
    else:
        p2 = -np.expm1((s - 1) * (np.log(beta + T) - np.log(beta + T + t))) / (s - 1)
    return p1 * p2


# ---------------------------------------------------------------------------- BG/NBD rows
def bgnbd_loglik_rows(r, alpha, a, b, x, tx, T, grad: bool = False):
    """Per-row BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6) with per-row
    ``α_i, a_i, b_i``; with ``grad`` the per-row derivatives in ``(r, α_i, a_i, b_i)``."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        has = x > 0
        bx1 = np.where(has, b + x - 1, 1.0)
        rx = r + x
        A3 = -rx * np.log(alpha + T)
        A4 = np.where(has, np.log(a) - np.log(bx1) - rx * np.log(alpha + tx), -np.inf)
        M = np.logaddexp(A3, A4)
        ll = (gammaln(rx) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
              + M)
        if not grad:
            return ll
        w4 = np.exp(A4 - M)
        w3 = 1.0 - w4
        dab = digamma(a + b) - digamma(a + b + x)
        g = np.empty((len(x), 4))
        g[:, 0] = (digamma(rx) - digamma(r) + np.log(alpha) - w3 * np.log(alpha + T)
                   - w4 * np.log(alpha + tx))
        g[:, 1] = r / alpha - rx * (w3 / (alpha + T) + w4 / (alpha + tx))
        g[:, 2] = dab + w4 / a
        g[:, 3] = digamma(b + x) - digamma(b) + dab - w4 * np.where(has, 1.0 / bx1, 0.0)
        return ll, g


def bgnbd_probability_alive_rows(r, alpha, a, b, x, tx, T):
    """P(alive at T) with per-row ``α_i, a_i, b_i`` (eq. 12); 1 for ``x = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds = (np.log(a) - np.log(np.where(x > 0, b + x - 1, 1.0))
                    + (r + x) * (np.log(alpha + T) - np.log(alpha + tx)))
    return np.where(x > 0, expit(-log_odds), 1.0)


def bgnbd_expected_if_alive_rows(r, alpha, a, b, x, T, t):
    """E[X(T, T+t) | alive at T] with per-row ``α_i, a_i, b_i`` (eq. 10 without P(alive))."""
    t = np.asarray(t, float)
    ln_hyp = log_hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    first = (a + b + x - 1) / (a - 1)
    return first * -np.expm1(ln_hyp + (r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))


# ---------------------------------------------------------------------------- the fitters
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


class _StaticCovariatesMixin(LogShapeParamsMixin):
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
        if covariates is None:  # no covariates: the plain model
            self.__class__ = self._base
            return self.fit(data, recency, T, weights, initial_params=initial_params, **kwargs)
        if not isinstance(data, pd.DataFrame):
            raise TypeError("with covariates, give the summary as a DataFrame indexed by customer "
                            "(the covariates are matched on its index)")
        x, tx, T_, w = btyd_arrays(data, None, None, weights)
        D, names, levels = design_matrix(covariates, data.index)
        tnames = _select(names, covariates_trans, "covariates_trans")
        lnames = _select(names, covariates_life, "covariates_life")
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
            p = np.where(pos, np.nan, 2 * stats.norm.sf(np.abs(theta / se_t)))
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


class ParetoNBDCovariatesFitter(_StaticCovariatesMixin, ParetoNBDFitter):
    """Pareto/NBD with time-invariant covariates (Fader & Hardie 2007; CLVTools'
    parameterization): ``α_i = α exp(−γ_trans′x_i)``, ``β_i = β exp(−γ_life′z_i)``. What
    ``ParetoNBDFitter().fit(summary, covariates=df)`` returns (the same object, this class)."""

    _base = ParetoNBDFitter
    _trans_scaled, _life_scaled, _life_sign = 1, (3,), -1.0
    _model_name = "Pareto/NBD with time-invariant covariates"
    _reference = "Fader & Hardie (2007) note 019; CLVTools pnbd(static covariates)"

    @staticmethod
    def _rows(r, alpha, s, beta, x, tx, T, grad=False):
        out = pnbd_loglik_rows(r[0] if np.ndim(r) else r, s[0] if np.ndim(s) else s,
                               alpha, beta, x, tx, T, grad=grad)
        if not grad:
            return out
        ll, g = out
        return ll, g[:, [0, 1, 2, 3]]

    @staticmethod
    def _palive_rows(r, alpha, s, beta, x, tx, T):
        return pnbd_probability_alive_rows(float(np.ravel(r)[0]), float(np.ravel(s)[0]),
                                           alpha, beta, x, tx, T)

    @staticmethod
    def _if_alive_rows(r, alpha, s, beta, x, T, t):
        return pnbd_expected_if_alive_rows(float(np.ravel(r)[0]), float(np.ravel(s)[0]),
                                           alpha, beta, x, T, t)


class BetaGeoCovariatesFitter(_StaticCovariatesMixin, BetaGeoFitter):
    """BG/NBD with time-invariant covariates in CLVTools' form: ``α_i = α exp(−γ_trans′x_i)``,
    ``a_i = a exp(γ_life′z_i)``, ``b_i = b exp(γ_life′z_i)`` (see the module docstring for what
    the shared lifetime coefficient does). What ``BetaGeoFitter().fit(summary, covariates=df)``
    returns."""

    _base = BetaGeoFitter
    _trans_scaled, _life_scaled, _life_sign = 1, (2, 3), 1.0
    _model_name = "BG/NBD with time-invariant covariates"
    _reference = "Fader & Hardie (2007) note 019; CLVTools bgnbd(static covariates)"

    @staticmethod
    def _rows(r, alpha, a, b, x, tx, T, grad=False):
        return bgnbd_loglik_rows(float(np.ravel(r)[0]), alpha, a, b, x, tx, T, grad=grad)

    @staticmethod
    def _palive_rows(r, alpha, a, b, x, tx, T):
        return bgnbd_probability_alive_rows(float(np.ravel(r)[0]), alpha, a, b, x, tx, T)

    @staticmethod
    def _if_alive_rows(r, alpha, a, b, x, T, t):
        return bgnbd_expected_if_alive_rows(float(np.ravel(r)[0]), alpha, a, b, x, T, t)


_COVARIATE_CLASS = {ParetoNBDFitter: ParetoNBDCovariatesFitter,
                    BetaGeoFitter: BetaGeoCovariatesFitter}


def fit_with_covariates(fitter, data, recency=None, T=None, weights=None, **kwargs):
    """``fitter.fit(summary, covariates=df, …)`` for a plain ``ParetoNBDFitter`` /
    ``BetaGeoFitter``: the fitter becomes its covariate class (so that every prediction uses the
    covariates) and is fitted."""
    cls = _COVARIATE_CLASS.get(type(fitter))
    if cls is None:
        raise TypeError(f"{type(fitter).__name__} has no covariate version")
    fitter.__class__ = cls
    return fitter.fit(data, recency, T, weights, **kwargs)


# ---------------------------------------------------------------------------- CLV
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
    from .value import CLVResult, _resolve_time_unit, _spend, unit_days
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive whole number of {freq} periods")
    horizon = int(horizon)
    unit = _resolve_time_unit(time_unit, summary, model)
    step = unit_days(freq) / unit
    x, tx, T_, w = btyd_arrays(summary)
    if isinstance(spend_model, (int, float, np.integer, np.floating)):
        m = np.zeros_like(x)
    else:
        if "monetary_value" not in summary.columns:
            raise DataError("summary: missing column 'monetary_value' needed by the spend model",
                            table="summary", column="monetary_value", rule="required column")
        m = summary["monetary_value"].to_numpy(float)
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
