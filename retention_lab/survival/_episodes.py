"""The episode arrays of the time-varying Cox model's long format
(:func:`.time_varying.enrolment_long_format`): the sorted distinct episode starts, running sums
within customers, the merging of identical censored episodes into weights and the wide frame.
Integer arrays throughout (issue 22: at 200k customers the long format has ~3M episodes)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._arrays import positions, stable_order  # noqa: F401  (positions re-exported)


def _episode_starts(pos, cut_pos, cut_age, cut_buy, cut_per):
    """``(customer position, start, a purchase split, a period split)`` of every episode:
    a start at 0 per customer and one per distinct cut age, sorted by customer and start (the
    flags of equal cuts or-ed) — what a groupby-max of the cuts, a concat and a stable sort
    gave, by one lexsort of the arrays."""
    cp = np.concatenate([pos] + list(cut_pos)).astype(np.int64)
    ca = np.concatenate([np.zeros(len(pos))] + list(cut_age)).astype(float)
    cb = np.concatenate([np.zeros(len(pos), bool)] + list(cut_buy)).astype(np.int8)
    cq = np.concatenate([np.zeros(len(pos), bool)] + list(cut_per)).astype(np.int8)
    packed = _packed_starts(cp, ca, cb, cq)
    if packed is not None:
        return packed
    order = _order_by(cp, ca)
    ps, as_ = cp[order], ca[order]
    at = np.flatnonzero(np.r_[True, (ps[1:] != ps[:-1]) | (as_[1:] != as_[:-1])])
    if not len(at):
        return ps, as_, np.zeros(0, np.int64), np.zeros(0, np.int64)
    return (ps[at], as_[at], np.maximum.reduceat(cb[order], at).astype(np.int64),
            np.maximum.reduceat(cq[order], at).astype(np.int64))


def _packed_starts(cp, ca, cb, cq):
    """:func:`_episode_starts` by one value sort (SIMD, several times faster than an argsort)
    when the ages are whole days and ``(customer, age, flags)`` pack into an int64: the two
    flags ride in the key's low bits and are or-ed over each run of equal (customer, age).
    None otherwise."""
    if not len(ca) or not (np.all(ca == np.floor(ca)) and 0 <= ca.min() and ca.max() < 2 ** 31
                           and 0 <= cp.min() and cp.max() < 2 ** 31):
        return None
    span = int(ca.max()) + 1
    if (int(cp.max()) + 1) * span * 4 >= 2 ** 62:
        return None
    # a stable sort (timsort) merges the few runs the cut lists arrive in, each already
    # sorted by customer and age: ~3x numpy's quicksort here (same sorted values)
    key = np.sort((cp * span + ca.astype(np.int64)) * 4 + cb.astype(np.int64) * 2 + cq,
                  kind="stable")
    k = key >> 2
    at = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    flags = np.bitwise_or.reduceat(key & 3, at)
    k = k[at]
    return k // span, (k % span).astype(float), flags >> 1, flags & 1


def _order_by(cp, ca):
    """An order of the rows by ``(cp, ca)`` (ties in any order). Whole-day ages (the usual
    case) make one integer key and one sort instead of ``np.lexsort``'s two passes (issue 22);
    other ages go to lexsort. The sort is stable: the cut lists come as a few runs already
    sorted by (customer, age), which a stable sort merges in near-linear time."""
    if len(ca) and np.all(ca == np.floor(ca)) and 0 <= ca.min() and ca.max() < 2 ** 31 \
            and cp.max() < 2 ** 31:
        return np.argsort(cp * (int(ca.max()) + 1) + ca.astype(np.int64), kind="stable")
    return np.lexsort((ca, cp))


def _cumsum_by(p, v):
    """The running sum of ``v`` within each run of equal ``p`` (rows sorted by ``p``)."""
    cs = np.cumsum(v)
    starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]]) if len(p) else np.zeros(0, int)
    offset = cs[starts] - v[starts]
    return cs - np.repeat(offset, np.diff(np.r_[starts, len(p)]))


def _codes(columns, n: int) -> np.ndarray:
    """One integer per row, equal for rows equal in every column (hash factorisation; NaN is a
    value, -0.0 equals 0.0, as in pandas' groupby)."""
    codes = np.zeros(n, np.int64)
    for v in columns:
        c, u = pd.factorize(v, use_na_sentinel=False)
        codes = pd.factorize(codes * max(len(u), 1) + c)[0].astype(np.int64)
    return codes


def _collapse_codes(rows, event, columns):
    """The rows ``rows`` of the episodes after :func:`._base.collapse` with ``censored_only``:
    the lapse rows in their order, then one row per group of identical censored rows (equal in
    every array of ``columns``) in order of first appearance; returns ``(rows, weights)``.

    When every column holds integers or multiples of ½ in a range whose product fits in 62
    bits (the usual case: ages in whole days, half-day zero durations, class codes) the rows
    are grouped by one integer key and one sort (:func:`_small_key`); else by the chained
    hash factorisation of :func:`_codes` (the same groups in the same order)."""
    lapse = event[rows] == 1
    cens = rows[~lapse]
    if not len(cens):
        return rows[lapse].astype(np.int64), np.ones(int(lapse.sum()))
    # the key of every episode, then the censored rows' (one gather instead of one per
    # column; any injective key groups the same rows, issue 22)
    key, _ = _small_key(columns)
    if key is None:
        key = _codes([v[cens] for v in columns], len(cens))
        first = np.unique(key, return_index=True)[1]
        w = np.bincount(key, minlength=len(first)).astype(float)
    else:
        key = key[cens]
        # a stable sort groups the rows with each group's first row first; the groups are
        # then ordered by that row (distinct values: any sort gives the same order)
        order, ks = stable_order(key)
        at = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
        by_first, first = stable_order(order[at])
        w = np.diff(np.r_[at, len(ks)])[by_first].astype(float)
    return (np.r_[rows[lapse], cens[first]].astype(np.int64),
            np.r_[np.ones(int(lapse.sum())), w])


def _small_key(columns):
    """One int64 per row, equal exactly for rows equal in every column, when each column holds
    finite multiples of ½ (-0.0 = 0.0) whose ranges multiply to less than 2**62, with that
    product; else ``(None, 0)``."""
    key, size = None, 1
    for v in columns:
        if v.dtype.kind == "f":
            if not len(v):
                return None, 0
            h = v * 2.0
            lo, hi = h.min(), h.max()
            if not (np.isfinite(lo) and np.isfinite(hi)) or max(-lo, hi) >= 2 ** 61:
                return None, 0
            c = h.astype(np.int64)
            if not np.array_equal(c, h):        # not all multiples of 1/2
                return None, 0
        elif v.dtype.kind in "iub":
            if len(v) and max(-int(v.min()), int(v.max())) >= 2 ** 61:
                return None, 0
            c = v.astype(np.int64)
        else:
            return None, 0
        lo = int(c.min())
        radix = int(c.max()) - lo + 1
        size *= radix
        if size >= 2 ** 62:
            return None, 0
        c = c - lo
        key = c if key is None else key * radix + c
    return key, size

