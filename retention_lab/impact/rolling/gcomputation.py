"""G-computation completion of the rolling design's comparison customers who enrol during
their follow-up (Robins 1986): the untreated BTYD completion model (BG/NBD or Pareto/NBD, or
their regular-timing versions with Erlang-k gaps, chosen by likelihood), the retention
probabilities under it, the calendar price index of untreated spend, and the completed
outcomes. The quadrature Pareto/NBD itself is in :mod:`retention_lab.impact.rolling.completion`,
the retention probabilities and their Gauss rules in
:mod:`~retention_lab.impact.rolling.completion_retention`,
the Erlang-k models (Pareto/CNBD-k, BG/CNBD-k) in :mod:`retention_lab.impact.rolling.renewal` and :mod:`~retention_lab.impact.rolling.renewal_bg`.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import sparse

from ...clv.base import ConvergenceError
from ...clv.beta_geo import BetaGeoFitter
from ...clv.pareto_nbd import ParetoNBDFitter
from ...units import days_per
from .completion import QuadratureParetoNBD
from .completion_retention import (  # noqa: F401  (re-exported: tests and trials.py use them)
    NODE_BUCKETS,
    _beta_nodes,
    _bgnbd_retention,
    _gamma_nodes,
    _jacobi_coefficients,
    _node_buckets,
    _pnbd_retention,
    _retention_probability,
)
from .history import _History
from .renewal import ParetoCNBD2, ParetoCNBD3, ParetoCNBD4
from .renewal_bg import BGCNBD2, BGCNBD3, BGCNBD4

#: the candidate completion models, the one with the larger likelihood kept (see
#: :func:`_untreated_btyd`): BG/NBD and Pareto/NBD, and their regular-timing versions with
#: Erlang-k gaps, BG/CNBD-k and Pareto/CNBD-k (:mod:`retention_lab.impact.rolling.renewal`),
#: tried in order of k while the likelihood rises and only where the summary has the
#: customers' log gaps
COMPLETION_MODELS = (BetaGeoFitter, QuadratureParetoNBD, BGCNBD2, ParetoCNBD2, BGCNBD3,
                     ParetoCNBD3, BGCNBD4, ParetoCNBD4)


def _untreated_btyd(H: _History, frame: dict):
    """The completion model: BG/NBD (Fader, Hardie & Lee 2005) and Pareto/NBD (Schmittlein,
    Morrison & Colombo 1987), each fitted by maximum likelihood to every customer's untreated
    history — purchase days from the first one up to and including the enrolment day (members)
    or the observation end (the others), in days — and the one with the larger likelihood kept
    (both have four parameters, so this is also the AIC choice). Stopping a member's history at
    their enrolment is ignorable for these likelihoods because enrolment depends only on the
    observed past (the same sequential ignorability the whole design rests on).

    Why both: the two differ in how customers leave — BG/NBD at a purchase (heavy buyers leave
    sooner in calendar time), Pareto/NBD at an exponential calendar time — and the completed
    outcomes of heavy buyers who enrol later depend on that. On the foreign simulator of
    tests/impact/test_rolling_foreign.py (calendar-time lifetimes) the BG/NBD under-predicted
    their untreated retention (0.83 against a true 0.87) and biased the retention effect by
    about +0.02; the data choose Pareto/NBD there.

    Why Erlang-k (issue 19): purchases that are more regular than Poisson (renewal gaps with a
    coefficient of variation below 1) carry more information about a customer's rate per
    purchase than the Poisson models' (x, T) credit them with; the Poisson models then shrink
    short, busy histories too far toward the mean. On the gamma(2)-gap simulator of
    tests/impact/test_rolling_foreign.py the completed rows were under-predicted by 0.092
    purchase days and 0.039 retention a row, the whole of the effect's bias (+0.084 and +0.011
    over 60 studies; with the simulator's untreated truth in place of the completion +0.0015 and
    +0.0004); the last gap, which enrolment was chosen on, did not predict the error given x
    and T. The likelihood keeps the Pareto/CNBD-2 there (bias +0.011 and +0.0015), the BG/NBD
    on the package's Poisson simulator (whose numbers are unchanged). The summary carries each
    customer's sum of log gaps (``log_gaps``) for the Erlang likelihoods' constant.

    Returns ``(fitter, customer codes of the fitted rows, their summary, fit warnings of the
    kept fit, {model name: log-likelihood})``."""
    shift, enrol_day, end_day = frame["shift"], frame["enrol_day"], frame["end_day"]
    n = len(enrol_day)
    stop = np.where(np.isfinite(enrol_day), enrol_day, end_day) + shift
    codes = np.arange(n)
    has = np.isfinite(H.first)
    p_end = H.pos(codes, stop.astype(np.int64), "right")
    n_days = p_end - H.start
    first = np.where(has, H.first, 0)
    last = np.where(n_days > 0, H.day[np.maximum(p_end - 1, 0)], first)
    ok = has & (n_days > 0) & (stop >= first)
    summary = pd.DataFrame({"frequency": (n_days - 1)[ok].astype(float),
                            "recency": (last - first)[ok].astype(float),
                            "T": (stop - first)[ok].astype(float)})
    summary["T"] = np.maximum(summary["T"], summary["recency"])
    fitted = np.flatnonzero(ok)

    def log_gaps(rows):      # only for the rows an Erlang-k fit needs (module docstring)
        return _sum_log_gaps(H, H.start[fitted[rows]], p_end[fitted[rows]])
    model, caught, loglik = choose_completion_model(summary, log_gaps=log_gaps)
    return model, codes[ok], summary, caught, loglik


def _sum_log_gaps(H: _History, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Each customer's sum of log gaps (days, at least 1) between consecutive purchase days at
    history positions ``lo`` (their first) to ``hi`` (excluded), summed in order (the Erlang
    likelihood's constant, :func:`renewal.gap_constant`). Issue 22: only for the customers an
    Erlang-k fit needs (a screening subsample of 5,000 where regular timing does not pay), not
    a cumulative sum over every purchase day (1.2 s of CPU at a million customers)."""
    m = np.maximum(hi - lo - 1, 0)
    seg = np.repeat(np.arange(len(m)), m)
    pos = np.arange(len(seg)) - np.repeat(np.cumsum(m) - m, m) + np.repeat(lo + 1, m)
    lg = np.log(np.maximum(H.day[pos] - H.day[pos - 1], 1))
    return np.bincount(seg, weights=lg, minlength=len(m)).astype(float)


#: above this many customers, whether regular timing (Erlang k >= 2) is worth fitting at all is
#: first decided on a fixed random subsample (seed 0) of this many (issue 22: on 20k customers
#: of the flagship's Poisson data the two k = 2 fits cost 2 s of CPU, four times the k = 1
#: fits, and lost by 15,000 log-likelihood units)
SCREEN_N = 5000


def _regular_timing_pays(summary: pd.DataFrame, starts: dict | None = None,
                         curvatures: dict | None = None, log_gaps=None) -> bool:
    """Whether a k = 2 model (BG/CNBD-2 or Pareto/CNBD-2) beats both k = 1 models by likelihood
    on a fixed random subsample of :data:`SCREEN_N` customers of ``summary``; ``starts`` (a
    dict) receives each subsample fit's parameters by class, ``curvatures`` the quadrature
    Pareto/NBD's :meth:`~.completion.QuadratureParetoNBD.working_hessian`; ``log_gaps``
    (rows → their sums of log gaps) where ``summary`` has no column ``log_gaps``."""
    idx = np.sort(np.random.default_rng(0).choice(len(summary), SCREEN_N, replace=False))
    sub = summary.iloc[idx]
    if "log_gaps" not in sub.columns:
        sub = sub.assign(log_gaps=log_gaps(idx))
    ll = {}
    for cls in (BetaGeoFitter, QuadratureParetoNBD, BGCNBD2, ParetoCNBD2):
        # the Pareto/CNBD-2 with its exact gradient: a third of the CPU; only this decision
        # reads the fit (renewal.ParetoCNBD.fit)
        kw = {"gradient": "exact"} if cls is ParetoCNBD2 else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model = cls().fit(sub, **kw)
                ll[_family(cls)[1], cls] = float(model.log_likelihood_)
            except (ConvergenceError, np.linalg.LinAlgError, FloatingPointError, ValueError):
                continue
        if starts is not None and np.all(np.isfinite(model.params_.to_numpy(float))):
            starts[cls] = model.params_
            if curvatures is not None and cls is QuadratureParetoNBD:
                curvatures[cls] = model.working_hessian()
    one = [v for (k, _), v in ll.items() if k == 1 and np.isfinite(v)]
    two = [v for (k, _), v in ll.items() if k == 2 and np.isfinite(v)]
    return bool(two) and (not one or max(two) > max(one))


def choose_completion_model(summary: pd.DataFrame, log_gaps=None):
    """Fit the models of :data:`COMPLETION_MODELS` to a BTYD ``summary`` (frequency, recency,
    T; and ``log_gaps``, each customer's sum of log gaps, for the Erlang-k models — or, as the
    argument ``log_gaps``, a function of row positions that returns them, called only for the
    rows an Erlang-k fit needs: the column is then added to ``summary`` if one is fitted to all
    of it) and keep the one with the largest likelihood. The Erlang-k models are climbed in k as :func:`_climb`
    says, each started at the fit of k − 1 (:mod:`retention_lab.impact.rolling.renewal`); above
    :data:`SCREEN_N` customers only where :func:`_regular_timing_pays` on a subsample, and
    the quadrature Pareto/NBD is then started at its fit to that subsample (issue 22: 15
    likelihood evaluations instead of 23 at 200k customers; the optimum's log-likelihood is the
    same to 1e-15 relative, its parameters, on a flat ridge of the likelihood, to 3e-7 — as
    far as rounding alone moves them) and preconditioned by that fit's Hessian (6 evaluations
    instead of 15; :func:`~.completion._preconditioned_minimum`).
    Returns ``(fitter, its fit warnings, {model name: log-likelihood})``."""
    fits = {}
    best = {}                # (dropout family, Erlang k) → (log-likelihood, parameters)
    starts: dict = {}        # class → its fit to the screening subsample
    curvatures: dict = {}    # class → that fit's Hessian (the quadrature Pareto/NBD's)
    regular = ("log_gaps" in summary.columns or log_gaps is not None) and (
        len(summary) <= SCREEN_N or _regular_timing_pays(summary, starts, curvatures, log_gaps))
    for cls in COMPLETION_MODELS:
        fam, k = _family(cls)
        if k > 1 and not _climb(best, fam, k, regular):
            continue
        if k > 1 and "log_gaps" not in summary.columns:
            summary["log_gaps"] = log_gaps(np.arange(len(summary)))
        # a dropout parameter at its bound (no dropout) is fine for the point estimates; what
        # the warnings say about the covariance goes to the completion-model check instead
        # the start: the fit of k − 1; among the k = 1 models only the quadrature Pareto/NBD
        # takes one (its fit to the screening subsample, when there was one)
        init = (best[(fam, k - 1)][1] if k > 1
                else starts.get(cls) if cls is QuadratureParetoNBD else None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model = (cls().fit(summary) if init is None
                         else cls().fit(summary, init=init, curvature=curvatures.get(cls)))
            except (ConvergenceError, np.linalg.LinAlgError, FloatingPointError):
                continue
        if np.isfinite(model.log_likelihood_):
            fits[cls._model_name] = (model, caught)
            best[(fam, k)] = (float(model.log_likelihood_), model.params_)
    if not fits:
        raise ConvergenceError("rolling completion: neither the BG/NBD nor the Pareto/NBD fit "
                               "converged on the untreated histories")
    loglik = {name: float(m.log_likelihood_) for name, (m, _) in fits.items()}
    model, caught = fits[max(loglik, key=loglik.get)]
    return model, caught, loglik


def _climb(best: dict, fam: str, k: int, regular: bool) -> bool:
    """Whether to fit the Erlang-``k`` model of family ``fam`` (``best``: (family, k) →
    (log-likelihood, parameters) of the fits so far): only where ``regular`` (the gaps are
    known and, for many customers, :func:`_regular_timing_pays`), k − 1 of
    the family was fitted, and — beyond k = 2 — k − 1 improved on k − 2 and led the other
    family at k − 1 (the dropout is chosen on the way up, so at most one model per k > 2)."""
    lower = best.get((fam, k - 1))
    if not regular or lower is None:
        return False
    if k == 2:
        return True
    rivals = [v[0] for (f, kk), v in best.items() if kk == k - 1 and f != fam]
    return lower[0] > best.get((fam, k - 2), (-np.inf,))[0] and all(lower[0] >= v
                                                                     for v in rivals)


def _family(cls) -> tuple[str, int]:
    """(dropout family, Erlang shape) of a completion model class: ``("bg", 1)`` the BG/NBD,
    ``("pareto", 1)`` the Pareto/NBD."""
    return getattr(cls, "family", "pareto" if issubclass(cls, ParetoNBDFitter) else "bg"), \
        getattr(cls, "k", 1)


def _price_index(H: _History, frame: dict, period: str = "M", min_days: int = 50) -> dict:
    """Calendar price index of untreated spend, to carry a customer's past spend per purchase day
    forward to the calendar time of the completed purchases.

    Two-way fixed effects on the log spend of every untreated purchase day (the comparison
    customers' and the members' up to and including their enrolment purchase; a member's later
    spend is excluded, since the programme may change it): ``log s_ij = c_i + τ_p(j) + ε``, the
    customer effect ``c_i`` absorbing who buys when, ``τ_p`` one level per calendar period
    ``period`` (least squares: :func:`_period_effects`). Periods
    with fewer than ``min_days`` purchase days take the level of the nearest period that has
    enough. The index of a day is ``exp(τ)`` of its period, normalised to mean 1 over the
    periods.

    Returns ``dict(cum, real)``: ``cum`` the cumulative index over history days (length
    ``H.K + 1``; the mean index over days ``lo < d <= hi`` is
    ``(cum[hi + 1] − cum[lo + 1]) / (hi − lo)``) and ``real`` the cumulative deflated spend,
    aligned with ``H.c_spend``."""
    shift, enrol_day = frame["shift"], frame["enrol_day"]
    plen = days_per(period)
    spend = np.diff(H.c_spend)
    d = H.day - shift
    use = ~(enrol_day[H.code] < d) & (spend > 0)
    per_all = np.floor(d / plen).astype(np.int64)
    p0 = int(np.floor(-shift / plen))
    n_per = int(np.floor((H.K - shift) / plen)) - p0 + 1
    per = (per_all - p0)[use]
    y = np.log(spend[use])
    n_c = int(H.code.max()) + 1 if len(H.code) else 1
    tau, cnt_p = _period_effects(H.code[use], per, y, n_c, n_per)
    good = np.flatnonzero(cnt_p >= min_days)
    if good.size == 0:
        tau = np.zeros(n_per)
    else:
        near = good[np.abs(np.arange(n_per)[:, None] - good[None, :]).argmin(axis=1)]
        tau = tau[near]
        tau = tau - tau[good].mean()
    day_index = np.exp(tau[np.clip(np.floor((np.arange(H.K) - shift) / plen).astype(np.int64)
                                   - p0, 0, n_per - 1)])
    cum = np.r_[0.0, np.cumsum(day_index)]
    real = np.r_[0.0, np.cumsum(spend / day_index[np.clip(H.day, 0, H.K - 1)])]
    return dict(cum=cum, real=real, tau=pd.Series(tau, index=np.arange(n_per) + p0))


def _period_effects(cust, per, y, n_c: int, n_per: int):
    """The period effects ``τ`` of the two-way fixed-effects least squares ``y = c_i + τ_p + ε``
    (rows: customer ``cust`` < ``n_c``, period ``per`` < ``n_per``), solved directly: with the
    customer effects profiled out (``c_i`` = the mean of ``y − τ`` over the customer's rows),
    ``(diag(n_p) − Nᵀ diag(1/n_i) N) τ = Y_p − Nᵀ (S_i / n_i)``, ``N`` the customer × period
    counts, ``n``, ``S`` and ``Y`` row counts and sums of ``y``; a system of the periods' size,
    singular along the constant (absorbed by ``c``), solved by least squares (minimum norm).
    Periods without rows get 0. Returns ``(τ, rows per period)``.

    Why not alternating projections (Guimarães & Portugal 2010, *Stata J.* 10(4)), used before:
    21 passes over the 3.2 million purchase days at 200,000 customers of the flagship, 0.6 s
    against 0.1 s, and they stopped at a step below 1e-7, 1.6e-7 from this exact solution
    (issue 22)."""
    # (customer, period) cells: runs of the rows (sorted by customer and day in a _History;
    # unsorted rows would only split cells, which the sparse sums join again)
    start = np.flatnonzero(np.r_[True, (cust[1:] != cust[:-1]) | (per[1:] != per[:-1])])
    n_cell = np.diff(np.r_[start, len(cust)]).astype(float)
    cc, pc = cust[start], per[start]
    inv_c = 1 / np.maximum(np.bincount(cc, weights=n_cell, minlength=n_c), 1)
    cnt_p = np.bincount(pc, weights=n_cell, minlength=n_per)
    N = sparse.csr_matrix((n_cell, (cc, pc)), shape=(n_c, n_per))
    M = np.diag(cnt_p) - (N.T @ N.multiply(inv_c[:, None])).toarray()
    b = np.bincount(per, weights=y, minlength=n_per) - N.T @ (
        np.bincount(cust, weights=y, minlength=n_c) * inv_c)
    act = np.flatnonzero(cnt_p > 0)
    tau = np.zeros(n_per)
    tau[act] = np.linalg.lstsq(M[np.ix_(act, act)], b[act], rcond=None)[0]
    return tau, cnt_p


def _completed_outcomes(H: _History, bg, code, t0, enrol, follow_end, horizon_days,
                        price: dict | None = None):
    """Untreated outcomes of comparison rows, with what follows a later enrolment completed by
    g-computation (Robins 1986): a row that enrols at day ``E`` during its follow-up keeps what
    it bought up to and including its enrolment purchase (enrolment is decided at a purchase
    made as a non-member) and gets, for the rest of its window, the untreated conditional
    expectation of the completion model (BG/NBD or Pareto/NBD, :func:`_untreated_btyd`) given
    its history at ``E`` (``expected_purchases``); its retention is 1 when ``E`` or an earlier
    purchase falls after the window, else the model's probability of a purchase in the
    retention window given the history at ``E`` (:func:`_retention_probability`). Rows that
    never enrol during their follow-up keep their observed outcomes.

    Purchases are purchase days, the models' own unit. The completed spend is the expected
    purchase days × the customer's mean spend per purchase day so far; with ``price``
    (:func:`_price_index`) that mean is taken in deflated money and carried to the mean price
    index of the completed days (without it, a calendar price drift makes the past spend per day
    lag the prices of the window: under an 8 %-a-year drift the spend effect of a null programme
    was biased by +6.5, tests/impact/test_rolling_foreign.py).

    Returns (n, 3) orders, spend, retained and the boolean mask of completed rows. A completed
    value is the conditional expectation, not a draw: its conditional variance given the history
    is not part of the estimator's variance (see :func:`_completion_uncertainty`)."""
    return _completed_from(_completion_inputs(H, code, t0, enrol, follow_end, horizon_days,
                                              price), bg)


def _completion_inputs(H: _History, code, t0, enrol, follow_end, horizon_days,
                       price: dict | None = None) -> dict:
    """What :func:`_completed_outcomes` reads from the histories — the observed outcomes, and
    for the rows to complete their history at the enrolment (x, T), the days left in the window
    and the retention window, what they bought before, and their spend per purchase day — so
    that the completion can be re-evaluated under perturbed model parameters
    (:func:`_completion_uncertainty`) without reading the histories again."""
    e = np.where(np.isfinite(enrol), enrol, np.inf)
    win_end = t0 + horizon_days
    cens = e <= follow_end
    # the windows of H.window, each history position searched once (issue 22: the window end
    # bounds both windows, the enrolment the window before it)
    a, b = H.pos(code, t0, "right"), H.pos(code, win_end, "right")
    f = H.pos(code, follow_end, "right")
    out = np.c_[H.c_orders[b] - H.c_orders[a], H.c_spend[b] - H.c_spend[a],
                ((H.c_orders[f] - H.c_orders[b]) > 0).astype(float)]
    if not cens.any():
        return dict(out=out, cens=cens)
    i = np.flatnonzero(cens)
    E = e[i].astype(np.int64)
    c = code[i]
    p_E = H.pos(c, E, "right")
    b_pre = np.where(E <= win_end[i], p_E, b[i])         # at min(E, window end)
    o_pre = H.c_orders[b_pre] - H.c_orders[a[i]]
    s_pre = H.c_spend[b_pre] - H.c_spend[a[i]]
    n_days = p_E - H.start[c]
    first = H.first[c]
    x = np.maximum(n_days - 1, 0).astype(float)
    T = (E - first).astype(float)
    rem = np.clip(win_end[i] - E, 0, None).astype(float)
    if price is None:
        tot_s = H.c_spend[p_E] - H.c_spend[H.start[c]]
        per_day_spend = tot_s / np.maximum(n_days, 1)
    else:
        tot_real = price["real"][p_E] - price["real"][H.start[c]]
        lo = np.minimum(E, win_end[i])
        hi = np.maximum(win_end[i], lo + 1)
        level = (price["cum"][hi + 1] - price["cum"][lo + 1]) / (hi - lo)
        per_day_spend = tot_real / np.maximum(n_days, 1) * level
    j = ~(E > win_end[i])
    R = (follow_end[i] - win_end[i]).astype(float)
    return dict(out=out, cens=cens, i=i, x=x, T=T, rem=rem, o_pre=o_pre, s_pre=s_pre,
                per_day_spend=per_day_spend, j=j, R=R)


def _completed_from(inp: dict, bg, retention=None):
    """The completed outcomes of :func:`_completed_outcomes` from its inputs
    (:func:`_completion_inputs`) under the completion model ``bg``; ``retention(x, T, gap, R)``
    in place of :func:`_retention_probability` under ``bg`` for the rows with a retention window
    (:func:`~.completion_derivatives.completed_with_derivatives`: with their derivatives)."""
    out, cens = inp["out"].copy(), inp["cens"]
    if not cens.any():
        return out, cens
    i, x, T, rem, j = inp["i"], inp["x"], inp["T"], inp["rem"], inp["j"]
    exp_days = np.where(rem > 0, bg.expected_purchases(rem, x, T, T), 0.0)
    out[i, 0] = inp["o_pre"] + exp_days
    out[i, 1] = inp["s_pre"] + exp_days * inp["per_day_spend"]
    ret = np.ones(len(i))
    if j.any():
        ret[j] = (retention(x[j], T[j], rem[j], inp["R"][j]) if retention is not None
                  else _retention_probability(bg, x[j], T[j], rem[j], inp["R"][j]))
    out[i, 2] = ret
    return out, cens
