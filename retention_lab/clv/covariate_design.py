"""The numeric design of time-invariant covariates: one row per customer, numeric columns as
they are, text / categorical ones as 0/1 dummies against their first level (the levels fixed at
fit time), and the selection of each process's columns. Used by the time-invariant
(:mod:`retention_lab.clv.covariates`) and time-varying covariate models.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["design_matrix", "select_columns"]


def design_matrix(covariates: pd.DataFrame, index=None, *, table: str = "covariates",
                  levels: dict | None = None):
    """Numeric design columns from a covariate frame (one row per customer of ``index``).

    Numeric and boolean columns enter as they are; text / categorical columns as 0/1 dummies
    ``<col>=<level>`` for every level but the first (the reference), with the levels fixed at
    fit time (``levels``). Returns ``(matrix, names, levels)``. Missing customers, missing
    values and non-finite numbers are a :class:`~retention_lab.DataError`.
    """
    if not isinstance(covariates, pd.DataFrame):
        raise TypeError("covariates must be a DataFrame indexed like the summary")
    cov = covariates
    if index is not None:
        if cov.index.has_duplicates:
            dup = cov.index.duplicated(keep=False)
            raise DataError.for_rule(table, str(cov.index.name or "index"),
                                     "one row per customer", pd.Series(dup), cov.reset_index())
        missing = ~pd.Index(index).isin(cov.index)
        if missing.any():
            raise DataError(f"{table}: {int(missing.sum()):,} of {len(index):,} customers of the "
                            f"summary have no covariate row (index must match the summary's, "
                            f"e.g. customer_id); first: {list(pd.Index(index)[missing][:5])}",
                            table=table, column=str(cov.index.name or "index"),
                            rule="a row for every summary customer", n_rows=int(missing.sum()))
        cov = cov.reindex(index)
    levels = {} if levels is None else levels
    cols, names = [], []
    for col in cov.columns:
        s = cov[col]
        if s.isna().any():
            raise DataError.for_rule(table, str(col), "not null", s.isna().reset_index(drop=True),
                                     cov.reset_index())
        numeric = pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
        if numeric and col not in levels:
            v = s.to_numpy(dtype=float)
            if not np.isfinite(v).all():
                raise DataError.for_rule(table, str(col), "finite",
                                         pd.Series(~np.isfinite(v)), cov.reset_index())
            cols.append(v)
            names.append(str(col))
        else:
            lv = levels.get(col)
            if lv is None:
                lv = (list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype)
                      else list(pd.Categorical(s).categories))
                levels[col] = lv
            unknown = ~s.isin(lv)
            if unknown.any():
                raise DataError.for_rule(table, str(col), f"a level seen at fit time {lv}",
                                         unknown.reset_index(drop=True), cov.reset_index())
            for level in lv[1:]:
                cols.append((s == level).to_numpy(dtype=float))
                names.append(f"{col}={level}")
    X = np.column_stack(cols) if cols else np.zeros((len(cov), 0))
    return X, names, levels


def select_columns(names_all, chosen, what):
    """The design columns ``chosen`` (names of covariates; a text column stands for all its
    dummies), or all of them when ``chosen`` is None; an unknown name is a DataError."""
    if chosen is None:
        return list(names_all)
    chosen = [chosen] if isinstance(chosen, str) else list(chosen)
    out = []
    for c in chosen:
        hits = [n for n in names_all if n == c or n.startswith(f"{c}=")]
        if not hits:
            raise DataError(f"covariates: {what} column {c!r} not among {list(names_all)}",
                            table="covariates", column=str(c), rule="column present")
        out += hits
    return out
