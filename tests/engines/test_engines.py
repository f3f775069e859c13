"""One aggregation, three engines: DuckDB and Spark give the pandas path's summaries — every
column of every customer — on CDNOW and on edge cases (one-purchase customers, several orders on
a day, times of day, a first purchase on the observation end, returns netted per order, week and
month boundaries, purchases after the end). The pandas path (rl.features) is the reference; a
hand-computed example pins the conventions themselves.

DuckDB tests run by default; the same comparisons on a local Spark session are marked ``spark``
(``make test-spark``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from retention_lab import DataError
from retention_lab.engines import collapse_churn

OBS_END = "2024-06-30"
CAL_END = "2024-03-31"


# --------------------------------------------------------------------------- data
def edge_cases(seed: int = 7, n_random: int = 300) -> pd.DataFrame:
    """Hand-made edge cases plus random customers; returns netted per ``order_id``."""
    ts = pd.Timestamp
    rows = [  # customer_id, date, amount
        (1, ts("2024-01-01 09:00"), 10.0),              # one purchase only
        (2, ts("2024-01-01 08:00"), 5.0), (2, ts("2024-01-01 20:30"), 7.25),  # two orders, one day
        (2, ts("2024-01-07 23:59:59"), 1.0),             # Sunday: same week as Jan 1 (Mon)
        (2, ts("2024-01-08 00:00:01"), 2.0),             # Monday: next week
        (3, ts("2024-06-30 23:59:59"), 42.0),            # first purchase on the observation end
        (4, ts("2024-01-31 23:00"), 3.0), (4, ts("2024-02-01 01:00"), 4.0),  # month boundary
        (4, ts("2024-06-30 12:00"), 5.0), (4, ts("2024-07-01 00:00:01"), 6.0),  # inside / after end
        (5, ts("2024-07-02"), 9.0),                      # only after the end
        (6, ts("2024-03-31 18:00"), 8.0), (6, ts("2024-04-01 06:00"), 8.5),  # calibration edge
        (7, ts("2024-05-01"), 0.0), (7, ts("2024-05-20"), 11.0),  # a free order counts
        (8, ts("2024-04-15 10:00"), 30.0),               # first seen in the holdout
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    rng = np.random.default_rng(seed)
    n = rng.integers(1, 12, n_random)
    cid = np.repeat(np.arange(100, 100 + n_random), n)
    first = rng.integers(0, 150, n_random)
    day = np.repeat(first, n) + rng.integers(0, 200, n.sum())
    secs = rng.integers(0, 86400, n.sum())
    rand = pd.DataFrame({
        "customer_id": cid,
        "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(day, "D") + pd.to_timedelta(secs, "s"),
        "amount": np.round(rng.gamma(2.0, 15.0, n.sum()), 2),
    })
    df = pd.concat([df, rand], ignore_index=True)
    df["order_id"] = np.arange(1, len(df) + 1)
    returns = pd.DataFrame({
        "customer_id": [2, 4, 100, 101],
        "date": [ts("2024-01-09"), ts("2024-02-03"), ts("2024-08-01"), ts("2024-03-01")],
        "amount": [-3.0, -4.0, -1.5, -99.0],
        # partial return of an order; full return of an order (excluded); a return after the end
        # (netted all the same: validation nets the whole table); a return of an unknown order
        "order_id": [2, 7, int(df.loc[df.customer_id == 100, "order_id"].iloc[0]), 99_999],
    })
    return pd.concat([df, returns], ignore_index=True)


@pytest.fixture(scope="module")
def cases() -> pd.DataFrame:
    return edge_cases()


# --------------------------------------------------------------------------- comparisons
EXACT = {"frequency", "recency", "T", "n_purchases", "churned", "frequency_holdout",
         "duration_holdout", "duration", "first_purchase", "last_purchase", "followup_end",
         "weight", "period", "n"}


def assert_same(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    """Same index, columns and dtypes; counts and ages exactly, money to 1e-12 (sums may add in
    another order); and the same data-quality ledger."""
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_index_equal(got.index, expected.index, exact=False, check_names=True)
    assert len(got) == len(expected) > 0
    for col in expected.columns:
        e, g = expected[col], got[col]
        assert g.dtype == e.dtype, (col, g.dtype, e.dtype)
        if col in EXACT:
            np.testing.assert_array_equal(g.to_numpy(), e.to_numpy(), err_msg=col)
        else:
            np.testing.assert_allclose(g.to_numpy(float), e.to_numpy(float), rtol=1e-12,
                                       atol=1e-12, err_msg=col)
    if "quality" in expected.attrs:
        pd.testing.assert_frame_equal(rl.quality(got).table, rl.quality(expected).table)


def same_everywhere(name: str, data, engine: str, source=None, **kwargs) -> pd.DataFrame:
    """rl.engines.<name> on ``engine`` (reading ``source``, default ``data``) == rl.features."""
    expected = getattr(rl.features, name)(data, **kwargs)
    got = getattr(rl.engines, name)(data if source is None else source, engine=engine, **kwargs)
    assert got.attrs["engine"] == engine
    assert got.attrs["n_rows"] == len(data)
    assert_same(expected, got)
    return got


SUMMARY_ARGS = [dict(freq="D", freq_multiplier=7), dict(freq="W"), dict(freq="M"),
                dict(freq="D", include_first_transaction=True)]


# --------------------------------------------------------------------------- a known answer
def test_conventions_by_hand_on_every_engine():
    """Two orders on Mon 2024-01-01 (one occasion, 15.0), one on Wed 01-10 (20.0), end 01-31."""
    tx = pd.DataFrame({"customer_id": [1, 1, 1],
                       "date": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 15:00", "2024-01-10 00:00"]),
                       "amount": [10.0, 5.0, 20.0]})
    for engine in ("pandas", "duckdb"):
        d = rl.engines.rfm_summary(tx, "2024-01-31", freq="D", engine=engine).loc[1]
        assert tuple(d) == (1.0, 9.0, 30.0, 20.0)
        w = rl.engines.rfm_summary(tx, "2024-01-31", freq="W", engine=engine).loc[1]
        assert tuple(w)[:3] == (1.0, 1.0, 4.0)
        m = rl.engines.rfm_summary(tx, "2024-01-31", freq="M", engine=engine).loc[1]
        assert tuple(m) == (0.0, 0.0, 0.0, 0.0)


# --------------------------------------------------------------------------- DuckDB == pandas
@pytest.mark.parametrize("kwargs", SUMMARY_ARGS, ids=lambda k: "-".join(map(str, k.values())))
def test_rfm_summary_cdnow_duckdb(cdnow_sample, kwargs):
    got = same_everywhere("rfm_summary", cdnow_sample, "duckdb",
                          observation_end="1998-06-30", **kwargs)
    assert len(got) == 2357


def test_cdnow_published_summary_on_duckdb(cdnow_sample):
    """Fader, Hardie & Lee (2005): 2,357 customers, 1,411 without a repeat purchase in the
    39-week calibration (1997-01-01 … 1997-09-30), fractional weeks (freq D, multiplier 7)."""
    cal = rl.engines.calibration_holdout(cdnow_sample, "1997-09-30", "1998-06-30", freq="D",
                                         freq_multiplier=7, engine="duckdb")
    assert len(cal) == 2357
    assert int((cal["frequency"] == 0).sum()) == 1411
    assert cal["duration_holdout"].iloc[0] == pytest.approx(273 / 7)


@pytest.mark.parametrize("kwargs", SUMMARY_ARGS, ids=lambda k: "-".join(map(str, k.values())))
def test_rfm_summary_edge_cases_duckdb(cases, kwargs):
    got = same_everywhere("rfm_summary", cases, "duckdb", observation_end=OBS_END, **kwargs)
    assert got.loc[3, "T"] == got.loc[3, "recency"] == 0  # first purchase on the end day
    assert 5 not in got.index                                    # only after the end


def test_rfm_summary_default_end_duckdb(cases):
    same_everywhere("rfm_summary", cases, "duckdb", freq="W")


@pytest.mark.parametrize("freq", ["D", "W", "M"])
def test_calibration_holdout_duckdb(cases, cdnow_sample, freq):
    same_everywhere("calibration_holdout", cases, "duckdb", calibration_end=CAL_END,
                    observation_end=OBS_END, freq=freq)
    same_everywhere("calibration_holdout", cdnow_sample, "duckdb", calibration_end="1997-09-30",
                    observation_end="1998-06-30", freq=freq)


@pytest.mark.parametrize("unit", ["D", "W", "M"])
def test_churn_table_duckdb(cases, cdnow_sample, unit):
    same_everywhere("churn_table", cases, "duckdb", inactivity_days=30, observation_end=OBS_END,
                    unit=unit)
    same_everywhere("churn_table", cdnow_sample, "duckdb", inactivity_days=90, unit=unit)


@pytest.mark.parametrize("freq", ["D", "W", "M"])
def test_cohort_retention_duckdb(cases, freq):
    for counts in (False, True):
        expected = rl.features.cohort_retention(cases, freq, OBS_END, counts=counts)
        got = rl.engines.cohort_retention(cases, freq, OBS_END, counts=counts, engine="duckdb")
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
        assert got.attrs["cohort_size"] == expected.attrs["cohort_size"]


def test_customer_periods_duckdb(cases):
    clean, _ = rl.schema.validate_transactions(cases)
    for freq in ("D", "W", "M"):
        expected = rl.features.customer_periods(clean, freq)
        got = rl.engines.customer_periods(cases, freq, engine="duckdb")
        assert_same(expected, got)


def test_collapsed_tables_are_grouped_in_the_engine(cdnow_sample):
    full = rl.features.rfm_summary(cdnow_sample, "1998-06-30", freq="D", freq_multiplier=7)
    got = rl.engines.rfm_summary(cdnow_sample, "1998-06-30", freq="D", freq_multiplier=7,
                                 engine="duckdb", collapse=True)
    assert_same(rl.features.collapse_summary(full), got)
    assert int(got["weight"].sum()) == 2357 and len(got) < 1500
    churn = rl.features.churn_table(cdnow_sample, 90, unit="W")
    got = rl.engines.churn_table(cdnow_sample, 90, unit="W", engine="duckdb", collapse=True)
    assert_same(collapse_churn(churn), got)
    assert int(got["weight"].sum()) == len(churn)


def test_window_end_from_the_contract_scan():
    """The summary reuses the contract scan's last timestamp to skip a window scan; the end,
    the rows outside and the ledger stay the pandas path's in each case it decides."""
    ts = pd.Timestamp
    tx = pd.DataFrame({"customer_id": [1, 1, 2, 3],
                       "date": [ts("2024-01-01 10:00"), ts("2024-02-01 12:00"),
                                ts("2024-02-03 23:59:59"), ts("2024-02-05 08:00")],
                       "amount": [10.0, 5.0, 20.0, 7.0], "order_id": [1, 2, 3, 4]})
    # the last row is a fully returned order: the default end is the last *kept* purchase
    returned = pd.concat([tx, pd.DataFrame({"customer_id": [3], "date": [ts("2024-02-06")],
                                            "amount": [-7.0], "order_id": [4]})])
    for data, end, want_end, want_outside in (
            (tx, None, ts("2024-02-05 08:00"), 0),          # exact: no scan
            (tx, "2024-02-05", ts("2024-02-05"), 0),        # a date includes its day
            (tx, "2024-02-04", ts("2024-02-04"), 1),        # rows after the end: counted
            (tx, "2024-12-31", ts("2024-12-31"), 0),
            (returned, None, ts("2024-02-03 23:59:59"), 0)):
        expected = rl.features.rfm_summary(data, end, freq="D")
        got = rl.engines.rfm_summary(data, end, freq="D", engine="duckdb")
        assert_same(expected, got)
        assert got.attrs["observation_end"] == expected.attrs["observation_end"]
        assert pd.Timestamp(got.attrs["observation_end"]) == want_end
        ledger = rl.quality(got).table
        outside = ledger.loc[ledger["action"] == "outside window", "n_rows"].sum()
        assert outside == want_outside


def test_partitioned_passes_give_the_same_table(cdnow_sample, cases):
    """Big inputs are summarised in customer-hash passes (DuckDB's memory limit); same numbers."""
    for data, end in ((cdnow_sample, "1998-06-30"), (cases, OBS_END)):
        expected = rl.features.rfm_summary(data, end, freq="D", freq_multiplier=7)
        assert_same(expected, rl.engines.rfm_summary(data, end, freq="D", freq_multiplier=7,
                                                     engine="duckdb", partitions=3))
        assert_same(rl.features.collapse_summary(expected),
                    rl.engines.rfm_summary(data, end, freq="D", freq_multiplier=7,
                                           engine="duckdb", partitions=3, collapse=True))
    src = rl.engines.source(cdnow_sample, "duckdb", memory_limit="100KB")
    assert rl.engines.summaries.n_partitions(src, len(cdnow_sample)) > 1
    assert rl.engines.summaries.n_partitions(src, 0) == 1


def test_features_dispatch_to_the_engines(cdnow_sample):
    got = rl.features.rfm_summary(cdnow_sample, "1998-06-30", freq="W", engine="duckdb")
    assert got.attrs["engine"] == "duckdb"
    assert_same(rl.features.rfm_summary(cdnow_sample, "1998-06-30", freq="W"), got)
    # engine="auto" (the default): small frames stay in pandas, big ones go to DuckDB
    small = rl.features.calibration_holdout(cdnow_sample, "1997-09-30", "1998-06-30", freq="W")
    assert small.attrs["engine"] == "pandas"


def test_features_send_big_frames_to_duckdb(cdnow_sample, monkeypatch):
    """Above AUTO_PANDAS_MAX_ROWS the default engine="auto" scans the frame in DuckDB; same table."""
    def summaries():
        return {
            "rfm_summary": rl.features.rfm_summary(cdnow_sample, "1998-06-30", freq="W"),
            "calibration_holdout": rl.features.calibration_holdout(cdnow_sample, "1997-09-30",
                                                                   "1998-06-30", freq="W"),
            "churn_table": rl.features.churn_table(cdnow_sample, 90),
            "cohort_retention": rl.features.cohort_retention(cdnow_sample, "M", "1998-06-30"),
        }

    expected = summaries()
    monkeypatch.setattr(rl.engines.sources, "AUTO_PANDAS_MAX_ROWS", len(cdnow_sample))
    got = summaries()
    for name in expected:
        assert got[name].attrs["engine"] == "duckdb", name
        if name == "cohort_retention":
            pd.testing.assert_frame_equal(got[name], expected[name], check_exact=False, rtol=1e-12)
        else:
            assert_same(expected[name], got[name])


def test_string_ids_and_string_dates(cases):
    tx = cases.assign(customer_id="c" + cases["customer_id"].astype(str).str.zfill(5),
                      date=cases["date"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    same_everywhere("rfm_summary", tx, "duckdb", observation_end=OBS_END, freq="W")


def test_yyyymmdd_integer_dates(cdnow_sample):
    tx = cdnow_sample.assign(date=cdnow_sample["date"].dt.strftime("%Y%m%d").astype("int64"))
    same_everywhere("rfm_summary", tx, "duckdb", observation_end="1998-06-30", freq="M")


# --------------------------------------------------------------------------- inputs
@pytest.fixture(scope="module")
def stored(tmp_path_factory, cases):
    """The edge cases as a Parquet file, a hive-partitioned directory, CSV and a DuckDB table."""
    import duckdb

    d = tmp_path_factory.mktemp("engines")
    # microsecond timestamps: Spark cannot read pandas' default nanoseconds from Parquet
    us = dict(coerce_timestamps="us", allow_truncated_timestamps=True)
    cases.to_parquet(d / "tx.parquet", **us)
    hive = d / "hive"
    cases.assign(month=cases["date"].dt.month).to_parquet(hive, partition_cols=["month"], **us)
    cases.to_csv(d / "tx.csv", index=False)
    con = duckdb.connect(str(d / "shop.duckdb"))
    con.register("cases_df", cases)
    con.execute("CREATE TABLE tx AS SELECT * FROM cases_df")
    con.close()
    return d


def test_inputs_where_data_lives(stored, cases):
    expected = rl.features.rfm_summary(cases, OBS_END, freq="W")
    inputs = {
        "parquet file": str(stored / "tx.parquet"),
        "hive directory": str(stored / "hive"),
        "glob": str(stored / "hive" / "*" / "*.parquet"),
        "csv": str(stored / "tx.csv"),
        "duckdb url": f"duckdb://{stored / 'shop.duckdb'}::tx",
        "duckdb tuple": (str(stored / "shop.duckdb"), "tx"),
    }
    for name, data in inputs.items():
        assert rl.engines.pick_engine(data) == "duckdb", name
        got = rl.engines.rfm_summary(data, OBS_END, freq="W")
        assert got.attrs["engine"] == "duckdb" and got.attrs["n_rows"] == len(cases), name
        assert_same(expected, got)


def test_pandas_refuses_what_would_not_fit(stored, cases, monkeypatch):
    """Bringing transactions into pandas is refused with the estimate and the way out when the
    summaries would need more than 60 % of the available memory — never an out-of-memory kill."""
    from retention_lab.engines import sources

    hive = str(stored / "hive")
    need = len(cases) * sources.PANDAS_BYTES_PER_ROW
    monkeypatch.setattr(sources, "available_memory", lambda: int(need / 0.6) - 1)
    for call in (lambda: rl.engines.rfm_summary(hive, OBS_END, engine="pandas"),
                 lambda: rl.io.load_data(hive)):
        with pytest.raises(MemoryError, match=rf"{len(cases):,} transactions would need .*"
                                              r"engine='duckdb'"):
            call()
    assert rl.engines.rfm_summary(hive, OBS_END).attrs["engine"] == "duckdb"  # in place: fine
    monkeypatch.setattr(sources, "available_memory", lambda: int(need / 0.6) + 1)
    assert len(rl.engines.rfm_summary(hive, OBS_END, engine="pandas")) > 0
    monkeypatch.setattr(sources, "available_memory", lambda: None)  # unknown: no refusal
    assert rl.io.load_data(hive).params["n_rows_read"] == len(cases)


def test_ibis_table_runs_in_its_duckdb_connection(cases):
    import ibis

    con = ibis.duckdb.connect()
    con.con.register("cases_df", cases)
    table = con.table("cases_df")
    got = rl.engines.rfm_summary(table.filter(table.amount > -1000), OBS_END, freq="M")
    assert got.attrs["engine"] == "duckdb"
    assert_same(rl.features.rfm_summary(cases, OBS_END, freq="M"), got)


def test_auto_engine_choice(cases, stored, monkeypatch):
    assert rl.engines.pick_engine(cases) == "pandas"
    assert rl.engines.rfm_summary(cases, OBS_END).attrs["engine"] == "pandas"
    monkeypatch.setattr(rl.engines.sources, "AUTO_PANDAS_MAX_ROWS", 100)
    assert rl.engines.pick_engine(cases) == "duckdb"
    got = rl.engines.rfm_summary(cases, OBS_END)
    assert got.attrs["engine"] == "duckdb"
    # engine="pandas" reads a file into pandas (small data only)
    got = rl.engines.rfm_summary(str(stored / "tx.parquet"), OBS_END, engine="pandas")
    assert got.attrs["engine"] == "pandas" and got.attrs["n_rows"] == len(cases)
    with pytest.raises(ValueError, match="engine must be one of"):
        rl.engines.rfm_summary(cases, OBS_END, engine="polars")


def test_source_is_lazy_and_counts_rows(stored, cases):
    src = rl.engines.source(str(stored / "hive"))
    assert src.engine == "duckdb" and len(src) == len(cases)
    assert set(rl.schema.TRANSACTION_COLUMNS) <= set(src.columns)
    a = rl.engines.rfm_summary(src, OBS_END, freq="W")
    b = rl.engines.churn_table(src, 30, OBS_END)  # the contract was checked once, reused
    assert a.attrs["n_rows"] == b.attrs["n_rows"] == len(cases)


def test_read_transactions_validates_in_the_engine(stored, cases):
    """What io.load_data uses for directories / DuckDB tables: the pandas contract's frame."""
    want, want_q = rl.schema.validate_transactions(cases)
    for data in (str(stored / "hive"), f"duckdb://{stored / 'shop.duckdb'}::tx"):
        assert rl.engines.reads_in_engine(data)
        got, q, info = rl.engines.read_transactions(data)
        assert info["engine"] == "duckdb" and info["n_rows"] == len(cases)
        key = ["customer_id", "date", "amount"]
        got = got.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want[key].sort_values(key).reset_index(drop=True))
        pd.testing.assert_frame_equal(q.table, want_q.table)
    assert not rl.engines.reads_in_engine(str(stored / "tx.parquet"))  # io reads single files


def test_load_data_hands_directories_and_tables_to_the_engine(stored, cases):
    """A notebook's data_source may be a Parquet directory or a DuckDB table; it says which
    engine read how many rows, and the bundle is the one a DataFrame source gives."""
    want = rl.io.load_data(cases, observation_end=OBS_END)
    for source in (str(stored / "hive"), f"duckdb://{stored / 'shop.duckdb'}::tx"):
        data = rl.io.load_data(source, observation_end=OBS_END)
        assert data.params["engine"] == "duckdb" and data.params["n_rows_read"] == len(cases)
        assert len(data.transactions) == len(want.transactions)
        assert data.quality.table["n_rows"].sum() == want.quality.table["n_rows"].sum()
        assert_same(rl.features.rfm_summary(want.transactions, OBS_END, freq="W"),
                    rl.features.rfm_summary(data.transactions, OBS_END, freq="W"))


# --------------------------------------------------------------------------- the contract
def first_line(excinfo) -> str:
    return str(excinfo.value).splitlines()[0]


BAD_INPUTS = {
    "null id": lambda t: t.assign(customer_id=t["customer_id"].astype(float).where(t.index % 50 != 3)),
    "bad date": lambda t: t.assign(date=t["date"].astype(str).where(t.index % 40 != 1, "not a date")),
    "null date": lambda t: t.assign(date=t["date"].where(t.index % 40 != 2)),
    "null amount": lambda t: t.assign(amount=t["amount"].where(t.index % 30 != 5)),
    "duplicate order": lambda t: t.assign(order_id=t["order_id"].where(t.index != 20, 20)),
    "missing column": lambda t: t.drop(columns="amount"),
    "empty": lambda t: t.iloc[:0],
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_contract_errors_are_the_pandas_errors(cases, case):
    bad = BAD_INPUTS[case](cases)
    with pytest.raises(DataError) as want:
        rl.schema.validate_transactions(bad)
    with pytest.raises(DataError) as got:
        rl.engines.rfm_summary(bad, OBS_END, engine="duckdb")
    assert first_line(got) == first_line(want)
    assert (got.value.column, got.value.rule, got.value.n_rows) == \
        (want.value.column, want.value.rule, want.value.n_rows)


def test_returns_policies_match(cases):
    with pytest.raises(DataError) as want:
        rl.features.rfm_summary(cases, OBS_END, returns="error")
    with pytest.raises(DataError) as got:
        rl.engines.rfm_summary(cases, OBS_END, returns="error", engine="duckdb")
    assert first_line(got) == first_line(want) and got.value.n_rows == 4
    for returns in ("net", "exclude"):
        expected = rl.features.rfm_summary(cases, OBS_END, returns=returns)
        got = rl.engines.rfm_summary(cases, OBS_END, returns=returns, engine="duckdb")
        assert_same(expected, got)
    ledger = rl.quality(got).table
    assert ledger["n_rows"].tolist()[0] == 4  # four returns excluded
    no_orders = cases.drop(columns="order_id")
    assert_same(rl.features.rfm_summary(no_orders, OBS_END),
                rl.engines.rfm_summary(no_orders, OBS_END, engine="duckdb"))


def test_netting_changes_the_numbers(cases):
    """The partial return of customer 2's 7.25 order (-3) is netted: Jan 1 occasion = 9.25."""
    got = rl.engines.rfm_summary(cases, OBS_END, freq="D", engine="duckdb")
    # customer 2: Jan 1 (5 + 7.25 - 3), Jan 7 (1), Jan 8 (2): repeat mean = 1.5
    assert got.loc[2, "frequency"] == 2 and got.loc[2, "monetary_value"] == pytest.approx(1.5)
    # customer 4's Feb 1 order was fully returned: Jan 31 and Jun 30 remain
    assert got.loc[4, "frequency"] == 1 and got.loc[4, "monetary_value"] == pytest.approx(5.0)


# --------------------------------------------------------------------------- Spark
@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark")
    session = rl.engines.spark_session(master="local[2]",
                                       config={"spark.sql.shuffle.partitions": "2"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def on_spark(spark, cdnow_sample):
    """The test tables as Spark sources, made once: their contract is checked once too."""
    return {"cdnow": rl.engines.source(cdnow_sample, "spark"),
            "cases": rl.engines.source(edge_cases(), "spark")}


@pytest.mark.spark
@pytest.mark.parametrize("kwargs", SUMMARY_ARGS, ids=lambda k: "-".join(map(str, k.values())))
def test_rfm_summary_spark_equals_duckdb_equals_pandas(on_spark, cdnow_sample, cases, kwargs):
    for data, key, end in ((cdnow_sample, "cdnow", "1998-06-30"), (cases, "cases", OBS_END)):
        got = same_everywhere("rfm_summary", data, "spark", on_spark[key], observation_end=end,
                              **kwargs)
        assert_same(rl.engines.rfm_summary(data, end, engine="duckdb", **kwargs), got)


@pytest.mark.spark
def test_other_summaries_on_spark(on_spark, cases, cdnow_sample):
    sc = on_spark["cases"]
    same_everywhere("calibration_holdout", cases, "spark", sc, calibration_end=CAL_END,
                    observation_end=OBS_END, freq="W")
    same_everywhere("calibration_holdout", cdnow_sample, "spark", on_spark["cdnow"],
                    calibration_end="1997-09-30", observation_end="1998-06-30", freq="D",
                    freq_multiplier=7)
    for unit in ("D", "M"):
        same_everywhere("churn_table", cases, "spark", sc, inactivity_days=30,
                        observation_end=OBS_END, unit=unit)
    for freq in ("W", "M"):
        expected = rl.features.cohort_retention(cases, freq, OBS_END)
        got = rl.engines.cohort_retention(sc, freq, OBS_END, engine="spark")
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    clean, _ = rl.schema.validate_transactions(cases)
    assert_same(rl.features.customer_periods(clean, "W"),
                rl.engines.customer_periods(sc, "W", engine="spark"))
    got = rl.engines.rfm_summary(on_spark["cdnow"], "1998-06-30", freq="D", freq_multiplier=7,
                                 engine="spark", collapse=True)
    assert_same(rl.engines.rfm_summary(cdnow_sample, "1998-06-30", freq="D", freq_multiplier=7,
                                       engine="duckdb", collapse=True), got)
    got = rl.engines.rfm_summary(on_spark["cases"], OBS_END, freq="W", engine="spark",
                                 partitions=2)
    assert_same(rl.features.rfm_summary(cases, OBS_END, freq="W"), got)
    churn = rl.engines.churn_table(sc, 30, OBS_END, unit="W", engine="spark", collapse=True)
    assert_same(collapse_churn(rl.features.churn_table(cases, 30, OBS_END, unit="W")), churn)


@pytest.mark.spark
def test_spark_inputs(spark, cases, stored):
    expected = rl.features.rfm_summary(cases, OBS_END, freq="W")
    frame = spark.createDataFrame(cases)
    assert rl.engines.pick_engine(frame) == "spark"
    frame.createOrReplaceTempView("rl_test_tx")
    for data in (frame, "spark:rl_test_tx", str(stored / "hive")):
        got = rl.engines.rfm_summary(data, OBS_END, freq="W", engine="spark")
        assert got.attrs["engine"] == "spark" and got.attrs["n_rows"] == len(cases)
        assert_same(expected, got)


@pytest.mark.spark
@pytest.mark.parametrize("case", ["null id", "bad date", "duplicate order", "missing column"])
def test_contract_errors_on_spark(spark, cases, case):
    bad = BAD_INPUTS[case](cases)
    with pytest.raises(DataError) as want:
        rl.schema.validate_transactions(bad)
    with pytest.raises(DataError) as got:
        rl.engines.rfm_summary(bad, OBS_END, engine="spark")
    assert first_line(got) == first_line(want)


def test_every_feature_function_dispatches_to_the_engines():
    """rl.features.<table>(engine="duckdb") is the engine's table, equal to the pandas one."""
    tx = rl.datasets.load_cdnow()
    f = rl.features
    pairs = [
        (f.churn_table(tx, 90, "1998-06-30"), f.churn_table(tx, 90, "1998-06-30", engine="duckdb")),
        (f.cohort_retention(tx), f.cohort_retention(tx, engine="duckdb")),
        (f.rfm_summary(tx, "1997-09-30", "W"), f.rfm_summary(tx, "1997-09-30", "W", engine="duckdb")),
    ]
    for pandas_table, engine_table in pairs:
        assert engine_table.attrs["engine"] == "duckdb"
        cols = pandas_table.select_dtypes("number").columns
        np.testing.assert_allclose(engine_table.sort_index()[cols].to_numpy(float),
                                   pandas_table.sort_index()[cols].to_numpy(float),
                                   rtol=1e-12, atol=1e-9, equal_nan=True)


# --------------------------------------------------------------------------- one engine choice
def _forbid_duckdb(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError("DuckDB was used although engine='pandas' was asked for")
    monkeypatch.setattr(rl.engines.backends.DuckDBBackend, "__init__", refuse)


def test_engine_pandas_runs_pandas_above_the_auto_threshold(cases, monkeypatch):
    """Issue 13.5: frames at or above AUTO_PANDAS_MAX_ROWS (2M; lowered here so that the edge
    cases count as big) with engine="pandas" ran DuckDB — the pandas path called back into the
    dispatcher without the engine — and the result was labelled "pandas" all the same. Now
    DuckDB is never opened, every table says pandas, and both entry points agree."""
    calls = []
    for name in ("rfm_summary", "calibration_holdout", "churn_table", "cohort_retention"):
        real = getattr(rl.engines.pandas_engine, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)
        monkeypatch.setattr(rl.engines.pandas_engine, name, spy)
    monkeypatch.setattr(rl.engines.sources, "AUTO_PANDAS_MAX_ROWS", len(cases) - 1)
    assert rl.engines.pick_engine(cases) == "duckdb"
    expected = {  # computed on DuckDB (the auto choice now), compared below with pandas
        "rfm_summary": rl.engines.rfm_summary(cases, OBS_END, freq="W"),
        "calibration_holdout": rl.engines.calibration_holdout(cases, CAL_END, OBS_END, freq="W"),
        "churn_table": rl.engines.churn_table(cases, 30, OBS_END),
    }
    assert all(t.attrs["engine"] == "duckdb" for t in expected.values()) and calls == []
    _forbid_duckdb(monkeypatch)
    for module in (rl.features, rl.engines):
        got = {
            "rfm_summary": module.rfm_summary(cases, OBS_END, freq="W", engine="pandas"),
            "calibration_holdout": module.calibration_holdout(cases, CAL_END, OBS_END, freq="W",
                                                              engine="pandas"),
            "churn_table": module.churn_table(cases, 30, OBS_END, engine="pandas"),
            "cohort_retention": module.cohort_retention(cases, "M", OBS_END, engine="pandas"),
        }
        for name, table in got.items():
            assert table.attrs["engine"] == "pandas", name
            if name in expected:
                assert_same(expected[name], table)
    tables = ("rfm_summary", "calibration_holdout", "churn_table", "cohort_retention")
    assert set(calls) == set(tables) and all(calls.count(t) >= 2 for t in tables)


def test_one_signature_per_table():
    """rl.features.<table> and rl.engines.<table> are one function: same signature (collapse=,
    engine=, spark=, … on both), same defaults (engine="auto")."""
    import inspect

    for name in ("rfm_summary", "calibration_holdout", "churn_table", "cohort_retention",
                 "customer_periods"):
        f, e = getattr(rl.features, name), getattr(rl.engines, name)
        assert inspect.signature(f) == inspect.signature(e), name
        assert inspect.signature(f).parameters["engine"].default == "auto"
    assert "collapse" in inspect.signature(rl.features.churn_table).parameters
    assert "collapse" in inspect.signature(rl.features.rfm_summary).parameters


def test_no_import_cycle_between_engines_and_features():
    """Data flows one way: retention_lab.periods -> engines -> features. A fresh interpreter
    imports the engines without importing retention_lab.features."""
    import subprocess
    import sys

    code = ("import sys, retention_lab.engines; "
            "print(any(m.startswith('retention_lab.features') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- one-pass kernel
def test_one_pass_kernel_equals_the_sql_path_and_pandas(cases, cdnow_sample, monkeypatch):
    """The DuckDB summary of integer ids runs the one-pass kernel (engines.kernels); it equals
    the SQL window path (partitions=1 forces it) and pandas on every edge case, for D/W/M, with
    and without the first transaction, compiled and in its numpy fallback."""
    from retention_lab.engines import kernels

    used = []
    real = kernels.Accumulator.result
    monkeypatch.setattr(kernels.Accumulator, "result",
                        lambda self: used.append(self.compiled) or real(self))
    for data, end in ((cases, OBS_END), (cdnow_sample, "1998-06-30"), (cases, None),
                      (cdnow_sample, "1997-09-30 12:00"), (cdnow_sample, None)):
        for kwargs in SUMMARY_ARGS:
            expected = rl.features.rfm_summary(data, end, engine="pandas", **kwargs)
            sql_path = rl.engines.rfm_summary(data, end, engine="duckdb", partitions=1, **kwargs)
            n = len(used)
            got = rl.engines.rfm_summary(data, end, engine="duckdb", **kwargs)
            assert len(used) == n + 1  # the kernel ran
            assert_same(expected, got)
            assert_same(sql_path, got)
            # CDNOW (no order_id, no returns) is checked and counted in numpy, without DuckDB
            assert ("in place" in got.attrs["source"]) == (data is cdnow_sample)
    monkeypatch.setattr(kernels, "_accumulate", None)  # no numba: the numpy scatter version
    assert kernels.compiled_kernel() is None
    for kwargs in SUMMARY_ARGS:
        got = rl.engines.rfm_summary(cases, OBS_END, engine="duckdb", **kwargs)
        assert used[-1] is False
        assert_same(rl.features.rfm_summary(cases, OBS_END, **kwargs), got)


def test_one_pass_kernel_declines_sparse_and_string_ids(cases):
    """Ids that are not dense integers (hashes, strings) take the SQL path: same table."""
    from retention_lab.engines import kernels

    assert kernels.plan(0, 10**12, 19000, 19500, 1000, "D") is None      # sparse
    assert kernels.plan(0, 10**8, 19000, 19500, 10**8, "D") is None      # bitmap too big
    sparse = cases.assign(customer_id=cases["customer_id"] * 10**9)
    same_everywhere("rfm_summary", sparse, "duckdb", observation_end=OBS_END, freq="W")


def test_clean_parquet_is_read_once(tmp_path, cdnow_sample):
    """A typed Parquet table that passes the contract as it is (CDNOW: integer ids, no returns,
    no order_id) is read once into Arrow, checked there and counted by the kernel; the table and
    the ledger are the pandas path's. A NaN amount sends it back to the contract scan, which
    raises the pandas path's error."""
    from retention_lab.engines import summaries

    path = tmp_path / "cdnow.parquet"
    cdnow_sample.to_parquet(path, coerce_timestamps="us")
    calls = []
    real = summaries._table_one_pass
    monkey = pytest.MonkeyPatch()
    monkey.setattr(summaries, "_table_one_pass",
                   lambda *a, **k: calls.append(real(*a, **k)) or calls[-1])
    try:
        for end in ("1997-09-30", "1997-09-30 12:00", None):
            for kwargs in SUMMARY_ARGS:
                got = rl.engines.rfm_summary(str(path), end, **kwargs)
                assert calls[-1] is not None and got.attrs["engine"] == "duckdb"
                assert_same(rl.features.rfm_summary(cdnow_sample, end, **kwargs), got)
        bad = cdnow_sample.assign(amount=cdnow_sample["amount"].where(cdnow_sample.index != 5))
        bad.to_parquet(tmp_path / "bad.parquet", coerce_timestamps="us")
        with pytest.raises(DataError) as want:
            rl.schema.validate_transactions(bad)
        with pytest.raises(DataError) as got:
            rl.engines.rfm_summary(str(tmp_path / "bad.parquet"), "1997-09-30")
        assert calls[-1] is None and first_line(got) == first_line(want)
    finally:
        monkey.undo()
