"""Sorting and grouping helpers of :mod:`.covariates_tv_data` at millions of rows (issue 22):
positions of values stored in blocks without hashing every row, and a stable order of integer
keys by one value sort."""
from __future__ import annotations

import numpy as np
import pandas as pd


def _grouped_codes(v):
    """``pd.factorize(v)`` — ``(codes, values in order of first appearance)`` — for values
    grouped in blocks (a daily table is sorted by customer): from the changes between
    neighbours, once the blocks' values are checked distinct, instead of hashing every row;
    ``pd.factorize`` itself otherwise."""
    if len(v):
        starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
        heads = v[starts]
        if len(pd.unique(heads)) == len(heads):
            return np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(v)])), heads
    codes, uniq = pd.factorize(v)
    return codes, np.asarray(uniq)


def _stable_order(key):
    """``(order, key[order])`` of a stable argsort of non-negative int64 keys, by one value sort
    of ``key · n + row`` when that fits an int64 (numpy's SIMD value sort: ~6x an argsort)."""
    n = len(key)
    if n and key.min() >= 0 and int(key.max()) < (2 ** 63 - 1) // n - 1:
        packed = np.sort(key * n + np.arange(n))
        return packed % n, packed // n
    order = np.argsort(key, kind="stable")
    return order, key[order]
