"""``simulate_holdout``: a randomized holdout that enrols customers over time, with known truth.

The generative model
--------------------
* **Entry.** ``n_customers`` existing customers enter the experiment on a uniform day of the
  ``enrol_weeks`` after ``start`` (their first visit after the start); each is assigned to the
  holdout (``arm = "control"``, no programme) with probability ``holdout_share``, else to
  ``"treatment"``.
* **Before entry** every customer is alive and buys as a Poisson process with rate
  ``λ ~ Gamma(shape 0.8, mean 1/20 per day)`` for ``history_days`` (the pre-period behaviour
  that the regression adjustment and the plan use).
* **After entry** a customer stays active for ``D ~ Exponential(h)`` days,
  ``h ~ Gamma(2, mean 1/180)``, buying at rate ``λ``; order values are
  ``Gamma(3, mean m)``, ``m ~ LogNormal(log 40, 0.5)``. The programme multiplies ``λ`` by
  ``1 + purchase_lift``, ``h`` by ``1 − retention_lift`` and order values by ``1 + spend_lift``.

Both worlds are simulated with common random numbers (the same unit-rate arrival process and
order-value draws, time-scaled), so ``truth`` holds the finite-sample ITT effect of every
customer's two potential outcomes: purchases and spend in the ``window_days`` after entry, and
retention at ``horizon_days`` (not lapsed: a lapse is the first purchase, or the entry, followed
by more than ``inactivity_days`` without a purchase). Data are cut at ``as_of`` (default: the
end): customers who have not entered yet and later transactions are not in the bundle.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class HoldoutData:
    """A running holdout: ``customers`` (``customer_id``, ``arm``, ``entered_at``),
    ``transactions`` (``customer_id``, ``date``, ``amount``; before and after entry), the
    ``start`` and the ``as_of`` date, the design's ``holdout_share``, and ``truth`` /
    ``params`` when simulated."""

    customers: pd.DataFrame
    transactions: pd.DataFrame
    start: pd.Timestamp
    as_of: pd.Timestamp
    holdout_share: float
    truth: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def __repr__(self) -> str:  # a short summary, never a DataFrame dump
        return (f"HoldoutData(customers={len(self.customers):,}, "
                f"transactions={len(self.transactions):,}, as_of={self.as_of.date()})")


def _lapse_day(cust_idx: np.ndarray, t: np.ndarray, n: int, k: float, follow: np.ndarray):
    """First s in {0, purchase days} followed by more than k days without a purchase (days),
    inf if not known by ``follow`` days after entry. ``cust_idx``/``t`` sorted by customer, t."""
    idx = np.concatenate([np.arange(n), cust_idx])
    s = np.concatenate([np.zeros(n), np.floor(t)])
    o = np.lexsort((s, idx))
    idx, s = idx[o], s[o]
    nxt = np.append(s[1:], np.inf)
    last = np.append(idx[1:] != idx[:-1], True)
    nxt[last] = np.inf
    lapsed = (nxt - s > k) & (s + k <= follow[idx])
    out = np.full(n, np.inf)
    np.minimum.at(out, idx[lapsed], s[lapsed])
    return out


def simulate_holdout(n_customers: int = 20_000, *, holdout_share: float = 0.1,
                     enrol_weeks: int = 12, follow_weeks: int = 8, as_of=None,
                     purchase_lift: float = 0.10, spend_lift: float = 0.0,
                     retention_lift: float = 0.10, window_days: int = 28,
                     horizon_days: int = 28, inactivity_days: int = 30,
                     history_days: int = 180, start="2026-01-05", seed=1) -> HoldoutData:
    """Simulate a holdout (see the module docstring for the model and the truth)."""
    if not 0 < holdout_share < 1:
        raise ValueError(f"holdout_share must be in (0, 1), got {holdout_share!r}")
    rng = np.random.default_rng(seed)
    n = int(n_customers)
    start = pd.Timestamp(start).normalize()
    total_days = 7 * (enrol_weeks + follow_weeks)
    entry = rng.integers(0, 7 * enrol_weeks, n)
    control = rng.random(n) < holdout_share
    lam = rng.gamma(0.8, (1 / 20) / 0.8, n)
    h = rng.gamma(2.0, (1 / 180) / 2.0, n)
    m = np.exp(rng.normal(np.log(40), 0.5, n))
    E = rng.exponential(1.0, n)
    effects = np.array([[1.0, 1.0, 1.0], [1 + purchase_lift, 1 - retention_lift, 1 + spend_lift]])
    # stream length after entry: to the data end and past the truth's windows
    length = np.maximum(total_days - entry, window_days + horizon_days + inactivity_days + 1)
    lam_max = lam * effects[:, 0].max()
    cnt = rng.poisson(lam_max * length)
    cid = np.repeat(np.arange(n), cnt)
    gam = rng.random(cid.size) * (lam_max * length)[cid]    # unit-rate arrival "times"
    o = np.lexsort((gam, cid))
    cid, gam = cid[o], gam[o]
    base_amt = rng.gamma(3.0, 1 / 3.0, cid.size)

    worlds = []
    for w in (0, 1):
        fl, fh, fs = effects[w]
        t = gam / (lam[cid] * fl)
        alive = t < np.minimum(E[cid] / (h[cid] * fh), length[cid])
        ci, tt = cid[alive], t[alive]
        amt = base_amt[alive] * m[ci] * fs
        in_win = tt < window_days
        # purchases are purchase days (two events on one calendar day are one purchase), as
        # the package counts them in data
        day_w = np.floor(entry[ci[in_win]] + tt[in_win]).astype(np.int64)
        pairs = np.unique(np.c_[ci[in_win], day_w], axis=0)
        purchases = np.bincount(pairs[:, 0], minlength=n)
        spend = np.bincount(ci[in_win], amt[in_win], minlength=n)
        lapse = _lapse_day(ci, tt, n, inactivity_days, np.full(n, np.inf))
        worlds.append(dict(ci=ci, t=tt, amt=amt, purchases=purchases, spend=spend,
                           retained=lapse > horizon_days))

    truth = {}
    for metric in ("purchases", "spend", "retained"):
        y0, y1 = worlds[0][metric].astype(float), worlds[1][metric].astype(float)
        name = "retention" if metric == "retained" else metric
        truth[name] = {"control": y0.mean(), "treatment": y1.mean(),
                       "abs_diff": (y1 - y0).mean(),
                       "rel_lift": (y1 - y0).mean() / y0.mean() if y0.mean() else np.nan}

    # observed world = arm; purchases before entry from the pre-period process
    treated = ~control
    rows_c, rows_t, rows_a = [], [], []
    for w, mask in ((0, control), (1, treated)):
        W = worlds[w]
        keep = mask[W["ci"]]
        rows_c.append(W["ci"][keep]), rows_t.append(W["t"][keep]), rows_a.append(W["amt"][keep])
    pre_cnt = rng.poisson(lam * history_days)
    pre_c = np.repeat(np.arange(n), pre_cnt)
    pre_t = -rng.random(pre_c.size) * history_days
    pre_a = rng.gamma(3.0, 1 / 3.0, pre_c.size) * m[pre_c]
    ci = np.concatenate(rows_c + [pre_c])
    tt = np.concatenate(rows_t + [pre_t])
    aa = np.concatenate(rows_a + [pre_a])
    day = np.floor(entry[ci] + tt).astype(int)
    as_of_day = total_days if as_of is None else int((pd.Timestamp(as_of).normalize()
                                                      - start).days)
    as_of_ts = start + pd.Timedelta(days=as_of_day)
    ids = np.array([f"H{i:06d}" for i in range(n)])
    keep = (day <= as_of_day) & (entry[ci] <= as_of_day)
    tx = pd.DataFrame({"customer_id": ids[ci[keep]],
                       "date": start + pd.to_timedelta(day[keep], unit="D"),
                       "amount": np.round(aa[keep], 2)}).sort_values(["date", "customer_id"],
                                                                    ignore_index=True)
    entered = entry <= as_of_day
    customers = pd.DataFrame({"customer_id": ids, "arm": np.where(control, "control", "treatment"),
                              "entered_at": start + pd.to_timedelta(entry, unit="D")}
                             ).loc[entered].reset_index(drop=True)
    params = dict(n_customers=n, holdout_share=holdout_share, enrol_weeks=enrol_weeks,
                  follow_weeks=follow_weeks, purchase_lift=purchase_lift, spend_lift=spend_lift,
                  retention_lift=retention_lift, window_days=window_days,
                  horizon_days=horizon_days, inactivity_days=inactivity_days,
                  history_days=history_days, seed=seed)
    return HoldoutData(customers=customers, transactions=tx, start=start, as_of=as_of_ts,
                       holdout_share=holdout_share, truth=truth, params=params)
