"""outcome_table's per-customer reductions (ids factorised once, numpy bincount / ufunc.at)
against the literal pandas groupbys they replaced (issue 22), on messy transactions: several
lines on a day, ids that are not customers, missing amounts and dates, customers without a
purchase, enrolments after the observation end."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from retention_lab.impact.core.outcomes import outcome_table


def _groupby_oracle(data, horizon):
    """The columns from transactions, written as pandas groupbys (the pre-issue-22 code)."""
    launch = pd.Timestamp(data.launch_date).normalize()
    end = pd.Timestamp(data.observation_end).normalize()
    h_end = launch + pd.Timedelta(days=horizon)
    cust = data.customers.drop_duplicates("customer_id").set_index("customer_id")
    tx = data.transactions
    day = pd.to_datetime(tx["date"]).dt.normalize()
    ids = tx["customer_id"]
    amount = tx["amount"].astype(float)
    pre = day < launch
    post = (day >= launch) & (day < h_end)
    late = (day > h_end) & (day <= end)
    after_launch = (day >= launch) & (day <= end)
    out = pd.DataFrame(index=cust.index)
    g_pre = pd.DataFrame({"id": ids[pre], "day": day[pre], "amount": amount[pre]}).groupby("id")
    out["pre_orders"] = g_pre["day"].nunique().reindex(out.index, fill_value=0).astype(float)
    out["pre_spend"] = g_pre["amount"].sum().reindex(out.index, fill_value=0.0)
    first = pd.Series(day.groupby(ids).min()).reindex(out.index)
    first = first.fillna(pd.to_datetime(cust["signup_date"]).dt.normalize())
    last_pre = g_pre["day"].max().reindex(out.index)
    out["tenure_days"] = (launch - first).dt.days.clip(lower=0).fillna(0).astype(float)
    out["recency_days"] = (launch - last_pre).dt.days.fillna(out["tenure_days"]).astype(float)
    g_post = pd.DataFrame({"id": ids[post], "day": day[post], "amount": amount[post]}).groupby("id")
    out["orders"] = g_post["day"].nunique().reindex(out.index, fill_value=0).astype(float)
    out["spend"] = g_post["amount"].sum().reindex(out.index, fill_value=0.0)
    out["first_post"] = day[after_launch].groupby(ids[after_launch]).min().reindex(out.index)
    last = day[day <= end].groupby(ids[day <= end]).max().reindex(out.index)
    out["rmst_days"] = (last - launch).dt.days.clip(lower=0, upper=int(horizon)).fillna(0.0)
    start = first.where(first > launch, launch).fillna(launch)
    out["exposure_days"] = (h_end - start).dt.days.clip(lower=0).astype(float)
    out["retained"] = ids[late].drop_duplicates().pipe(
        lambda s: pd.Series(1.0, index=s)).reindex(out.index, fill_value=0.0)
    enr = pd.to_datetime(cust["enrolled_at"]).dt.normalize()
    enr = enr.where(enr <= end)
    after = post & (day >= ids.map(enr)).fillna(False).to_numpy()
    out["member_spend"] = amount[after].groupby(ids[after]).sum().reindex(out.index,
                                                                        fill_value=0.0)
    return out


def _messy(seed, unit="ns"):
    rng = np.random.default_rng(seed)
    n, m = 300, 6000
    start = pd.Timestamp("2022-01-01")
    cust = pd.DataFrame({
        "customer_id": rng.permutation(np.arange(1000, 1000 + n)),
        "signup_date": start + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
        "tier": rng.choice(["a", "b"], n)})
    enr = start + pd.to_timedelta(rng.integers(300, 1100, n), unit="D") + pd.to_timedelta(
        rng.integers(0, 86400, n), unit="s")
    cust["enrolled_at"] = enr.where(rng.random(n) < 0.4)
    cust = pd.concat([cust, cust.iloc[:5]], ignore_index=True)     # duplicated customers
    ids = rng.choice(np.r_[cust["customer_id"].to_numpy()[:n - 40], [1, 2, 3]], m)
    date = (start + pd.to_timedelta(rng.integers(0, 1100, m), unit="D")
            + pd.to_timedelta(rng.integers(0, 86400, m), unit="s"))
    date = pd.Series(date).where(rng.random(m) > 0.01)
    tx = pd.DataFrame({"customer_id": ids, "date": date.astype(f"datetime64[{unit}]"),
                       "amount": np.round(rng.gamma(2.0, 20.0, m), 2)})
    tx.loc[rng.random(m) < 0.02, "amount"] = np.nan
    tx = pd.concat([tx, tx.sample(500, random_state=seed)], ignore_index=True)  # same-day lines
    return SimpleNamespace(customers=cust, transactions=tx, launch_date="2022-12-01",
                           observation_end="2024-12-31")


@pytest.mark.parametrize("seed,unit,horizon", [(0, "ns", 365), (1, "us", 200), (2, "ns", 30)])
def test_outcome_table_equals_groupbys(seed, unit, horizon):
    data = _messy(seed, unit)
    got = outcome_table(data, horizon)
    want = _groupby_oracle(data, horizon)
    assert got.index.equals(want.index)
    for col in want.columns:
        if col in ("pre_spend", "spend", "member_spend"):   # bincount vs Kahan: rounding only
            np.testing.assert_allclose(got[col].to_numpy(), want[col].to_numpy(),
                                       rtol=1e-12, atol=0, err_msg=col)
        else:
            pd.testing.assert_series_equal(got[col], want[col], check_names=False,
                                           obj=col)
    assert got["member_spend"].gt(0).any() and got["retained"].gt(0).any()
