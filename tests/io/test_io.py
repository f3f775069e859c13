"""Reading CSV / Parquet / DataFrames into validated tables and the ExperimentData bundle."""
from __future__ import annotations

import pandas as pd
import pytest

import retention_lab as rl
from retention_lab import DataError, io
from retention_lab.experiment_data import ExperimentData


def message(excinfo) -> str:
    return str(excinfo.value).splitlines()[0]


@pytest.fixture
def tables():
    tx = pd.DataFrame({
        "customer_id": ["c1", "c1", "c2", "c3", "c3", "c2"],
        "date": pd.to_datetime(["2025-01-03 10:15", "2025-02-11", "2025-01-20", "2025-03-02",
                                "2025-03-09", "2025-07-01"], format="ISO8601"),
        "amount": [12.5, 30.0, 8.0, 15.0, -15.0, 9.0],
        "order_id": ["o1", "o2", "o3", "o4", "o4", "o5"],
    })
    customers = pd.DataFrame({
        "customer_id": ["c1", "c2", "c3", "c4"],
        "signup_date": pd.to_datetime(["2025-01-01", "2025-01-15", "2025-02-28", "2025-03-01"]),
        "arm": ["treatment", "control", "treatment", "control"],
        "enrolled_at": pd.to_datetime(["2025-01-10", None, "2025-07-15", None]),
        "region": ["north", "south", "south", "north"],
    })
    surveys = pd.DataFrame({
        "customer_id": ["c1", "c2", "c3"],
        "date": pd.to_datetime(["2025-02-01", "2025-02-02", "2025-08-01"]),
        "nps": [9, 6, 10],
        "csat": [5, 3, 4],
    })
    return tx, customers, surveys


def write(frame: pd.DataFrame, path) -> str:
    if str(path).endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return str(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_read_transactions_round_trip(tables, tmp_path, suffix):
    tx = tables[0]
    path = write(tx, tmp_path / f"tx{suffix}")
    from_file, q_file = io.read_transactions(path, observation_end="2025-06-30")
    from_frame, q_frame = io.read_transactions(tx, observation_end="2025-06-30")
    pd.testing.assert_frame_equal(from_file, from_frame)
    assert from_file["date"].iloc[0] == pd.Timestamp("2025-01-03 10:15")
    # o4 fully returned (1 purchase excluded + 1 return netted), 1 row after the end
    assert len(from_file) == 3
    assert q_file.table.to_dict("records") == q_frame.table.to_dict("records")
    assert q_file.table[["rule", "n_rows", "action"]].to_dict("records") == [
        dict(rule="date <= observation_end (2025-06-30)", n_rows=1, action="excluded"),
        dict(rule="amount >= 0", n_rows=1, action="netted"),
        dict(rule="net order amount > 0", n_rows=1, action="excluded"),
    ]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_read_customers_and_surveys_round_trip(tables, tmp_path, suffix):
    _, customers, surveys = tables
    cust, q = io.read_customers(write(customers, tmp_path / f"c{suffix}"),
                                observation_end="2025-06-30")
    assert cust["signup_date"].dtype == "datetime64[ns]"
    assert cust["enrolled_at"].notna().tolist() == [True, False, False, False]  # c3 set to null
    assert q.table[["column", "n_rows", "action"]].to_dict("records") == [
        dict(column="enrolled_at", n_rows=1, action="set to null")]
    assert cust["region"].tolist() == ["north", "south", "south", "north"]
    sv, q = io.read_surveys(write(surveys, tmp_path / f"s{suffix}"), observation_end="2025-06-30")
    assert sv["nps"].tolist() == [9, 6] and q.n_excluded("surveys") == 1


def test_read_experiment_from_files(tables, tmp_path):
    tx, customers, surveys = tables
    data = io.read_experiment(transactions=write(tx, tmp_path / "tx.parquet"),
                              customers=write(customers, tmp_path / "customers.csv"),
                              surveys=write(surveys, tmp_path / "surveys.csv"),
                              observation_end="2025-06-30", launch_date="2025-01-01",
                              design="randomized")
    assert isinstance(data, ExperimentData)
    assert data.observation_end == pd.Timestamp("2025-06-30")
    assert data.launch_date == pd.Timestamp("2025-01-01")
    assert data.design == "randomized"
    assert (len(data.transactions), len(data.customers), len(data.surveys)) == (3, 4, 2)
    # every table's ledger in one place: tx after end, netted, fully returned; enrolment nulled;
    # a survey after the end
    assert data.quality.table[["table", "n_rows", "action"]].to_dict("records") == [
        dict(table="transactions", n_rows=1, action="excluded"),
        dict(table="transactions", n_rows=1, action="netted"),
        dict(table="transactions", n_rows=1, action="excluded"),
        dict(table="customers", n_rows=1, action="set to null"),
        dict(table="surveys", n_rows=1, action="excluded"),
    ]
    assert data.quality.n_excluded() == 3
    assert data.params["customers"].endswith("customers.csv")


def test_read_experiment_unifies_numeric_and_text_ids(tables, tmp_path):
    tx, customers, _ = tables
    tx = tx.assign(customer_id=tx["customer_id"].str[1:].astype(int))
    customers = customers.assign(customer_id=customers["customer_id"].str[1:])
    data = io.read_experiment(tx, customers, observation_end="2025-06-30")
    assert set(data.transactions["customer_id"]) == {"1", "2"}  # c3's only order was returned
    assert data.customers["customer_id"].tolist() == ["1", "2", "3", "4"]


def test_customers_in_transactions_but_not_in_customers(tables):
    tx, customers, _ = tables
    with pytest.raises(DataError) as e:
        io.read_experiment(tx, customers[customers["customer_id"] != "c2"])
    assert message(e) == ("transactions.customer_id: 2 of 4 rows (1 customer) break the rule "
                          "'customer_id is in the customers table'")


def test_randomized_design_needs_both_arms(tables):
    tx, customers, _ = tables
    with pytest.raises(DataError) as e:
        io.read_experiment(tx, customers.assign(arm="control"), design="randomized")
    assert message(e) == ("customers.arm: 0 customers in arm 'treatment'; rule 'each arm has at "
                          "least one customer'")
    # a self-selected study is not held to it
    io.read_experiment(tx, customers.assign(arm="control"), design="self_selected")


def test_customers_derived_from_transactions(tables):
    tx = tables[0]
    data = io.read_experiment(tx)
    # default observation end: the day of the last transaction (2025-07-01)
    assert data.observation_end == pd.Timestamp("2025-07-01")
    assert data.customers.to_dict("records") == [
        {"customer_id": "c1", "signup_date": pd.Timestamp("2025-01-03")},
        {"customer_id": "c2", "signup_date": pd.Timestamp("2025-01-20")},
    ]  # c3 is not a customer: their only order was fully returned
    assert data.params["customers"] == "derived from transactions"


def test_file_level_bad_inputs_are_data_errors_naming_the_path(tmp_path, monkeypatch):
    expected = ("expected a CSV (.csv, .csv.gz, .csv.bz2, .csv.zip, .csv.xz) or Parquet "
                "(.parquet, .pq, .parq) file, or a DataFrame")
    xlsx = tmp_path / "tx.xlsx"
    xlsx.write_text("x")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    fake = tmp_path / "fake.parquet"
    fake.write_text("customer_id,date,amount\n1,2024-01-01,3\n")
    monkeypatch.chdir(tmp_path)
    cases = {
        "tx.xlsx": f"transactions: {xlsx}: cannot tell the format from the name 'tx.xlsx' "
                   f"({expected}); rule 'a known file suffix'",
        "missing.csv": f"transactions: {tmp_path / 'missing.csv'}: no such file ({expected}; a "
                       f"relative path is read from the working directory {tmp_path}); rule "
                       "'file exists'",
        "empty.csv": f"transactions: {empty}: the file is empty (expected a CSV with a header "
                     "row and at least one row of data); rule 'a non-empty CSV'",
        ".": f"transactions: {tmp_path}: is a directory ({expected}); rule 'a file'",
    }
    for source, text in cases.items():
        with pytest.raises(DataError) as e:
            io.read_transactions(source)
        assert message(e) == text
        assert e.value.table == "transactions"
    with pytest.raises(DataError) as e:
        io.read_transactions("fake.parquet")
    assert message(e).startswith(f"transactions: {fake}: is not a readable Parquet file (")
    assert message(e).endswith("; rule 'a Parquet file'")
    with pytest.raises(DataError) as e:
        io.read_experiment([{"customer_id": 1}])
    assert message(e) == f"transactions: {expected}, got list; rule 'a table or a path'"


def test_randomized_design_without_a_customers_table_says_so(tables):
    tx, _, _ = tables
    with pytest.raises(DataError) as e:
        io.load_data(tx, design="randomized")
    assert message(e) == (
        "customers: no customers table was given, but a randomized design needs one with an "
        "'arm' column (control/treatment) for every customer; pass customers= (in a notebook: "
        "the customers_path parameter); rule 'customers table given'")
    # without a design, the customers are derived from the transactions as before
    assert io.load_data(tx).design is None


def test_day_first_csv_round_trip_with_and_without_date_format(tmp_path, tables):
    """dd/mm/yyyy text (as a European export writes it) is read day-first or refused, never
    half one way and half the other as pandas' format='mixed' did (01/02 → 2 Jan, 13/02 → 13 Feb)."""
    tx = pd.DataFrame({"customer_id": ["a", "a", "b", "b"],
                       "date": ["01/02/2024", "13/02/2024", "05/03/2024", "28/12/2024"],
                       "amount": [1.0, 2.0, 3.0, 4.0]})
    path = tmp_path / "tx.csv"
    tx.to_csv(path, index=False)
    truth = pd.to_datetime(["2024-02-01", "2024-02-13", "2024-03-05", "2024-12-28"])
    for fmt in (None, "dayfirst", "%d/%m/%Y"):
        data = io.read_experiment(path, date_format=fmt)
        assert list(data.transactions.sort_values("amount")["date"]) == list(truth), fmt
    with pytest.raises(DataError) as e:
        io.read_experiment(path, date_format="monthfirst")
    assert message(e) == ("transactions.date: 2 of 4 rows break the rule 'date matches "
                          "date_format 'monthfirst''")
    # every day <= 12: both readings are possible, so the reader refuses to guess
    tx.loc[1, "date"], tx.loc[3, "date"] = "11/02/2024", "12/12/2024"
    tx.to_csv(path, index=False)
    with pytest.raises(DataError) as e:
        io.read_experiment(path)
    assert message(e) == (
        "transactions.date: 3 of 4 dates are ambiguous: no day exceeds 12, so '01/02/2024' reads "
        "as 1 February 2024 (day-first) or 2 January 2024 (month-first); rule 'date format "
        "known': pass date_format='dayfirst' (dd/mm/yyyy) or 'monthfirst' (mm/dd/yyyy), or a "
        "strftime format")
    assert e.value.n_rows == 3 and len(e.value.examples) == 3
    data = io.read_experiment(path, date_format="dayfirst")
    assert data.transactions["date"].min() == pd.Timestamp("2024-02-01")


def test_mixed_date_formats_are_an_error():
    mixed = pd.DataFrame({"customer_id": ["a"] * 4, "amount": 1.0,
                          "date": ["2024-02-01", "2024-02-13", "13/02/2024", "2024-03-01"]})
    with pytest.raises(DataError) as e:
        io.read_experiment(mixed)
    assert message(e) == (
        "transactions.date: mixed date formats: 1 values look like day/month/year or "
        "month/day/year (e.g. '13/02/2024') and 3 do not (e.g. '2024-02-01'); rule 'one date "
        "format per column': write the dates in one format, or pass date_format")
    both = mixed.assign(date=["13/02/2024", "02/13/2024", "01/01/2024", "05/05/2024"])
    with pytest.raises(DataError) as e:
        io.read_experiment(both)
    assert message(e) == (
        "transactions.date: mixed date formats: 1 values can only be day-first (e.g. "
        "'13/02/2024') and 1 only month-first (e.g. '02/13/2024'); rule 'one date format per "
        "column'")
    us = mixed.assign(date=["02/13/2024", "03/01/2024", "12/31/2024", "01/02/2024"])
    assert list(io.read_experiment(us).transactions["date"].dt.strftime("%Y-%m-%d")) == [
        "2024-02-13", "2024-03-01", "2024-12-31", "2024-01-02"]


def test_customer_dates_follow_date_format(tmp_path):
    tx = pd.DataFrame({"customer_id": ["a", "b"], "date": ["2024-02-03", "2024-02-04"],
                       "amount": [1.0, 2.0]})
    cust = pd.DataFrame({"customer_id": ["a", "b"], "signup_date": ["03.02.2024", "04.02.2024"],
                         "enrolled_at": ["03.02.2024", None]})
    data = io.read_experiment(tx, customers=cust, date_format="%d.%m.%Y")
    assert list(data.customers["signup_date"]) == list(pd.to_datetime(["2024-02-03",
                                                                       "2024-02-04"]))


def test_load_data_cdnow():
    data = io.load_data("cdnow")
    assert data.observation_end == pd.Timestamp("1998-06-30")
    assert (data.customers["customer_id"].nunique(), len(data.transactions)) == (2357, 6919)
    assert data.design is None and data.quality.n_excluded() == 0
    # CDNOW's cohort was acquired in the first quarter of 1997
    assert data.customers["signup_date"].min() == pd.Timestamp("1997-01-01")
    assert data.customers["signup_date"].max() == pd.Timestamp("1997-03-25")
    assert io.load_data("cdnow_sample").transactions.equals(data.transactions)


def test_load_data_cdnow_with_earlier_observation_end():
    data = io.load_data("cdnow", observation_end="1997-09-30")
    assert data.transactions["date"].max() <= pd.Timestamp("1997-09-30")
    assert len(data.transactions) + data.quality.n_excluded() == 6919


def test_load_data_path(tables, tmp_path):
    tx, customers, _ = tables
    data = io.load_data(write(tx, tmp_path / "tx.csv"),
                        customers=write(customers, tmp_path / "c.parquet"),
                        observation_end="2025-06-30")
    assert data.design == "randomized" and len(data.customers) == 4
    # without a customers table there are no arms: no design
    assert io.load_data(tx).design is None
    with pytest.raises(TypeError, match="only the simulator takes them"):
        io.load_data(tx, weeks=3)


def test_load_data_simulated_calls_the_simulator(monkeypatch):
    calls = {}

    def fake(**kwargs):
        calls.update(kwargs)
        return "bundle"

    monkeypatch.setattr(rl.datasets, "simulate_loyalty_experiment", fake)
    assert io.load_data(n_customers=500, seed=7, design="self_selected", effect=0.2) == "bundle"
    assert calls == dict(n_customers=500, design="self_selected", seed=7, effect=0.2)
    io.load_data(launch_date="2025-03-01")   # read by the package's date rules first
    assert calls["launch_date"] == pd.Timestamp("2025-03-01")
    with pytest.raises(TypeError, match=r"load_data\('simulated'\) does not use customers, "
                                        r"observation_end"):
        io.load_data(customers="c.csv", observation_end="2025-01-01")
    with pytest.raises(TypeError, match=r"load_data\('cdnow'\) does not use surveys"):
        io.load_data("cdnow", surveys="s.csv")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_simulated_data_round_trips_through_files(tmp_path, suffix):
    """The simulator's bundle meets the data contract, and writing its tables to files and
    reading them back gives the same bundle."""
    sim = io.load_data("simulated", n_customers=1500, seed=11)
    assert isinstance(sim, ExperimentData) and sim.design == "randomized"
    paths = {name: write(getattr(sim, name), tmp_path / f"{name}{suffix}")
             for name in ("transactions", "customers", "surveys")}
    back = io.read_experiment(**paths, observation_end=sim.observation_end,
                              launch_date=sim.launch_date, design=sim.design)
    assert len(back.quality) == 0
    for name in ("transactions", "customers", "surveys"):
        ours, theirs = getattr(back, name), getattr(sim, name).reset_index(drop=True)
        if suffix == ".csv":   # a CSV's ids are read as text, never as numbers ("007" ≠ "7")
            ids = [c for c in ("customer_id", "order_id") if c in theirs.columns]
            assert all(ours[c].map(type).eq(str).all() for c in ids)
            theirs = theirs.astype({c: str for c in ids})
        assert list(ours.columns) == list(theirs.columns)
        pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)
