"""Sorting and grouping helpers of :mod:`.covariates_tv_data` at millions of rows (issue 22):
positions of values stored in blocks without hashing every row, and a stable order of integer
keys by one value sort (:func:`retention_lab._arrays.stable_order`, shared with the survival
models)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._arrays import (
    positions,
    stable_order as _stable_order,  # noqa: F401  (re-exported)
)


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


def _row_ids(rows):
    """An integer id per row of a 2-D integer array, equal for equal rows (ids in order of
    first appearance). Hash factorisation column by column, O(rows × columns) — not
    ``np.unique(axis=0)``, which sorts the rows as opaque records (4 s for the 200k-customer
    study's segments, issue 22)."""
    rows = np.asarray(rows)
    if rows.shape[1] == 0:
        return np.zeros(len(rows), np.int64)
    codes = pd.factorize(rows[:, 0])[0].astype(np.int64)
    for j in range(1, rows.shape[1]):
        c, u = pd.factorize(rows[:, j])
        # codes < rows and c < rows: the pair fits an int64 for any array that fits in memory
        codes = pd.factorize(codes * max(len(u), 1) + c)[0].astype(np.int64)
    return codes


def _distinct_rows(rows):
    """``(first, inverse)`` of the distinct rows of a 2-D integer array: ``first`` the position
    of each distinct row's first occurrence (ascending), ``inverse[i]`` the distinct row of row
    ``i`` — what ``np.unique(rows, axis=0, return_index=True, return_inverse=True)`` gives up
    to the numbering of the distinct rows (here: by first appearance)."""
    ids = _row_ids(rows)
    first = np.unique(ids, return_index=True)[1] if len(ids) else np.zeros(0, np.int64)
    return first, ids


def _isin(values, index) -> np.ndarray:
    """``pd.Series(values).isin(index)`` as an array: for integer ids and a unique index by
    a lookup table (:func:`retention_lab._arrays.positions`) instead of a hash of every value
    (millions of purchase days, issue 22); pandas otherwise."""
    index = pd.Index(index)
    v = np.asarray(values)
    if v.dtype.kind in "iu" and index.dtype.kind in "iu" and index.is_unique:
        return positions(index, v) >= 0
    return pd.Series(v).isin(index).to_numpy()


