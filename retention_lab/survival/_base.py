"""Shared plumbing of the survival models: input checks, covariate design matrices, collapsing
identical rows into weights, and the result object every function returns.

Conventions (the churn table of :func:`retention_lab.features.churn_table`): one row per
customer, ``duration`` = age (time since first purchase) at the lapse or at censoring,
``churned`` = 1 when the lapse is confirmed. Durations of 0 are legitimate (a one-purchase
customer who lapsed: the lapse is dated at their only purchase); the semi-parametric and
non-parametric fitters accept them, the parametric ones and the long (start, stop] format do not,
and those functions replace them by ``min_duration`` (half a day by default) and say so.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError
from ..schema import _require_columns

WEIGHT = "weight"


@dataclass
class SurvivalResult:
    """A result: ``summary`` (a DataFrame with estimate, se, 95 % interval, p-value, method),
    ``method`` (how it was computed), ``interpretation`` (plain words) and ``notes`` (what the
    wrapper did to the data: zero durations replaced, rows collapsed, penalizer added, …).

    ``value``, ``ci`` and ``n`` give the headline number for :func:`retention_lab.report.recording.
    record_result` where one exists.
    """

    summary: pd.DataFrame
    method: str = ""
    interpretation: str = ""
    notes: list = field(default_factory=list)
    value: float = float("nan")
    ci: tuple = (float("nan"), float("nan"))
    n: int | None = None

    def print_summary(self) -> None:
        print(self.method)
        with pd.option_context("display.width", 140, "display.max_columns", 20):
            print(self.summary)
        if self.interpretation:
            print(self.interpretation)
        for note in self.notes:
            print("note:", note)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(value={self.value:.4g}, ci=({self.ci[0]:.4g}, "
                f"{self.ci[1]:.4g}), n={self.n}, method={self.method!r})")


def check_survival_frame(table: pd.DataFrame, duration_col: str = "duration",
                         event_col: str = "churned", weights_col: str | None = None,
                         extra: list | tuple = (), name: str = "churn table") -> pd.DataFrame:
    """Check the columns a survival fit needs; return a copy with float durations and 0/1
    events. Bad values are a :class:`DataError` naming the column, the rule and the count."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name}: expected a pandas DataFrame, got {type(table).__name__}")
    needed = [duration_col, event_col, *([weights_col] if weights_col else []), *extra]
    _require_columns(table, name, needed)
    if len(table) == 0:
        raise DataError(f"{name}: the table is empty (0 rows)", table=name, column="*",
                        rule="table has at least one row", n_rows=0)
    out = table.copy()
    d = pd.to_numeric(out[duration_col], errors="coerce").astype(float)
    for bad, rule in ((~np.isfinite(d), f"{duration_col} is a finite number"),
                      (d < 0, f"{duration_col} >= 0")):
        if bad.any():
            raise DataError.for_rule(name, duration_col, rule, bad, table)
    e = pd.to_numeric(out[event_col], errors="coerce")
    bad = ~e.isin([0, 1])
    if bad.any():
        raise DataError.for_rule(name, event_col, f"{event_col} is 0 or 1", bad, table)
    if weights_col:
        w = pd.to_numeric(out[weights_col], errors="coerce")
        bad = ~(w > 0)
        if bad.any():
            raise DataError.for_rule(name, weights_col, f"{weights_col} > 0", bad, table)
        out[weights_col] = w.astype(float)
    for col in extra:
        bad = out[col].isna()
        if bad.any():
            raise DataError.for_rule(name, col, f"{col} is not missing", bad, table)
    out[duration_col] = d
    out[event_col] = e.astype(np.int64)
    return out


def positive_durations(d: np.ndarray | pd.Series, min_duration: float):
    """Durations with zeros replaced by ``min_duration``; returns (durations, n_replaced)."""
    d = np.asarray(d, dtype=float)
    zero = d <= 0
    return np.where(zero, float(min_duration), d), int(zero.sum())


def zero_note(n: int, min_duration: float, unit: str = "days") -> str:
    return (f"{n:,} zero duration(s) (one-purchase customers whose lapse is dated at their only "
            f"purchase) set to {min_duration:g} {unit}: this fitter needs positive durations")


def collapse(frame: pd.DataFrame, columns: list, weights_col: str | None = None, *,
             censored_only: str | None = None) -> pd.DataFrame:
    """Identical rows of ``columns`` collapsed into one row with a ``weight`` (their count, or
    the sum of ``weights_col``).

    Kaplan–Meier, log-rank and the parametric likelihoods with integer case weights equal those
    of the expanded data. Cox partial likelihoods with Efron's tie correction do **not**:
    lifelines counts tied deaths by rows, so ``d`` tied lapses merged into one row of weight
    ``d`` are corrected as a single death (Gehan's 6-MP data: log-HR −1.542 instead of R's
    −1.572). For Cox fits pass ``censored_only=<event column>``: only censored rows (which
    enter the partial likelihood through the risk-set sums alone, where a weight is exact) are
    merged, and every lapse keeps its own row."""
    w = frame[weights_col].to_numpy(float) if weights_col else np.ones(len(frame))
    tmp = frame[columns].copy()
    tmp[WEIGHT] = w
    if censored_only is not None:
        event = tmp[censored_only].to_numpy() == 1
        merged = _merge_rows(tmp.loc[~event], columns)
        return pd.concat([tmp.loc[event], merged], ignore_index=True)
    return _merge_rows(tmp, columns)


def _merge_rows(tmp: pd.DataFrame, columns: list) -> pd.DataFrame:
    """``tmp.groupby(columns, sort=False, dropna=False)[WEIGHT].sum().reset_index()``: for
    numeric columns by hash factorisation column by column (the same groups in the same order
    of first appearance, the weights summed in row order — groupby over the twenty columns of
    the time-varying Cox model's episodes took seconds at 200k customers, issue 22)."""
    if not all(pd.api.types.is_numeric_dtype(tmp[c]) and not pd.api.types.is_bool_dtype(tmp[c])
               for c in columns):
        return tmp.groupby(columns, sort=False, observed=True,
                           dropna=False)[WEIGHT].sum().reset_index()
    codes = np.zeros(len(tmp), np.int64)
    for c in columns:
        cc, u = pd.factorize(tmp[c].to_numpy(), use_na_sentinel=False)
        codes = pd.factorize(codes * max(len(u), 1) + cc)[0].astype(np.int64)
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    first = np.unique(codes, return_index=True)[1] if len(codes) else np.zeros(0, np.int64)
    out = tmp[columns].iloc[first].reset_index(drop=True)
    out[WEIGHT] = np.bincount(codes, weights=tmp[WEIGHT].to_numpy(float), minlength=n_groups)
    return out


def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


def design_matrix(frame: pd.DataFrame, covariates, name: str = "churn table",
                  reference: dict | None = None):
    """Numeric covariate columns for lifelines: numeric covariates as they are, categorical ones
    as 0/1 indicators ``column=level`` against a reference level (the most frequent one unless
    ``reference`` names it). Missing values, constant covariates and linearly dependent
    covariates are :class:`DataError` s (lifelines would fail to converge or return
    meaningless coefficients). Returns ``(X, info)`` where ``info`` maps each covariate to its
    columns and reference level."""
    covariates = list(covariates or [])
    reference = dict(reference or {})
    _require_columns(frame, name, covariates)
    parts, info = [], {}
    for col in covariates:
        s = frame[col]
        bad = s.isna()
        if bad.any():
            raise DataError.for_rule(name, col, f"covariate {col} is not missing", bad, frame)
        if _is_categorical(s):
            s = s.astype(str)
            counts = s.value_counts()
            if len(counts) < 2:
                raise DataError(f"{name}.{col}: covariate has a single level ({counts.index[0]!r}"
                                f" in all {len(s):,} rows); rule 'covariate varies'", table=name,
                                column=col, rule="covariate varies", n_rows=len(s))
            ref = str(reference.get(col, counts.index[0]))
            levels = [lv for lv in sorted(counts.index) if lv != ref]
            cols = {f"{col}={lv}": (s == lv).astype(float).to_numpy() for lv in levels}
            parts.append(pd.DataFrame(cols, index=frame.index))
            info[col] = {"columns": list(cols), "reference": ref}
        else:
            x = s.astype(float)
            if x.nunique() < 2:
                raise DataError(f"{name}.{col}: covariate is constant ({x.iloc[0]!r}); rule "
                                f"'covariate varies'", table=name, column=col,
                                rule="covariate varies", n_rows=len(x))
            parts.append(x.to_frame(col))
            info[col] = {"columns": [col], "reference": None}
    X = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)
    if X.shape[1]:
        _check_rank(X, name)
    return X, info


def _check_rank(X: pd.DataFrame, name: str) -> None:
    m = X.to_numpy(float)
    m = np.column_stack([np.ones(len(m)), m - m.mean(axis=0)])
    rank = np.linalg.matrix_rank(m)
    if rank == m.shape[1]:
        return
    kept, dependent = [np.ones(len(m))], []
    for j, col in enumerate(X.columns, start=1):
        trial = np.column_stack(kept + [m[:, j]])
        if np.linalg.matrix_rank(trial) == trial.shape[1]:
            kept.append(m[:, j])
        else:
            dependent.append(col)
    raise DataError(f"{name}: covariate column(s) {', '.join(map(repr, dependent))} are linear "
                    f"combinations of the others (collinear); rule 'covariates linearly "
                    f"independent' — drop or merge them", table=name,
                    column=",".join(dependent), rule="covariates linearly independent",
                    n_rows=len(X))


def p_words(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
