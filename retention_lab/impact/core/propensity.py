"""Self-selected design (customers chose to enrol): propensity model, inverse-probability
weighting for the effect on members (ATT), overlap and balance diagnostics, difference-in-
differences around enrolment, and the naive members-vs-non-members contrast for comparison.

Why the naive contrast is wrong, and what the correction assumes
-----------------------------------------------------------------
Members enrol *at a purchase* after the launch, so every member was active after the launch by
construction (immortal time), and heavier buyers are more likely to enrol (self-selection).
The correction therefore

1. compares members only with **eligible** customers — those who also made a purchase on or
   after the launch, i.e. who had the same chance to enrol — so both groups carry the same
   guaranteed post-launch purchase (removes the immortal-time bias), and
2. weights eligible non-members by the odds ``e(x) / (1 − e(x))`` of a logit propensity model
   of enrolment on pre-launch behaviour and customer covariates (Rosenbaum & Rubin 1983;
   Hirano, Imbens & Ridder 2003), so that they resemble the members (ATT weights).

It rests on: no unmeasured confounding (given the pre-launch behaviour and covariates, enrolling
at the first post-launch purchase is as good as random), overlap (every kind of member has
comparable non-members: checked, extreme scores trimmed), and a correct propensity model
(checked by the weighted balance table).

Standard errors stack the logit's score into the influence function of the weighted means, so
the estimated propensity is accounted for (M-estimation with stacked estimating equations;
Stefanski & Boos 2002, *Am. Stat.* 56; for the ATT, Reifeis & Hudgens 2022, *Am. J. Epidemiol.*
191). Lunceford & Davidian (2004) derive this for the ATE, where treating the propensity as known
is conservative; for the ATT it need not be, which is why the score is stacked here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from .balance import CORE, METRICS, balance_table
from .estimators import Means, arm_means, effect_row
from .outcomes import covariate_matrix


@dataclass
class PropensityModel:
    """A fitted logit of enrolment among the eligible; ``score_`` (n,) NaN outside them."""
    result_: object
    X_: pd.DataFrame           # design of the eligible (standardized, with const)
    eligible_: np.ndarray      # (n,) bool
    treated_: np.ndarray       # (n,) bool: member
    score_: np.ndarray         # (n,)
    kept_: np.ndarray          # (n,) bool: eligible and not trimmed
    trim: float

    @property
    def summary(self) -> pd.DataFrame:
        r = self.result_
        ci = r.conf_int()
        return pd.DataFrame({"coef": r.params, "se": r.bse, "lower 95%": ci[0],
                             "upper 95%": ci[1], "p": r.pvalues})

    def weights(self) -> np.ndarray:
        """ATT weights: 1 for kept members, e/(1−e) for kept non-members, 0 elsewhere."""
        e = np.nan_to_num(self.score_)
        w = np.where(self.treated_, 1.0, e / (1 - np.minimum(e, 1 - 1e-12)))
        return w * self.kept_

    def overlap(self) -> dict:
        e, t, k = self.score_, self.treated_, self.eligible_
        w = self.weights()
        wc = w[k & ~t & self.kept_]
        ess = wc.sum() ** 2 / np.sum(wc ** 2) if wc.size else 0.0
        return dict(min_member=float(np.nanmin(e[k & t])) if (k & t).any() else np.nan,
                    max_member=float(np.nanmax(e[k & t])) if (k & t).any() else np.nan,
                    min_non_member=float(np.nanmin(e[k & ~t])) if (k & ~t).any() else np.nan,
                    max_non_member=float(np.nanmax(e[k & ~t])) if (k & ~t).any() else np.nan,
                    n_trimmed=int((k & ~self.kept_).sum()), n_eligible=int(k.sum()),
                    n_members=int((k & t).sum()), n_non_members=int((k & ~t).sum()),
                    ess_non_members=float(ess),
                    max_weight_share=float(wc.max() / wc.sum()) if wc.size else np.nan)


def fit_propensity(out: pd.DataFrame, covariates: pd.DataFrame | None = None,
                   trim: float = 0.01) -> PropensityModel:
    """Logit of ``enrolled`` on pre-launch covariates among the eligible (statsmodels).

    Eligible customers whose score exceeds ``1 − trim`` are trimmed (they have almost no
    comparable non-members; Crump et al. 2009 trim symmetric tails, the ATT needs only the
    upper one)."""
    eligible = out["eligible"].to_numpy() == 1
    treated = out["enrolled"].to_numpy() == 1
    X = covariate_matrix(out) if covariates is None else covariates
    Xe = X.loc[eligible]
    sd = Xe.std(ddof=0).replace(0, np.nan)
    Xe = ((Xe - Xe.mean()) / sd).dropna(axis=1)
    Xe = sm.add_constant(Xe, has_constant="add")
    res = sm.Logit(treated[eligible].astype(float), Xe).fit(disp=0, maxiter=200)
    score = np.full(len(out), np.nan)
    score[eligible] = res.predict(Xe)
    kept = eligible & (np.nan_to_num(score) <= 1 - trim)
    return PropensityModel(res, Xe, eligible, treated, score, kept, trim)


def att_means(Y: dict, ps: PropensityModel, subset=None, augment: bool = True,
              sample: bool = False) -> Means:
    """Members' means (``y|t``) and the estimated counterfactual means of the members
    (``y|c``) from ATT-weighted eligible non-members, with influence functions that include the
    propensity model's estimation (stacked logit score).

    ``augment=True`` (default) is the doubly robust version: a weighted least-squares outcome
    model ``m0(x)`` fitted on the weighted non-members corrects what the weights leave
    unbalanced, ``y|c = mean_members m0(x) + weighted mean_non-members (y − m0(x))``
    (regression-adjusted IPW for the ATT; Imbens & Wooldridge 2009, *J. Econ. Lit.* 47, §5.8) —
    consistent if either the propensity or the outcome model is right, and more precise.
    Default intervals are for the population ATT, which is conservative for the effect on the
    members at hand. ``sample=True`` (with ``augment``) targets *these* members (sample ATT): their
    own outcomes are observed, so only the prediction of their counterfactual is uncertain —
    the members' term of the influence function is rescaled to the residual variance of the
    outcome model among the weighted non-members (Imbens 2004, *Rev. Econ. Stat.* 86, §IV).
    ``subset``: an extra mask (e.g. surveyed customers) applied to both groups."""
    n = len(ps.score_)
    sub = np.ones(n, bool) if subset is None else np.asarray(subset, bool)
    keep = ps.kept_ & sub
    t, c = keep & ps.treated_, keep & ~ps.treated_
    w = ps.weights()
    wc = np.where(c, w, 0.0)
    elig = ps.eligible_
    Xe = ps.X_.to_numpy(float)
    Xfull = np.zeros((n, Xe.shape[1]))
    Xfull[elig] = Xe
    Yc = dict(Y)
    shift = {}
    if augment:
        Z = Xfull[:, 1:]                        # drop the constant: centred at the members
        xbar_t = Z[t].mean(axis=0)
        Zc = Z - xbar_t
        A = np.c_[np.ones(c.sum()), Zc[c]] * np.sqrt(wc[c])[:, None]
        for name, y in Y.items():
            y = np.nan_to_num(np.asarray(y, float))
            coef, *_ = np.linalg.lstsq(A, y[c] * np.sqrt(wc[c]), rcond=None)
            Yc[name] = y - Zc @ coef[1:]         # mean over members of Zc @ coef is 0
            shift[name] = (Zc @ coef[1:], t)     # members' sampling of x̄_t enters the IF
    mt = arm_means(Y, {"t": t}, weights=np.where(t, 1.0, 0.0))
    mc = arm_means(Yc, {"c": c}, weights=wc)
    if augment and sample:
        for k, name in enumerate(Y):
            r_t = mt.psi[t, k] - shift[name][0][t] / t.sum()          # members' residual / n_t
            var_t = np.sum(r_t ** 2)
            yc = np.nan_to_num(Yc[name])[c]
            var_c = np.average((yc - mc.est[k]) ** 2, weights=wc[c]) / t.sum()
            f = np.sqrt(var_c / var_t) if var_t > 0 else 1.0
            mt.psi[t, k] *= f
            shift[name] = (shift[name][0] * f, t)
    m = mt.join(mc)
    # logit score influence: psi_beta_i = H^{-1} x_i (D_i − e_i), H = sum e(1−e) x x'
    e = ps.score_[elig]
    H = (Xe * (e * (1 - e))[:, None]).T @ Xe
    psi_beta = np.zeros((n, Xe.shape[1]))
    psi_beta[elig] = np.linalg.solve(H, (Xe * (ps.treated_[elig] - e)[:, None]).T).T
    nt = t.sum()
    for j, name in enumerate(m.names):
        if not name.endswith("|c"):
            continue
        base = name[:-2]
        y = np.nan_to_num(np.asarray(Yc[base], float))
        mu = m.est[j]
        # d mu0 / d beta for odds weights w = exp(x beta): sum w x (y − mu) / sum w
        grad = (Xfull * (wc * (y - mu))[:, None]).sum(axis=0) / wc.sum()
        m.psi[:, j] += psi_beta @ grad
        if base in shift:
            lin, mask = shift[base]
            m.psi[mask, j] += lin[mask] / nt
    return m


def _outcomes(out: pd.DataFrame, metrics) -> dict:
    cols = sorted({c for name in metrics for c in METRICS[name] if c})
    return {c: out[c].to_numpy(float) for c in cols}


def _level(name):
    num, den = METRICS[name]
    return lambda mm, g: mm[f"{num}|{g}"] / mm[f"{den}|{g}"] if den else mm[f"{num}|{g}"]


def att_effects(out: pd.DataFrame, ps: PropensityModel, metrics=CORE, *,
                alpha: float = 0.05, subset=None, augment: bool = True,
                sample: bool = False) -> pd.DataFrame:
    """Effect on members (ATT) of each metric: doubly robust (``augment=True``) or plain IPW
    (``subset``: e.g. the surveyed customers)."""
    m = att_means(_outcomes(out, metrics), ps, subset, augment, sample)
    rows = []
    for name in metrics:
        lvl = _level(name)
        rows.append(effect_row(name, "effect on members", m, lambda mm, f=lvl: f(mm, "c"),
                               lambda mm, f=lvl: f(mm, "t"),
                               method=("doubly robust: IPW (ATT odds weights) + weighted "
                                       "outcome regression" if augment else "IPW (ATT odds "
                                       "weights)") + " vs eligible non-members, logit "
                                      "propensity on pre-launch behaviour; SE with estimated "
                                      "propensity" + (", for these members (sample ATT)"
                                                      if augment and sample else ""), n=int((ps.kept_ if subset is None else ps.kept_ & subset).sum()),
                               alpha=alpha))
    return pd.DataFrame(rows)


def naive_effects(out: pd.DataFrame, metrics=CORE, *, alpha: float = 0.05,
                  subset=None):
    """Members minus all non-members, unadjusted — biased by self-selection and immortal time;
    shown only for contrast."""
    D = out["enrolled"].to_numpy() == 1
    if subset is not None:
        out = out.loc[subset]
        D = D[subset]
    m = arm_means(_outcomes(out, metrics), {"t": D, "c": ~D})
    rows = []
    for name in metrics:
        lvl = _level(name)
        rows.append(effect_row(name, "naive (members vs non-members)", m,
                               lambda mm, f=lvl: f(mm, "c"), lambda mm, f=lvl: f(mm, "t"),
                               method="difference of means, no correction (biased)",
                               n=len(out), alpha=alpha))
    return pd.DataFrame(rows)


def did_effect(out: pd.DataFrame, ps: PropensityModel | None = None, *, alpha: float = 0.05,
               horizon: int | None = None) -> dict:
    """Difference-in-differences of purchase rates around enrolment (Abadie 2005, *Rev. Econ.
    Stud.* 72): the change from the pre-launch repeat-purchase rate (per ``horizon`` days) to the
    orders in the window, members minus eligible non-members, ATT-weighted so that parallel
    trends need hold only conditionally on the covariates. ``ps=None`` fits the propensity
    model on the default covariates (:func:`fit_propensity`): an unweighted DiD compares heavy
    buyers with light ones, whose rates revert differently, and gets even the sign wrong.

    ``treatment`` is the members' observed mean, ``control`` their counterfactual (observed
    minus the DiD), so ``rel_lift`` is relative to what members would have done."""
    h = out.attrs.get("horizon", 365) if horizon is None else horizon
    if ps is None:
        ps = fit_propensity(out)
    tenure = out["tenure_days"].clip(lower=30).to_numpy(float)
    pre_rate = (out["pre_orders"].to_numpy(float) - 1).clip(min=0) / tenure * h
    delta = out["orders"].to_numpy(float) - pre_rate
    Y = {"delta": delta, "pre": pre_rate, "post": out["orders"].to_numpy(float)}
    m = att_means(Y, ps, augment=False)
    row = effect_row("purchases", "effect on members (DiD)", m,
                     lambda mm: mm["post|t"] - (mm["delta|t"] - mm["delta|c"]),
                     lambda mm: mm["post|t"],
                     method="difference-in-differences of purchase rates (pre-launch repeat rate "
                     "vs window), members vs eligible non-members, ATT-weighted",
                     n=int(np.sum(out["eligible"] == 1)), alpha=alpha)
    row["pre_members"], row["pre_non_members"] = m["pre|t"], m["pre|c"]
    return row


def propensity_balance(out: pd.DataFrame, ps: PropensityModel,
                       covariates: pd.DataFrame | None = None) -> pd.DataFrame:
    """SMD of each covariate, members vs eligible non-members, before and after weighting."""
    X = covariate_matrix(out) if covariates is None else covariates
    k = ps.kept_
    tab = balance_table(X.loc[k].reset_index(drop=True), ps.treated_[k], ps.weights()[k])
    return tab
