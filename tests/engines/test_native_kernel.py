"""The one-pass summary kernel in C (retention_lab/engines/summary_kernel.c, loaded by
engines/native.py) against the numba kernel it restates: the same per-customer state, money and
bitmap, bit for bit, and the same summary frames, on generated inputs with ties (several
purchases on a day, several in the first period), one-row customers, unsorted rows, ids with
gaps and below zero, dates before 1970, rows after the window and many kernel calls (small
gathering size, many Parquet row groups); both against the pandas summary (the reference of
tests/engines/test_engines.py) as the independent oracle. Then the fallbacks: no library, a
library built from another source, no compiler, a failed build — none raises, and
``kernels.KERNEL_SOURCE`` says which kernel counts.

The library is compiled here into ``tmp_path`` (with -Wall -Wextra -Werror -pedantic as well as
the build's flags), so these tests do not depend on ``make setup`` having run.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from retention_lab.engines import kernels, native

pytestmark = pytest.mark.skipif(native.compiler() is None, reason="no C compiler")

DAY_US = 86_400_000_000
STRICT = ("-Wall", "-Wextra", "-Werror", "-pedantic", "-Wconversion", "-Wshadow")


@pytest.fixture(scope="module")
def c_kernel(tmp_path_factory):
    path = tmp_path_factory.mktemp("native") / "kernel.so"
    native.compile_to(path, STRICT)
    kernel = native.load(path)
    assert kernel is not None and native.NOTE is None
    return kernel


@pytest.fixture(scope="module")
def numba_kernel():
    kernel = kernels.numba_kernel()
    if kernel is None:
        pytest.skip("numba is not available")
    return kernel


def transactions(seed: int, n_customers: int = 400, start: str = "2023-01-01",
                 id0: int = 1_000, span_days: int = 500) -> pd.DataFrame:
    """Customers with 1-15 purchases (a third with one row), some several on a day and in the
    first week, ids with gaps from ``id0``, amounts in cents (ties in value too), shuffled."""
    rng = np.random.default_rng(seed)
    n = np.where(rng.random(n_customers) < 0.33, 1, rng.integers(2, 16, n_customers))
    ids = id0 + np.sort(rng.choice(3 * n_customers, n_customers, replace=False))
    cid = np.repeat(ids, n)
    first = np.repeat(rng.integers(0, span_days // 2, n_customers), n)
    day = first + np.where(rng.random(n.sum()) < 0.3, 0, rng.integers(0, span_days // 2, n.sum()))
    secs = rng.integers(0, 86_400, n.sum())
    tx = pd.DataFrame({
        "customer_id": cid,
        "date": pd.Timestamp(start) + pd.to_timedelta(day, "D") + pd.to_timedelta(secs, "s"),
        "amount": np.round(rng.gamma(2.0, 15.0, n.sum()), 2),
    })
    return tx.iloc[rng.permutation(len(tx))].reset_index(drop=True)


INPUTS = [  # (seed, kwargs, observation end)
    (0, {}, "2024-01-31"),                                   # rows after the end are skipped
    (1, {"id0": -700}, None),                                # negative ids: slot = id - min id
    (2, {"start": "1969-10-01", "span_days": 200}, None),    # timestamps below 0: floor division
    (3, {"n_customers": 3_000}, "2024-03-31"),
]


def _count(kernel, tx, end, threads, chunk):
    """The Accumulator's arrays after counting ``tx`` in ``chunk``-row batches with ``kernel``."""
    ids = tx["customer_id"].to_numpy()
    ts = tx["date"].to_numpy().astype("datetime64[us]").view(np.int64)
    limit = int(pd.Timestamp(end or tx["date"].max()).normalize().value // 1000) + DAY_US
    keep = ts < limit
    layout = kernels.plan(ids.min(), ids.max(), int(ts.min() // DAY_US),
                          int(ts[keep].max() // DAY_US), len(ids), "W")
    saved, kernels._accumulate = kernels._accumulate, kernel
    try:
        acc = kernels.Accumulator(layout, DAY_US, limit, threads=threads)
    finally:
        kernels._accumulate = saved
    for s in range(0, len(ids), chunk):
        acc.submit(ids[s:s + chunk], ts[s:s + chunk], tx["amount"].to_numpy()[s:s + chunk])
    acc.wait()
    return acc


@pytest.mark.parametrize("seed,kwargs,end", INPUTS)
def test_c_kernel_state_is_numbas_bit_for_bit(c_kernel, numba_kernel, monkeypatch, seed, kwargs,
                                              end):
    """First and last period, distinct periods, total and first-period spend and the bitmap:
    identical bytes, with 1 and 2 workers and in many small calls."""
    monkeypatch.setattr(kernels, "MIN_CALL_ROWS", 500)  # gather ~500 rows per kernel call
    tx = transactions(seed, **kwargs)
    for threads in (1, 2):
        for chunk in (len(tx), 97):
            a = _count(c_kernel, tx, end, threads, chunk)
            b = _count(numba_kernel, tx, end, threads, chunk)
            assert (a.source, b.source) == ("c", "numba")
            for name in ("state", "money", "bits"):
                assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
            for x, y in zip(a.result(), b.result()):
                assert x.dtype == y.dtype and x.tobytes() == y.tobytes()


def _summaries(kernel, monkeypatch, data, end, **kwargs):
    monkeypatch.setattr(kernels, "_accumulate", kernel)
    return rl.engines.rfm_summary(data, end, engine="duckdb", **kwargs)


@pytest.mark.parametrize("seed,kwargs,end", INPUTS)
def test_c_summary_frames_equal_numbas_and_pandas(c_kernel, numba_kernel, monkeypatch, tmp_path,
                                                  seed, kwargs, end):
    """The summary of a DataFrame and of a Parquet file of 37-row row groups (many batches,
    gathered in 300-row calls), daily and weekly: the C kernel's frame equals the numba
    kernel's exactly, and the pandas engine's (counts exactly, money to 1e-12). DuckDB reads
    the file on one thread here: its parallel scan hands row groups over in no fixed order,
    which moves a sum's last bits from one run to the next whatever the kernel."""
    monkeypatch.setattr(kernels, "MIN_CALL_ROWS", 300)
    tx = transactions(seed, **kwargs)
    path = tmp_path / "tx.parquet"
    tx.to_parquet(path, row_group_size=37, coerce_timestamps="us")
    for freq in ("D", "W"):
        expected = rl.features.rfm_summary(tx, end, freq=freq, engine="pandas")
        for data, settings in ((tx, {}), (str(path), {"threads": 1})):
            got = _summaries(c_kernel, monkeypatch, data, end, freq=freq, **settings)
            ref = _summaries(numba_kernel, monkeypatch, data, end, freq=freq, **settings)
            pd.testing.assert_frame_equal(got, ref, check_exact=True)
            assert got.attrs == ref.attrs
            pd.testing.assert_index_equal(got.index, expected.index, exact=False)
            for col in ("frequency", "recency", "T"):
                np.testing.assert_array_equal(got[col], expected[col])
            np.testing.assert_allclose(got["monetary_value"], expected["monetary_value"],
                                       rtol=1e-12, atol=0)


def test_c_kernel_rejects_what_does_not_fit_the_plan(c_kernel):
    """A day outside the period table or arrays smaller than the slots: an exception, never a
    read or write out of bounds."""
    layout = kernels.Plan(0, 4, 10, np.zeros(3, np.int32), 0, 64)
    state, money, bits = np.zeros((4, 3), np.int32), np.zeros((4, 2)), np.zeros(4, np.uint64)
    one = (np.array([1]), np.array([20 * DAY_US]), np.array([1.0]))  # day 20: table has 10-12
    with pytest.raises(RuntimeError, match="outside"):
        c_kernel(*one, 0, DAY_US, 10**18, 10, layout.periods, 64, state, money, bits, 0, 4, 4)
    with pytest.raises(ValueError, match="do not fit"):
        c_kernel(*one, 0, DAY_US, 10**18, 10, layout.periods, 64, state, money, bits, 0, 5, 4)
    ok = (np.array([1]), np.array([11 * DAY_US]), np.array([2.5]))
    c_kernel(*ok, 0, DAY_US, 10**18, 10, layout.periods, 64, state, money, bits, 0, 4, 4)
    assert state[1, 2] == 1 and money[1, 0] == 2.5 and bits[1] == 1


def test_fallbacks_say_which_kernel_counts(tmp_path, monkeypatch):
    """No library, or one built from another source: numba counts and the note says why, and
    the build replaces a stale library (loadable in the same process); a build with a broken
    compiler returns a note and raises nothing (``make setup`` goes on)."""
    for module, name in ((kernels, "KERNEL_SOURCE"), (kernels, "NOTE"), (native, "NOTE")):
        monkeypatch.setattr(module, name, getattr(module, name))  # restored after the test
    monkeypatch.setattr(native, "LIBRARY", tmp_path / "absent.so")
    monkeypatch.setattr(kernels, "_accumulate", False)
    assert kernels.compiled_kernel() is not None
    assert kernels.KERNEL_SOURCE in ("numba", "numpy") and "not built" in kernels.NOTE
    stale = tmp_path / "stale.so"
    with monkeypatch.context() as m:
        m.setattr(native, "source_hash", lambda flags=native.CFLAGS: 12345)
        native.compile_to(stale)  # carries hash 12345 ...
    assert native.load(stale) is None and "another version" in native.NOTE  # ... not this one
    monkeypatch.setattr(native, "LIBRARY", stale)  # a stale library where the build writes:
    assert native.build()["built"] and native.load() is not None  # rebuilt and loaded at once
    monkeypatch.setenv("CC", "false")
    monkeypatch.setattr(native, "LIBRARY", tmp_path / "never.so")
    result = native.build()
    assert result["built"] is False and "not built" in result["note"]
    with pytest.raises(RuntimeError, match="failed"):
        native.compile_to(tmp_path / "never.so")
    assert not list(tmp_path.glob("tmp*.so"))  # no half-written library left behind


def test_a_fresh_process_counts_in_c_without_importing_numba(tmp_path):
    """With the library built, a Parquet summary in a new process loads the C kernel and never
    imports numba (whose first load costs ~0.6 s CPU). Skipped where ``make setup`` has not
    built the library (the test does not write into the package)."""
    if native.load() is None:
        pytest.skip(f"the package directory's library is not usable: {native.NOTE}")
    tx = transactions(5)
    path = tmp_path / "tx.parquet"
    tx.to_parquet(path)
    code = (f"import sys, retention_lab.features as f; "
            f"s = f.rfm_summary({str(path)!r}, engine='duckdb'); "
            f"from retention_lab.engines import kernels; "
            f"print(kernels.KERNEL_SOURCE, 'numba' in sys.modules, len(s))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["c", "False", str(tx["customer_id"].nunique())]
