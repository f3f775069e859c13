"""The CLV effect of the loyalty programme.

:func:`membership_clv_effect` (the report's CLV row): one BTYD model with membership as a
time-varying covariate of both the purchase and the dropout process — the BG/NBD of
:class:`retention_lab.clv.TimeVaryingBetaGeoFitter` by default, or the Pareto/NBD of
:class:`retention_lab.clv.TimeVaryingParetoNBDFitter` (Bachmann, Meierer & Näf 2021) —
fitted to every customer's purchase days (exact event times; membership switched on from the
day after enrolment, so the enrolment purchase is a non-member's:
:func:`retention_lab.clv.membership_covariates`). For each member, from their index date (the
enrolment date) and the history they had by then, it projects the expected discounted spend
in the ``months`` months after the observation end twice — with membership on from the index
date (the programme as it is) and switched off (the member's counterfactual) — and the effect
is the mean difference. Spend per purchase: a Gamma-Gamma model of the members' pre-index
repeat purchases (their expected order value before joining) times, with membership, the
order-value ratio of :func:`order_value_ratio`: the members' post/pre ratio of order values,
each order deflated by the calendar month's order value among customers not (yet) enrolled —
a difference-in-differences, so a price rise for everybody cancels (the earlier members-only
before/after ratio turned a null into a gain under an 8 %-a-year price rise, issue 19).
Interval: influence functions over customers (the members' own variation, the transaction
model's parameters through their per-customer scores — a sandwich —, the Gamma-Gamma's and the
order-value ratio's), added per customer before squaring; normal interval. Members whose
projection is not finite are counted and left out; above :data:`MAX_NONFINITE_SHARE` the
interval is refused.

Because the model sees each customer before and after their own enrolment, it separates the
programme's effect from who joins (the gamma / beta heterogeneity absorbs stable differences
between customers, and enrolment may depend on the observed history); it cannot absorb
enrolment that anticipates a change in a customer's own rates. The Pareto/NBD takes dropout
as independent of the purchase rate: where dropout happens at purchases (BG/NBD worlds, such as
the package's simulator) it gives members, selected on their purchase rate, a spurious dropout
effect (+0.45 log hazard on the rolling simulator's untreated world), hence the BG/NBD default.

:func:`predicted_clv` (kept only as a labelled cross-check): BG/NBD + Gamma-Gamma fitted
separately to each group, expected CLV of every customer over the next ``months`` months
after the observation end, the difference of group means taken by the design's estimator.
Its caveat: BG/NBD assumes stationary purchase and dropout rates, so a member's history before
enrolment dilutes the post-enrolment change it infers.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from ... import clv as rlclv, ids
from ..._arrays import positions
from ...clv import GammaGammaFitter
from ...clv.base import covariance_from_information, hessian_from_gradient
from ...clv.covariates_tv import TimeVaryingParetoNBDFitter, _states, membership_covariates
from ...clv.covariates_tv_bg import (
    TimeVaryingBetaGeoFitter,
    _purchase_sums,
    bg_dynamic_loglik_terms,
)
from ...clv.covariates_tv_data import daily_periods, mark_daily
from ...clv.covariates_tv_keys import _isin
from ...errors import DataError
from ...features import rfm_summary
from ...features.periods import customer_periods, period_index
from ...units import days_per
from .clv_order_value import (  # noqa: F401  (_sorted_*: re-exported for the tests)
    _sorted_codes,
    _sorted_factorize,
    order_value_ratio,
)
from .clv_projection import _bg_projections, discount_coefficients


def predicted_clv(data, out: pd.DataFrame, groups: dict, *, months: int = 12,
                  discount_rate: float = 0.01, margin: float = 1.0, n_draws: int = 100,
                  seed: int = 0) -> tuple[pd.Series, dict]:
    """Per-customer expected CLV (index of ``out``; customers without transactions get 0) from
    a BG/NBD + Gamma-Gamma pair fitted to each group, and each group's delta-method variance of
    the mean CLV (parameter uncertainty). Returns ``(clv, info)``."""
    end = out.attrs["observation_end"]
    tx = data.transactions
    values = pd.Series(0.0, index=out.index)
    info = {}
    for name, mask in groups.items():
        ids = out.index[np.asarray(mask, bool)]
        summ = rfm_summary(tx.loc[tx["customer_id"].isin(ids)], observation_end=end, freq="D",
                           validate=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bg = rlclv.BetaGeoFitter().fit(summ)
            rep = summ.loc[summ["frequency"] > 0]
            gg = rlclv.GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
            res = rlclv.customer_lifetime_value(bg, gg, summ, horizon=months, freq="M",
                                                discount_rate=discount_rate, margin=margin,
                                                method="delta", customer_intervals=False)
        values.loc[res.customers.index] = res.customers["clv"].to_numpy()
        draws = getattr(res, "mean_draws", None)
        info[name] = dict(bg=bg, gg=gg, mean=res.mean, mean_ci=res.mean_ci,
                          param_var=float(np.var(draws)) if draws is not None else
                          ((res.mean_ci[1] - res.mean_ci[0]) / 3.92) ** 2, n=len(summ))
    return values, info


#: the CLV effect's method note (one place; the report shows it under the CLV row)
MEMBERSHIP_CLV_METHOD = (
    "{model} with membership as a time-varying covariate of purchase and dropout rates "
    "(as Bachmann, Meierer & Naef 2021), fitted to all customers' purchase days (exact times, "
    "the enrolment purchase a non-member's); each member projected from their enrolment with "
    "membership on vs switched off: discounted spend in the {months} months after the "
    "observation end ({rate:.0%} per month, margin {margin:g}); spend per purchase from a "
    "Gamma-Gamma of pre-enrolment purchases x the members' post/pre ratio of order values "
    "deflated by the calendar-month order value of customers not (yet) enrolled (a "
    "difference-in-differences: price changes common to everybody cancel); interval: influence "
    "functions over customers (members' sampling, the transaction model's sandwich, the "
    "Gamma-Gamma and the order-value ratio), normal")

#: above this share of members whose CLV contribution is not finite the interval is refused
MAX_NONFINITE_SHARE = 0.05


def membership_clv_effect(data, members: pd.Series | None = None, *, months: int = 12,
                          discount_rate: float = 0.01, margin: float = 1.0, freq: str = "D",
                          model: str = "bgnbd", n_draws: int | None = None, seed: int = 0,
                          alpha: float = 0.05) -> dict:
    """The programme's effect on members' CLV from one time-varying-covariate model (module
    docstring). ``members``: index dates (enrolment dates) indexed by ``customer_id`` — e.g. the
    rolling design's evaluable members; default every customer enrolled by the observation end.

    Returns an effects-table row (``metric="clv"``, ``estimand="effect on members"``,
    ``control`` = mean CLV with membership switched off, ``treatment`` = with it, ``abs_diff``,
    ``rel_lift``, ``ci_low``, ``ci_high``, ``p_value``, ``se``, ``method``, ``n``) plus
    ``model`` (the fitted time-varying fitter), ``gg``, ``aov_ratio`` (the order-value
    difference-in-differences of :func:`order_value_ratio`), ``per_member`` (each member's
    ``clv_on``, ``clv_off``), the standard-error parts (``se_sampling``, ``se_parameters``,
    ``se_spend``, ``se_aov``), ``n_nonfinite`` (members whose contribution is not finite, left
    out and counted) and ``interval_refused`` (``None``, or why the interval is NaN: more than
    :data:`MAX_NONFINITE_SHARE` of the members non-finite, or a non-finite covariance).

    Interval: the estimate is a smooth function of the transaction model's parameters ``θ``
    (fitted to every customer), the Gamma-Gamma's ``φ`` (the members' pre-index purchases), the
    order-value ratio ``ρ`` and the members' own histories, so

        ψ_c = 1{c member}(f_c − f̄)/n + J_θ H⁻¹ s_c + J_φ H_φ⁻¹ s_φ,c + J_ρ ψ_ρ,c

    is customer ``c``'s influence (``s_c`` their score, ``H`` the observed information, ``J``
    the derivatives of the mean effect, by central differences), and ``Var = Σ_c ψ_c²`` — the
    delta method with a sandwich over customers (clustered: a customer's terms add before
    squaring). Cost: ``2 dim θ + 1`` evaluations of the members' projections instead of a
    refit or a re-evaluation per bootstrap draw. ``n_draws`` is ignored (kept for callers of
    the earlier parametric bootstrap).

    ``model``: ``"bgnbd"`` (default, :class:`~retention_lab.clv.TimeVaryingBetaGeoFitter`:
    dropout at purchases, so its rate grows with the purchase rate) or ``"pnbd"``
    (:class:`~retention_lab.clv.TimeVaryingParetoNBDFitter`). ``freq``: the period of the
    membership covariate and the unit of the ages (daily by default: the switch the day after
    the enrolment; the purchase events are exact days whatever ``freq``).
    """
    if model not in ("bgnbd", "pnbd"):
        raise ValueError(f"model must be 'bgnbd' or 'pnbd', not {model!r}")
    cls = TimeVaryingBetaGeoFitter if model == "bgnbd" else TimeVaryingParetoNBDFitter
    tx, cust, end = data.transactions, data.customers, pd.Timestamp(data.observation_end)
    enr_all, members = _enrolments(cust, members, end)
    panel = membership_covariates(cust, tx["date"].min(), end, freq=freq, compact=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # purchase days (as the spend model below): one order written as several lines
        # must not change the report (issue 19 item 3)
        # the transactions reduced to purchase days once: the fit, the members' histories
        # and their spend read the same table (issue 22)
        daily = daily_periods(tx)
        fitted = cls().fit(daily, panel, end, freq=freq, events="days")
    # each member's history up to their index date, and the spend per purchase occasion
    mt = mark_daily(daily.loc[_isin(daily["customer_id"].to_numpy(), members.index)])
    d = fitted._data_at(mt, panel, cut=members)
    if freq != "D":    # the spend model's purchase occasions are periods of ``freq``
        mt = tx.loc[tx["customer_id"].isin(members.index)]
    idx, f_pre, m_pre = _pre_index_spend(mt, members, d.ids, freq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gg = GammaGammaFitter().fit(f_pre[f_pre > 0], m_pre[f_pre > 0])
    rho, infl_rho, n_rho = order_value_ratio(tx, enr_all, idx, end)
    if not np.isfinite(rho):       # no member with orders on both sides: no basket effect
        rho, infl_rho = 1.0, pd.Series(dtype=float)
    # the window: months after the observation end, in model units from each member's index
    d_end = (period_index([end], "D")[0] - d.dend) / d.unit
    projections = _fitter_projections(fitted, d, d_end, months, discount_rate)
    spend = gg.conditional_expected_average_profit(f_pre, m_pre)
    theta = fitted._theta
    if model == "bgnbd":
        # one fused pass per distinct member row, with the derivatives in θ (clv_projection)
        (on, off), (d_on, d_off) = _bg_projections(
            theta, d, d_end, days_per("M") / d.unit, discount_coefficients(months, discount_rate),
            fitted._future, _states, _purchase_sums, bg_dynamic_loglik_terms)
    else:
        on, off = projections(None)
    clv_on, clv_off = margin * spend * rho * on, margin * spend * off
    diff_i = clv_on - clv_off
    ok = np.isfinite(diff_i)
    n_bad = int((~ok).sum())
    refused = (f"{n_bad:,} of {len(diff_i):,} members ({n_bad / len(diff_i):.1%}) have a "
               f"non-finite projected CLV (more than {MAX_NONFINITE_SHARE:.0%})"
               if n_bad > MAX_NONFINITE_SHARE * len(diff_i) else None)
    n = int(ok.sum())
    est = float(diff_i[ok].mean()) if n else np.nan
    # influence functions over customers, on the fitted model's customer positions
    pos_all = pd.Series(np.arange(fitted.data_.n), index=fitted.data_.ids)
    psi = np.zeros(fitted.data_.n)
    mpos = pos_all.reindex(d.ids).to_numpy()
    part = {}
    psi_s = np.zeros(fitted.data_.n)
    psi_s[mpos[ok]] = (diff_i[ok] - est) / n if n else 0.0
    part["sampling"] = psi_s
    H_inv = fitted.variance_matrix_model_log_.to_numpy()
    grads = (d_on, d_off) if model == "bgnbd" else None
    J = _mean_effect_gradient(theta, grads, projections, margin * spend, rho, ok)
    part["parameters"] = fitted.scores_ @ (H_inv @ J)
    part["spend"] = _spend_influence(gg, f_pre, m_pre, margin * (rho * on - off), ok, mpos,
                                     fitted.data_.n)
    # the order-value ratio
    part["aov"] = _aov_influence(infl_rho, pos_all, float(np.mean((margin * spend * on)[ok]))
                                 if len(infl_rho) else 0.0)
    for k_, v in part.items():
        if not np.all(np.isfinite(v)) and refused is None:    # the fit's own reason first
            refused = ((k_ == "parameters" and getattr(fitted, "se_problem_", None))
                       or f"the {k_} part of the influence function is not finite")
        psi = psi + v
    se = float(np.sqrt(np.sum(psi ** 2))) if refused is None else np.nan
    method = MEMBERSHIP_CLV_METHOD.format(model=fitted._model_name.split(" with")[0],
                                          months=months, rate=discount_rate, margin=margin)
    if n_bad:
        method += (f"; {n_bad:,} member(s) with a non-finite projection left out"
                   + (" — interval refused" if refused else ""))
    per_member = pd.DataFrame({"index_date": idx, "clv_on": clv_on, "clv_off": clv_off},
                              index=d.ids)
    return dict(_effect_fields(est, se, float(clv_off[ok].mean()), float(clv_on[ok].mean()),
                               alpha), method=method, n=n,
                model=fitted, gg=gg, aov_ratio=rho, aov_members=n_rho, per_member=per_member,
                **{f"se_{k_}": float(np.sqrt(np.sum(v ** 2))) for k_, v in part.items()},
                n_nonfinite=n_bad, interval_refused=refused)


def _fitter_projections(fitted, d, d_end, months: int, discount_rate: float):
    """``projections(θ)``: each member's discounted expected purchases in the ``months``
    months after the observation end with membership on and off, from the fitter's own
    ``_cum_expected`` (``θ=None``: the fitted parameters) — the Pareto/NBD's path, and the
    reference the BG/NBD's fused pass (:func:`_bg_projections`) is tested against."""
    steps = days_per("M") / d.unit * np.arange(0, months + 1)
    horizons = d_end[None, :] + steps[:, None]          # (months + 1, members)
    factors = (1.0 + discount_rate) ** -np.arange(1, months + 1)

    def projections(th):
        mod = fitted if th is None else fitted._with_params(
            np.r_[np.exp(th[:4]), th[4:]])
        t_ = mod._theta
        with np.errstate(all="ignore"):
            on = factors @ np.diff(mod._cum_expected(t_, d, horizons, {"member": 1.0}), axis=0)
            off = factors @ np.diff(mod._cum_expected(t_, d, horizons, {"member": 0.0}), axis=0)
        return on, off
    return projections


def _effect_fields(est: float, se: float, c: float, t: float, alpha: float) -> dict:
    """The effects-table fields of a difference ``est`` with standard error ``se`` between the
    levels ``t`` and ``c`` (normal interval, two-sided p; the relative interval is the
    difference's over the counterfactual level ``c``)."""
    z = ndtri(1 - alpha / 2)
    p = float(2 * ndtr(-abs(est) / se)) if se > 0 else np.nan
    return dict(metric="clv", estimand="effect on members", control=c, treatment=t,
                abs_diff=est, rel_lift=t / c - 1 if c > 0 else np.nan, ci_low=est - z * se,
                ci_high=est + z * se, p_value=p, se=se,
                rel_ci_low=(est - z * se) / c if c > 0 else np.nan,
                rel_ci_high=(est + z * se) / c if c > 0 else np.nan)


def _enrolments(cust: pd.DataFrame, members, end):
    """``(every customer's enrolled_at by customer_id, the members' index dates)`` — default
    members: every customer enrolled by ``end`` (part of :func:`membership_clv_effect`)."""
    if "enrolled_at" not in cust.columns:
        raise DataError("customers: missing column 'enrolled_at' (enrolment date or null)",
                        table="customers", column="enrolled_at", rule="required column")
    enr_all = pd.Series(pd.to_datetime(cust["enrolled_at"]).to_numpy(),
                        index=cust["customer_id"].to_numpy())
    if members is None:
        if not enr_all.notna().any():
            raise DataError("customers: no enrolled customer; rule 'some enrolled_at not null'",
                            table="customers", column="enrolled_at",
                            rule="some enrolled_at not null", n_rows=0)
        members = enr_all.loc[enr_all.notna() & (enr_all <= end)]
    return enr_all, pd.to_datetime(members)


def _aov_influence(infl_rho: pd.Series, pos_all: pd.Series, J_rho: float) -> np.ndarray:
    """The order-value ratio's part of the influence function, per fitted customer
    (``J_rho`` the derivative of the mean effect in the ratio)."""
    psi_r = np.zeros(len(pos_all))
    if len(infl_rho):
        rp = pos_all.reindex(infl_rho.index).to_numpy()
        good = ~np.isnan(rp)
        np.add.at(psi_r, rp[good].astype(np.int64), J_rho * infl_rho.to_numpy()[good])
    return psi_r


def _pre_index_spend(mt: pd.DataFrame, members: pd.Series, ids: pd.Index, freq: str):
    """Each member's index date (``members`` reindexed to ``ids``) and their repeat purchase
    occasions before it: ``(index_date Series, frequency, mean amount)`` — the Gamma-Gamma's
    inputs (part of :func:`membership_clv_effect`)."""
    idx = pd.Series(members.reindex(ids).to_numpy(), index=ids)
    cp = mt if mt.attrs.get("customer_periods") == freq else customer_periods(mt, freq)
    k_idx = period_index(idx.to_numpy(), freq)
    # each row's customer by a lookup table, and their first rows from the runs of a daily
    # table sorted by customer (hashing millions of rows twice was most of this, issue 22)
    c = cp["customer_id"].to_numpy()
    at = positions(ids, c)
    pre = (at >= 0) & (cp["period"].to_numpy() <= k_idx[np.maximum(at, 0)])
    if len(c) and c.dtype.kind in "iu" and np.all(c[1:] >= c[:-1]):
        first = np.r_[True, c[1:] != c[:-1]]
    else:
        first = ~cp.duplicated("customer_id").to_numpy()
    g = cp.loc[pre & ~first].groupby("customer_id")["amount"]      # (one grouping, two stats)
    f_pre = g.size().reindex(ids, fill_value=0).to_numpy(float)
    m_pre = g.mean().reindex(ids, fill_value=0.0).to_numpy(float)
    return idx, f_pre, m_pre


def _mean_effect_gradient(theta, grads, projections, scale, rho, ok) -> np.ndarray:
    """``J``: the gradient in ``θ`` of the members' mean effect ``mean(scale · (ρ on − off))``
    over the members in ``ok`` — from the per-member gradients ``grads = (d_on, d_off)`` when
    given (the BG/NBD's fused pass), else by re-evaluating ``projections(θ ± h)``."""
    J = np.empty(len(theta))
    for j in range(len(theta)):
        if grads is not None:
            J[j] = np.mean((scale * (rho * grads[0][:, j] - grads[1][:, j]))[ok])
            continue
        h = 1e-5 * max(1.0, abs(theta[j]))
        e = np.zeros(len(theta))
        e[j] = h
        up, dn = projections(theta + e), projections(theta - e)
        fu = scale * (rho * up[0] - up[1])
        fd = scale * (rho * dn[0] - dn[1])
        J[j] = (np.mean(fu[ok]) - np.mean(fd[ok])) / (2 * h)
    return J


def _spend_influence(gg, f_pre, m_pre, dclv, ok, mpos, n_customers) -> np.ndarray:
    """The Gamma-Gamma part of the CLV effect's influence function, per fitted customer:
    per-row scores on the log scale times ``H⁻¹ J_φ`` (observed information; ``J_φ`` the
    gradient of the mean effect through the expected spend, ``dclv`` each member's CLV
    difference per unit of spend)."""
    psi_g = np.zeros(n_customers)
    rows = f_pre > 0
    gdat = dict(x=f_pre[rows], m=m_pre[rows], logm=np.log(m_pre[rows]), logx=np.log(f_pre[rows]))
    lp = np.log(gg.params_.to_numpy())
    with np.errstate(all="ignore"):
        sg = gg._loglik_grad(np.exp(lp), gdat)[1] * np.exp(lp)
        Hg = hessian_from_gradient(
            lambda t: -(gg._loglik_grad(np.exp(t), gdat)[1] * np.exp(t)).sum(0), lp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Hg_inv = covariance_from_information(Hg, "Gamma-Gamma information singular")
        Jg = np.empty(3)
        for j in range(3):
            e = np.zeros(3)
            e[j] = 1e-5 * max(1.0, abs(lp[j]))
            su = gg._with_params(np.exp(lp + e)).conditional_expected_average_profit(f_pre, m_pre)
            sd = gg._with_params(np.exp(lp - e)).conditional_expected_average_profit(f_pre, m_pre)
            Jg[j] = np.mean(((su - sd) * dclv)[ok]) / (2 * e[j])
    psi_g[mpos[rows]] = sg @ (Hg_inv @ Jg)
    return psi_g


#: the keys of an effects-table row
ROW_KEYS = ("metric", "estimand", "control", "treatment", "abs_diff", "rel_lift", "ci_low",
            "ci_high", "p_value", "se", "rel_ci_low", "rel_ci_high", "method", "n")


def rolling_clv_rows(data, rolling, *, alpha: float = 0.05, n_draws: int | None = None,
                     seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """The CLV row of a rolling-enrolment report and its check (id
    :data:`retention_lab.ids.CHECK_CLV_MEMBERSHIP`), for
    :func:`retention_lab.impact.rolling.design.analyze_rolling`: ``membership_clv_effect`` for
    the members the rolling analysis analysed (``rolling.trials`` rows with ``member == 1`` and
    ``kept``, at their index dates). Never raises: a failure becomes a ``warn`` check and no
    row; a refused interval (non-finite projections above the documented share, or a
    non-finite covariance) a ``warn`` check saying why, with the row's interval NaN."""
    name = "CLV model (BG/NBD, membership as a time-varying covariate)"
    try:
        tr = rolling.trials
        keep = (tr["member"] == 1) & tr.get("kept", True)
        mem = tr.loc[keep].drop_duplicates("customer_id").set_index("customer_id")["index_date"]
        res = membership_clv_effect(data, mem, alpha=alpha, seed=seed)
    except Exception as exc:  # the CLV model must not sink the report
        return pd.DataFrame(), dict(id=ids.CHECK_CLV_MEMBERSHIP, check=name, status="warn",
                                    value=np.nan,
                                    detail=f"not fitted: {type(exc).__name__}: {exc}")
    s = res["model"].summary
    rr = {k: float(np.exp(s.loc[f"{k}.member", "coef"])) for k in ("trans", "life")}
    detail = (f"membership multiplies the purchase rate by {rr['trans']:.2f} "
              f"[{np.exp(s.loc['trans.member', 'lower 95%']):.2f}, "
              f"{np.exp(s.loc['trans.member', 'upper 95%']):.2f}] and the log survival per "
              f"purchase (dropout) by "
              f"{rr['life']:.2f} [{np.exp(s.loc['life.member', 'lower 95%']):.2f}, "
              f"{np.exp(s.loc['life.member', 'upper 95%']):.2f}] (robust intervals); order "
              f"values x {res['aov_ratio']:.2f} against customers not yet enrolled in the same "
              f"months; {res['n']:,} members. Assumes enrolment does not anticipate a change in "
              f"a customer's own purchase or dropout rate")
    status = "pass"
    if res["n_nonfinite"]:
        detail += f"; {res['n_nonfinite']:,} member(s) with a non-finite projection left out"
    if res["interval_refused"]:
        status = "warn"
        detail += f"; no interval: {res['interval_refused']}"
    return (pd.DataFrame([{k: res[k] for k in ROW_KEYS}]),
            dict(id=ids.CHECK_CLV_MEMBERSHIP, check=name, status=status,
                 value=float(res["n"]), detail=detail))
