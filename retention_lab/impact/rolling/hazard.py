"""The rolling design's logistic models: a Newton–Raphson logit with a tiny ridge (the pooled
propensity of membership and the enrolment hazard), the standardisation of the history
features, the pooled hazard of enrolling at a purchase among not-yet-enrolled customers, and
the inverse-probability-of-censoring weights it gives to comparison customers' outcomes and
survey answers made before they enrolled (Robins & Finkelstein 2000, *Biometrics* 56).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.outcomes import categorical_columns
from .history import HISTORY, _History

# --------------------------------------------------------------------------------------------
# small numerical helpers
# --------------------------------------------------------------------------------------------
#: rows from which :func:`_logit` starts Newton at a fit on every ``_WARM_STRIDE``-th row
_WARM_ROWS = 100_000
_WARM_STRIDE = 8


def _logit(X: np.ndarray, y: np.ndarray, ridge: float = 1e-4, max_iter: int = 50) -> np.ndarray:
    """Logistic regression by Newton–Raphson with a tiny ridge (not on the intercept, column 0)
    so that trial indicators without members do not diverge. Returns the coefficients; it stops
    after a Newton step whose largest entry is below 1e-8.

    On many rows (issue 22: the enrolment hazard has a row per purchase day at risk, 5M at 1M
    customers) Newton starts at the same fit on every ``_WARM_STRIDE``-th row (recursively),
    and each Newton step is followed by chord steps — steps with the same Hessian, held fixed,
    so that each costs a gradient pass and no Hessian — while they shrink at least tenfold
    (the Hessian has hardly moved; they stop below 1e-10). Then a Newton step with a fresh
    Hessian checks the stopping rule: typically two Hessian passes and a few gradient passes
    instead of eight to ten Hessian passes from zero. Each pass over ``X`` is one pass in blocks
    of rows (a block's linear predictor, gradient and Hessian while it is in cache)."""
    k = X.shape[1]
    pen = np.full(k, ridge * len(y))
    pen[0] = 0.0
    warm = len(y) >= _WARM_ROWS
    beta = _logit(X[::_WARM_STRIDE], y[::_WARM_STRIDE], ridge, max_iter) if warm else np.zeros(k)
    for _ in range(max_iter):
        grad, H = _logit_derivatives(X, y, beta)
        H += np.diag(pen)
        step = np.linalg.solve(H, grad - pen * beta)
        beta += step
        if np.max(np.abs(step)) < 1e-8:
            break
        last = np.max(np.abs(step))
        while warm and last >= 1e-10:
            step = np.linalg.solve(H, _logit_derivatives(X, y, beta, hessian=False)[0] -
                                   pen * beta)
            size = np.max(np.abs(step))
            if not size < 0.5 * last:          # not contracting: a fresh Hessian instead
                break
            beta += step
            if not size < 0.1 * last:
                break
            last = size
    return beta


def _logit_derivatives(X: np.ndarray, y: np.ndarray, beta: np.ndarray, chunk: int = 4096,
                       hessian: bool = True):
    """Gradient ``Xᵀ(y − p)`` and (``hessian``) Hessian ``Xᵀ diag(p(1 − p)) X`` of the
    log-likelihood at ``beta`` (no penalty), accumulated over blocks of rows in one pass."""
    k = X.shape[1]
    grad, H = np.zeros(k), (np.zeros((k, k)) if hessian else None)
    for lo in range(0, X.shape[0], chunk):
        Xc = X[lo:lo + chunk]
        p = _sigmoid(Xc @ beta)
        grad += Xc.T @ (y[lo:lo + chunk] - p)
        if hessian:
            H += (Xc * (p * (1 - p))[:, None]).T @ Xc
    return grad, H


def _sigmoid(eta):
    return 1 / (1 + np.exp(-np.clip(eta, -30, 30)))


def _standardize(F: pd.DataFrame, ref: np.ndarray | None = None):
    A = F.to_numpy(float)
    mu = A.mean(axis=0) if ref is None else ref[0]
    sd = A.std(axis=0) if ref is None else ref[1]
    sd = np.where(sd > 0, sd, 1.0)
    return (A - mu) / sd, (mu, sd)


def _standardize_into(F: pd.DataFrame, columns, out: np.ndarray):
    """:func:`_standardize` of ``F[columns]`` written into ``out`` column by column (no copy of
    the columns and no whole-matrix temporaries; issue 22). Each column's mean and SD are the
    same reductions over the same contiguous values as ``A.mean(axis=0)`` and ``A.std(axis=0)``
    of the column-major ``A = F[columns].to_numpy()``, so the same numbers. Returns
    ``(mu, sd)`` as :func:`_standardize`."""
    mu, sd = np.empty(len(columns)), np.empty(len(columns))
    for j, col in enumerate(columns):
        a = np.ascontiguousarray(F[col].to_numpy(float))
        mu[j], sd[j] = a.mean(), a.std()
        sd[j] = sd[j] if sd[j] > 0 else 1.0
        np.subtract(a, mu[j], out=out[:, j])
        out[:, j] /= sd[j]
    return mu, sd


def _design_matrix(rows, frame):
    """The propensity's design matrix: intercept, standardized history, the customers'
    categorical covariates (dummies) and trial indicators, constant columns dropped. Returns
    ``(cats, Xcat_c, ref, levels, code, X, keep_col)``."""
    cust = frame["cust"]
    cats = [c for c in categorical_columns(cust.set_index("customer_id"))
            if c not in ("arm", "enrolled_at", "signup_date")]
    Xcat_c = np.zeros((len(cust), 0))
    if cats:
        Xcat_c = pd.get_dummies(cust[cats].astype("string").fillna("missing"),
                                drop_first=True, dtype=float).to_numpy(float)
    trial = rows["trial"].to_numpy()
    levels = np.unique(trial)
    code = rows["code"].to_numpy(np.int64)
    # filled in place (np.c_ of the parts copied them twice; issue 22), the same numbers in
    # the same (column-major) layout as before, so that BLAS sums in the same order
    n_z, n_c = len(HISTORY), Xcat_c.shape[1]
    X = np.empty((len(rows), 1 + n_z + n_c + len(levels) - 1), order="F")
    X[:, 0] = 1.0
    ref = _standardize_into(rows, HISTORY, X[:, 1:1 + n_z])
    X[:, 1 + n_z:1 + n_z + n_c] = Xcat_c[code]
    X[:, 1 + n_z + n_c:] = trial[:, None] == levels[None, 1:]
    keep_col = np.r_[True, _varies(X[:, 1:])]
    if not keep_col.all():
        X = np.asfortranarray(X[:, keep_col])
    return cats, Xcat_c, ref, levels, code, X, keep_col


def _varies(X: np.ndarray) -> np.ndarray:
    """Per column, ``X.std(axis=0) > 0`` (the test the design has always used). A column whose
    values differ has a positive standard deviation, so the standard deviations (a pass over
    ``X`` several times slower than min/max) are only computed when some column is constant —
    over the whole of ``X`` as before: in a constant column the mean can round away from the
    constant (then its std is a few ulps, not 0), and how it rounds depends on the layout."""
    out = X.max(axis=0, initial=-np.inf) > X.min(axis=0, initial=np.inf)
    return out if out.all() else X.std(axis=0) > 0


def _enrolment_hazard(H: _History, frame: dict, Xcat: np.ndarray, cat_cols, ref):
    """Per purchase day of a not-yet-enrolled customer (from the start on): the fitted
    probability of enrolling at that purchase (pooled logit on the history). Returns
    ``log(1 − h)`` of every purchase day, aligned with ``H.key`` (0 where not at risk), and the
    fitted hazards."""
    shift, enrol_day = frame["shift"], frame["enrol_day"]
    d = H.day - shift
    e = enrol_day[H.code]
    at_risk = (d >= 0) & (d <= frame["end_day"]) & ~(e < d)
    idx = np.flatnonzero(at_risk)
    # every row is a purchase day: its position among them is its own index (no search)
    make = H.feature_makers(H.code[idx], H.day[idx], p=idx)
    # the design matrix filled in place, column by column (no whole-matrix temporaries: at 1M
    # customers it has one row per purchase day at risk); the same numbers as _standardize
    mu, sd = ref
    sd = np.where(sd > 0, sd, 1.0)
    X = np.empty((len(idx), 1 + len(HISTORY) + Xcat.shape[1]))
    X[:, 0] = 1.0
    for j, col in enumerate(HISTORY):
        X[:, 1 + j] = (make[col]() - mu[j]) / sd[j]
    del make
    X[:, 1 + len(HISTORY):] = Xcat[H.code[idx]]
    y = (e[idx] == d[idx]).astype(float)
    log_surv = np.zeros(len(H.key))
    if y.sum() == 0:
        return log_surv, np.zeros(len(idx))
    beta = _logit(X, y)
    h = _sigmoid(X @ beta)
    log_surv[idx] = np.log1p(-np.minimum(h, 0.999))
    return log_surv, h


def _ipcw_outcomes(H: _History, log_surv, code, hday, enrol_hday, horizon_days, follow_end,
                   survey_hday=None):
    """Inverse-probability-of-censoring weighted outcomes of comparison rows.

    Every purchase day ``j`` of the follow-up counts with weight ``1 / S_j``, ``S_j`` the fitted
    probability of not having enrolled at any earlier follow-up purchase; purchases after the
    customer's enrolment day are not observed (censored). The enrolment purchase itself counts:
    enrolment is decided at the purchase, which was made as a non-member. Retention counts the
    first purchase of the retention window with its ``1 / S``; it is unknown (0, weighted up
    through the others) when the customer enrolled before it. Returns ``(orders, spend,
    retained, survey_weight)`` (expectation-preserving: ``E[Ỹ | x] = E[Y(0) | x]``;
    Robins & Rotnitzky 1992; Lin et al. 2000, *Biometrics* 56 for cumulative outcomes)."""
    a = H.pos(code, hday, "right")
    b = H.pos(code, follow_end.astype(np.int64), "right")
    cnt = (b - a).astype(np.int64)
    row = np.repeat(np.arange(len(code)), cnt)
    first = np.repeat(np.cumsum(cnt) - cnt, cnt)
    j = np.repeat(a, cnt) + (np.arange(cnt.sum()) - first)
    ls = log_surv[j]
    csum = np.cumsum(ls)
    before = csum - ls - np.repeat(np.r_[0.0, csum][np.cumsum(cnt) - cnt], cnt)
    inv = np.exp(-np.minimum(before, 0.0).clip(min=-700))
    d = H.day[j]
    e = enrol_hday[row]
    seen = ~(d > e)                              # on or before the enrolment day
    in_win = d <= hday[row] + horizon_days
    n_j = H.c_orders[j + 1] - H.c_orders[j]
    s_j = H.c_spend[j + 1] - H.c_spend[j]
    k = len(code)
    orders = np.bincount(row, weights=n_j * inv * (seen & in_win), minlength=k)
    spend = np.bincount(row, weights=s_j * inv * (seen & in_win), minlength=k)
    ret_entry = ~in_win
    firstret = ret_entry & (np.r_[True, row[1:] != row[:-1]] | ~np.r_[False, ret_entry[:-1]])
    retained = np.bincount(row, weights=inv * (firstret & seen), minlength=k)
    out = [orders, spend, retained]
    if survey_hday is not None:   # weight of a survey answered as a non-member
        sday = survey_hday[row]
        lsum = np.bincount(row, weights=ls * (d < sday), minlength=k)
        sw = np.exp(-np.minimum(lsum, 0).clip(min=-700))
        sw = np.where(np.isfinite(survey_hday) & ~(enrol_hday <= survey_hday), sw, 0.0)
        out.append(sw)
    return tuple(out)
