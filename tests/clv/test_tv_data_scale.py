"""The time-varying models' data build at scale (issue 22): the hash factorisation of rows
against numpy's sort-based ``unique(axis=0)`` (the oracle), and a fit's data built from the
transactions once reduced to purchase days equal to the data built from the transactions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clv_covariates_sim import simulate_dynamic
from retention_lab.clv.covariates_tv_data import (
    DynamicData,
    _distinct_rows,
    _row_ids,
    daily_periods,
    mark_daily,
)


@pytest.mark.parametrize("shape", [(5000, 3), (2000, 1), (0, 4), (50, 0)])
def test_row_ids_partition_rows_as_numpy_unique(shape):
    rng = np.random.default_rng(3)
    rows = rng.integers(-2, 3, shape).astype(np.int64)
    ids = _row_ids(rows)
    if shape[1] == 0:
        assert (ids == 0).all()
        return
    _, first_np, inv_np = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    first, inv = _distinct_rows(rows)
    assert len(first) == len(first_np)
    # the same partition: equal rows ↔ equal ids, and the same first occurrences
    assert (inv == ids).all()
    pairs = pd.crosstab(inv, inv_np.ravel()) > 0 if len(rows) else pd.DataFrame()
    assert (pairs.sum(axis=0) == 1).all() and (pairs.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(np.sort(first), np.sort(first_np))
    np.testing.assert_array_equal(rows[first][inv], rows)


def test_float_rows_by_bits():
    """Float rows (the projections' inputs) viewed as bits: equal values, equal ids."""
    x = np.array([[0.1, 2.0], [0.1, 2.0], [0.1 + 1e-18, 2.0], [np.pi, 1.0], [0.3, 2.0]])
    first, inv = _distinct_rows(np.ascontiguousarray(x).view(np.int64))
    assert inv.tolist() == [0, 0, 0, 1, 2] and first.tolist() == [0, 3, 4]


@pytest.mark.parametrize("events", ["orders", "days"])
def test_daily_table_gives_the_same_data(events):
    """DynamicData from ``daily_periods(tx)`` (and a customer subset of it, with per-customer
    cut-offs) equals DynamicData from the transactions, attribute by attribute."""
    tx, panel, end = simulate_dynamic(800, (0.8, 8.0, 0.7, 20.0), {"member": 0.4},
                                      {"member": -0.5}, weeks=40, seed=2)
    # several orders on some days
    tx = pd.concat([tx, tx.iloc[::9]], ignore_index=True)
    daily = daily_periods(tx)
    for cut in (None, "members"):
        if cut is None:
            a = DynamicData(tx, panel, end, "W", events=events)
            b = DynamicData(daily, panel, end, "W", events=events)
        else:
            ids = pd.unique(tx["customer_id"])[::3]
            cuts = pd.Series(pd.Timestamp(end) - pd.to_timedelta(np.arange(len(ids)) % 90,
                                                                  "D"), index=ids)
            sub = tx.loc[tx["customer_id"].isin(ids)]
            a = DynamicData(sub, panel, cuts, "W", events=events)
            b = DynamicData(mark_daily(daily.loc[daily["customer_id"].isin(ids)]), panel,
                            cuts, "W", events=events)
        assert a.__dict__.keys() == b.__dict__.keys()
        for k, v in a.__dict__.items():
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(v, b.__dict__[k], err_msg=k)
            elif isinstance(v, pd.Index):
                assert v.equals(b.__dict__[k]), k


def test_daily_periods_equal_the_engines():
    """daily_periods' numpy reduction of clean transactions equals the engines'
    customer_periods(…, "D") (DuckDB and pandas): same rows, order, counts, amounts."""
    from retention_lab.engines.summaries import customer_periods
    tx, _, _ = simulate_dynamic(500, (0.8, 8.0, 0.7, 20.0), {"member": 0.4}, {"member": -0.5},
                                weeks=80, seed=4)
    rng = np.random.default_rng(0)
    tx = pd.concat([tx, tx.iloc[::5]], ignore_index=True).sample(frac=1.0, random_state=2)
    tx["amount"] = rng.gamma(2.0, 20.0, len(tx))
    tx["date"] = pd.to_datetime(tx["date"]) + pd.to_timedelta(rng.integers(0, 86_000, len(tx)),
                                                              "s")
    # integer ids (ordered by the ids themselves, negative ones too) and string ids (by codes)
    for ids in (tx["customer_id"], tx["customer_id"] - 250, "c" + tx["customer_id"].astype(str)):
        tx = tx.assign(customer_id=ids)
        got = daily_periods(tx)
        assert got.attrs["customer_periods"] == "D" and got["n"].max() > 1
        for engine in ("duckdb", "pandas"):
            ref = customer_periods(tx, "D", engine=engine)
            pd.testing.assert_frame_equal(got.reset_index(drop=True), ref.reset_index(drop=True)
                                          [["customer_id", "period", "amount", "n"]],
                                          check_exact=False, rtol=1e-12, check_dtype=False)
    tx = tx.assign(customer_id=ids.str[1:].astype(np.int64))
    bad = tx.assign(amount=tx["amount"].where(np.arange(len(tx)) % 50 > 0, -1.0))
    from retention_lab.clv.covariates_tv_data import _daily_numpy
    assert _daily_numpy(bad) is None                     # a return: the engine's rules decide


def test_grouped_codes_are_pandas_factorize():
    """Positions from the changes between neighbours equal pd.factorize on grouped values
    (integers, strings), and it falls back to pd.factorize when a value comes back later."""
    from retention_lab.clv.covariates_tv_data import _grouped_codes
    rng = np.random.default_rng(1)
    ids = rng.permutation(400)[:150]
    grouped = np.repeat(ids, rng.integers(1, 6, len(ids)))
    for v in (grouped, grouped.astype(str).astype(object), np.r_[grouped, grouped[:3]],
              np.zeros(0, np.int64)):
        codes, uniq = _grouped_codes(v)
        want_c, want_u = pd.factorize(v)
        np.testing.assert_array_equal(codes, want_c)
        np.testing.assert_array_equal(uniq, np.asarray(want_u))


def test_stable_order_is_numpys_stable_argsort():
    """One value sort of key · n + row gives numpy's stable argsort (ties in row order), and
    keys too large to pack fall back to it."""
    from retention_lab.clv.covariates_tv_keys import _stable_order
    rng = np.random.default_rng(4)
    for key in (rng.integers(0, 50, 20_000), rng.integers(0, 2 ** 40, 5_000),
                np.array([2 ** 62, 3, 2 ** 62, 0]), np.zeros(0, np.int64)):
        order, ks = _stable_order(key.astype(np.int64))
        want = np.argsort(key, kind="stable")
        np.testing.assert_array_equal(order, want)
        np.testing.assert_array_equal(ks, key[want])


def test_stable_order_inplace_and_isin_against_numpy_and_pandas():
    """The in-place packed sort (``stable_order(overwrite=True)``, the one the daily periods
    use) equals numpy's stable argsort; the lookup-table isin equals pandas' isin for integer
    ids, unique or not."""
    from retention_lab._arrays import stable_order
    from retention_lab.clv.covariates_tv_keys import _isin
    rng = np.random.default_rng(8)
    for key in (rng.integers(0, 50, 20_000), rng.integers(0, 2 ** 40, 5_000),
                np.array([2 ** 62, 3, 2 ** 62, 0]), np.zeros(0, np.int64)):
        key = key.astype(np.int64)
        want = np.argsort(key, kind="stable")
        order, ks = stable_order(key.copy(), overwrite=True)
        np.testing.assert_array_equal(order, want)
        np.testing.assert_array_equal(ks, key[want])
    values = rng.integers(-5, 3000, 10_000)
    for index in (rng.permutation(3000)[:700], np.r_[5, 5, 9], np.array([10 ** 15, 3]),
                  np.zeros(0, np.int64), np.array(["a", "b"], dtype=object)):
        np.testing.assert_array_equal(_isin(values, index), pd.Series(values).isin(index))
