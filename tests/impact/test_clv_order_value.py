"""The CLV effect's order-value ratio (``impact.core.clv_order_value``, issue 22) against a
brute-force pandas evaluation of its definition: the monthly reference index over orders of
customers not (yet) enrolled, the members' deflated post/pre ratio, and its influence function
as the derivative of the customer-weighted estimator in each customer's weight (central
differences)."""
import numpy as np
import pandas as pd
import pytest

from retention_lab.features.periods import period_index
from retention_lab.impact.core.clv_order_value import _month_codes, order_value_ratio


def _world(seed):
    rng = np.random.default_rng(seed)
    n_c, n = 60, 1500
    cid = rng.integers(0, n_c, n)
    date = pd.Timestamp("1969-10-01") + pd.to_timedelta(rng.integers(0, 300, n), "D") \
        + pd.to_timedelta(rng.integers(0, 86_400, n), "s")
    amt = rng.gamma(2.0, 5.0, n) * (1 + 0.2 * (cid % 3 == 0))
    tx = pd.DataFrame({"customer_id": cid, "date": date, "amount": amt})
    enr = pd.Series(pd.Timestamp("1970-01-15")
                    + pd.to_timedelta(rng.integers(0, 150, n_c), "D"), index=np.arange(n_c))
    enr[rng.random(n_c) < 0.4] = pd.NaT
    members = enr.dropna().iloc[::2]            # the analysed members: a subset of the enrolled
    return tx, enr, members


def _brute(tx, enr, members, w):
    """ρ of the definition with customer weights ``w`` (Series by customer)."""
    d = tx.assign(month=tx["date"].dt.to_period("M"), e=tx["customer_id"].map(enr),
                  wt=tx["customer_id"].map(w))
    ref = d.loc[d["e"].isna() | (d["date"] <= d["e"])]
    months = pd.period_range(d["month"].min(), d["month"].max(), freq="M")
    idx = (ref["wt"] * ref["amount"]).groupby(ref["month"]).sum() / \
        ref["wt"].groupby(ref["month"]).sum()
    idx = idx.reindex(months).ffill().bfill()
    num = den = 0.0
    for c, g in d.loc[d["customer_id"].isin(members.index)].groupby("customer_id"):
        y = g["amount"].to_numpy() / idx.loc[g["month"]].to_numpy()
        post = (g["date"] > members[c]).to_numpy()
        if post.any() and (~post).any():
            num += w[c] * y[post].sum()
            den += w[c] * post.sum() * y[~post].mean()
    return num / den


@pytest.mark.parametrize("seed", [0, 1])
def test_order_value_ratio_against_the_definition(seed):
    tx, enr, members = _world(seed)
    end = pd.Timestamp("1970-07-01")
    rho, infl, n_used = order_value_ratio(tx, enr, members, end)
    inside = tx.loc[tx["date"] <= end]
    w1 = pd.Series(1.0, index=np.arange(60))
    assert rho == pytest.approx(_brute(inside, enr, members, w1), rel=1e-12)
    assert n_used > 5
    for c in infl.index[:: max(1, len(infl) // 8)]:      # members and reference customers
        h = 1e-5
        up, dn = w1.copy(), w1.copy()
        up[c] += h
        dn[c] -= h
        fd = (_brute(inside, enr, members, up) - _brute(inside, enr, members, dn)) / (2 * h)
        assert infl[c] == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_month_codes_equal_period_index():
    rng = np.random.default_rng(2)
    dates = (pd.Timestamp("1968-12-30") + pd.to_timedelta(rng.integers(0, 900 * 86_400, 5000),
                                                          "s")).to_numpy()
    codes, nm = _month_codes(dates)
    want = period_index(dates, "M")
    np.testing.assert_array_equal(codes, want - want.min())
    assert nm == want.max() - want.min() + 1
