"""Sorting and grouping helpers of :mod:`.covariates_tv_data` at millions of rows (issue 22):
positions of values stored in blocks without hashing every row, and a stable order of integer
keys by one value sort (:func:`retention_lab._arrays.stable_order`, shared with the survival
models)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._arrays import stable_order as _stable_order  # noqa: F401  (re-exported)


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

