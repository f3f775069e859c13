"""``analyze``: from a randomized campaign's customer table to whom to contact.

One row per customer with the covariates known before the campaign, the assignment
(``treated``, 0/1) and its known probability (``propensity``), and three outcomes measured after
it: the 12-month money outcome (``clv_12m``: realised spend over the 12 months after assignment,
discounted monthly — an observed outcome, not a model forecast), spend in a short window
(``spend_3m``) and the lapse time (``duration``, ``lapsed``) for retention to ``horizon``.

Steps (each documented where it lives):

1. **Features.** The covariates, plus — when the table holds the pre-period BTYD summary
   (``frequency, recency, T, monetary_value``) — BG/NBD's P(alive) and the BG/NBD + Gamma-Gamma
   12-month CLV fitted on it (:mod:`retention_lab.clv`). ``1 − P(alive)`` is the churn-risk
   ranking unless the table carries its own ``churn_probability`` (e.g. from
   :func:`retention_lab.survival.at_risk_list`); the model CLV is the CLV ranking.
2. **Effects.** A cross-fitted DR-learner per outcome (:class:`DRLearner`, same folds);
   retention through the IPCW outcome.
3. **The rule.** Contact where ``margin × τ̂_CLV > cost`` (top-k under a ``budget``).
4. **Its value** by the DR estimator on held-out folds, beside treat everyone, no one, the
   churn-risk ranking and the CLV ranking (each of these two contacting as many customers as
   the rule), and the paired differences; Qini curves; the RATE test; the recommendation.
5. **Segments**: customers grouped by their estimated gain (quintiles), each described by the
   means of its covariates with its DR effect and interval (sorted group average treatment
   effects, Chernozhukov, Demirer, Duflo & Fernández-Val 2018).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import clv
from ..errors import DataError
from ..units import z_value
from . import policy as P
from .learners import DRLearner, design_matrix, retention_outcomes

BTYD_COLUMNS = ("frequency", "recency", "T", "monetary_value")
OUTCOMES = ("clv", "retention", "spend")


@dataclass
class TargetingReport:
    """Numbers only, keyed by ids (policy ids in :mod:`retention_lab.targeting.policy`)."""

    customers: pd.DataFrame          # id-level: rank, contact, expected_gain, tau_* , risk, clv
    effects: pd.DataFrame            # average effect per outcome (value, se, ci_low, ci_high)
    policies: pd.DataFrame           # one row per policy id
    comparisons: pd.DataFrame        # learned − churn_risk, learned − clv
    rate: dict
    curves: dict                     # ranking id -> Qini curve (DataFrame)
    retention: dict                  # the rule's retention gain: IPCW vs complete-case
    segments: pd.DataFrame
    recommendation: str
    settings: dict = field(default_factory=dict)

    def policy(self, pid: str) -> dict:
        return self.policies.set_index("policy").loc[pid].to_dict()

    def record(self, currency: str | None = None) -> dict:
        """Headline numbers into ``metrics.json``: money in ``currency`` (default: the run's);
        see :func:`retention_lab.report.targeting.record_targeting`."""
        # display layer: imported on use, estimation never depends on it
        from ..report.targeting import record_targeting
        return record_targeting(self, currency=currency)


def _check(frame: pd.DataFrame, treatment, propensity, outcomes) -> None:
    need = [treatment, *outcomes] + ([propensity] if isinstance(propensity, str) else [])
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise DataError(f"customers: missing column(s) {missing}; rule 'required columns present'",
                        table="customers", column=",".join(missing), rule="required columns present",
                        n_rows=len(frame))
    if len(frame) == 0:
        raise DataError("customers: the table is empty", table="customers", column="customer_id",
                        rule="at least one customer", n_rows=0)
    bad = ~frame[treatment].isin([0, 1, True, False])
    if bad.any():
        raise DataError.for_rule("customers", treatment, "treatment is 0 or 1", bad, frame)
    for col in outcomes:
        b = ~np.isfinite(pd.to_numeric(frame[col], errors="coerce"))
        if b.any():
            raise DataError.for_rule("customers", col, "outcome is a finite number", b, frame)


def _btyd_features(frame: pd.DataFrame, summary_unit, discount_rate: float):
    summ = frame[list(BTYD_COLUMNS)].astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SE warnings: only point predictions are used here
        bg = clv.BetaGeoFitter().fit(summ[["frequency", "recency", "T"]])
        p_alive = np.asarray(bg.probability_alive(summ["frequency"], summ["recency"], summ["T"]))
        rep = summ.loc[summ["frequency"] > 0]
        gg = clv.GammaGammaFitter().fit(rep[["frequency", "monetary_value"]])
        res = clv.customer_lifetime_value(bg, gg, summ, horizon=12, horizon_unit="M",
                                          summary_unit=summary_unit, discount_rate=discount_rate,
                                          customer_intervals=False, n_draws=2, seed=0)
    return p_alive, res.customers["clv"].to_numpy(float)


def analyze(customers: pd.DataFrame, *, covariates=None, treatment: str = "treated",
            propensity="propensity", clv_outcome: str = "clv_12m", spend_outcome: str = "spend_3m",
            duration: str = "duration", event: str = "lapsed", horizon: float = 18.0,
            margin: float = 0.3, cost: float = 5.0, budget=None, risk_column="churn_probability",
            summary_unit="W", discount_rate: float = 0.01, n_folds: int = 5, n_boot: int = 200,
            n_segments: int = 5, alpha: float = 0.05, seed: int = 0,
            learner_kwargs=None) -> TargetingReport:
    """Whom to contact (module docstring). ``propensity``: a column name or a number (the known
    assignment probability). ``cost``: money per contact; ``margin``: gross margin on the money
    outcome; ``budget``: money for contacts (top-k), None = no limit."""
    outcomes = [clv_outcome, spend_outcome, duration, event]
    _check(customers, treatment, propensity, outcomes)
    frame = customers
    n = len(frame)
    a = frame[treatment].astype(int).to_numpy()
    e = frame[propensity].to_numpy(float) if isinstance(propensity, str) else np.full(n, float(propensity))
    reserved = {treatment, *outcomes, risk_column} | ({propensity} if isinstance(propensity, str) else set())
    cov = [c for c in frame.columns if c not in reserved] if covariates is None else list(covariates)
    X, names = design_matrix(frame, cov)
    has_btyd = all(c in frame.columns for c in BTYD_COLUMNS)
    p_alive = model_clv = None
    if has_btyd:
        p_alive, model_clv = _btyd_features(frame, summary_unit, discount_rate)
        X = np.column_stack([X, p_alive, model_clv])
        names += ["p_alive", "model_clv"]
    if risk_column and risk_column in frame.columns:
        risk, risk_source = frame[risk_column].to_numpy(float), risk_column
    elif p_alive is not None:
        risk, risk_source = 1 - p_alive, "1 − P(alive), BG/NBD"
    else:
        risk, risk_source = None, None

    kw = dict(n_folds=n_folds, seed=seed, **(learner_kwargs or {}))
    y_clv = frame[clv_outcome].to_numpy(float)
    fit_clv = DRLearner(**kw).fit(X, a, y_clv, e)
    folds = fit_clv.fold_
    ret = retention_outcomes(frame[duration], frame[event], a, horizon)
    fit_ret = DRLearner(**kw).fit(X, a, ret["ipcw"], e, folds=folds)
    fit_sp = DRLearner(**kw).fit(X, a, frame[spend_outcome].to_numpy(float), e, folds=folds)
    fits = dict(clv=fit_clv, retention=fit_ret, spend=fit_sp)

    z = z_value(alpha)
    effects = pd.DataFrame([dict(outcome=k, value=f.ate_, se=f.ate_se_, ci_low=f.ate_ - z * f.ate_se_,
                                 ci_high=f.ate_ + z * f.ate_se_, n=n) for k, f in fits.items()])

    tau = fit_clv.cate_
    contact = P.threshold_policy(tau, margin=margin, cost=cost, budget=budget)
    k = int(contact.sum())
    g = fit_clv.scores_
    pols = {P.LEARNED: contact, P.EVERYONE: np.ones(n, bool), P.NO_ONE: np.zeros(n, bool)}
    if risk is not None:
        pols[P.BY_RISK] = P.top_k(risk, k)
    if model_clv is not None:
        pols[P.BY_CLV] = P.top_k(model_clv, k)
    rows = []
    for pid, pi in pols.items():
        v = P.policy_value(g, pi, margin=margin, cost=cost, alpha=alpha)
        rows.append(dict(policy=pid, **v))
    policies = pd.DataFrame(rows)
    comps = []
    for base in (P.BY_RISK, P.BY_CLV, P.EVERYONE):
        if base in pols:
            d = P.policy_difference(g, contact, pols[base], margin=margin, cost=cost, alpha=alpha)
            comps.append(dict(baseline=base, **d))
    comparisons = pd.DataFrame(comps)

    rate = P.rate_test(g, tau, folds=folds, n_boot=n_boot, alpha=alpha, seed=seed)
    curves = {P.LEARNED: P.qini_curve(g, tau, n_boot=n_boot, seed=seed, alpha=alpha)}
    if risk is not None:
        curves[P.BY_RISK] = P.qini_curve(g, risk, n_boot=n_boot, seed=seed, alpha=alpha)
    if model_clv is not None:
        curves[P.BY_CLV] = P.qini_curve(g, model_clv, n_boot=n_boot, seed=seed, alpha=alpha)
    rec = P.recommendation(rate, policies.set_index("policy").loc[P.EVERYONE].to_dict())

    # the rule's effect on retention (share points of the whole base), IPCW and complete-case
    known = ~ret["censored"]
    naive_fit = DRLearner(**kw).fit(X[known], a[known], ret["naive"][known], e[known],
                                    folds=folds[known])
    retention = dict(
        ipcw=P.policy_value(fit_ret.scores_, contact, alpha=alpha),
        complete_case=P.policy_value(naive_fit.scores_, contact[known], alpha=alpha),
        level_ipcw=P.policy_value(np.where(contact, fit_ret.score1_, fit_ret.score0_),
                                  np.ones(n, bool), alpha=alpha),
        level_complete_case=P.policy_value(
            np.where(contact[known], naive_fit.score1_, naive_fit.score0_), np.ones(known.sum(), bool),
            alpha=alpha),
        censored_share=float(ret["censored"].mean()), censoring_survival=ret["g"], horizon=horizon)

    expected_gain = margin * tau - cost
    out = pd.DataFrame({
        "contact": contact, "expected_gain": expected_gain, "tau_clv": tau,
        "tau_retention": fit_ret.cate_, "tau_spend": fit_sp.cate_,
        "churn_risk": risk if risk is not None else np.nan,
        "model_clv": model_clv if model_clv is not None else np.nan}, index=frame.index)
    out.insert(0, "rank", out["expected_gain"].rank(ascending=False, method="first").astype(int))
    out = out.sort_values("rank")

    segments = _segments(frame, cov, expected_gain, g, contact, risk, model_clv, n_segments, margin,
                         cost, z)
    rule = (f"contact where {margin:g} × expected CLV gain > {cost:g} per contact"
            + (f", at most {int(budget // cost):,} contacts (budget {budget:g})" if budget else ""))
    settings = dict(margin=margin, cost=cost, budget=budget, horizon=horizon, n=n, n_folds=n_folds,
                    n_boot=n_boot, alpha=alpha, risk_source=risk_source, covariates=cov,
                    features=names, rule=rule, n_treated_arm=int(a.sum()),
                    propensity=float(np.mean(e)), outcomes=dict(clv=clv_outcome,
                                                                 spend=spend_outcome))
    return TargetingReport(out, effects, policies, comparisons, rate, curves, retention, segments,
                           rec, settings)


def _segments(frame, cov, gain, scores, contact, risk, model_clv, n_segments, margin, cost, z):
    """Customers in ``n_segments`` groups of estimated gain (highest first): covariate means (the
    share of each level for a categorical one), the DR effect on the money outcome with its
    interval, and the share the rule contacts."""
    grp = pd.qcut(pd.Series(gain).rank(method="first", ascending=False), n_segments,
                  labels=False).to_numpy()
    cols = {}
    for c in cov:
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s):
            for lvl in pd.Categorical(s).categories:
                cols[f"{c} = {lvl}"] = (s == lvl).to_numpy(float)
        else:
            cols[c] = pd.to_numeric(s, errors="coerce").to_numpy(float)
    if risk is not None:
        cols["churn risk"] = np.asarray(risk, float)
    if model_clv is not None:
        cols["model CLV"] = np.asarray(model_clv, float)
    rows = []
    for k in range(n_segments):
        m = grp == k
        sc = scores[m]
        se = sc.std(ddof=1) / np.sqrt(m.sum())
        row = dict(segment=k + 1, n=int(m.sum()), contacted=float(contact[m].mean()),
                   effect=float(sc.mean()), effect_ci_low=float(sc.mean() - z * se),
                   effect_ci_high=float(sc.mean() + z * se),
                   net_gain=float(margin * sc.mean() - cost))
        row.update({name: float(np.nanmean(v[m])) for name, v in cols.items()})
        rows.append(row)
    return pd.DataFrame(rows)
