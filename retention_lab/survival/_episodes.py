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
    lists = [(pos, np.zeros(len(pos)), np.zeros(len(pos), bool), np.zeros(len(pos), bool))] \
        + list(zip(cut_pos, cut_age, cut_buy, cut_per))
    packed = _packed_starts(lists)
    if packed is not None:
        return packed
    cp = np.concatenate([v[0] for v in lists]).astype(np.int64)
    ca = np.concatenate([v[1] for v in lists]).astype(float)
    cb = np.concatenate([v[2] for v in lists]).astype(np.int8)
    cq = np.concatenate([v[3] for v in lists]).astype(np.int8)
    order = _order_by(cp, ca)
    ps, as_ = cp[order], ca[order]
    at = np.flatnonzero(np.r_[True, (ps[1:] != ps[:-1]) | (as_[1:] != as_[:-1])])
    if not len(at):
        return ps, as_, np.zeros(0, np.int64), np.zeros(0, np.int64)
    return (ps[at], as_[at], np.maximum.reduceat(cb[order], at).astype(np.int64),
            np.maximum.reduceat(cq[order], at).astype(np.int64))


def _packed_starts(lists):
    """:func:`_episode_starts` by one value sort of int64 keys when the ages are whole days and
    ``(customer, age, flags)`` pack into an int64: the two flags ride in the key's low bits and
    are or-ed over each run of equal (customer, age); the key of each cut list is written into
    one array (no concatenated float copies, issue 22). None otherwise."""
    n = sum(len(v[0]) for v in lists)
    if not n:
        return None
    amax, pmax = 0.0, 0
    for cp, ca, _, _ in lists:
        if not len(ca):
            continue
        lo, hi = ca.min(), ca.max()
        if not (0 <= lo and hi < 2 ** 31 and np.all(ca == np.floor(ca))
                and 0 <= cp.min() and cp.max() < 2 ** 31):
            return None
        amax, pmax = max(amax, float(hi)), max(pmax, int(cp.max()))
    span = int(amax) + 1
    if (pmax + 1) * span * 4 >= 2 ** 62:
        return None
    key = np.empty(n, np.int64)
    o = 0
    for cp, ca, cb, cq in lists:
        m = len(cp)
        kk = key[o:o + m]
        kk[:] = cp                 # (int64 before the product: no narrower overflow)
        kk *= span
        kk += ca.astype(np.int64)
        kk *= 4
        kk += np.asarray(cb, np.int64) * 2 + np.asarray(cq, np.int64)
        o += m
    # a stable sort (timsort) merges the few runs the cut lists arrive in, each already
    # sorted by customer and age: ~3x numpy's quicksort here (same sorted values)
    key.sort(kind="stable")
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


def _cumsum_by(p, v, starts=None):
    """The running sum of ``v`` within each run of equal ``p`` (rows sorted by ``p``; ``starts``
    the runs' first rows, if known)."""
    cs = np.cumsum(v)
    if starts is None:
        starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]]) if len(p) else np.zeros(0, int)
    offset = cs[starts] - v[starts]
    return cs - np.repeat(offset, np.diff(np.r_[starts, len(p)]))


def run_positions(index, ids) -> np.ndarray:
    """``positions(index, ids)`` looked up once per run of equal neighbouring ids and repeated
    over the run (ids grouped by customer, as purchase ages are: one lookup per customer instead
    of one per purchase, issue 22); the same positions for any order of ``ids``."""
    ids = np.asarray(ids)
    if len(ids) < 2:
        return positions(index, ids)
    at = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return np.repeat(positions(index, ids[at]), np.diff(np.r_[at, len(ids)]))


def class_steps(pos, age, bins):
    """The purchases at which the purchase-history class changes — the ``j``-th purchase day
    of a customer after the first (``j ≥ 1``) where ``1 + j`` is one of ``bins`` (the classes'
    lower ends, ``bins[0] = 1``: :data:`.time_varying.HISTORY_BINS`) — as a mask, when ``pos``
    (customer positions) is sorted and ``age`` strictly increasing within each customer (so that ``j`` is the rank); ``None`` otherwise
    (every purchase then splits). A split at any other purchase leaves the covariates equal
    on both sides, so the counting-process partial likelihood is the same without it (an
    episode's contribution is its covariates over the ages it covers): at 16 purchase days a
    customer, half the episodes (issue 22)."""
    n = len(pos)
    if n == 0:
        return None
    same = pos[1:] == pos[:-1]
    if not (np.all(pos[1:] >= pos[:-1]) and np.all(age[1:][same] > age[:-1][same])):
        return None
    starts = np.flatnonzero(np.r_[True, ~same])
    j = np.arange(1, n + 1) - np.repeat(starts, np.diff(np.r_[starts, n]))
    bins = np.asarray(bins)
    table = np.zeros(int(bins[-1]) + 1, bool)
    table[bins[1:] - 1] = True          # 1 + j in bins[1:] (bins[0] = 1)
    return (j < len(table)) & table[np.minimum(j, len(table) - 1)]


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


def _small_key(columns, chunk: int = 1 << 16):
    """One int64 per row, equal exactly for rows equal in every column, when each column holds
    finite multiples of ½ (-0.0 = 0.0) whose ranges multiply to less than 2**62, with that
    product; else ``(None, 0)``. The ranges first (min and max of each column), then the key
    ``chunk`` rows at a time, its temporaries in cache (issue 22: ~10 passes over every column
    were 2-3 s at a million customers' 18M episodes)."""
    specs, size = [], 1
    for v in columns:
        if not len(v) or v.dtype.kind not in "fiub":
            return None, 0
        if v.dtype.kind == "f":
            lo_h, hi_h = v.min() * 2.0, v.max() * 2.0      # (NaN: not finite)
            if not (np.isfinite(lo_h) and np.isfinite(hi_h)) or max(-lo_h, hi_h) >= 2 ** 61:
                return None, 0
            lo, hi = int(lo_h), int(hi_h)    # the multiples of ½ are checked with the key
        else:
            lo, hi = int(v.min()), int(v.max())
            if max(-lo, hi) >= 2 ** 61:
                return None, 0
        radix = hi - lo + 1
        size *= radix
        if size >= 2 ** 62:
            return None, 0
        specs.append((v, lo, radix))
    key = np.empty(len(columns[0]), np.int64)
    for s in range(0, len(key), chunk):
        k = None
        for v, lo, radix in specs:
            seg = v[s:s + chunk]
            if seg.dtype.kind == "f":
                h = seg * 2.0
                c = h.astype(np.int64)
                if not np.array_equal(c, h):        # not all multiples of 1/2
                    return None, 0
            else:
                c = seg.astype(np.int64)
            c -= lo
            k = c if k is None else k * radix + c
        key[s:s + chunk] = k
    return key, size
