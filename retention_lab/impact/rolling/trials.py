"""Rolling enrolment: the effect on members when customers join at any time, by sequential
trial emulation (Hernán & Robins 2016, *Am. J. Epidemiol.* 183; Danaei et al. 2013, *Stat.
Methods Med. Res.* 22) with doubly robust adjustment.

The design
----------
* **Trials.** Time from the start (the launch date, else the first enrolment) is cut into periods
  of ``period`` (default one mean Gregorian month, :data:`retention_lab.units.DAYS_PER_UNIT`).
  Trial *k* is one emulated experiment among the customers who could have enrolled in period *k*.
* **Members** of trial *k*: customers who enrolled in period *k*; their **index date** is the
  enrolment day.
* **Eligibility rule for comparison customers.** Enrolment happens at a purchase, so a customer is
  a comparison customer of trial *k* if they made a purchase in period *k* and had not enrolled on
  or before that day; their index date is their *first* such purchase day of the period (a
  customer who enrols later in the same period is also that trial's member, and their comparison
  row is censored at the enrolment like any later enrolment — excluding them would select the
  comparison group on its future purchases). A customer can be a comparison customer of several trials (and a member of a
  later one): standard errors are clustered by customer.
* **History at the index date** (everything strictly before the index day, so the index purchase
  of members and comparison customers is treated alike): purchase days so far, spend so far, tenure
  (days since the first purchase), days since the previous purchase, mean inter-purchase time,
  flags for no and one previous purchase day, the customers' categorical covariates, and trial
  indicators.
* **Outcomes**, in the ``horizon_days`` after the index day (days ``index+1 … index+horizon_days``):
  purchases, spend, AOV (total spend ÷ total purchases), retention (a purchase after the window,
  up to the observation end — as in the launch design — or within ``retention_days`` if given),
  NPS/CSAT from the first survey answered in the window. Members are analysed when their window
  ends by the observation end (index date ``<= observation_end − horizon_days``).
* **Later enrolment of comparison customers.** A comparison customer who enrols during their
  follow-up (outcome window plus retention window) is *censored* at that enrolment. Their
  enrolment purchase counts in their comparison outcome: enrolment is decided at checkout, so
  that purchase was made as a non-member (it is also the index purchase of their own member row
  in that trial). What they would have bought afterwards without the programme is completed by
  g-computation (Robins 1986): the untreated conditional expectation given their history at
  the enrolment purchase under a BTYD model fitted by maximum likelihood to every customer's
  history up to their enrolment (or the observation end) — BG/NBD or Pareto/NBD, whichever has
  the larger likelihood (:func:`_untreated_btyd`); their spend at a calendar price index
  estimated from untreated purchases (:func:`_price_index`) — see :func:`_completed_outcomes`.
  (Inverse-probability-of-censoring weighting was tried first and rejected: where a third to a
  half of the comparison customers enrol within a year, heavy buyers almost never stay
  unenrolled and their weights explode; on the package's rolling simulator it was biased by
  more than the effect.) NPS/CSAT of comparison customers count only when answered before
  they enrolled, weighted by the inverse probability of not having enrolled by then (a pooled
  logit of "enrolled at this purchase" on the history at every purchase of not-yet-enrolled
  customers; Robins & Finkelstein 2000, *Biometrics* 56).
* **Doubly robust ATT** (Sant'Anna & Zhao 2020, *J. Econometrics* 219, eq. 3.1 with the odds
  weights of the ATT; Imbens & Wooldridge 2009 §5.8): a pooled logit propensity of membership on
  the history and trial indicators across all trial rows; comparison rows weighted by the odds
  ``e/(1−e)``; a weighted least-squares outcome model ``m0`` on the weighted comparison rows;
  the members' counterfactual mean is ``mean_members m0(x) + Σ_c w (y − m0(x)) / Σ_c w``.
* **Purchases are purchase days** (distinct customer-days), everywhere: the history guard
  (:data:`MIN_PRIOR_PURCHASES`), the history features, the outcome windows and the AOV
  denominator. An order written as several lines on one day is one purchase, so the analysis
  does not depend on how a shop splits orders into lines (and matches the BG/NBD's unit).
* **Standard errors**: delete-one-customer jackknife of both means (a customer who appears in
  several trials is one cluster; :func:`_jackknife_psi`) — the cluster-robust sandwich of the
  influence functions, used until issue 19, was short where customers with many trial rows and
  large weights pull the outcome regression. The weighted least squares residuals of the
  comparison rows sum to zero, so the counterfactual mean is ``mean_members X β̂`` and a
  comparison row's influence is ``w r · X (X'WX)⁻¹ mean_members(X)`` (``w r / Σw`` only when
  the weights balance the history exactly; ``se="influence"`` in :func:`_dr_means`). A
  completed outcome ``Ỹ = E[Y | history at enrolment; θ̂]`` replaces the unobserved rest of the
  window: the estimator is a function of ``Ỹ``, never of the unobserved ``Y``, so its variance
  is (a) the sampling variation of ``Ỹ`` across customers — already in the influence function
  — plus (b) the estimation of ``θ̂`` (linearization after imputation: Kim & Rao 2009,
  *Biometrika* 96(4); Tsiatis 2006, §9.1), added per customer by
  :func:`_completion_uncertainty`. The conditional variance of ``Y`` given the history
  (``q (1 − q)`` for retention) is *not* a term of it: it would be the variance of a single
  imputed draw, and adding it as well (as was done until issue 19) counted the completion noise
  twice — the SEs were about 10 % above the spread of the estimates and coverage 98–100 %. When
  the completion model's covariance is not finite, the check ``ids.CHECK_COMPLETION_MODEL``
  warns that (b) is missing. The fitted propensity and outcome models are taken as known; the
  doubly robust form makes this first-order correct when both are right (Sant'Anna & Zhao
  2020, §3), and the coverage of the intervals is checked by simulation in the slow suite
  (tests/impact/test_rolling_coverage.py, tests/impact/test_rolling_foreign.py).
* **Known limits (open, issue 19).** The completion is only as good as its model. On a
  simulator it was not designed around (renewal purchases with gamma(2) gaps, calendar-time
  lifetimes, enrolment chosen on the inter-purchase gap, an 8 %-a-year price drift;
  tests/impact/test_rolling_foreign.py):

  - the BG/NBD's dropout at purchases under-predicted the untreated retention of heavy buyers
    who enrol later (retention biased by about +0.02). The Pareto/NBD's calendar-time dropout
    fits these data better and the likelihood now chooses it: retention bias under the drift
    null +0.0199 → +0.0091 (seeds 60000–60039);
  - the completed spend used the past spend per purchase day, which lags a price drift (spend
    biased by +6.6 under the null); the price index removes that part (+6.6 → +4.0 on the same
    seeds; what is left is the purchases bias times the order value);
  - purchases are still biased by about +0.06 purchase days (oracle completion: −0.01). Cause
    (3 seeds, 5,714 completed rows): the models' sufficient statistics (x, T) ignore the length
    of the last gap, but enrolment was chosen on it and, with renewal (gamma-gap) purchases, a
    short gap predicts more purchases than x and T say — the completion under-predicts by
    +0.18 purchase days in the shortest-gap fifth and over-predicts by 0.04 in the longest. A
    completion that uses the last gap (e.g. calibrated on the next-purchase gaps of
    not-yet-enrolled customers, which are untreated and observed) is the candidate fix;
  - the sandwich SEs of purchases and spend were below the spread of the estimates under the
    null. Replacing the completion by the truth (an oracle) left the shortfall (SE/SD 0.71
    purchases, 0.73 spend, 0.94 retention; 40 seeds), so it is not the completion. A customer
    bootstrap of the doubly robust step (3 seeds × 60 replicates, the propensity refitted or
    not) gave SDs 1.17 × the sandwich; the delete-one-customer jackknife (now the default,
    :func:`_jackknife_psi`) 1.13 ×. Whether that closes the gap over seeds: see the slow
    tests' docstrings.

Identification (see :data:`MIN_PRIOR_PURCHASES`, :data:`HISTORY_FAIL_SHARE` and
:data:`OVERLAP_FAIL_SHARE`): the adjustment can only separate selection from effect when members
have a history before enrolment; when 15 % or more of them enrolled at their first or second
purchase, or when many members have no comparable comparison customers, the check fails and the
report makes no causal claim. Selection on a latent buying rate among members with a long
history is not detectable from the data at all; the sensitivity analysis (E-values) is the only
guide there.

The CLV effect of rolling members is computed in :mod:`retention_lab.impact.core.clv_effects`; the
trial rows with their weights (``RollingResult.trials``) are the hook it can use.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from ... import ids
from ...clv.base import ConvergenceError
from ...clv.beta_geo import BetaGeoFitter
from ...clv.pareto_nbd import ParetoNBDFitter
from ...errors import DataError
from ...units import days_per
from ..core.balance import (
    METRICS,
    MIN_EFFECTIVE_COMPARISON,
    OVERLAP_FAIL_SHARE,
    balance_check,
    balance_table,
)
from ..core.estimators import Means, effect_row
from ..core.outcomes import categorical_columns
from .completion import QuadratureParetoNBD

#: members with fewer purchase days than this before their enrolment day have "too little
#: history" (purchase days, not transaction lines: splitting an order into lines changes nothing)
MIN_PRIOR_PURCHASES = 2
#: the history check fails when at least this share of members has too little history. Set
#: low on purpose: latent selection cannot be detected from the history (purchases so far,
#: recency and tenure are sufficient statistics of a member's buying rate under BG/NBD), so the
#: only defence is to refuse when the estimate rests on members whose history says little. On
#: the package's rolling simulator with latent selection and enrolment from the 2nd purchase
#: (null programme) 18 % of members had fewer than 2 earlier purchases and the estimate was a
#: spurious +0.50 [0.17, 0.83] purchases; with enrolment from the 3rd purchase (0 %) it was
#: +0.28 [−0.09, 0.65].
HISTORY_FAIL_SHARE = 0.15
#: the launch design's enrolment-timing check fails when more than this share of members
#: enrolled after their first purchase on or after the launch
LATE_ENROLMENT_FAIL_SHARE = 0.10
#: default retention window after the outcome window (days); None = up to the observation end
RETENTION_DAYS = 90
#: the candidate completion models, the one with the larger likelihood kept (see
#: :func:`_untreated_btyd`)
COMPLETION_MODELS = (BetaGeoFitter, QuadratureParetoNBD)

ROLLING_METRICS = ("purchases", "spend", "aov", "retention")
HISTORY = ["log_prior_orders", "log_prior_spend", "log_tenure", "log_recency", "log_mean_gap",
           "prior_orders", "recency_months", "tenure_years", "no_history", "one_day_history"]
HISTORY_LABELS = {"log_prior_orders": "purchases so far (log)",
                  "log_prior_spend": "spend so far (log)", "log_tenure": "tenure (log days)",
                  "log_recency": "days since previous purchase (log)",
                  "log_mean_gap": "mean inter-purchase time (log days)",
                  "prior_orders": "purchases so far", "recency_months": "months since previous "
                  "purchase", "tenure_years": "tenure (years)",
                  "no_history": "no purchase before the index date",
                  "one_day_history": "one purchase day before the index date"}


# --------------------------------------------------------------------------------------------
# purchase history as sorted arrays, queried by (customer, day) with searchsorted
# --------------------------------------------------------------------------------------------
@dataclass
class _History:
    key: np.ndarray        # customer code * K + day, sorted (one entry per purchase day)
    day: np.ndarray        # day number of each purchase day
    code: np.ndarray       # customer code of each purchase day
    c_orders: np.ndarray   # cumulative purchase days (not lines), length len(key) + 1
    c_spend: np.ndarray
    first: np.ndarray      # (n_customers,) first purchase day (or sign-up), NaN if none
    start: np.ndarray      # (n_customers,) position of the customer's first purchase day
    K: int

    def pos(self, code, day, side="left"):
        return np.searchsorted(self.key, code.astype(np.int64) * self.K + day.astype(np.int64),
                               side=side)

    def window(self, code, lo, hi):
        """Purchase days and spend on days ``lo < d <= hi``."""
        a, b = self.pos(code, lo, "right"), self.pos(code, hi, "right")
        return self.c_orders[b] - self.c_orders[a], self.c_spend[b] - self.c_spend[a]

    def features(self, code, day, columns=None) -> pd.DataFrame:
        """History strictly before ``day`` for each (customer code, day) pair (``columns``:
        only those, e.g. :data:`HISTORY` — at 1M customers every purchase day is a row)."""
        p = self.pos(code, day, "left")
        s = self.start[code]
        n_days = p - s
        orders = self.c_orders[p] - self.c_orders[s]
        spend = self.c_spend[p] - self.c_spend[s]
        first = self.first[code]
        tenure = np.where(np.isfinite(first), day - first, 0.0).clip(min=0)
        last = np.where(n_days > 0, self.day[np.maximum(p - 1, 0)], day)
        recency = (day - last).astype(float)
        gap = np.where(n_days >= 2, (last - self.day[np.minimum(s, len(self.day) - 1)]) /
                       np.maximum(n_days - 1, 1), 0.0)
        make = {
            "prior_orders": lambda: orders.astype(float), "prior_spend": lambda: spend,
            "tenure_days": lambda: tenure.astype(float), "recency_days": lambda: recency,
            "mean_gap_days": lambda: gap.astype(float),
            "log_prior_orders": lambda: np.log1p(orders),
            "log_prior_spend": lambda: np.log1p(spend.clip(0)),
            "log_tenure": lambda: np.log1p(tenure), "log_recency": lambda: np.log1p(recency),
            "log_mean_gap": lambda: np.log1p(gap),
            "recency_months": lambda: recency / days_per("M"),
            "tenure_years": lambda: tenure / days_per("Y"),
            "no_history": lambda: (n_days == 0).astype(float),
            "one_day_history": lambda: (n_days == 1).astype(float)}
        return pd.DataFrame({k: make[k]() for k in (make if columns is None else columns)})


def _history(tx_code, tx_day, tx_amount, n_customers, signup_day, K) -> _History:
    """Transactions collapsed to purchase days: every count of the rolling analysis (history
    guard, history features, outcome windows, AOV denominators) is a number of distinct
    customer-days, so an order written as several same-day lines is one purchase."""
    # one sort of the (customer, day) keys instead of a two-column groupby (issue 22: 3x less
    # time at 200k customers); days are non-negative (shifted) and below K
    key_tx = np.asarray(tx_code, np.int64) * K + np.asarray(tx_day, np.int64)
    order = np.argsort(key_tx, kind="stable")
    key_sorted = key_tx[order]
    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]]) \
        if len(key_sorted) else np.zeros(0, np.int64)
    key = key_sorted[starts]
    code, day = key // K, key % K
    day_spend = np.add.reduceat(np.asarray(tx_amount, float)[order], starts) \
        if len(starts) else np.zeros(0)
    c_orders = np.arange(len(key) + 1, dtype=float)
    c_spend = np.r_[0.0, np.cumsum(day_spend)]
    start = np.searchsorted(key, np.arange(n_customers, dtype=np.int64) * K, side="left")
    first = np.full(n_customers, np.nan)
    has = start < len(key)
    has[has] = code[start[has]] == np.arange(n_customers)[has]
    first[has] = day[start[has]]
    first = np.where(np.isfinite(signup_day), np.fmin(first, signup_day), first)
    return _History(key, day, code, c_orders, c_spend, first, start, K)


# --------------------------------------------------------------------------------------------
# small numerical helpers
# --------------------------------------------------------------------------------------------
def _logit(X: np.ndarray, y: np.ndarray, ridge: float = 1e-4, max_iter: int = 50) -> np.ndarray:
    """Logistic regression by Newton–Raphson with a tiny ridge (not on the intercept, column 0)
    so that trial indicators without members do not diverge. Returns the coefficients."""
    beta = np.zeros(X.shape[1])
    pen = np.full(X.shape[1], ridge * len(y))
    pen[0] = 0.0
    for _ in range(max_iter):
        eta = np.clip(X @ beta, -30, 30)
        p = 1 / (1 + np.exp(-eta))
        grad = X.T @ (y - p) - pen * beta
        H = _weighted_gram(X, p * (1 - p)) + np.diag(pen)
        step = np.linalg.solve(H, grad)
        beta += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def _weighted_gram(X: np.ndarray, w: np.ndarray, chunk: int = 1 << 14) -> np.ndarray:
    """``Xᵀ diag(w) X`` accumulated over blocks of rows: the weighted copy of ``X`` it needs is
    one block, not the whole matrix (at 200k customers the whole-matrix temporaries made each
    Newton step of the enrolment hazard take 0.5–4.5 s instead of 0.05 s; at 1M they are GBs)."""
    H = np.zeros((X.shape[1], X.shape[1]))
    for lo in range(0, X.shape[0], chunk):
        Xc = X[lo:lo + chunk]
        H += (Xc * w[lo:lo + chunk, None]).T @ Xc
    return H


def _sigmoid(eta):
    return 1 / (1 + np.exp(-np.clip(eta, -30, 30)))


def _standardize(F: pd.DataFrame, ref: np.ndarray | None = None):
    A = F.to_numpy(float)
    mu = A.mean(axis=0) if ref is None else ref[0]
    sd = A.std(axis=0) if ref is None else ref[1]
    sd = np.where(sd > 0, sd, 1.0)
    return (A - mu) / sd, (mu, sd)


# --------------------------------------------------------------------------------------------
# trials
# --------------------------------------------------------------------------------------------
@dataclass
class RollingResult:
    """Rolling-enrolment analysis: ``effects`` (rows like every other design's), ``checks``,
    ``trials`` (one row per customer × trial: member, censored, weights, history, outcomes),
    ``balance`` (SMD of the history, members vs comparison rows, unweighted and weighted),
    ``info`` (counts, thresholds, rules), ``identified`` (False when a check failed that
    prevents separating selection from effect)."""

    effects: pd.DataFrame
    checks: list
    trials: pd.DataFrame
    balance: pd.DataFrame
    info: dict
    propensity_coef: pd.Series
    identified: bool = True
    notes: list = field(default_factory=list)
    _parts: dict = field(default_factory=dict, repr=False)

    def subset_effects(self, customer_mask, metrics=ROLLING_METRICS) -> pd.DataFrame:
        """Effect rows for the customers in ``customer_mask`` (boolean, in the order of
        ``data.customers``): the same propensity, weights and completion, the outcome model refit
        on the subset (for segment effects)."""
        p = self._parts
        sub = p["ok"] & np.asarray(customer_mask, bool)[p["code"]]
        if (sub & p["member"]).sum() < 10 or (sub & ~p["member"] & (p["w"] > 0)).sum() < 10:
            raise ValueError("fewer than 10 members or comparison rows in the subset")
        X = p["X"][:, np.r_[True, p["X"][sub][:, 1:].std(axis=0) > 0]]
        m = _with_model_uncertainty(
            _dr_means(p["Y"], p["member"], p["w"], X, p["code"], p["n_cl"], sub), p["unc"],
            p["member"], p["w"], X, p["code"], p["n_cl"], sub)
        return pd.DataFrame([_effect(name, m, p["method"], int((sub & p["member"]).sum()),
                                     p["alpha"]) for name in metrics if name in ROLLING_METRICS])


def build_trials(data, *, horizon_days: int = 365, retention_days: int = RETENTION_DAYS,
                 period: str = "M", start=None) -> tuple[pd.DataFrame, dict, _History, dict]:
    """The stacked trial rows of ``data`` (see the module docstring for the rules).

    Returns ``(rows, info, history, frame)``: rows with ``customer_id, code, trial, index_day,
    member, censored, enrol_day`` and the history and outcome columns; ``info`` the counts of
    members used and excluded (with reasons)."""
    cust = data.customers.drop_duplicates("customer_id").reset_index(drop=True)
    tx = data.transactions
    end = pd.Timestamp(data.observation_end if data.observation_end is not None
                       else tx["date"].max()).normalize()
    enr = pd.to_datetime(cust["enrolled_at"]) if "enrolled_at" in cust.columns else \
        pd.Series(pd.NaT, index=cust.index)
    enr = enr.dt.normalize()
    if start is None:
        start = data.launch_date if getattr(data, "launch_date", None) is not None else \
            enr.min()
    if start is None or pd.isna(start):
        raise DataError("customers: no customer enrolled; rule 'some enrolled_at not null' "
                        "(the rolling design anchors each member at their enrolment)",
                        table="customers", column="enrolled_at",
                        rule="some enrolled_at not null", n_rows=0)
    origin = pd.Timestamp(start).normalize()
    codes = pd.Index(cust["customer_id"])
    tx_code = codes.get_indexer(tx["customer_id"])
    tx_day = (pd.to_datetime(tx["date"]).dt.normalize() - origin).dt.days.to_numpy()
    ok = tx_code >= 0
    end_day = int((end - origin).days)
    signup = (pd.to_datetime(cust["signup_date"]).dt.normalize() - origin).dt.days.to_numpy(
        float) if "signup_date" in cust.columns else np.full(len(cust), np.nan)
    lo_day = int(min(tx_day.min(), 0))
    K = int(end_day - lo_day + 2 * (horizon_days + (retention_days or 0)) + 10)
    shift = -lo_day   # history days are offset so that every key is non-negative
    H = _history(tx_code[ok], tx_day[ok] + shift, tx["amount"].to_numpy(float)[ok], len(cust),
                 signup + shift, K)
    enrol_day = (enr - origin).dt.days.to_numpy(float)
    enrol_day = np.where(enrol_day <= end_day, enrol_day, np.nan)
    plen = days_per(period)
    last_index = end_day - horizon_days - (retention_days or 0)
    if last_index < 0:
        raise DataError(f"transactions: the observation end ({end.date()}) leaves no index date: "
                        f"horizon_days ({horizon_days}) + retention_days ({retention_days or 0}) "
                        f"after the start ({origin.date()}) must fit; rule 'start + "
                        f"horizon_days + retention_days <= observation_end'; the largest "
                        f"horizon_days that fits is {end_day - (retention_days or 0)}", table="transactions",
                        column="date", rule="start + horizon_days + retention_days <= "
                        "observation_end", n_rows=0)
    n_trials = int(np.floor(last_index / plen)) + 1

    def trial_of(d):
        return np.floor(np.asarray(d, float) / plen).astype(np.int64)

    # members
    is_member = np.isfinite(enrol_day)
    usable = is_member & (enrol_day >= 0) & (enrol_day <= last_index)
    m_code = np.flatnonzero(usable)
    m_day = enrol_day[usable].astype(np.int64)
    # comparison rows: first purchase day of each period before the customer's enrolment
    d_code, d_day = H.code, H.day - shift
    e_c = enrol_day[d_code]
    cand = (d_day >= 0) & (d_day <= last_index) & ~(e_c <= d_day)
    cand_df = pd.DataFrame({"code": d_code[cand], "day": d_day[cand],
                            "trial": trial_of(d_day[cand])})
    cand_df = cand_df.drop_duplicates(["code", "trial"], keep="first")
    rows = pd.concat([
        pd.DataFrame({"code": m_code, "day": m_day, "trial": trial_of(m_day), "member": 1}),
        cand_df.assign(member=0)], ignore_index=True)
    code = rows["code"].to_numpy(np.int64)
    day = rows["day"].to_numpy(np.int64)
    hday = day + shift
    feats = H.features(code, hday)
    rows = pd.concat([rows, feats], axis=1)
    rows["customer_id"] = codes[code]
    rows["index_date"] = origin + pd.to_timedelta(day, unit="D")
    e_row = enrol_day[code]
    rows["enrol_day"] = e_row
    follow = day + horizon_days + retention_days if retention_days is not None else \
        np.full(len(day), end_day)
    rows["follow_end_day"] = follow
    rows["censored"] = ((rows["member"] == 0) & (e_row <= follow)).astype(int)
    o, s = H.window(code, hday, hday + horizon_days)
    rows["orders"], rows["spend"] = o, s
    ro, _ = H.window(code, hday + horizon_days, follow + shift)
    rows["retained"] = (ro > 0).astype(float)
    # the index day itself: does the member's enrolment coincide with a purchase?
    n_index, _ = H.window(code, hday - 1, hday)
    rows["index_purchase"] = (n_index > 0).astype(float)
    info = dict(start=origin, observation_end=end, period=period, period_days=plen,
                n_trials=n_trials, horizon_days=int(horizon_days),
                retention_days=retention_days, last_index_date=origin +
                pd.Timedelta(days=int(last_index)),
                n_members=int(is_member.sum()), n_members_used=int(usable.sum()),
                n_members_before_start=int((is_member & (enrol_day < 0)).sum()),
                n_members_too_late=int((is_member & (enrol_day > last_index)).sum()),
                n_members_not_at_purchase=int(((rows["member"] == 1) &
                                               (rows["index_purchase"] == 0)).sum()))
    frame = dict(codes=codes, cust=cust, origin=origin, shift=shift, enrol_day=enrol_day,
                 end_day=end_day)
    return rows, info, H, frame


def _enrolment_hazard(H: _History, frame: dict, Xcat: np.ndarray, cat_cols, ref):
    """Per purchase day of a not-yet-enrolled customer (from the start on): the fitted
    probability of enrolling at that purchase (pooled logit on the history). Returns
    ``log(1 − h)`` of every purchase day, aligned with ``H.key`` (0 where not at risk), and the
    fitted hazards."""
    shift, enrol_day = frame["shift"], frame["enrol_day"]
    d = H.day - shift
    e = enrol_day[H.code]
    at_risk = (d >= 0) & (d <= frame["end_day"]) & ~(e < d)
    idx = np.flatnonzero(at_risk)
    F = H.features(H.code[idx], H.day[idx], columns=HISTORY)
    # the design matrix filled in place, column by column (no whole-matrix temporaries: at 1M
    # customers it has one row per purchase day at risk); the same numbers as _standardize
    mu, sd = ref
    sd = np.where(sd > 0, sd, 1.0)
    X = np.empty((len(idx), 1 + len(HISTORY) + Xcat.shape[1]))
    X[:, 0] = 1.0
    for j, col in enumerate(HISTORY):
        X[:, 1 + j] = (F[col].to_numpy(float) - mu[j]) / sd[j]
    del F
    X[:, 1 + len(HISTORY):] = Xcat[H.code[idx]]
    y = (e[idx] == d[idx]).astype(float)
    log_surv = np.zeros(len(H.key))
    if y.sum() == 0:
        return log_surv, np.zeros(len(idx))
    beta = _logit(X, y)
    h = _sigmoid(X @ beta)
    log_surv[idx] = np.log1p(-np.minimum(h, 0.999))
    return log_surv, h


def _ipcw_outcomes(H: _History, log_surv, code, hday, enrol_hday, horizon_days, follow_end,
                   survey_hday=None):
    """Inverse-probability-of-censoring weighted outcomes of comparison rows.

    Every purchase day ``j`` of the follow-up counts with weight ``1 / S_j``, ``S_j`` the fitted
    probability of not having enrolled at any earlier follow-up purchase; purchases after the
    customer's enrolment day are not observed (censored). The enrolment purchase itself counts:
    enrolment is decided at the purchase, which was made as a non-member. Retention counts the
    first purchase of the retention window with its ``1 / S``; it is unknown (0, weighted up
    through the others) when the customer enrolled before it. Returns ``(orders, spend,
    retained, survey_weight)`` (expectation-preserving: ``E[Ỹ | x] = E[Y(0) | x]``;
    Robins & Rotnitzky 1992; Lin et al. 2000, *Biometrics* 56 for cumulative outcomes)."""
    a = H.pos(code, hday, "right")
    b = H.pos(code, follow_end.astype(np.int64), "right")
    cnt = (b - a).astype(np.int64)
    row = np.repeat(np.arange(len(code)), cnt)
    first = np.repeat(np.cumsum(cnt) - cnt, cnt)
    j = np.repeat(a, cnt) + (np.arange(cnt.sum()) - first)
    ls = log_surv[j]
    csum = np.cumsum(ls)
    before = csum - ls - np.repeat(np.r_[0.0, csum][np.cumsum(cnt) - cnt], cnt)
    inv = np.exp(-np.minimum(before, 0.0).clip(min=-700))
    d = H.day[j]
    e = enrol_hday[row]
    seen = ~(d > e)                              # on or before the enrolment day
    in_win = d <= hday[row] + horizon_days
    n_j = H.c_orders[j + 1] - H.c_orders[j]
    s_j = H.c_spend[j + 1] - H.c_spend[j]
    k = len(code)
    orders = np.bincount(row, weights=n_j * inv * (seen & in_win), minlength=k)
    spend = np.bincount(row, weights=s_j * inv * (seen & in_win), minlength=k)
    ret_entry = ~in_win
    firstret = ret_entry & (np.r_[True, row[1:] != row[:-1]] | ~np.r_[False, ret_entry[:-1]])
    retained = np.bincount(row, weights=inv * (firstret & seen), minlength=k)
    out = [orders, spend, retained]
    if survey_hday is not None:   # weight of a survey answered as a non-member
        sday = survey_hday[row]
        lsum = np.bincount(row, weights=ls * (d < sday), minlength=k)
        sw = np.exp(-np.minimum(lsum, 0).clip(min=-700))
        sw = np.where(np.isfinite(survey_hday) & ~(enrol_hday <= survey_hday), sw, 0.0)
        out.append(sw)
    return tuple(out)


def _dr_means(Y: dict, member: np.ndarray, w: np.ndarray, X: np.ndarray, cluster: np.ndarray,
              n_clusters: int, rows_ok: np.ndarray, m0: np.ndarray | None = None,
              se: str = "jackknife") -> Means:
    """Members' means (``y|t``) and their doubly robust counterfactual means (``y|c``), with
    one row of ``psi`` per customer code (cluster): ``se="influence"`` the influence functions
    summed within customer; ``se="jackknife"`` (default) the delete-one-customer jackknife
    pseudo-values of :func:`_jackknife_psi` (their sum of squares is the jackknife variance).
    ``w``: comparison weights; ``rows_ok``: rows used (e.g. surveyed)."""
    t = member & rows_ok
    c = ~member & rows_ok & (w > 0)
    nt = t.sum()
    names, est, cols = [], [], []
    Ym = np.column_stack([np.nan_to_num(np.asarray(Y[k], float)) for k in Y])
    lev = None
    if m0 is None:
        A = X[c] * np.sqrt(w[c])[:, None]
        coef, *_ = np.linalg.lstsq(A, Ym[c] * np.sqrt(w[c])[:, None], rcond=None)
        m0 = X @ coef
        # with the weighted least squares fit (intercept included) the weighted residuals sum
        # to 0, so the counterfactual mean is mean_t X β̂: each comparison row enters through
        # β̂, with w r · X (X'WX)⁻¹ mean_t(X). This equals w r / Σw only when the weights
        # balance X exactly, which odds weights from a logit do only approximately.
        A_inv = np.linalg.pinv(A.T @ A)
        lev = X[c] @ A_inv @ X[t].mean(axis=0)
    sw = w[c].sum()
    for k, name in enumerate(Y):
        y = Ym[:, k]
        mu1 = y[t].mean()
        psi1 = np.zeros(len(y))
        psi1[t] = (y[t] - mu1) / nt
        r = y - m0[:, k]
        rbar = np.sum(w[c] * r[c]) / sw
        mbar = m0[t, k].mean()
        mu0 = mbar + rbar
        psi0 = np.zeros(len(y))
        psi0[t] = (m0[t, k] - mbar) / nt
        psi0[c] = w[c] * (r[c] - rbar) / sw if lev is None else w[c] * r[c] * lev
        for suffix, mu, psi in (("t", mu1, psi1), ("c", mu0, psi0)):
            names.append(f"{name}|{suffix}")
            est.append(mu)
            cols.append(np.bincount(cluster, weights=psi, minlength=n_clusters))
    jack = (_jackknife_psi(Ym, t, c, w, X, cluster, n_clusters, coef, A_inv)
            if se == "jackknife" and lev is not None else None)
    return Means(names, np.array(est), np.column_stack(cols) if jack is None else jack)


#: largest leverage of a row for which the delete-one-customer jackknife is used
MAX_JACKKNIFE_LEVERAGE = 0.9


def _jackknife_psi(Ym, t, c, w, X, cluster, n_clusters, coef, A_inv) -> np.ndarray:
    """Delete-one-customer jackknife of the doubly robust means (Quenouille–Tukey; for
    clustered regression MacKinnon & White 1985, *J. Econometrics* 29, and the CV3 estimator of
    MacKinnon, Nielsen & Webb 2023, *J. Econometrics* 232), the weights held fixed.

    Why: the sandwich of the influence functions treats each customer's pull on the outcome
    regression as small. Customers with many trial rows and large odds weights are not, and
    their leverage makes the sandwich short — on the foreign simulator under a null by 7–24 %
    against a customer bootstrap (3 seeds; the jackknife was within 7 % of the bootstrap).

    Without customer ``g`` the members' mean is ``(S − S_g) / (n_t − n_g)`` and the
    counterfactual mean ``(Σ_t X − Σ_{t∈g} X) β̂₍₋g₎ / (n_t − n_g)``, with the exact
    leave-one-cluster-out coefficients ``β̂₍₋g₎ = β̂ − A⁻¹ X_g'W_g (I − H_gg)⁻¹ r_g``
    (``A = X'WX`` over the comparison rows, ``H_gg = X_g A⁻¹ X_g' W_g``; clusters of equal size
    are solved as one batch). Returns pseudo-values ``√((G−1)/G) (θ̄₍.₎ − θ̂₍₋g₎)`` (``G``
    customers with a row used; 0 for the others), in the column order of :func:`_dr_means`;
    None when a customer's rows have a joint leverage (largest eigenvalue of their block of the
    hat matrix) of :data:`MAX_JACKKNIFE_LEVERAGE` or more (then
    the estimate without them is barely defined — e.g. the only comparison rows of a trial in a
    small subset — and :func:`_dr_means` keeps the influence functions)."""
    K = Ym.shape[1]
    nt = t.sum()
    S1 = Ym[t].sum(axis=0)
    ct = cluster[t]
    S1g = np.zeros((n_clusters, K))
    np.add.at(S1g, ct, Ym[t])
    ntg = np.bincount(ct, minlength=n_clusters).astype(float)
    xs_t = X[t].sum(axis=0)
    xs_tg = np.zeros((n_clusters, X.shape[1]))
    np.add.at(xs_tg, ct, X[t])
    denom = nt - ntg
    denom = np.where(denom > 0, denom, np.nan)
    mu1_g = (S1[None, :] - S1g) / denom[:, None]
    mu0_g = ((xs_t[None, :] - xs_tg) @ coef) / denom[:, None]
    ic = np.flatnonzero(c)
    cc = cluster[ic]
    order = np.argsort(cc, kind="stable")
    ic, cc = ic[order], cc[order]
    starts = np.flatnonzero(np.r_[True, cc[1:] != cc[:-1]])
    sizes = np.diff(np.r_[starts, len(cc)])
    resid = Ym[ic] - X[ic] @ coef
    for size in np.unique(sizes):
        first = starts[sizes == size]
        rows = first[:, None] + np.arange(size)[None, :]         # (clusters, size)
        Xg, wg, Rg = X[ic[rows]], w[ic[rows]], resid[rows]
        Bg = Xg @ A_inv                                          # (clusters, size, p)
        XAX = np.einsum("gsp,gqp->gsq", Bg, Xg)
        # the eigenvalues of W½ X_g A⁻¹ X_g' W½ (those of H_gg, in [0, 1]): a customer's rows
        # can be collinear with leverage 1 together while each row's own leverage is lower
        sw = np.sqrt(wg)
        if np.max(np.linalg.eigvalsh(XAX * sw[:, :, None] * sw[:, None, :]),
                  initial=0.0) >= MAX_JACKKNIFE_LEVERAGE:
            return None
        Hgg = XAX * wg[:, None, :]
        U = np.linalg.solve(np.eye(size)[None] - Hgg, Rg)        # (I − H_gg)⁻¹ r_g
        # two steps (a 4-operand einsum loops over every index at once: 10x slower at 20k
        # customers, minutes at 1M); same numbers to rounding
        db = -np.einsum("pq,gqk->gpk", A_inv, np.einsum("gsq,gsk->gqk", Xg * wg[..., None], U))
        g = cc[first]
        mu0_g[g] += np.einsum("gp,gpk->gk", xs_t[None, :] - xs_tg[g], db) / denom[g, None]
    used = (ntg > 0) | (np.bincount(cc, minlength=n_clusters) > 0)
    G = int(used.sum())
    cols = []
    for k in range(K):
        for theta in (mu1_g[:, k], mu0_g[:, k]):
            psi = np.zeros(n_clusters)
            v = theta[used]
            psi[used] = np.sqrt((G - 1) / G) * (np.nanmean(v) - np.nan_to_num(v, nan=np.nanmean(v)))
            cols.append(psi)
    return np.column_stack(cols)


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
    model, caught, loglik = choose_completion_model(summary)
    return model, codes[ok], summary, caught, loglik


def choose_completion_model(summary: pd.DataFrame):
    """Fit every model of :data:`COMPLETION_MODELS` to a BTYD ``summary`` (frequency, recency,
    T) and keep the one with the larger likelihood. Returns ``(fitter, its fit warnings,
    {model name: log-likelihood})``."""
    fits = {}
    for cls in COMPLETION_MODELS:
        # a dropout parameter at its bound (no dropout) is fine for the point estimates; what
        # the warnings say about the covariance goes to the completion-model check instead
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model = cls().fit(summary)
            except (ConvergenceError, np.linalg.LinAlgError, FloatingPointError):
                continue
        if np.isfinite(model.log_likelihood_):
            fits[cls._model_name] = (model, caught)
    if not fits:
        raise ConvergenceError("rolling completion: neither the BG/NBD nor the Pareto/NBD fit "
                               "converged on the untreated histories")
    loglik = {name: float(m.log_likelihood_) for name, (m, _) in fits.items()}
    model, caught = fits[max(loglik, key=loglik.get)]
    return model, caught, loglik


def _retention_probability(bg, x, T, gap, R, n_nodes: int = 32):
    """P(a purchase in (T + gap, T + gap + R] | x repeat purchase days, last purchase at T)
    under the fitted completion model (:func:`_bgnbd_retention` or :func:`_pnbd_retention`)."""
    if isinstance(bg, ParetoNBDFitter):
        return _pnbd_retention(bg, x, T, gap, R, n_nodes)
    return _bgnbd_retention(bg, x, T, gap, R, n_nodes)


def _gamma_nodes(shape: np.ndarray, n_nodes: int) -> np.ndarray:
    """Midpoint quantiles ``(j + ½)/n`` of Gamma(shape, 1), one row per entry of ``shape``
    (computed once per distinct shape: purchase counts repeat)."""
    u, inv = np.unique(shape, return_inverse=True)
    q = (np.arange(n_nodes) + 0.5) / n_nodes
    return special.gammaincinv(u[:, None], q[None, :])[inv.reshape(-1)]


def _bgnbd_retention(bg, x, T, gap, R, n_nodes: int = 32):
    """Retention under BG/NBD: alive at T with the model's P(alive); given alive,
    λ ~ Gamma(r + x, α + T) and p ~ Beta(a, b + x); the customer survives ``gap`` with
    probability E_p[exp(−λ p gap)] = 1F1(a; a + b + x; −λ gap) (Poisson thinning of the dropouts
    at purchases) and then buys in ``R`` with probability 1 − exp(−λ R). λ is integrated on
    ``n_nodes`` Gamma quantiles."""
    par = bg.params_
    r, alpha, a, b = (float(par[k]) for k in ("r", "alpha", "a", "b"))
    alive = bg.probability_alive(x, T, T)
    lam = _gamma_nodes(r + x, n_nodes) / (alpha + T)[:, None]
    surv = special.hyp1f1(a, (a + b + x)[:, None], -lam * gap[:, None])
    buy = -np.expm1(-lam * R[:, None])
    return alive * np.mean(surv * buy, axis=1)


def _pnbd_retention(pn, x, T, gap, R, n_nodes: int = 32):
    """Retention under Pareto/NBD (Schmittlein, Morrison & Colombo 1987) for a customer whose
    last purchase is at T (so alive at T: P(alive) = 1 when t_x = T; the model's P(alive) is
    applied all the same). Given alive, λ ~ Gamma(r + x, α + T) and μ ~ Gamma(s, β + T),
    independent; the customer is still alive after ``gap`` with probability exp(−μ gap), and an
    alive customer buys in the next ``R`` before leaving with probability
    λ / (λ + μ) · (1 − exp(−(λ + μ) R)) (first of two competing exponential clocks). Both rates
    are integrated on ``n_nodes`` and ``n_nodes // 2`` Gamma quantiles."""
    par = pn.params_
    r, alpha, s_, beta = (float(par[k]) for k in ("r", "alpha", "s", "beta"))
    alive = pn.probability_alive(x, T, T)
    lam = _gamma_nodes(r + x, n_nodes) / (alpha + T)[:, None]
    mu = _gamma_nodes(np.array([s_]), n_nodes // 2) / (beta + T)[:, None]
    lam, mu = lam[:, :, None], mu[:, None, :]
    tot = lam + mu
    p = np.exp(-mu * gap[:, None, None]) * lam / tot * -np.expm1(-tot * R[:, None, None])
    return alive * p.mean(axis=(1, 2))


def _price_index(H: _History, frame: dict, period: str = "M", min_days: int = 50,
                 n_iter: int = 50) -> dict:
    """Calendar price index of untreated spend, to carry a customer's past spend per purchase day
    forward to the calendar time of the completed purchases.

    Two-way fixed effects on the log spend of every untreated purchase day (the comparison
    customers' and the members' up to and including their enrolment purchase; a member's later
    spend is excluded, since the programme may change it): ``log s_ij = c_i + τ_p(j) + ε``, the
    customer effect ``c_i`` absorbing who buys when, ``τ_p`` one level per calendar period
    ``period`` (alternating projections; Guimarães & Portugal 2010, *Stata J.* 10(4)). Periods
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
    cust = H.code[use]
    n_c = int(H.code.max()) + 1 if len(H.code) else 1
    cnt_c = np.bincount(cust, minlength=n_c)
    cnt_p = np.bincount(per, minlength=n_per)
    tau = np.zeros(n_per)
    for _ in range(n_iter):
        c = np.bincount(cust, weights=y - tau[per], minlength=n_c) / np.maximum(cnt_c, 1)
        new = np.bincount(per, weights=y - c[cust], minlength=n_per) / np.maximum(cnt_p, 1)
        done = np.max(np.abs(new - tau)[cnt_p > 0], initial=0.0) < 1e-7
        tau = new
        if done:
            break
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
    e = np.where(np.isfinite(enrol), enrol, np.inf)
    win_end = t0 + horizon_days
    cens = e <= follow_end
    o_obs, s_obs = H.window(code, t0, win_end)
    r_obs, _ = H.window(code, win_end, follow_end)
    out = np.c_[o_obs, s_obs, (r_obs > 0).astype(float)]
    if not cens.any():
        return out, cens
    i = np.flatnonzero(cens)
    E = e[i].astype(np.int64)
    c = code[i]
    o_pre, s_pre = H.window(c, t0[i], np.minimum(E, win_end[i]))
    p_E = H.pos(c, E, "right")
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
    exp_days = np.where(rem > 0, bg.expected_purchases(rem, x, T, T), 0.0)
    out[i, 0] = o_pre + exp_days
    out[i, 1] = s_pre + exp_days * per_day_spend
    in_ret = E > win_end[i]
    ret = np.ones(len(i))
    j = ~in_ret
    if j.any():
        R = (follow_end[i] - win_end[i]).astype(float)
        ret[j] = _retention_probability(bg, x[j], T[j], rem[j], R[j])
    out[i, 2] = ret
    return out, cens


def _surveys(data, rows, frame, horizon_days):
    """First survey answered in the outcome window of each row: nps_score, csat_score."""
    out = pd.DataFrame(index=rows.index, data={"nps_score": np.nan, "csat_score": np.nan,
                                               "survey_day": np.nan})
    s = getattr(data, "surveys", None)
    if s is None or len(s) == 0:
        return out
    code = frame["codes"].get_indexer(s["customer_id"])
    sd = (pd.to_datetime(s["date"]).dt.normalize() - frame["origin"]).dt.days.to_numpy()
    ok = code >= 0
    sv = pd.DataFrame({"code": code[ok], "day": sd[ok]})
    for col, fn in (("nps", lambda v: 100.0 * ((v >= 9).astype(float) - (v <= 6))),
                    ("csat", lambda v: (v >= 4).astype(float))):
        sv[col] = fn(pd.to_numeric(s[col], errors="coerce").to_numpy(float)[ok]) \
            if col in s.columns else np.nan
        sv.loc[pd.to_numeric(s[col], errors="coerce").isna().to_numpy()[ok]
               if col in s.columns else slice(None), col] = np.nan
    sv = sv.sort_values(["code", "day"]).reset_index(drop=True)
    K = frame["end_day"] + 10 ** 6
    key = sv["code"].to_numpy(np.int64) * K + sv["day"].to_numpy(np.int64) + 10 ** 5
    rc = rows["code"].to_numpy(np.int64)
    rd = rows["day"].to_numpy(np.int64)
    p = np.searchsorted(key, rc * K + rd + 10 ** 5, side="right")
    hit = p < len(key)
    pp = np.minimum(p, len(key) - 1)
    hit &= (sv["code"].to_numpy()[pp] == rc) & (sv["day"].to_numpy()[pp] <= rd + horizon_days)
    for col, name in (("nps", "nps_score"), ("csat", "csat_score")):
        out[name] = np.where(hit, sv[col].to_numpy()[pp], np.nan)
    out["survey_day"] = np.where(hit, sv["day"].to_numpy()[pp], np.nan)
    return out


def rolling_effects(data, *, horizon_days: int = 365, retention_days: int = RETENTION_DAYS,
                    period: str = "M", alpha: float = 0.05, trim: float = 0.01,
                    start=None) -> RollingResult:
    """The rolling-enrolment analysis of ``data`` (see the module docstring).

    Parameters
    ----------
    data : ExperimentData
        Transactions, customers with ``enrolled_at``, optional surveys.
    horizon_days : int
        Outcome window after each index date (days).
    retention_days : int or None
        Retention = a purchase in the ``retention_days`` after the outcome window; None
        (default): after the window up to the observation end.
    period : str
        Trial length: ``"W"``, ``"M"`` (default) … (:func:`retention_lab.units.days_per`).
    alpha : float
        1 − confidence level.
    trim : float
        Trial rows with propensity above ``1 − trim`` are dropped (members and comparison rows
        alike; members dropped are counted in the overlap check).
    """
    rows, info, H, frame = build_trials(data, horizon_days=horizon_days,
                                        retention_days=retention_days, period=period,
                                        start=start)
    member = rows["member"].to_numpy() == 1
    if member.sum() == 0:
        raise DataError("customers: no member enrolled in a period with a complete outcome "
                        f"window (enrolment between {info['start'].date()} and "
                        f"{info['last_index_date'].date()}); rule 'members with an observable "
                        "window'", table="customers", column="enrolled_at",
                        rule="members with an observable window", n_rows=info["n_members"])
    if (~member).sum() == 0:
        raise DataError("transactions: no eligible comparison customer (a purchase in an "
                        "enrolment period before enrolling); rule 'comparison customers "
                        "present'", table="transactions", column="customer_id",
                        rule="comparison customers present", n_rows=0)
    cust = frame["cust"]
    cats = [c for c in categorical_columns(cust.set_index("customer_id"))
            if c not in ("arm", "enrolled_at", "signup_date")]
    Xcat_c = np.zeros((len(cust), 0))
    if cats:
        Xcat_c = pd.get_dummies(cust[cats].astype("string").fillna("missing"),
                                drop_first=True, dtype=float).to_numpy(float)
    Z, ref = _standardize(rows[HISTORY])
    trial = rows["trial"].to_numpy()
    levels = np.unique(trial)
    T = (trial[:, None] == levels[None, 1:]).astype(float)
    code = rows["code"].to_numpy(np.int64)
    X = np.c_[np.ones(len(rows)), Z, Xcat_c[code], T]
    keep_col = np.r_[True, X[:, 1:].std(axis=0) > 0]
    X = X[:, keep_col]
    beta = _logit(X, member.astype(float))
    e = _sigmoid(X @ beta)
    kept = e <= 1 - trim
    # surveys of comparison customers: inverse probability of not having enrolled by then
    log_surv, _h = _enrolment_hazard(H, frame, Xcat_c, cats, ref)
    hday = rows["day"].to_numpy(np.int64) + frame["shift"]
    enrol_h = rows["enrol_day"].to_numpy(float) + frame["shift"]
    sv = _surveys(data, rows, frame, horizon_days)
    survey_h = sv["survey_day"].to_numpy(float) + frame["shift"]
    comp = ~member
    follow_end = rows["follow_end_day"].to_numpy(np.int64) + frame["shift"]
    _o, _s, _r, sw = _ipcw_outcomes(H, log_surv, code[comp], hday[comp], enrol_h[comp],
                                    horizon_days, follow_end[comp], survey_h[comp])
    survey_w = np.ones(len(rows))
    survey_w[comp] = sw
    cens = rows["censored"].to_numpy() == 1
    w = np.where(member, 1.0, e / (1 - e)) * kept
    rows["propensity"], rows["weight"], rows["kept"] = e, w, kept
    ok = kept.copy()
    bg, bg_codes, bg_summary, bg_warnings, bg_loglik = _untreated_btyd(H, frame)

    price = _price_index(H, frame)

    def complete(b):
        return _completed_outcomes(H, b, code[comp], hday[comp], enrol_h[comp],
                                   follow_end[comp], horizon_days, price)
    done, completed = complete(bg)
    for j, col in enumerate(("orders", "spend", "retained")):
        rows.loc[comp, col] = done[:, j]
    rows["completed"] = False
    rows.loc[comp, "completed"] = completed
    n_cl = len(frame["cust"])          # one cluster per customer (code)
    Y = {"orders": rows["orders"].to_numpy(float), "spend": rows["spend"].to_numpy(float),
         "retained": rows["retained"].to_numpy(float)}
    unc = _completion_uncertainty(bg, bg_codes, bg_summary, bg_warnings, complete, done, comp,
                                  len(rows), n_cl, ("orders", "spend", "retained"))
    unc.update(model=bg._model_name, loglik=bg_loglik)
    m = _with_model_uncertainty(_dr_means(Y, member, w, X, code, n_cl, ok), unc, member, w, X,
                                code, n_cl, ok)
    n_t = int((member & ok).sum())
    method = (f"sequential trial emulation ({info['n_trials']} trials of one "
              f"{ {'W': 'week', 'M': 'month', 'D': 'day', 'Y': 'year'}.get(period, period)}): "
              "members at their enrolment vs not-yet-enrolled customers with a purchase in the "
              "same period, doubly robust (logit propensity on purchase history + weighted "
              "outcome regression); comparison customers who enrol later are followed to their "
              "enrolment purchase and completed with their expected untreated purchases "
              f"({bg._model_name} g-computation, spend at a calendar price index); SE "
              "clustered by customer")
    rows_out = [_effect(name, m, method, n_t, alpha) for name in ROLLING_METRICS]
    for name, col in (("nps", "nps_score"), ("csat", "csat_score")):
        yv = sv[col].to_numpy(float)
        sub = ok & np.isfinite(yv) & (survey_w > 0)
        if (sub & member).sum() > 10 and (sub & ~member & (w > 0)).sum() > 10:
            rows[col] = yv
            # few surveyed rows per trial: the jackknife's leave-one-out fits are unstable
            ms = _dr_means({col: yv}, member, w * survey_w, X, code, n_cl, sub, se="influence")
            rows_out.append(effect_row(name, "effect on members", ms,
                                       lambda mm, c=col: mm[f"{c}|c"],
                                       lambda mm, c=col: mm[f"{c}|t"],
                                       method=method + "; first survey in the window",
                                       n=int((sub & member).sum()), alpha=alpha))
    effects = pd.DataFrame(rows_out)
    # diagnostics and identification checks
    bal = balance_table(rows.loc[ok, HISTORY].reset_index(drop=True), member[ok],
                        np.where(member, 1.0, w)[ok])
    bal["covariate"] = bal["covariate"].map(HISTORY_LABELS).fillna(bal["covariate"])
    checks = []
    prior = rows.loc[member, "prior_orders"].to_numpy()
    thin = float(np.mean(prior < MIN_PRIOR_PURCHASES))
    checks.append(dict(
        id=ids.CHECK_HISTORY, check="history before enrolment (rolling)",
        status="fail" if thin >= HISTORY_FAIL_SHARE else ("warn" if thin >= 0.05 else "pass"),
        value=thin,
        detail=f"{thin:.0%} of members enrolled with fewer than {MIN_PRIOR_PURCHASES} earlier "
               f"purchase days (median {np.median(prior):.0f}); fails at "
               f"{HISTORY_FAIL_SHARE:.0%} — with so little history, selection on buying rate "
               "cannot be separated from the programme's effect"))
    wc = w[~member & ok & (w > 0)]
    ess = float(wc.sum() ** 2 / np.sum(wc ** 2)) if wc.size else 0.0
    trimmed = float(np.mean(~kept[member]))
    share = float(wc.max() / wc.sum()) if wc.size else np.nan
    ov_fail = trimmed > OVERLAP_FAIL_SHARE or ess < MIN_EFFECTIVE_COMPARISON
    checks.append(dict(
        id=ids.CHECK_OVERLAP_ROLLING, check="propensity overlap (rolling)",
        status="fail" if ov_fail else ("warn" if trimmed > 0.02 or share > 0.05 else "pass"),
        value=ess,
        detail=f"{trimmed:.1%} of members trimmed (propensity > {1 - trim:.2f}; fails above "
               f"{OVERLAP_FAIL_SHARE:.0%}); effective comparison rows {ess:,.0f} (fails below "
               f"{MIN_EFFECTIVE_COMPARISON}); largest weight share {share:.2%}"))
    checks.append(balance_check(bal, "smd_weighted", name="history balance after weighting "
                                "(rolling)", check_id=ids.CHECK_BALANCE_ROLLING))
    comp = ~member
    checks.append(completion_model_check(unc))
    checks.append(dict(
        id=ids.CHECK_CENSORING_ROLLING,
        check="later enrolment of comparison customers (censoring)", status="pass",
        value=float(cens[comp].mean()),
        detail=f"{cens[comp].sum():,} of {comp.sum():,} comparison rows enrolled during their "
               "follow-up: they count as comparison customers up to and including their "
               "enrolment purchase, and the rest of their window is completed with the expected "
               "untreated purchases given their history then "
               f"({bg._model_name} g-computation); their survey answers count only before "
               "they enrolled, weighted by the inverse probability of not having enrolled yet"))
    nap = info["n_members_not_at_purchase"]
    checks.append(dict(
        id=ids.CHECK_ENROLLED_AT_PURCHASE_ROLLING, check="members enrolled at a purchase (rolling)",
        status="pass" if nap <= 0.05 * max(info["n_members_used"], 1) else "warn",
        value=float(nap),
        detail=f"{nap:,} of {info['n_members_used']:,} members have no purchase on their "
               f"enrolment day; {info['n_members_too_late']:,} members enrolled after "
               f"{info['last_index_date'].date()} (no complete window) and "
               f"{info['n_members_before_start']:,} before the start are not analysed"))
    identified = not any(c["status"] == "fail" for c in checks
                         if c["id"] in ids.IDENTIFICATION_CHECK_IDS)
    info.update(completion_model=bg._model_name, completion_loglik=bg_loglik)
    info.update(n_rows=len(rows), n_member_rows=n_t, n_comparison_rows=int((~member).sum()),
                n_comparison_customers=int(rows.loc[~member, "code"].nunique()),
                n_censored=int(cens.sum()), ess_comparison=ess,
                thin_history_share=thin, trimmed_member_share=trimmed)
    names = np.array(["const"] + HISTORY + [f"covariate_{j}" for j in range(Xcat_c.shape[1])] +
                     [f"trial_{k}" for k in levels[1:]])[keep_col]
    coef = pd.Series(beta, index=names)
    parts = dict(Y=Y, member=member, w=w, X=X, code=code, n_cl=n_cl, ok=ok, method=method,
                 alpha=alpha, unc=unc)
    return RollingResult(effects=effects, checks=checks, trials=rows, balance=bal, info=info,
                         propensity_coef=coef, identified=identified, _parts=parts)


def _effect(name, m, method, n, alpha) -> dict:
    num, den = METRICS[name]

    def lvl(mm, g):
        return mm[f"{num}|{g}"] / mm[f"{den}|{g}"] if den else mm[f"{num}|{g}"]
    return effect_row(name, "effect on members", m, lambda mm: lvl(mm, "c"),
                      lambda mm: lvl(mm, "t"), method=method, n=n, alpha=alpha)


def _completion_uncertainty(bg, fit_codes, summary, fit_warnings, complete, base, comp, n_rows,
                            n_cl, outcomes, step: float = 1e-5) -> dict:
    """What the BG/NBD completion adds to the influence functions (linearization after
    imputation, Kim & Rao 2009, *Biometrika* 96(4), §2; Tsiatis 2006, *Semiparametric Theory and
    Missing Data*, §9.1): the doubly robust means are linear in the outcomes, so with ``θ`` the
    BG/NBD log parameters ``μ̂(θ̂) ≈ μ̂(θ) + Gᵀ(θ̂ − θ)`` with ``G = μ̂(∂Ỹ/∂θ)`` (the estimator
    applied to the derivative of the completed outcomes, forward differences), and
    ``θ̂ − θ ≈ Σ_i V s_i`` (``s_i`` a customer's score in ``θ``, ``V`` the fit's
    ``variance_matrix_log_``). Each customer's term ``Gᵀ V s_i`` is added to that customer's
    influence row, so its covariance with the same customer's doubly robust term is kept, and
    ``Σ_i V s_i s_iᵀ V`` is the sandwich variance of ``θ̂`` (robust to a misspecified BG/NBD).

    Returns ``dict(ok, psi_theta (n_cl, k), D (k dicts outcome → per-row derivative), detail)``;
    ``ok`` is False (with the reason in ``detail``) when the covariance is not finite or the
    scores are not, and then the intervals leave the parameter uncertainty out. ``base``: the
    completed outcomes at ``θ̂`` (``complete(bg)[0]``)."""
    V = getattr(bg, "variance_matrix_log_", None)
    # the parameters with a covariance (a Pareto/NBD at its homogeneous-lifetime bound holds s)
    names = list(V.index) if V is not None else list(bg.params_.index)
    why = None
    if V is None or not np.all(np.isfinite(V.to_numpy())):
        why = (f"the {bg._model_name} information matrix is singular or not positive definite "
               "at the estimate, so its covariance is not finite")
    else:
        params = bg.params_.to_numpy(float)
        x, tx, T = (summary[k].to_numpy(float) for k in ("frequency", "recency", "T"))
        _ll, g = bg._loglik_grad(params, bg._prepare(x, tx, T))
        col = [list(bg.params_.index).index(n) for n in names]
        score = g[:, col] * params[col]                     # d ll_i / d log θ
        if not np.all(np.isfinite(score)):
            why = "the BG/NBD scores are not finite at the estimate"
    if why is not None:
        msg = "; ".join(dict.fromkeys(str(w.message) for w in fit_warnings))
        return dict(ok=False, psi_theta=None, D=None, names=names,
                    detail=why + (f" (fit warnings: {msg})" if msg else ""))
    psi_theta = np.zeros((n_cl, len(names)))
    psi_theta[fit_codes] = score @ V.to_numpy()
    D = []
    for name in names:
        b = copy.copy(bg)
        b.params_ = bg.params_.copy()
        b.params_[name] = float(bg.params_[name]) * np.exp(step)
        d = (complete(b)[0] - base) / step
        Dk = {}
        for j, k in enumerate(outcomes):
            v = np.zeros(n_rows)
            v[comp] = d[:, j]
            Dk[k] = v
        D.append(Dk)
    return dict(ok=True, psi_theta=psi_theta, D=D, names=names, detail="")


def _with_model_uncertainty(m: Means, unc: dict, member, w, X, code, n_cl, ok) -> Means:
    """``m`` with the BG/NBD parameter term of :func:`_completion_uncertainty` added to each
    customer's influence row (unchanged when that term is not available)."""
    if not unc["ok"]:
        return m
    # one weighted least squares for every (parameter, outcome) derivative at once
    stacked = {f"{k}#{i}": v for i, Dk in enumerate(unc["D"]) for k, v in Dk.items()}
    gm = _dr_means(stacked, member, w, X, code, n_cl, ok, se="influence")   # only gm.est used
    G = np.zeros((len(unc["names"]), len(m.names)))
    for name, val in zip(gm.names, gm.est):
        k_i, g = name.split("|")
        k, i = k_i.rsplit("#", 1)
        if f"{k}|{g}" in m.names:
            G[int(i), m.names.index(f"{k}|{g}")] = val
    return Means(m.names, m.est, m.psi + unc["psi_theta"] @ G)


def completion_model_check(unc: dict) -> dict:
    """Whether the completion model's parameter uncertainty is in the intervals (and which
    model the likelihood chose, :func:`_untreated_btyd`)."""
    model = unc.get("model", "BG/NBD")
    ll = unc.get("loglik", {})
    chosen = ("" if len(ll) < 2 else f" ({model} chosen by likelihood: " + ", ".join(
        f"{k} {v:,.1f}" for k, v in ll.items()) + ")")
    if unc["ok"]:
        return dict(id=ids.CHECK_COMPLETION_MODEL, check="completion model uncertainty (rolling)",
                    status="pass", value=1.0,
                    detail=f"the uncertainty of the {model} parameters used to complete the "
                           "comparison customers who enrol later is in the intervals (sandwich "
                           f"over customers, delta method){chosen}")
    return dict(id=ids.CHECK_COMPLETION_MODEL, check="completion model uncertainty (rolling)",
                status="warn", value=0.0,
                detail=f"the parameter uncertainty of the completion model ({model}) is NOT in "
                       f"the intervals: {unc['detail']}; the intervals of purchases, spend, "
                       f"AOV and retention are too narrow by that (unknown) amount{chosen}")


def late_enrolment_check(out: pd.DataFrame) -> dict:
    """Launch design: the comparison assumes members enrolled at their first purchase on or
    after the launch. Fails when more than :data:`LATE_ENROLMENT_FAIL_SHARE` of members enrolled
    later (then members were selected on post-launch behaviour the design cannot adjust for)."""
    D = out["enrolled"].to_numpy() == 1
    late = D & (out["enrolled_at"] > out["first_post"]).to_numpy()
    share = float(late.sum() / D.sum()) if D.sum() else 0.0
    return dict(id=ids.CHECK_ENROLMENT_TIMING, check="enrolment timing (launch design)",
                status="fail" if share > LATE_ENROLMENT_FAIL_SHARE else "pass", value=share,
                detail=f"{late.sum():,} of {D.sum():,} members ({share:.0%}) enrolled after "
                       f"their first purchase on or after the launch (fails above "
                       f"{LATE_ENROLMENT_FAIL_SHARE:.0%}): the launch design adjusts only for "
                       "pre-launch behaviour, so members chosen on later behaviour are not "
                       "comparable — use design='rolling'")


def choose_analysis(out: pd.DataFrame) -> str:
    """``"launch"`` or ``"rolling"`` for ``design="self_selected"``: rolling when enrolment is
    spread out beyond the first purchase after the launch — more than
    :data:`LATE_ENROLMENT_FAIL_SHARE` of members enrolled after their first purchase on or after
    the launch (which includes customers acquired after the launch who joined at a later
    purchase); launch otherwise (everyone decided at their first chance)."""
    return "rolling" if late_enrolment_check(out)["status"] == "fail" else "launch"
