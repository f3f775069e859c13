"""The order-value ratio of the CLV effect (:func:`order_value_ratio`, moved from
:mod:`.clv_effects` for room, issue 22): the members' post/pre ratio of order values, each order
deflated by the calendar month's order value among customers not (yet) enrolled — a
difference-in-differences — and its influence function over customers."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...features.periods import period_index
from ...periods import NS_PER_DAY, day_numbers


def order_value_ratio(tx: pd.DataFrame, enrolled_at: pd.Series, index_date: pd.Series, end):
    """The programme's effect on order value as a ratio, by a difference-in-differences over
    calendar months, and its influence function over customers.

    Every order made by a customer not (yet) enrolled (never enrolled, or dated on or before
    their enrolment — the enrolment order is a non-member's) enters the month's reference order
    value ``I_m`` (mean amount of those orders in calendar month ``m``; months without any:
    the nearest month's). A member's orders are deflated by ``I_m`` of their month; the ratio is
    the members' deflated post-index order value over their deflated pre-index one,

        ρ = Σ_i Σ_post a/I_m  /  Σ_i n_post,i · mean_pre,i(a/I_m)

    over members with orders on both sides of their index date (``index_date``, a Series by
    customer). A price change common to everybody moves ``I_m`` and the members' amounts
    alike and cancels; a members-only before/after ratio would credit it to the programme.

    Returns ``(ρ, influence, n_members_used)``: ``influence`` a Series by customer_id (members
    and reference customers) with ``ρ̂ − ρ ≈ Σ influence`` (the members' ratio-estimator terms
    plus the reference index's, by the chain rule through each ``I_m``; clustered by customer).
    """
    cid = tx["customer_id"].to_numpy()
    dates = tx["date"].to_numpy()
    amt = tx["amount"].to_numpy(float)
    keep = dates <= pd.Timestamp(end).to_datetime64()
    if not keep.all():         # (every order is usually inside: no copies then, issue 22)
        cid, dates, amt = cid[keep], dates[keep], amt[keep]
    mi, nm = _month_codes(dates)
    # the customers once (sorted, as np.unique), each order's customer by its code: the
    # per-order lookups below are takes of per-customer values (issue 22)
    codes, uniq = _sorted_factorize(cid)
    enr = pd.Series(pd.to_datetime(enrolled_at.to_numpy()), index=enrolled_at.index)
    enr = enr[~enr.index.duplicated()]
    t_o = _as_ns(dates)
    ref = t_o <= _ns_or(enr.reindex(uniq).to_numpy(), _NS_MAX)[codes]   # never enrolled: ref
    mi_r, amt_r = mi[ref], amt[ref]                      # (each mask applied once)
    n_m = np.bincount(mi_r, minlength=nm).astype(float)
    s_m = np.bincount(mi_r, weights=amt_r, minlength=nm)
    with np.errstate(invalid="ignore", divide="ignore"):
        index_m = pd.Series(np.where(n_m > 0, s_m / np.where(n_m > 0, n_m, 1), np.nan))
    if not index_m.notna().any():
        return np.nan, pd.Series(dtype=float), 0
    index_m = index_m.ffill().bfill().to_numpy()
    idx = pd.Series(pd.to_datetime(index_date.to_numpy()), index=index_date.index)
    idx = idx[~idx.index.duplicated()]
    i_u = idx.reindex(uniq).to_numpy()
    is_m = ~pd.isna(i_u)                                 # members among the customers
    mem = is_m[codes]
    # every customer has an order: the members' ranks are np.unique's codes of codes[mem]
    c_mem = codes[mem]
    pos, ids_m = (np.cumsum(is_m) - 1)[c_mem], uniq[is_m]
    # each member order's index date from the members' own table (smaller than the customers'
    # one: fewer cache misses over millions of orders, issue 22); the same values
    post_o = t_o[mem] > _ns_or(i_u[is_m], 0)[pos]
    del c_mem
    mi_m = mi[mem]
    y = amt[mem] / index_m[mi_m]                         # deflated amounts
    nmem = len(ids_m)
    # pre and post in one bincount (bin 2·member + post): each bin adds its orders in their
    # order, as the per-side bincounts did
    side = 2 * pos + post_o
    n_pp = np.bincount(side, minlength=2 * nmem).astype(float)
    s_pp = np.bincount(side, weights=y, minlength=2 * nmem)
    n_pre, n_post, s_pre, s_post = n_pp[0::2], n_pp[1::2], s_pp[0::2], s_pp[1::2]
    both = (n_pre > 0) & (n_post > 0)
    if not both.any():
        return np.nan, pd.Series(dtype=float), 0
    k = np.where(both, n_post / np.where(n_pre > 0, n_pre, 1.0), 0.0)   # n_post / n_pre
    a_i = np.where(both, s_post, 0.0)
    b_i = k * s_pre
    A, B = a_i.sum(), b_i.sum()
    rho = A / B
    infl = pd.Series((a_i - rho * b_i) / B, index=ids_m)
    # the reference index: dρ/dI_m (members' deflated amounts scale as 1/I_m) …
    ob = both[pos]
    w = np.where(post_o, y, k[pos] * y)[ob]
    dAB = -np.bincount((2 * mi_m + post_o)[ob], weights=w, minlength=2 * nm)
    dA, dB = dAB[1::2], dAB[0::2]
    with np.errstate(invalid="ignore", divide="ignore"):
        drho = np.where(n_m > 0, (dA - rho * dB) / B / index_m, 0.0)  # months without orders: fixed
    # … times each reference customer's influence on I_m = S_m / N_m
    rpos, rc = _sorted_codes(codes[ref], uniq)
    contrib = drho[mi_r] * (amt_r - index_m[mi_r]) / np.where(n_m > 0, n_m, 1.0)[mi_r]
    infl_ref = pd.Series(np.bincount(rpos, weights=contrib, minlength=len(rc)), index=rc)
    return float(rho), infl.add(infl_ref, fill_value=0.0), int(both.sum())


_NS_MAX = np.iinfo(np.int64).max


def _as_ns(dates) -> np.ndarray:
    """Datetimes as int64 nanoseconds (a view when already ``datetime64[ns]``)."""
    return np.asarray(dates).astype("datetime64[ns]", copy=False).view(np.int64)


def _ns_or(values, fill: int) -> np.ndarray:
    """Datetimes (NaT allowed) as int64 nanoseconds, NaT replaced by ``fill``."""
    v = np.asarray(values).astype("datetime64[ns]")
    return np.where(np.isnat(v), fill, v.view(np.int64))


def _month_codes(dates):
    """``(month − first month, number of months)`` of each date
    (:func:`~retention_lab.features.periods.period_index` ``"M"``), by a table over the days
    spanned (one gather instead of the calendar conversion of every date, issue 22)."""
    day = day_numbers(dates)
    d0 = int(day.min())
    lut = period_index((np.arange(d0, int(day.max()) + 1) * NS_PER_DAY).astype("datetime64[ns]"),
                       "M")
    lut = (lut - lut.min()).astype(np.int64)
    return lut[day - d0], int(lut.max()) + 1


def _sorted_factorize(v):
    """``pd.factorize(v, sort=True)`` (missing values a value of their own): for integers in a
    range at most 4x their number, from a presence table over the range (no hashing)."""
    if v.dtype.kind == "i" and len(v):
        lo, hi = int(v.min()), int(v.max())
        if hi - lo < 4 * len(v):
            return _sorted_codes(v - lo, np.arange(lo, hi + 1))
    return pd.factorize(v, sort=True, use_na_sentinel=False)


def _sorted_codes(codes, uniq):
    """``np.unique(uniq[codes], return_inverse=True)`` reversed — ``(inverse, values)`` — for
    codes into the sorted distinct values ``uniq``: the present codes ranked."""
    present = np.zeros(len(uniq), bool)
    present[codes] = True
    rank = np.cumsum(present) - 1
    return rank[codes], uniq[present]
