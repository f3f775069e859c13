"""The churn table and purchase ages from one sort of (customer, day) pairs
(``survival._churn_days``, issue 22) against the engines' churn table (pandas groupby and
DuckDB SQL: two independent implementations) and :func:`purchase_ages`' own sort."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import retention_lab.survival.time_varying as tv
from retention_lab._arrays import positions
from retention_lab.features import churn_table
from retention_lab.survival._churn_days import ages_from_days, churn_from_days, customer_days
from retention_lab.survival._episodes import run_positions
from retention_lab.survival.data import churn_frame
from retention_lab.survival.time_varying import enrolment_effect, purchase_ages


def _tx(seed, n=4000):
    rng = np.random.default_rng(seed)
    cid = rng.integers(100, 400, n)
    start = pd.Timestamp("1969-11-01")          # days before 1970: floor, not truncation
    date = start + pd.to_timedelta(rng.integers(0, 500, n), "D") \
        + pd.to_timedelta(rng.integers(0, 86_400, n), "s")   # times within a day
    amt = rng.gamma(2.0, 10.0, n).round(2)
    amt[:20] = 0.0
    # ten customers first seen in the last two weeks: too new for a lapse to be confirmed
    late = pd.DataFrame({"customer_id": np.repeat(np.arange(400, 410), 3),
                         "date": pd.Timestamp("1970-12-01")
                         + pd.to_timedelta(rng.integers(0, 14, 30), "D"), "amount": 5.0})
    return pd.concat([pd.DataFrame({"customer_id": cid, "date": date, "amount": amt}), late],
                     ignore_index=True)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("end", [None, "1970-12-15"])
@pytest.mark.parametrize("inactivity", [30, 90])
def test_churn_from_days_equals_the_engines(seed, end, inactivity):
    tx = _tx(seed)
    cd = customer_days(tx, end)
    got = churn_from_days(cd, inactivity)
    want = churn_table(tx, inactivity, end)                       # engine "auto": pandas here
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.attrs == want.attrs
    assert (want["churned"] == 1).any() and (want["churned"] == 0).any()
    if end is not None:     # rows after the end and customers too new are counted
        assert {r["rule"].split(" (")[0] for r in got.attrs["quality"]} == {
            "date <= observation_end", "first purchase on or before the confirmation cutoff"}
    duck = churn_table(tx, inactivity, end, engine="duckdb")
    pd.testing.assert_frame_equal(got, duck, check_exact=True)
    assert {k: v for k, v in got.attrs.items() if k != "engine"} == \
        {k: v for k, v in duck.attrs.items() if k != "engine"}


@pytest.mark.parametrize("end", [None, "1970-12-15"])
def test_ages_from_days_equals_purchase_ages(end):
    tx = _tx(3)
    customers = pd.DataFrame({"customer_id": np.arange(100, 410)})
    data = SimpleNamespace(transactions=tx, customers=customers,
                           observation_end=None if end is None else pd.Timestamp(end))
    table = churn_frame(data, 60)
    want = purchase_ages(data, table, by_customer=True)
    got = ages_from_days(customer_days(tx, data.observation_end), table)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert ages_from_days(customer_days(tx, end), table.iloc[::-1]) is None   # unsorted ids


def test_customer_days_declines_what_validation_would_change():
    tx = _tx(4, 200)
    assert customer_days(tx, "1970-06-01 12:00") is None                    # a time of day
    assert customer_days(tx.assign(amount=-tx["amount"]), None) is None     # returns to net
    assert customer_days(tx.assign(order_id=np.arange(len(tx))), None) is None
    assert customer_days(tx.assign(customer_id=tx["customer_id"].astype(str)), None) is None
    bad = tx.copy()
    bad.loc[3, "amount"] = np.nan
    assert customer_days(bad, None) is None
    assert customer_days(tx.iloc[:0], None) is None


@pytest.mark.filterwarnings("ignore::retention_lab.errors.SeparationWarning")
def test_enrolment_effect_same_with_and_without_the_shared_sort(monkeypatch):
    """The whole model on the pairs equals the model on the engine's table and purchase_ages."""
    rng = np.random.default_rng(5)
    tx = _tx(5, 6000)
    ids = np.arange(100, 410)
    enrolled = pd.Series(pd.Timestamp("1970-03-01")
                         + pd.to_timedelta(rng.integers(0, 200, len(ids)), "D"))
    enrolled[rng.random(len(ids)) < 0.5] = pd.NaT
    data = SimpleNamespace(transactions=tx, observation_end=pd.Timestamp("1970-12-31"),
                           launch_date=pd.Timestamp("1970-03-01"),
                           customers=pd.DataFrame({"customer_id": ids, "enrolled_at": enrolled}))
    fast = enrolment_effect(data, inactivity_days=60)
    monkeypatch.setattr(tv, "customer_days", lambda *a, **k: None)
    slow = enrolment_effect(data, inactivity_days=60)
    pd.testing.assert_frame_equal(fast.summary, slow.summary, check_exact=True)
    pd.testing.assert_frame_equal(fast.long_, slow.long_, check_exact=True)
    pd.testing.assert_frame_equal(fast.table_, slow.table_, check_exact=True)


def test_run_positions_equal_positions():
    """One lookup per run of equal ids, repeated, against the lookup of every id."""
    rng = np.random.default_rng(6)
    index = rng.permutation(np.arange(10, 500))[:300]
    for ids in (np.sort(rng.integers(0, 520, 3000)), rng.integers(0, 520, 3000),
                np.array([7]), np.zeros(0, np.int64)):
        np.testing.assert_array_equal(run_positions(index, ids), positions(index, ids))


def test_purchase_ages_from_a_table_of_whole_days():
    """_ages (issue 22): ages from day numbers by a table over the whole days spanned — bit for
    bit the datetime formula it replaces (``(day − first) / 1 day``) over 0 … 80,000 days and
    negative ones, equal to Python's ``date`` arithmetic on a sample; a first purchase that is
    not a midnight goes to the datetime formula."""
    import datetime

    from retention_lab.survival._churn_days import _ages
    rng = np.random.default_rng(4)
    first = pd.to_datetime(["1995-03-01", "2021-12-31", "1969-07-20"]).to_numpy()
    k = np.r_[np.arange(0, 80_001), rng.integers(-500, 0, 1000)]
    n_days = np.array([40_001, 40_000, 1000])
    f_day = first.astype("datetime64[D]").astype(np.int64)
    day = k + np.repeat(f_day, n_days)
    got = _ages(day, first, n_days)
    old = (day.astype("datetime64[D]").astype("datetime64[ns]") - np.repeat(first, n_days)) \
        / np.timedelta64(1, "D")
    np.testing.assert_array_equal(got.view(np.int64), old.view(np.int64))
    for i in rng.integers(0, len(k), 200):
        c = np.searchsorted(np.cumsum(n_days), i, side="right")
        d0 = datetime.date(1970, 1, 1) + datetime.timedelta(days=int(day[i]))
        f0 = pd.Timestamp(first[c]).date()
        assert got[i] == float((d0 - f0).days)
    noon = first + np.timedelta64(12, "h")
    half = _ages(day, noon, n_days)
    np.testing.assert_array_equal(half, old - 0.5)
