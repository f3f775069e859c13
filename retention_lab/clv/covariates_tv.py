"""Pareto/NBD with time-varying covariates (piecewise constant per calendar period).

Bachmann, P., Meierer, M. & Näf, J. (2021), "The role of time-varying contextual factors in
latent attrition models for customer base analysis", *Marketing Science* 40(4), 783–809
(CLVTools' ``pnbd()`` with dynamic covariates). Derived here from first principles; the
parameterization is CLVTools'.

Model. Customer ``i`` has ``λ_i ~ Gamma(r, α)``, ``μ_i ~ Gamma(s, β)``; while alive they buy as a
Poisson process with intensity ``λ_i a_i(t)`` and drop out with hazard ``μ_i c_i(t)``, where

    a_i(t) = exp(γ_trans′ x_i(t)),      c_i(t) = exp(γ_life′ z_i(t))

and the covariates ``x_i(t), z_i(t)`` are constant within each calendar period (e.g. week).
With constant covariates this is exactly the static model of :mod:`.covariates`
(``α_i = α exp(−γ′x)``), so positive coefficients raise the purchase / dropout rate and
``exp(γ)`` is the rate ratio.

Likelihood. With ``A(t) = ∫_0^t a``, ``C(t) = ∫_0^t c`` (age ``t`` since the first purchase),
``x`` repeat purchases at ``t_1 … t_x`` (the last at ``t_x``), observed to ``T``:

    L = Π_j a(t_j) · Γ(r+x)/Γ(r) · α^r β^s ·
        [ (α+A(T))^-(r+x) (β+C(T))^-s  +  s ∫_{t_x}^T (α+A(τ))^-(r+x) (β+C(τ))^-(s+1) c(τ) dτ ]

(the gamma mixtures of ``λ^x e^{−λA(T)} e^{−μC(T)}`` — alive at ``T`` — and of
``λ^x e^{−λA(τ)} μ c(τ) e^{−μC(τ)}`` — died at ``τ``). ``Π a(t_j)`` is the density of the
purchase times of an inhomogeneous Poisson process (CLVTools' ``A1sum``). On a period where
``a, c`` are constant, ``A(τ) = a (p + v)``, ``C(τ) = c (q + v)`` with ``v`` the time into the
period, and the piece of the integral is ``s a^-(r+x) c^-s ∫_0^h (p+v)^-(r+x) (q+v)^-(s+1) dv =
s a^-(r+x) c^-s [F(0) − F(h)] / (r+s+x)`` with the Pareto/NBD ``F`` of
:func:`.covariates.pnbd_log_F_rows` at the shifted ``α → p``, ``β → q``. Consecutive periods
with equal covariates are merged first, so the cost is one ``2F1`` pair per covariate change
between ``t_x`` and ``T`` per customer. The gradient is analytic (:func:`dynamic_loglik_grad`);
standard errors from central differences of it. Customers whose histories and covariate
paths are identical are evaluated once, weighted (:meth:`DynamicData.compact`, issue 22).

Events (``events=``). ``"orders"`` (default): every transaction after the first purchase day is
a purchase; several orders on one day are tied events at the day's end (the Poisson count of
the day, ``Π a(t_j)`` taking each one). ``"days"``: purchase *days* (several orders on one day
count once — the BTYD summary's convention, invariant to an order written as several lines).
The first purchase day counts once either way: its other orders fall in the part of the day
before age 0, which the model does not expose. Why orders by default (issue 19): members who
enrol at a purchase chosen on the gap since the previous one enrol more often on days with
two purchases, and the day collapse hides exactly the second one — a pre-switch purchase the
likelihood cannot see, carrying information on ``λ`` the selection used. On the enrolment
world of tests/test_clv_membership_calibration.py (null programme, 20,000 customers, 8
seeds) ``trans.member`` is +0.0055 (Monte Carlo SE 0.0010; SE of one fit 0.0055) with purchase
days and −0.0011 (0.0012) with orders; counting the orders of the enrolment day only
over-corrects (−0.0074: it adds the post-enrolment orders of that day while the other days
stay collapsed). Use ``"days"`` where a row may be a line of an order rather than an order.

Time: exact event times at the data's resolution (a day); ages are measured in
units of ``freq`` (7 days for ``"W"``) from the first purchase day, whatever the period of the
covariate table: the covariates are piecewise constant by calendar period of ``freq`` (Monday
weeks for ``"W"``), the purchase events are not merged into periods. Day ``d`` is the age
interval ``(d − d_0 − 1, d − d_0]`` (÷ days per unit): a purchase on day ``d`` sits at the right
end of its day and meets the covariates in force on day ``d``. The covariate path is
*predictable* (left-continuous, as in the counting-process likelihood of Andersen et al. 1993,
ch. III): a switch that takes effect on day ``d + 1`` acts after every purchase of day ``d``. For
membership that starts at a purchase this is the right side of the switch for the enrolment
purchase: it was made by a non-member, so it belongs to the pre-switch regime
(:func:`membership_covariates` switches membership on from the period after the enrolment;
with ``freq="D"`` that is the next day, the exact switch). Counting it after the switch would
hand the member regime a purchase it is guaranteed to have (the enrolment is conditioned on
it) — a spurious positive ``trans.member``. The same happens, more quietly, when purchases are
merged into periods: a period holding the enrolment is busier than others (enrolment follows
activity) and loses more purchases to the merge (29.7 % against 13.2 % in the weeks of issue
19), and a purchase placed at the start of its period while the period's exposure runs after
it moves one period of events from the non-member to the member regime; together these gave a
null programme ``trans.member`` ≈ +0.09–0.13 on weekly periods. With exact days both are gone
(tests/clv/test_membership_calibration.py). The dropout multiplier of a BG/NBD purchase is the
one in force just after it (the next day's).

Predictions under a future covariate path (constant from a customer's cut-off on: e.g.
membership on or off). Given the history up to age ``e`` and alive then, ``λ ~ Gamma(r+x,
α+A(e))`` and ``μ ~ Gamma(s, β+C(e))``, so

    E[X(e, e+t) | history] = P(alive at e) · (r+x)/(α+A(e)) · ∫_0^t a_f (B/(B+c_f v))^s dv
                           = P(alive at e) · (r+x)/(α+A(e)) · a_f B [1 − (B/(B+c_f t))^{s−1}] / (c_f (s−1)),

``B = β + C(e)`` (``a_f B/c_f · log(1 + c_f t/B)`` at ``s = 1``).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import expit, ndtr

from ..features.periods import DAYS_PER
from ..units import Z95
from .base import (
    ConvergenceError,
    ConvergenceWarning,
    covariance_from_information,
    hessian_from_gradient,
)
from .covariates import LogShapeParamsMixin, covariate_clv, design_matrix
from .covariates_tv_data import (  # noqa: F401  (re-exported: moved here → covariates_tv_data)
    EVENTS,
    DynamicData,
    _row_ids,
    membership_covariates,
    period_start,
)
from .covariates_tv_lik import (  # noqa: F401  (re-exported: moved here → covariates_tv_lik)
    _cum_by_customer,
    _states,
    dynamic_loglik_grad,
    dynamic_loglik_terms,
)
from .pareto_nbd import ParetoNBDFitter
from .profile_interval import fitter_profile_interval


# ---------------------------------------------------------------------------- the fitter
def covariance_problem(H: np.ndarray, names, theta) -> str | None:
    """Why the observed information ``H`` (log scale for r, α, s, β) gives no covariance, or
    None: not finite, or not positive definite by :func:`.base.covariance_from_information`'s
    rule (relative eigenvalue floor 1e-10) — then the eigenvalue and its direction, which names
    the flat ridge: (log s, log β) growing together is the Pareto/NBD's boundary s → ∞ (no
    heterogeneity in the dropout rate, the lifetime exponential) where the likelihood is flat
    and, past s ≈ 10², not finite (seed 1003's bootstrap refits, issue 19)."""
    if not np.all(np.isfinite(H)):
        return ("the information matrix is not finite (the log-likelihood's gradient is not "
                "finite next to the estimates)")
    evals, vecs = np.linalg.eigh(H)
    if evals[0] > 1e-10 * max(1.0, evals[-1]):
        return None
    v = vecs[:, 0] * np.sign(vecs[np.argmax(np.abs(vecs[:, 0])), 0])
    labels = [f"log {n}" if i < 4 else n for i, n in enumerate(names)]
    along = " ".join(f"{v[i]:+.2f} {labels[i]}" for i in np.flatnonzero(np.abs(v) >= 0.3))
    why = "a covariate that never changes or is collinear, a flat ridge or a boundary"
    top = set(np.argsort(-np.abs(v))[:2])
    for (i, j), what in (((0, 1), "in the purchase rate"), ((2, 3), "in the dropout rate")):
        if top == {i, j} and v[i] * v[j] > 0 and v[i] ** 2 + v[j] ** 2 >= 0.8:
            why = (f"{names[i]} = {np.exp(theta[i]):.3g} and {names[j]} = {np.exp(theta[j]):.3g} "
                   f"growing together: no detectable heterogeneity {what}, a boundary where "
                   "the likelihood is flat")
    return (f"the information matrix is not positive definite (eigenvalue {evals[0]:.3g} of "
            f"largest {evals[-1]:.3g}, along {along}): the likelihood is not curved down there — "
            f"{why}")


class TimeVaryingParetoNBDFitter(LogShapeParamsMixin):
    """Pareto/NBD with time-varying covariates (Bachmann, Meierer & Näf 2021; CLVTools'
    ``pnbd`` with dynamic covariates). Parameters ``r, alpha, s, beta, trans.<col>,
    life.<col>``; see the module docstring for the model and its conventions.

    >>> panel = membership_covariates(customers, start, end, freq="W")
    >>> m = TimeVaryingParetoNBDFitter().fit(transactions, panel, observation_end=end)
    >>> m.expected_purchases(52, future={"member": 0})      # membership switched off
    """

    _model_name = "Pareto/NBD with time-varying covariates"
    _reference = "Bachmann, Meierer & Naef (2021), Marketing Science 40(4); CLVTools pnbd dyncov"
    _base_names = ("r", "alpha", "s", "beta")
    #: whether the likelihood reads each purchase's dropout design row (compaction key)
    _purchase_rows = False
    #: per-row analytic gradient (``fn(theta, d, rows=True) → (ll, G)``), or None
    _row_grad = staticmethod(dynamic_loglik_grad)
    #: start BFGS from the BHHH curvature (:meth:`_start_curvature`)
    _bhhh_start = True

    @staticmethod
    def _no_covariate_model():
        return ParetoNBDFitter()

    @staticmethod
    def _terms(theta, d):
        return dynamic_loglik_terms(theta, d)

    @staticmethod
    def _total_and_grad(theta, d):
        return dynamic_loglik_grad(theta, d)

    def fit(self, transactions: pd.DataFrame, covariates: pd.DataFrame, observation_end, *,
            freq: str = "W", covariates_trans=None, covariates_life=None, initial_params=None,
            fill=None, se: str = "robust", events: str = "orders", compact: bool = True):
        """Fit on ``transactions`` (``customer_id, date``) with a customer × period covariate
        table (``customer_id, period`` = any date in the period, covariate columns).

        ``fill=None`` (default): the table has a row for every period from each customer's
        first purchase to ``observation_end`` (a gap is a DataError). ``fill="forward"``: a row
        holds until the customer's next row (a table of changes, e.g.
        ``membership_covariates(..., compact=True)``); each customer needs a row dated at or
        before their first purchase period.

        ``events="orders"`` (default): every transaction after the first purchase day is a
        purchase event (same-day orders tied at the day's end); ``"days"``: purchase days (the
        BTYD summary's convention, invariant to orders written as several lines); see the
        module docstring for why orders are the default.

        ``se="robust"`` (default): the sandwich over customers, ``H⁻¹ (Σ_i s_i s_iᵀ) H⁻¹`` with
        ``s_i`` customer ``i``'s score (White 1982; each customer's history is one independent
        term) — it keeps its coverage when the model is misspecified (e.g. a Pareto/NBD fitted
        to a BG/NBD world, or heterogeneity that is not gamma), where the model-based SE fell
        short of the spread across simulated worlds (issue 19); ``se="model"``: the inverse
        observed information. Both are kept (``variance_matrix_model_log_``,
        ``variance_matrix_robust_log_``).

        ``compact=True`` (default): the likelihood, its gradient and the per-customer scores
        are evaluated once per distinct row (:meth:`DynamicData.compact`; ``n_distinct_rows_``)
        and weighted by the customers sharing it — the same numbers as ``compact=False`` (one
        evaluation per customer) to rounding. Returns ``self``."""
        if se not in ("robust", "model"):
            raise ValueError(f"se must be 'robust' or 'model', not {se!r}")
        self.se_method_ = se
        fill = covariates.attrs.get("fill") if fill is None else fill
        d = DynamicData(transactions, covariates, observation_end, freq, covariates_trans,
                        covariates_life, fill=fill, events=events)
        self.fill_ = fill
        self.events_ = events
        self.data_ = d
        self.freq = d.freq
        self.time_unit_ = DAYS_PER[d.freq]
        self.observation_end_ = pd.Timestamp(observation_end)
        self.covariates_trans_, self.covariates_life_ = d.tnames, d.lnames
        n = d.n
        rows, inverse = d.compact(self._purchase_rows) if compact else (d, None)
        self.n_distinct_rows_ = rows.n
        if initial_params is None:
            # the start: the model without covariates on the distinct rows, weighted by the
            # customers sharing each (the fitter merges equal (x, t_x, T) rows into the same
            # weighted table either way: the same fit, without hashing every customer)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                initial_params = self._no_covariate_model().fit(
                    rows.x, rows.tx, rows.T, weights=rows.w).params_.to_numpy()
        theta0 = np.r_[np.log(np.asarray(initial_params, float)), np.zeros(d.kt + d.kl)]

        def fun(t):
            v, g = self._total_and_grad(t, rows)
            if not np.isfinite(v) or not np.all(np.isfinite(g)):
                return np.inf, np.zeros_like(t)
            return -v / n, -g / n

        with np.errstate(all="ignore"):
            res = optimize.minimize(fun, theta0, jac=True, method="BFGS",
                                    options={"gtol": 1e-7, "maxiter": 500,
                                             "hess_inv0": self._start_curvature(theta0, rows)})
            if np.max(np.abs(res.jac)) > 1e-6:
                res2 = optimize.minimize(fun, res.x, jac=True, method="L-BFGS-B",
                                         options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 500})
                if res2.fun <= res.fun:
                    res = res2
        if not np.isfinite(res.fun):
            raise ConvergenceError(f"{type(self).__name__}: no finite maximum of the likelihood")
        gmax = float(np.max(np.abs(res.jac)))
        if gmax > 1e-5:
            warnings.warn(f"{type(self).__name__}: the optimiser stopped with gradient norm "
                          f"{gmax:.2g}; estimates may be inaccurate", ConvergenceWarning,
                          stacklevel=2)
        self._store(res.x, rows, inverse)
        return self

    def _information(self, theta, d):
        """The observed information at ``θ``: central differences of the analytic gradient
        (the BG/NBD overrides it with its analytic Hessian)."""
        return hessian_from_gradient(lambda t: -self._total_and_grad(t, d)[1], theta)

    def _start_curvature(self, theta0, d):
        """BFGS's first inverse Hessian: the inverse of the outer product of the per-row scores
        at the start (BHHH; Berndt, Hall, Hall & Hausman 1974) per customer, instead of the
        identity — the information's scale from the first step, so far fewer steps. None
        (the identity) when it is not finite and positive definite."""
        if not self._bhhh_start or self._row_grad is None:
            return None
        with np.errstate(all="ignore"):
            sc = self._row_grad(theta0, d, rows=True)[1]
            B = sc.T @ (d.w[:, None] * sc) / d.w.sum()
        if not np.all(np.isfinite(B)):
            return None
        try:
            Binv = np.linalg.inv(B)
            Binv = (Binv + Binv.T) / 2
            np.linalg.cholesky(Binv)           # scipy refuses one that is not
            return Binv
        except np.linalg.LinAlgError:
            return None

    def _store(self, theta, d, inverse=None):
        """Estimates, likelihood and (co)variances at ``θ`` from the rows ``d`` (weighted by
        ``d.w``; ``inverse``: each customer's row, None when ``d`` is one row a customer)."""
        names = (list(self._base_names) + [f"trans.{n}" for n in d.tnames]
                 + [f"life.{n}" for n in d.lnames])
        self._theta = theta
        pos = np.arange(len(theta)) < 4
        coef = np.where(pos, np.exp(theta), theta)
        self.params_ = pd.Series(coef, index=names, name="coef")
        self.log_likelihood_ = float(d.w @ self._terms(theta, d)[0])
        self.n_customers_ = float(d.w.sum())
        k = len(names)
        self.AIC_ = 2 * k - 2 * self.log_likelihood_
        H = self._information(theta, d)
        self.hessian_ = H
        problem = covariance_problem(H, names, theta)
        cov_model = covariance_from_information(
            H, f"{type(self).__name__}: {problem or 'the information matrix is singular'}; "
               "standard errors are NaN", stacklevel=4)
        # the sandwich over customers (each customer one cluster: their whole history is one
        # likelihood term): H⁻¹ (Σ_i s_i s_iᵀ) H⁻¹, valid when the model is misspecified
        sc = self._score_rows(theta, d)
        self.scores_ = sc if inverse is None else sc[inverse]      # per customer
        cov_robust = cov_model @ (sc.T @ (d.w[:, None] * sc)) @ cov_model
        self.variance_matrix_model_log_ = pd.DataFrame(cov_model, index=names, columns=names)
        self.variance_matrix_robust_log_ = pd.DataFrame(cov_robust, index=names, columns=names)
        cov = cov_robust if getattr(self, "se_method_", "robust") == "robust" else cov_model
        self.variance_matrix_log_ = pd.DataFrame(cov, index=names, columns=names)
        se_t = np.sqrt(np.diag(cov))
        if problem is None and not np.all(np.isfinite(se_t)):
            bad = int((~np.isfinite(sc).all(axis=1)).sum())
            problem = (f"the scores of {bad:,} row(s) of customers are not finite" if bad else
                       "the covariance is not finite")
            warnings.warn(f"{type(self).__name__}: {problem}; standard errors are NaN",
                          ConvergenceWarning, stacklevel=4)
        # None, or why the standard errors are NaN (the report's CLV check quotes it)
        self.se_problem_ = problem
        se = np.where(pos, coef * se_t, se_t)
        self.standard_errors_ = pd.Series(se, index=names, name="se")
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(pos, np.nan, 2 * ndtr(-np.abs(theta / se_t)))
        self.summary = pd.DataFrame({
            "coef": coef, "se": se,
            "lower 95%": np.where(pos, np.exp(theta - Z95 * se_t), theta - Z95 * se_t),
            "upper 95%": np.where(pos, np.exp(theta + Z95 * se_t), theta + Z95 * se_t),
            "p": p}, index=pd.Index(names, name="param"))
        se_note = ("robust (sandwich over customers: H^-1 (sum of per-customer score outer "
                   "products) H^-1)" if getattr(self, "se_method_", "robust") == "robust" else
                   "from the observed information (central differences)")
        self.summary.attrs["method"] = (
            "maximum likelihood, time-varying covariates (Bachmann, Meierer & Naef 2021), exact "
            f"purchase days; se {se_note}; 95% Wald intervals on the log "
            "scale for r, alpha, s, beta and on the natural scale for the coefficients")
        return self

    def _score_rows(self, theta, d, step: float = 1e-5) -> np.ndarray:
        """Per-row scores ``∂ log L_i / ∂θ`` (rows × parameters): the analytic per-row
        gradient where the model has one (Pareto/NBD), else central differences of the
        per-row log-likelihood."""
        if self._row_grad is not None:
            with np.errstate(all="ignore"):
                return self._row_grad(theta, d, rows=True)[1]
        k = len(theta)
        out = np.empty((d.n, k))
        with np.errstate(all="ignore"):
            for j in range(k):
                h = step * max(1.0, abs(theta[j]))
                e = np.zeros(k)
                e[j] = h
                out[:, j] = (self._terms(theta + e, d)[0] - self._terms(theta - e, d)[0]) / (2 * h)
        return out

    def profile_confidence_interval(self, name: str, level: float = 0.95,
                                    robust: bool | None = None) -> tuple[float, float]:
        """``(lower, upper)``: the robust adjusted profile-likelihood interval of parameter
        ``name`` (Royall & Tsou 2003; :mod:`.profile_interval`) — the profile likelihood ratio,
        the other parameters re-maximised, scaled by the model-based over the robust variance
        (``robust=None``: when ``se="robust"``; ``False``: the plain profile interval). The
        Wald interval of ``summary`` is its quadratic approximation; this one follows the
        likelihood's asymmetry."""
        self._check_fitted()
        return fitter_profile_interval(self, name, level, robust)

    # -- parameter draws (CLV intervals) ---------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "params_"):
            raise RuntimeError("TimeVaryingParetoNBDFitter is not fitted: call fit() first")

    # -- predictions -----------------------------------------------------------------------
    def _data_at(self, transactions=None, covariates=None, cut=None) -> DynamicData:
        """The fitted data, or the same customers' histories up to per-customer cut-off dates."""
        if cut is None:
            return self.data_
        d = self.data_
        return DynamicData(transactions, covariates, cut, d.freq, d.tnames, d.lnames,
                           levels=d.levels, names=d.names, fill=self.fill_,
                           events=getattr(self, "events_", "days"))

    def _future(self, future, d: DynamicData):
        """Per-customer constant future (trans, life) design rows: the covariates given in
        ``future`` (a dict for everyone or a frame indexed by customer), every other one held
        at the customer's last observed value."""
        if future is None:
            return d.last_X, d.last_Z
        if isinstance(future, dict):
            future = pd.DataFrame({k: [v] * d.n for k, v in future.items()}, index=d.ids)
        future = future.reindex(d.ids)
        unknown = [c for c in future.columns if c not in d.cov_cols]
        if unknown:
            raise ValueError(f"future: {unknown} are not covariates of the model {d.cov_cols}")
        cols = [c for c in d.cov_cols if c in future.columns]
        D, names, _ = design_matrix(future[cols], levels={c: d.levels[c] for c in cols
                                                          if c in d.levels})
        X, Z = d.last_X.copy(), d.last_Z.copy()
        for j, n in enumerate(d.tnames):
            if n in names:
                X[:, j] = D[:, names.index(n)]
        for j, n in enumerate(d.lnames):
            if n in names:
                Z[:, j] = D[:, names.index(n)]
        return X, Z

    def _p_alive(self, theta, d):
        ll, alive, dead = self._terms(theta, d)
        with np.errstate(invalid="ignore"):
            return expit(alive - dead)

    def _cum_expected(self, theta, d, t, future=None):
        """E[X(e, e+t) | history to e] (``t``: array broadcasting against customers)."""
        r, alpha, s, beta = np.exp(theta[:4])
        kt = d.kt
        Xf, Zf = self._future(future, d)
        af = np.exp(Xf @ theta[4:4 + kt])
        cf = np.exp(Zf @ theta[4 + kt:])
        a, c, AT, CT = _states(theta, d)
        B = beta + CT
        t = np.asarray(t, float)
        if abs(s - 1) < 1e-8:
            integral = af * B / cf * np.log1p(cf * t / B)
        else:
            integral = (af * B / (cf * (s - 1))
                        * -np.expm1((s - 1) * (np.log(B) - np.log(B + cf * t))))
        return self._p_alive(theta, d) * (r + d.x) / (alpha + AT) * integral

    def probability_alive(self) -> pd.Series:
        """P(alive at the observation end | history) of each fitted customer."""
        self._check_fitted()
        return pd.Series(self._p_alive(self._theta, self.data_), index=self.data_.ids,
                         name="p_alive")

    def expected_purchases(self, t, future=None) -> pd.Series:
        """E[X(T, T+t) | history] of each fitted customer over the next ``t`` periods, with the
        covariates held at ``future`` (a dict ``{column: value}`` for everyone, or a DataFrame
        indexed by customer) from the observation end on; default: each customer's covariates
        of their last observed period."""
        self._check_fitted()
        return pd.Series(self._cum_expected(self._theta, self.data_, t, future),
                         index=self.data_.ids, name="expected_purchases")

    def customer_lifetime_value(self, spend_model, horizon: int = 12, freq: str = "M",
                                discount_rate: float = 0.01, margin: float = 1.0, *,
                                future=None, n_draws: int = 200, seed=0, summary=None):
        """CLV of each fitted customer under the future covariate path ``future`` (as
        :func:`retention_lab.clv.customer_lifetime_value`, parametric-bootstrap intervals).
        ``summary``: a BTYD summary with ``monetary_value`` for a Gamma-Gamma spend model
        (default: the fitted customers' ``frequency, recency, T`` — enough for a fixed spend)."""
        d = self.data_
        summ = d.summary() if summary is None else summary.reindex(d.ids)
        summ.attrs.update(freq=d.freq, freq_multiplier=1)
        return covariate_clv(self, spend_model, summ, horizon, freq, discount_rate, margin,
                             n_draws=n_draws, seed=seed,
                             expected_fn=lambda mod, tt: mod._cum_expected(mod._theta, d, tt,
                                                                           future))

    def print_summary(self, decimals: int = 3, file=None) -> None:
        self._check_fitted()
        print(f"<retention_lab.clv.TimeVaryingParetoNBDFitter: {self.n_customers_:,.0f} "
              f"customers, log-likelihood {self.log_likelihood_:.{decimals}f}>\n"
              f"{self.summary.round(decimals).to_string()}\n  {self.summary.attrs['method']}",
              file=file)

    def __repr__(self):
        if not hasattr(self, "params_"):
            return "<retention_lab.clv.TimeVaryingParetoNBDFitter: not fitted>"
        ps = ", ".join(f"{k}: {v:.3f}" for k, v in self.params_.items())
        return f"<retention_lab.clv.TimeVaryingParetoNBDFitter: {ps}>"
