"""The CLV effect of the loyalty programme.

:func:`membership_clv_effect` (the report's CLV row): one BTYD model with membership as a
time-varying covariate of both the purchase and the dropout process — the BG/NBD of
:class:`retention_lab.clv.TimeVaryingBetaGeoFitter` by default, or the Pareto/NBD of
:class:`retention_lab.clv.TimeVaryingParetoNBDFitter` (Bachmann, Meierer & Näf 2021) —
fitted to every customer's daily history with membership switched on from the day after
enrolment (:func:`retention_lab.clv.membership_covariates`). For each member, from their
index date (the enrolment date) and the history they had by then, it projects the expected
discounted spend
in the ``months`` months after the observation end twice — with membership on from the index
date (the programme as it is) and switched off (the member's counterfactual) — and the effect
is the mean difference. Spend per purchase: a Gamma-Gamma model of the members' pre-index
repeat purchases (their expected order value before joining) times, with membership, the
within-member ratio of post- to pre-index order values, per order (so a programme that
changes basket size counts; 1 when it does not). Interval: parametric bootstrap of the
transaction model's parameters (and the Gamma-Gamma's, and a customer bootstrap of the
order-value ratio) plus the customer-sampling variance of the members' predicted effects;
normal interval.

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

from .. import ids


def predicted_clv(data, out: pd.DataFrame, groups: dict, *, months: int = 12,
                  discount_rate: float = 0.01, margin: float = 1.0, n_draws: int = 100,
                  seed: int = 0) -> tuple[pd.Series, dict]:
    """Per-customer expected CLV (index of ``out``; customers without transactions get 0) from
    a BG/NBD + Gamma-Gamma pair fitted to each group, and each group's delta-method variance of
    the mean CLV (parameter uncertainty). Returns ``(clv, info)``."""
    from .. import clv as rlclv
    from ..features import rfm_summary
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
    "(as Bachmann, Meierer & Naef 2021), fitted to all customers' daily histories; each member "
    "projected from their enrolment with membership on vs switched off: discounted spend in the "
    "{months} months after the observation end ({rate:.0%} per month, margin {margin:g}); spend "
    "per purchase from a Gamma-Gamma of pre-enrolment purchases x the within-member ratio of "
    "post- to pre-enrolment order values; interval: parametric bootstrap ({draws} draws) + "
    "customer sampling variance, normal")


def membership_clv_effect(data, members: pd.Series | None = None, *, months: int = 12,
                          discount_rate: float = 0.01, margin: float = 1.0, freq: str = "D",
                          model: str = "bgnbd", n_draws: int = 200, seed: int = 0,
                          alpha: float = 0.05) -> dict:
    """The programme's effect on members' CLV from one time-varying-covariate model (module
    docstring). ``members``: index dates (enrolment dates) indexed by ``customer_id`` — e.g. the
    rolling design's evaluable members; default every customer enrolled by the observation end.

    Returns an effects-table row (``metric="clv"``, ``estimand="effect on members"``,
    ``control`` = mean CLV with membership switched off, ``treatment`` = with it, ``abs_diff``,
    ``rel_lift``, ``ci_low``, ``ci_high``, ``p_value``, ``se``, ``method``, ``n``) plus
    ``model`` (the fitted :class:`~retention_lab.clv.TimeVaryingParetoNBDFitter`), ``gg``,
    ``aov_ratio`` and ``per_member`` (a frame of each member's ``clv_on``, ``clv_off``).

    ``model``: ``"bgnbd"`` (default, :class:`~retention_lab.clv.TimeVaryingBetaGeoFitter`:
    dropout at purchases, so its rate grows with the purchase rate) or ``"pnbd"``
    (:class:`~retention_lab.clv.TimeVaryingParetoNBDFitter`: dropout in continuous time,
    independent of the purchase rate). ``freq``: the period of the membership covariate and of
    the ages (daily by default: with weeks, purchases later in the enrolment week are counted
    as a non-member's).
    """
    from scipy import stats
    from ..clv import ConvergenceError, GammaGammaFitter
    from ..clv.covariates_tv import TimeVaryingParetoNBDFitter, membership_covariates
    from ..clv.covariates_tv_bg import TimeVaryingBetaGeoFitter
    if model not in ("bgnbd", "pnbd"):
        raise ValueError(f"model must be 'bgnbd' or 'pnbd', not {model!r}")
    cls = TimeVaryingBetaGeoFitter if model == "bgnbd" else TimeVaryingParetoNBDFitter
    from ..errors import DataError
    from ..features.periods import DAYS_PER, customer_periods, period_index
    from ..units import days_per
    tx, cust, end = data.transactions, data.customers, pd.Timestamp(data.observation_end)
    if members is None:
        enr = pd.to_datetime(cust["enrolled_at"]) if "enrolled_at" in cust.columns else None
        if enr is None or not enr.notna().any():
            raise DataError("customers: no enrolled customer; rule 'some enrolled_at not null'",
                            table="customers", column="enrolled_at",
                            rule="some enrolled_at not null", n_rows=0)
        members = pd.Series(enr.to_numpy(), index=cust["customer_id"].to_numpy())
        members = members.loc[members.notna() & (members <= end)]
    members = pd.to_datetime(members)
    panel = membership_covariates(cust, tx["date"].min(), end, freq=freq, compact=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = cls().fit(tx, panel, end, freq=freq)
    # each member's history up to their index date, and the spend per purchase occasion
    mt = tx.loc[tx["customer_id"].isin(members.index)]
    d = fitted._data_at(mt, panel, cut=members)
    idx = pd.Series(members.reindex(d.ids).to_numpy(), index=d.ids)
    cp = customer_periods(mt, freq)
    k_idx = pd.Series(period_index(idx.to_numpy(), freq), index=d.ids)
    kc = k_idx.reindex(cp["customer_id"]).to_numpy()
    pre = cp["period"].to_numpy() <= kc
    first = ~cp.duplicated("customer_id").to_numpy()
    rep_pre = cp.loc[pre & ~first]
    f_pre = rep_pre.groupby("customer_id").size().reindex(d.ids, fill_value=0).to_numpy(float)
    m_pre = rep_pre.groupby("customer_id")["amount"].mean().reindex(d.ids, fill_value=0.0) \
        .to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gg = GammaGammaFitter().fit(f_pre[f_pre > 0], m_pre[f_pre > 0])
    # within-member ratio of post- to pre-index order values, per order (per purchase occasion
    # it would also grow with the purchase rate: more orders share a week)
    mt = mt.loc[mt["customer_id"].isin(d.ids)]
    amt = mt["amount"].to_numpy(float)
    cpos = pd.Series(np.arange(d.n), index=d.ids).reindex(mt["customer_id"]).to_numpy()
    pre = mt["date"].to_numpy() <= idx.reindex(mt["customer_id"]).to_numpy()
    post = ~pre & (mt["date"].to_numpy() <= end.to_datetime64())
    n_pre = np.bincount(cpos[pre], minlength=d.n).astype(float)
    s_pre = np.bincount(cpos[pre], weights=amt[pre], minlength=d.n)
    n_post = np.bincount(cpos[post], minlength=d.n).astype(float)
    s_post = np.bincount(cpos[post], weights=amt[post], minlength=d.n)
    both = (n_pre > 0) & (n_post > 0)

    def aov_ratio(wts):
        den = np.sum(wts * (n_post * s_pre / np.where(n_pre > 0, n_pre, 1.0))[both])
        return float(np.sum(wts * s_post[both]) / den) if den > 0 else 1.0
    rho = aov_ratio(np.ones(both.sum())) if both.any() else 1.0
    # the window: months after the observation end, in periods from each member's index period
    unit = DAYS_PER[fitted.freq]
    d_end = (period_index([end], "D")[0] - d.dend) / d.unit
    steps = days_per("M") / unit * np.arange(0, months + 1)
    horizons = d_end[None, :] + steps[:, None]          # (months + 1, members)
    factors = (1.0 + discount_rate) ** -np.arange(1, months + 1)

    def effect(mod, gmod, r_):
        spend = gmod.conditional_expected_average_profit(f_pre, m_pre)
        th = mod._theta
        on = factors @ np.diff(mod._cum_expected(th, d, horizons, {"member": 1.0}), axis=0)
        off = factors @ np.diff(mod._cum_expected(th, d, horizons, {"member": 0.0}), axis=0)
        return margin * spend * r_ * on, margin * spend * off

    clv_on, clv_off = effect(fitted, gg, rho)
    diff_i = clv_on - clv_off
    est = float(diff_i.mean())
    t_draws = fitted.sample_params(n_draws, seed=seed)
    try:
        g_draws = gg.sample_params(n_draws, seed=seed + 1)
    except ConvergenceError:   # a spend model on its boundary: its point estimate in every draw
        g_draws = np.tile(gg.params_.to_numpy(), (n_draws, 1))
    rng = np.random.default_rng(seed + 2)
    nb = int(both.sum())
    draws = np.empty(n_draws)
    for j in range(n_draws):
        r_j = aov_ratio(rng.multinomial(nb, np.full(nb, 1.0 / nb))) if nb else 1.0
        with np.errstate(all="ignore"):
            on_j, off_j = effect(fitted._with_params(t_draws[j]), gg._with_params(g_draws[j]),
                                 r_j)
        draws[j] = np.mean(on_j - off_j)
    draws = draws[np.isfinite(draws)]
    var_param = float(np.var(draws, ddof=1))
    var_sampling = float(np.var(diff_i, ddof=1) / len(diff_i))
    se = float(np.sqrt(var_param + var_sampling))
    z = stats.norm.ppf(1 - alpha / 2)
    c, t = float(clv_off.mean()), float(clv_on.mean())
    p = float(2 * stats.norm.sf(abs(est) / se)) if se > 0 else np.nan
    method = MEMBERSHIP_CLV_METHOD.format(model=fitted._model_name.split(" with")[0],
                                          months=months, rate=discount_rate, margin=margin,
                                          draws=len(draws))
    per_member = pd.DataFrame({"index_date": idx, "clv_on": clv_on, "clv_off": clv_off},
                              index=d.ids)
    return dict(metric="clv", estimand="effect on members", control=c, treatment=t,
                abs_diff=est, rel_lift=t / c - 1 if c > 0 else np.nan, ci_low=est - z * se,
                ci_high=est + z * se, p_value=p, se=se, method=method, n=int(d.n),
                # relative interval: the difference's over the counterfactual level
                rel_ci_low=(est - z * se) / c if c > 0 else np.nan,
                rel_ci_high=(est + z * se) / c if c > 0 else np.nan,
                model=fitted, gg=gg, aov_ratio=rho, per_member=per_member,
                se_parameters=float(np.sqrt(var_param)), se_sampling=float(np.sqrt(var_sampling)))


#: the keys of an effects-table row
ROW_KEYS = ("metric", "estimand", "control", "treatment", "abs_diff", "rel_lift", "ci_low",
            "ci_high", "p_value", "se", "rel_ci_low", "rel_ci_high", "method", "n")


def rolling_clv_rows(data, rolling, *, alpha: float = 0.05, n_draws: int = 200,
                     seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """The CLV row of a rolling-enrolment report and its check, for
    :func:`retention_lab.impact.design_rolling.analyze_rolling`: ``membership_clv_effect`` for
    the members the rolling analysis analysed (``rolling.trials`` rows with ``member == 1`` and
    ``kept``, at their index dates). Never raises: a failure becomes a ``warn`` check and no
    row."""
    name = "CLV model (BG/NBD, membership as a time-varying covariate)"
    try:
        tr = rolling.trials
        keep = (tr["member"] == 1) & tr.get("kept", True)
        mem = tr.loc[keep].drop_duplicates("customer_id").set_index("customer_id")["index_date"]
        res = membership_clv_effect(data, mem, alpha=alpha, n_draws=n_draws, seed=seed)
    except Exception as exc:  # the CLV model must not sink the report
        return pd.DataFrame(), dict(id=ids.CHECK_CLV_MEMBERSHIP, check=name, status="warn", value=np.nan,
                                    detail=f"not fitted: {type(exc).__name__}: {exc}")
    s = res["model"].summary
    rr = {k: float(np.exp(s.loc[f"{k}.member", "coef"])) for k in ("trans", "life")}
    detail = (f"membership multiplies the purchase rate by {rr['trans']:.2f} "
              f"[{np.exp(s.loc['trans.member', 'lower 95%']):.2f}, "
              f"{np.exp(s.loc['trans.member', 'upper 95%']):.2f}] and the log survival per "
              f"purchase (dropout) by "
              f"{rr['life']:.2f} [{np.exp(s.loc['life.member', 'lower 95%']):.2f}, "
              f"{np.exp(s.loc['life.member', 'upper 95%']):.2f}]; order values x "
              f"{res['aov_ratio']:.2f}; {res['n']:,} members. Assumes enrolment does not "
              f"anticipate a change in a customer's own purchase or dropout rate")
    return pd.DataFrame([{k: res[k] for k in ROW_KEYS}]), dict(id=ids.CHECK_CLV_MEMBERSHIP, check=name, status="pass",
                                                                value=float(res["n"]),
                                                                detail=detail)
