"""The rolling trial rows and the enrolment hazard's design (issue 22's faster paths: purchase
days by one value sort, comparison rows read from the sorted purchase days, shared window
searches, features at known positions, Newton started at a subsample's fit) against a
brute-force loop over each customer's own purchase days, written from the rules in the module
docstring of :mod:`retention_lab.impact.rolling.trials`, on a small study with same-day lines,
purchases before the start, late sign-ups, enrolments off purchase days, before the start and
too late for a trial; and the in-place stable order they use against numpy's stable argsort.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_rolling_scale import penalised_logit_problem

from retention_lab._arrays import stable_order
from retention_lab.experiment_data import ExperimentData
from retention_lab.impact.rolling import hazard, trials as tr
from retention_lab.units import days_per

H_DAYS, R_DAYS, END = 60, 30, 365
LAUNCH = pd.Timestamp("2024-01-01")


def _study(seed=0, n=40):
    rng = np.random.default_rng(seed)
    lines = []
    for c in range(1, n + 1):
        if c % 13 == 0:
            continue                                    # never buys
        start = int(rng.integers(-250, 300))            # some first buy after the start
        days = np.sort(rng.integers(start, END + 1, int(rng.integers(1, 14))))
        for d in days:
            for _ in range(int(rng.integers(1, 3))):    # same-day lines: one purchase day
                lines.append((c, LAUNCH + pd.Timedelta(days=int(d)),
                              float(np.round(rng.gamma(2, 10), 2))))
    tx = pd.DataFrame(lines, columns=["customer_id", "date", "amount"])
    tx = tx.sample(frac=1.0, random_state=seed).reset_index(drop=True)   # not in key order
    enrolled, signup = [], []
    for c in range(1, n + 1):
        mine = tx.loc[tx["customer_id"] == c, "date"].sort_values()
        u = rng.random()
        if len(mine) >= 2 and u < 0.45:                 # at a purchase (maybe before the start)
            enrolled.append(mine.iloc[int(rng.integers(1, len(mine)))])
        elif u < 0.6:                                   # off purchase days, maybe too late
            enrolled.append(LAUNCH + pd.Timedelta(days=int(rng.integers(-20, END + 30))))
        else:
            enrolled.append(pd.NaT)
        signup.append(LAUNCH + pd.Timedelta(days=int(rng.integers(-300, 200)))
                      if rng.random() < 0.6 else pd.NaT)
    cust = pd.DataFrame({"customer_id": np.arange(1, n + 1), "enrolled_at": enrolled,
                         "signup_date": signup,
                         "channel": rng.choice(["a", "b", "c"], n)})
    return ExperimentData(tx, cust, None, LAUNCH + pd.Timedelta(days=END), LAUNCH,
                          "self_selected")


def _purchase_days(data):
    """customer id -> {day from the launch: spend of the day}, by a loop over the lines."""
    out: dict = {}
    for c, d, a in data.transactions.itertuples(index=False):
        day = (d.normalize() - LAUNCH).days
        out.setdefault(c, {})
        out[c][day] = out[c].get(day, 0.0) + a
    return out


def _history_at(days: dict, signup, t):
    """The history features strictly before day ``t`` (module docstring of trials)."""
    before = sorted(d for d in days if d < t)
    n = len(before)
    spend = sum(days[d] for d in before)
    first = min(days) if days else math.nan
    if signup is not None:
        first = signup if math.isnan(first) else min(first, signup)
    tenure = 0.0 if math.isnan(first) else max(t - first, 0)
    last = before[-1] if n else t
    gap = (last - min(days)) / (n - 1) if n >= 2 else 0.0
    recency = float(t - last)
    return {"prior_orders": float(n), "prior_spend": spend, "tenure_days": float(tenure),
            "recency_days": recency, "mean_gap_days": float(gap),
            "log_prior_orders": math.log1p(n), "log_prior_spend": math.log1p(max(spend, 0)),
            "log_tenure": math.log1p(tenure), "log_recency": math.log1p(recency),
            "log_mean_gap": math.log1p(gap), "recency_months": recency / days_per("M"),
            "tenure_years": tenure / days_per("Y"), "no_history": float(n == 0),
            "one_day_history": float(n == 1)}


def _brute_rows(data):
    pdays = _purchase_days(data)
    plen = days_per("M")
    last_index = END - H_DAYS - R_DAYS
    rows = []
    for code, r in enumerate(data.customers.itertuples(index=False)):
        days = pdays.get(r.customer_id, {})
        e = (r.enrolled_at - LAUNCH).days if pd.notna(r.enrolled_at) else math.nan
        e = e if e <= END else math.nan
        signup = (r.signup_date - LAUNCH).days if pd.notna(r.signup_date) else None
        index = []
        if not math.isnan(e) and 0 <= e <= last_index:
            index.append((int(e), 1))
        seen = set()
        for d in sorted(days):
            k = math.floor(d / plen)
            if 0 <= d <= last_index and not e <= d and k not in seen:
                seen.add(k)
                index.append((d, 0))
        for t, member in index:
            follow = t + H_DAYS + R_DAYS
            row = {"code": code, "day": t, "trial": math.floor(t / plen), "member": member,
                   **_history_at(days, signup, t), "customer_id": r.customer_id,
                   "index_date": LAUNCH + pd.Timedelta(days=t), "enrol_day": e,
                   "follow_end_day": follow,
                   "censored": int(member == 0 and e <= follow),
                   "orders": float(sum(t < d <= t + H_DAYS for d in days)),
                   "spend": sum(a for d, a in days.items() if t < d <= t + H_DAYS),
                   "retained": float(any(t + H_DAYS < d <= follow for d in days)),
                   "index_purchase": float(t in days)}
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trial_rows_match_a_loop_over_each_customers_purchase_days(seed):
    data = _study(seed)
    rows, info, _, _ = tr.build_trials(data, horizon_days=H_DAYS, retention_days=R_DAYS)
    ref = _brute_rows(data)
    assert list(rows.columns) == list(ref.columns)
    assert (rows["member"] == 1).sum() > 3 and (rows["member"] == 0).sum() > 20
    key = ["member", "code", "trial"]
    got = rows.sort_values(key, kind="stable").reset_index(drop=True)
    ref = ref.sort_values(key, kind="stable").reset_index(drop=True)
    assert len(got) == len(ref)
    for col in ref.columns:
        if col == "index_date":
            assert (got[col].to_numpy() == ref[col].to_numpy()).all()
        else:
            np.testing.assert_allclose(got[col].to_numpy(float), ref[col].to_numpy(float),
                                       rtol=1e-12, atol=1e-12, err_msg=col)
    # the rows come members first, then comparison rows by customer and day
    m = rows["member"].to_numpy()
    assert (np.diff(m) <= 0).all()
    comp = rows[m == 0]
    assert (np.diff(comp["code"] * 10_000 + comp["day"]) > 0).all()
    assert info["n_members_used"] == int(ref["member"].sum())


def test_enrolment_hazard_design_matches_a_loop_over_purchase_days(monkeypatch):
    """The hazard's rows: every purchase day from the start to the observation end of a
    customer not enrolled before it; the outcome is enrolling that day; the history is
    standardized with the propensity's mean and SD."""
    data = _study(3, n=60)
    rows, info, H, frame = tr.build_trials(data, horizon_days=H_DAYS, retention_days=R_DAYS)
    cats, Xcat_c, ref, levels, code, X, keep = hazard._design_matrix(rows, frame)
    seen = {}
    monkeypatch.setattr(hazard, "_logit", lambda X, y: seen.update(X=X, y=y) or
                        np.zeros(X.shape[1]))
    hazard._enrolment_hazard(H, frame, Xcat_c, cats, ref)
    pdays = _purchase_days(data)
    mu, sd = ref
    sd = np.where(sd > 0, sd, 1.0)
    want_X, want_y = [], []
    for c, r in enumerate(data.customers.itertuples(index=False)):
        days = pdays.get(r.customer_id, {})
        e = (r.enrolled_at - LAUNCH).days if pd.notna(r.enrolled_at) else math.nan
        e = e if e <= END else math.nan
        signup = (r.signup_date - LAUNCH).days if pd.notna(r.signup_date) else None
        for d in sorted(days):
            if 0 <= d <= END and not e < d:
                f = _history_at(days, signup, d)
                want_X.append([1.0] + [(f[k] - mu[j]) / sd[j] for j, k in
                                       enumerate(tr.HISTORY)] + list(Xcat_c[c]))
                want_y.append(float(e == d))
    np.testing.assert_allclose(seen["X"], np.array(want_X), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(seen["y"], want_y)


def test_logit_started_at_subsample_fits_reaches_the_penalised_maximum(monkeypatch):
    """Newton from a fit on every 8th row (two levels deep here), with chord steps, against
    scipy's BFGS on the same penalised likelihood, and against Newton from zero (the same
    stopping rule)."""
    X, y, ridge, ref = penalised_logit_problem(7, 6000, -2.0)
    passes = []
    real = hazard._logit_derivatives
    monkeypatch.setattr(hazard, "_logit_derivatives", lambda X, y, b, hessian=True: passes.append(
        (len(y), hessian)) or real(X, y, b, chunk=512, hessian=hessian))
    monkeypatch.setattr(hazard, "_WARM_ROWS", 500)
    warm = hazard._logit(X, y, ridge=ridge)
    assert sorted({n for n, _ in passes}) == [94, 750, 6000]      # 6000 -> 750 -> 94 rows
    assert passes.count((6000, True)) <= 3 and (6000, False) in passes   # chord steps used
    np.testing.assert_allclose(warm, ref, rtol=1e-6, atol=1e-8)
    monkeypatch.setattr(hazard, "_WARM_ROWS", 10 ** 9)
    np.testing.assert_allclose(warm, hazard._logit(X, y, ridge=ridge), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n_keys", [1, 7, 5000])
def test_stable_order_in_place_is_numpys_stable_argsort(n_keys):
    """``_arrays.stable_order(key, overwrite=True)`` (the packed sort in the key's buffer)
    against ``np.argsort(kind="stable")`` on tied keys, and the fallback when ``key · n`` does
    not fit an int64."""
    rng = np.random.default_rng(n_keys)
    for key in (rng.integers(0, n_keys, 20_000), np.r_[rng.integers(0, 9, 50), 2 ** 62]):
        key = key.astype(np.int64)
        ref = np.argsort(key, kind="stable")
        order, ks = stable_order(key.copy(), overwrite=True)
        np.testing.assert_array_equal(order, ref)
        np.testing.assert_array_equal(ks, key[ref])
