"""``schema.tables.duplicated_rows`` (the exact-duplicate rule's fast path, issue 22) against
pandas' ``DataFrame.duplicated(keep="first")`` (the independent reference: a hash of every
column of every row) on frames built to hold many near and exact duplicates."""
import numpy as np
import pandas as pd
import pytest

from retention_lab.schema.tables import duplicated_rows


def _frame(rng, n, kind):
    cid = rng.integers(0, 40, n)
    day = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 20, n), "D")
    if kind == "times":        # several times within a day: the key's day is coarser
        day = day + pd.to_timedelta(rng.integers(0, 3, n) * 3600, "s")
    amt = rng.choice([1.0, 2.5, -0.0, 0.0, np.nan], n)
    df = pd.DataFrame({"customer_id": cid, "date": day, "amount": amt})
    if kind == "text":
        df["customer_id"] = df["customer_id"].astype(str)
    if kind == "extra":
        df["order_id"] = rng.choice(["a", "b", None], n)
        df["flag"] = rng.integers(0, 2, n).astype(bool)
        df["big"] = rng.choice([0, 2 ** 62, -(2 ** 62)], n)   # ranges too wide to pack
    return df


@pytest.mark.parametrize("kind", ["days", "times", "text", "extra"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_duplicated_rows_equals_pandas(kind, seed):
    rng = np.random.default_rng(seed)
    df = _frame(rng, 3000, kind)
    df = pd.concat([df, df.sample(500, random_state=seed)], ignore_index=True)  # exact copies
    df = df.sample(frac=1.0, random_state=seed + 10)                            # any order
    want = df.duplicated(keep="first").to_numpy()
    got = duplicated_rows(df)
    assert want.sum() > 400
    np.testing.assert_array_equal(got, want)


def test_duplicated_rows_edge_cases():
    empty = pd.DataFrame({"customer_id": np.zeros(0, np.int64), "amount": np.zeros(0)})
    assert duplicated_rows(empty).tolist() == []
    one = pd.DataFrame({"customer_id": [7, 7, 7], "amount": [1.0, 1.0, 2.0]})  # constant key
    assert duplicated_rows(one).tolist() == [False, True, False]
    floats = pd.DataFrame({"amount": [1.0, np.nan, 1.0, np.nan]})              # no int column
    assert duplicated_rows(floats).tolist() == [False, False, True, True]
