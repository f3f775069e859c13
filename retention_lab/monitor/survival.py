"""Retention in a running holdout as a censored time-to-event outcome, with late entry.

A customer *lapses* at the first moment ``s`` (days since they entered the holdout: their entry
or one of their purchases) after which they buy nothing for ``inactivity_days`` (``k``). The lapse
at ``s`` is known only at ``s + k``, so at a look ``d`` days after the start a customer who
entered on day ``e`` is observed up to ``f = d − e − k`` days: lapsed at ``T`` if ``T ≤ f``,
else censored at ``f``. Customers enter over time (late entry) and are observed for different
lengths; :func:`km_sequence` re-censors every customer at each look, so each look uses exactly
what was known on its day.

The estimand is the difference in Kaplan–Meier retention at a fixed ``horizon`` τ (the share
not lapsed by τ days after entry), treatment − holdout, with the Greenwood variance. Its
confidence sequence is the Gaussian-mixture boundary in information time
(:func:`retention_lab.monitor.sequential.mixture_halfwidth`). Why this is valid (asymptotically):
the Kaplan–Meier estimate at a fixed time, recomputed at calendar looks under staggered entry,
is asymptotically Gaussian with *independent increments* in information ``1/Var`` (Lin, Shen,
Ying & Breslow 1996, "Group sequential designs for monitoring survival probabilities",
Biometrics 52:1033–1041; the counting-process martingale structure of Gu & Lai 1991, Ann.
Statist. 19:1403–1433), i.e. a Brownian motion with drift in information time — the process the
Gaussian-mixture boundary of Waudby-Smith et al. (2023) controls uniformly. The restricted mean
(RMST) does *not* have independent increments (Murray & Tsiatis 1999), which is why the fixed-
horizon survival is used here. The A/A simulation in ``tests/monitor/test_monitor_simulation.py``
measures the resulting false-positive rate under daily looks.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError
from .sequential import eta_for, mixture_halfwidth

__all__ = ["lapse_times", "km_sequence"]


def lapse_times(entered: pd.Series, transactions: pd.DataFrame, *, inactivity_days: int,
                as_of) -> pd.Series:
    """Days from entry to lapse per customer (index of ``entered``), ``inf`` if not (yet known
    to be) lapsed by ``as_of``.

    ``entered``: entry date per customer id; ``transactions``: ``customer_id``, ``date``.
    Purchases before entry or after ``as_of`` are ignored. Days are whole calendar days.
    """
    if inactivity_days < 1:
        raise ValueError(f"inactivity_days must be at least 1, got {inactivity_days!r}")
    as_of = pd.Timestamp(as_of)
    ent = pd.to_datetime(entered)
    if ent.isna().any():
        raise DataError.for_rule("customers", "entered_at", "not null", ent.isna(),
                                 ent.to_frame())
    tx = transactions[["customer_id", "date"]]
    tx = tx.loc[tx["customer_id"].isin(ent.index)]
    day = (pd.to_datetime(tx["date"]).dt.normalize()
           - ent.reindex(tx["customer_id"]).dt.normalize().to_numpy()).dt.days.to_numpy()
    keep = (day >= 0) & (pd.to_datetime(tx["date"]).to_numpy() <= as_of.to_datetime64())
    ev = pd.DataFrame({"customer_id": np.concatenate([tx["customer_id"].to_numpy()[keep],
                                                      ent.index.to_numpy()]),
                       "s": np.concatenate([day[keep], np.zeros(len(ent), int)])})
    ev = ev.drop_duplicates().sort_values(["customer_id", "s"])
    nxt = ev.groupby("customer_id")["s"].shift(-1)
    follow = ((as_of.normalize() - ent.dt.normalize()).dt.days).reindex(ev["customer_id"]).to_numpy()
    # lapse at s: no purchase in (s, s + k]; for the last point, only known once s + k <= follow
    gap_ok = (nxt.to_numpy() - ev["s"].to_numpy() > inactivity_days)
    last_known = nxt.isna().to_numpy() & (ev["s"].to_numpy() + inactivity_days <= follow)
    ev["lapse"] = np.where(gap_ok | last_known, ev["s"], np.inf)
    out = ev.groupby("customer_id")["lapse"].min().reindex(ent.index)
    out.name = "lapse_day"
    return out.astype(float)


def _km_at(dur: np.ndarray, event: np.ndarray, weight: np.ndarray, look: np.ndarray,
           n_looks: int, horizon: int):
    """KM survival at ``horizon`` and its Greenwood variance for each look (integer days)."""
    width = horizon + 2
    d = np.clip(dur, 0, horizon + 1).astype(np.int64)
    e = event & (dur <= horizon)
    idx = look * width + d
    cnt = np.bincount(idx, weights=weight, minlength=n_looks * width).reshape(n_looks, width)
    dth = np.bincount(idx, weights=weight * e, minlength=n_looks * width).reshape(n_looks, width)
    at_risk = np.cumsum(cnt[:, ::-1], axis=1)[:, ::-1]
    n_t, d_t = at_risk[:, :horizon + 1], dth[:, :horizon + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(n_t > 0, d_t / n_t, 0.0)
        surv = np.prod(1 - q, axis=1)
        gw = np.where((n_t > d_t) & (d_t > 0), d_t / (n_t * (n_t - d_t)), 0.0).sum(axis=1)
    var = surv ** 2 * gw
    return surv, var, n_t[:, horizon]


def km_sequence(entry_day, lapse_day, treated, looks, *, horizon: int, inactivity_days: int,
                alpha: float = 0.05, eta: float | None = None, info_opt: float | None = None,
                min_at_risk: int = 10) -> pd.DataFrame:
    """The always-valid confidence sequence of the KM retention difference at ``horizon``.

    ``entry_day``: day of entry since the start (int); ``lapse_day``: days from entry to lapse
    (``inf`` if not known to have lapsed by the data's end); ``treated``: bool; ``looks``: look
    days since the start. ``eta`` (or ``info_opt``, the planned information ``1/se²``) tunes the
    mixture and must be fixed in advance; without either, the information of the last look is
    used (a convenience for exploration, not a pre-registered design).

    Columns: ``look``, ``n`` (customers observed), ``at_risk_horizon`` (both arms),
    ``control``, ``treatment`` (KM retention at τ), ``estimate`` (difference), ``se``
    (Greenwood), ``lower``, ``upper``, ``naive_lower``, ``naive_upper``. Rows before either arm
    has ``min_at_risk`` customers followed to τ are NaN.
    """
    e = np.asarray(entry_day, np.int64)
    T = np.asarray(lapse_day, float)
    a = np.asarray(treated, bool)
    looks = np.asarray(looks, np.int64)
    if np.any(T < 0):
        raise DataError.for_rule("customers", "lapse_day", "non-negative", int((T < 0).sum()),
                                 total=len(T))
    L = len(looks)
    res = {}
    for arm, mask in (("treatment", a), ("control", ~a)):
        ee, tt = e[mask], T[mask]
        f = looks[:, None] - ee[None, :] - inactivity_days          # L x n follow-up
        w = (f > 0).astype(float)
        dur = np.where(tt[None, :] <= f, tt[None, :], np.maximum(f, 0))
        ev = tt[None, :] <= f
        lk = np.broadcast_to(np.arange(L)[:, None], f.shape)
        surv, var, risk = _km_at(dur.ravel(), ev.ravel(), w.ravel(), lk.ravel(), L, horizon)
        ok = risk >= min_at_risk
        res[arm] = (np.where(ok, surv, np.nan), np.where(ok, var, np.nan), risk, w.sum(axis=1))
    est = res["treatment"][0] - res["control"][0]
    se = np.sqrt(res["treatment"][1] + res["control"][1])
    if eta is None:
        if info_opt is None:
            finite = se[np.isfinite(se) & (se > 0)]
            info_opt = 1 / finite[-1] ** 2 if len(finite) else 1.0
        eta = eta_for(info_opt, alpha)
    hw = mixture_halfwidth(se, eta, alpha)
    z = stats.norm.ppf(1 - alpha / 2)
    out = pd.DataFrame({"look": looks, "n": (res["treatment"][3] + res["control"][3]).astype(int),
                        "at_risk_horizon": (res["treatment"][2] + res["control"][2]).astype(int),
                        "control": res["control"][0], "treatment": res["treatment"][0],
                        "estimate": est, "se": se, "lower": est - hw, "upper": est + hw,
                        "naive_lower": est - z * se, "naive_upper": est + z * se})
    out.attrs.update(eta=eta, alpha=alpha, horizon=horizon)
    return out
