"""Reading a user's own files without silent misreading (issue 20, "Reading").

Each case writes a small file (or builds a frame) inside the test, with numbers whose true total
is known by construction, and checks that the read is exact, counted in the ledger, or a
DataError naming the column, parameter or path — never a silent change. Before the fix
(measured 2026-12-06 on the same inputs): a ';' file failed with "missing required column(s)";
'1.234' (= 1,234) was read as 1.234; a repeated 'amount' column used the first copy (CSV) or
raised a raw ValueError (DataFrame); exact duplicates were counted nowhere; "007" and "7"
merged; True/False were read as 1/0; a 2204 typo moved the observation end to 2204;
launch_date="soon" raised pandas' DateParseError; DuckDB / Parquet-glob / Spark errors were
FileNotFoundError, CatalogException, IOException and ModuleNotFoundError; a naive timestamp
mixed with an offset one was silently read in the other's zone.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from retention_lab import DataError, io, schema
from retention_lab.errors import DuplicateRowsWarning


def first_line(excinfo) -> str:
    return str(excinfo.value).splitlines()[0]


@pytest.fixture
def cents():
    """40 purchases of 3 customers with whole-cent amounts from 0.5 to 25,000."""
    rng = np.random.default_rng(20)
    n = 40
    amount_cents = rng.integers(50, 2_500_000, n)
    amount_cents[:3] = [123_456, 99_900, 1_000_000]   # 1,234.56  999.00  10,000.00
    frame = pd.DataFrame({
        "customer_id": rng.choice(["a1", "b2", "c3"], n),
        "date": pd.date_range("2025-01-01", periods=n, freq="3D").strftime("%Y-%m-%d"),
        "cents": amount_cents,
    })
    return frame


def euro(c: int) -> str:
    """1234.56 written the German way: 1.234,56."""
    whole, frac = divmod(int(c), 100)
    return f"{whole:,}".replace(",", ".") + f",{frac:02d}"


def test_semicolon_file_names_sep(tmp_path, cents):
    path = tmp_path / "tx.csv"
    cents.assign(amount=cents["cents"] / 100).drop(columns="cents").to_csv(path, sep=";",
                                                                          index=False)
    with pytest.raises(DataError) as e:
        io.read_transactions(path)
    assert "pass sep=';'" in first_line(e) and str(path) in first_line(e)
    tx, q = io.read_transactions(path, sep=";")
    assert tx["amount"].sum() == pytest.approx(cents["cents"].sum() / 100, abs=1e-6)
    assert len(q) == 0


def test_european_numbers_are_refused_then_read_exactly(tmp_path, cents):
    path = tmp_path / "tx.csv"
    cents.assign(amount=cents["cents"].map(euro)).drop(columns="cents").to_csv(
        path, sep=";", index=False)
    with pytest.raises(DataError) as e:
        io.read_transactions(path, sep=";")
    assert "thousands='.'" in first_line(e) and "decimal=','" in first_line(e)
    assert e.value.column == "amount"
    tx, _ = io.read_transactions(path, sep=";", decimal=",", thousands=".")
    np.testing.assert_array_equal(np.round(tx["amount"].to_numpy() * 100).astype(int),
                                  cents["cents"].to_numpy())


def test_decimal_comma_is_named(tmp_path, cents):
    path = tmp_path / "tx.csv"
    small = cents.assign(amount=(cents["cents"] % 99_999).map(
        lambda c: f"{c // 100},{c % 100:02d}")).drop(columns="cents")
    small.to_csv(path, sep=";", index=False)
    with pytest.raises(DataError) as e:
        io.read_transactions(path, sep=";")
    assert "decimal=','" in first_line(e)
    tx, _ = io.read_transactions(path, sep=";", decimal=",")
    assert tx["amount"].sum() == pytest.approx((cents["cents"] % 99_999).sum() / 100, abs=1e-6)


def test_dotted_thousands_without_decimals(tmp_path):
    """The issue's case: whole amounts written 1.234 (= 1,234). Every dotted value has three
    digits after the dot: refused, naming thousands='.' and decimal='.'; read exactly with
    thousands='.'. The total of 25.5M would otherwise read as ~26k."""
    whole = np.array([1_234, 25_000, 999, 7, 123_456, 24_349, 500_000])
    text = [f"{v:,}".replace(",", ".") for v in whole]
    frame = pd.DataFrame({"customer_id": list("abcdefg"), "amount": text,
                          "date": pd.date_range("2025-01-01", periods=7).strftime("%Y-%m-%d")})
    path = tmp_path / "tx.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as e:
        io.read_transactions(path)
    assert "thousands='.'" in first_line(e) and "decimal='.'" in first_line(e)
    assert e.value.n_rows == 5   # 999 and 7 have no dot
    tx, _ = io.read_transactions(path, thousands=".")
    assert tx["amount"].sum() == whole.sum() == 675_045
    # a value with two dot groups cannot be a decimal: thousands='.' is named alone
    many = frame.assign(amount=text[:6] + ["24.349.304"])
    with pytest.raises(DataError) as e:
        io.read_transactions(many)
    assert "(1.234.567 = 1234567)" in first_line(e) and "pass thousands='.'" in first_line(e)
    assert io.read_transactions(many, thousands=".")[0]["amount"].iloc[-1] == 24_349_304
    # the same digits, confirmed as decimals, are read as decimals
    only_three = frame.iloc[[0, 1]]
    tx, _ = io.read_transactions(only_three, decimal=".")
    assert tx["amount"].tolist() == [1.234, 25.0]


def test_ordinary_decimals_are_not_mistaken_for_thousands(tmp_path):
    """One value with another number of decimals shows the dot is a decimal point."""
    frame = pd.DataFrame({"customer_id": ["a", "b", "c", "d"],
                          "date": ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"],
                          "amount": ["1.234", "12.5", "3.75", "1000"]})
    path = tmp_path / "tx.csv"
    frame.to_csv(path, index=False)
    tx, _ = io.read_transactions(path)
    assert tx["amount"].tolist() == [1.234, 12.5, 3.75, 1000.0]


def test_encoding_is_named_and_read(tmp_path):
    path = tmp_path / "customers.csv"
    pd.DataFrame({"customer_id": ["a", "b"], "region": ["Zürich", "Genève"]}).to_csv(
        path, index=False, encoding="latin-1")
    with pytest.raises(DataError) as e:
        io.read_customers(path)
    assert "encoding=" in first_line(e) and str(path) in first_line(e)
    cust, _ = io.read_customers(path, encoding="latin-1")
    assert cust["region"].tolist() == ["Zürich", "Genève"]


def test_duplicate_column_names(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text("customer_id,date,amount,amount\na,2025-01-01,1.5,30\nb,2025-01-02,2.5,50\n")
    with pytest.raises(DataError) as e:
        io.read_transactions(path)
    assert e.value.column == "amount" and "'amount' appear more than once" in first_line(e)
    frame = pd.DataFrame([["a", "2025-01-01", 1.5, 30.0]],
                         columns=["customer_id", "date", "amount", "amount"])
    with pytest.raises(DataError) as e:
        io.read_transactions(frame)
    assert e.value.column == "amount" and e.value.rule == "column names are unique"


def test_exact_duplicate_rows_rule():
    base = pd.DataFrame({"customer_id": ["a", "b", "c", "a"],
                         "date": ["2025-01-01", "2025-01-02", "2025-01-03", "2025-02-01"],
                         "amount": [10.0, 20.0, 30.0, 40.0]})
    doubled = pd.concat([base, base.iloc[[0, 2]]], ignore_index=True)   # 2 rows loaded twice
    with pytest.warns(DuplicateRowsWarning, match="2 rows are exact copies"):
        tx, q = io.read_transactions(doubled)
    assert len(tx) == 6 and tx["amount"].sum() == 140.0
    assert q.table[["rule", "n_rows", "action"]].to_dict("records") == [
        {"rule": "no exact duplicate rows", "n_rows": 2, "action": "kept"}]
    tx, q = io.read_transactions(doubled, duplicates="drop")
    assert tx["amount"].sum() == base["amount"].sum() == 100.0
    assert q.n_excluded() == 2
    with pytest.raises(DataError) as e:
        io.read_transactions(doubled, duplicates="error")
    assert e.value.n_rows == 4 and "duplicates='error'" in first_line(e)
    with pytest.raises(ValueError, match="duplicates must be"):
        io.read_transactions(doubled, duplicates="maybe")


def test_ids_are_text_in_csv(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text("customer_id,date,amount,order_id\n007,2025-01-01,1.0,0001\n"
                    "7,2025-01-02,2.0,1\n")
    data = io.read_experiment(path)
    assert sorted(data.customers["customer_id"]) == ["007", "7"]
    assert data.transactions["order_id"].tolist() == ["0001", "1"]


def test_booleans_are_not_amounts(tmp_path):
    frame = pd.DataFrame({"customer_id": ["a", "b"], "date": ["2025-01-01", "2025-01-02"],
                          "amount": [True, False]})
    with pytest.raises(DataError) as e:
        io.read_transactions(frame)
    assert e.value.column == "amount" and "true/false" in e.value.rule
    path = tmp_path / "tx.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as e:
        io.read_transactions(path)
    assert e.value.column == "amount" and e.value.n_rows == 2


def test_a_typo_date_far_after_the_data():
    rng = np.random.default_rng(1)
    dates = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 540, 300), unit="D")
    frame = pd.DataFrame({"customer_id": rng.integers(1, 60, 300), "date": dates,
                          "amount": rng.uniform(5, 50, 300).round(2)})
    frame.loc[17, "date"] = pd.Timestamp("2204-01-01")
    with pytest.raises(DataError) as e:
        io.read_experiment(frame)
    assert e.value.column == "date" and e.value.n_rows == 1
    assert "2204-01-01" in str(e.value) and "observation_end" in first_line(e)
    # with an explicit end the row is excluded and counted
    data = io.read_experiment(frame, observation_end="2026-06-30")
    assert len(data.transactions) == 299 and data.quality.n_excluded("transactions") == 1
    assert data.observation_end == pd.Timestamp("2026-06-30")


def test_a_business_with_a_long_history_is_not_refused():
    """Two years of trade with a quiet month is not a typo: no gap of a year."""
    dates = pd.to_datetime(["2023-01-05", "2023-06-01", "2024-03-01", "2024-12-30",
                            "2025-02-01"])
    frame = pd.DataFrame({"customer_id": list("abcde"), "date": dates, "amount": 1.0})
    assert io.read_experiment(frame).observation_end == pd.Timestamp("2025-02-01")


@pytest.mark.parametrize("name,value", [("launch_date", "soon"),
                                        ("observation_end", "31/31/2026"),
                                        ("observation_end", 3.5)])
def test_date_parameters_name_themselves(name, value):
    frame = pd.DataFrame({"customer_id": ["a"], "date": ["2025-01-01"], "amount": [1.0]})
    with pytest.raises(DataError) as e:
        io.read_experiment(frame, **{name: value})
    assert e.value.column == name and first_line(e).startswith(f"parameter {name}=")
    with pytest.raises(DataError) as e:
        io.load_data(frame, **{name: value})
    assert e.value.column == name


def test_date_parameters_follow_the_date_rules():
    assert schema.parse_date_param("30/06/2025", "observation_end") == pd.Timestamp("2025-06-30")
    assert schema.parse_date_param("01.02.2025", "launch_date", "%d.%m.%Y") == \
        pd.Timestamp("2025-02-01")
    assert schema.parse_date_param(pd.Timestamp("2025-06-30 02:00", tz="Europe/Berlin"),
                                   "x") == pd.Timestamp("2025-06-30 00:00")
    with pytest.raises(DataError, match="launch_date"):
        io.load_data("simulated", launch_date="soon", n_customers=200)


def test_time_zones_mixed_with_naive_timestamps():
    frame = pd.DataFrame({"customer_id": ["a", "b", "c"],
                          "date": ["2025-01-01T10:00:00+02:00", "2025-01-02 10:00",
                                   "2025-01-03 11:30:00Z"],
                          "amount": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError) as e:
        io.read_transactions(frame)
    assert e.value.rule == "timestamps all with a time zone or all without"
    assert "parseable" not in first_line(e)
    tx, _ = io.read_transactions(frame.iloc[[0, 2]])   # all with an offset: converted to UTC
    assert tx["date"].tolist() == [pd.Timestamp("2025-01-01 08:00"),
                                   pd.Timestamp("2025-01-03 11:30")]


def test_engine_sources_name_what_is_missing(tmp_path):
    import duckdb
    missing = tmp_path / "nope.duckdb"
    with pytest.raises(DataError) as e:
        io.load_data(f"duckdb://{missing}::tx")
    assert str(missing) in first_line(e) and e.value.rule == "database exists"
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE orders AS SELECT 'a' AS customer_id, DATE '2025-01-01' AS date, "
                "1.0 AS amount")
    con.close()
    with pytest.raises(DataError) as e:
        io.load_data(f"duckdb://{db}::transactions")
    assert "'transactions'" in first_line(e) and "orders" in first_line(e)
    assert e.value.column == "transactions"
    assert len(io.load_data(f"duckdb://{db}::orders").transactions) == 1
    with pytest.raises(DataError) as e:
        io.load_data(str(tmp_path / "parts" / "*.parquet"))
    assert "matches no file" in first_line(e) and "parts" in first_line(e)


def test_spark_without_pyspark_names_the_extra():
    pytest.importorskip("duckdb")
    try:
        import pyspark  # noqa: F401
        pytest.skip("pyspark is installed")
    except ImportError:
        pass
    with pytest.raises(DataError) as e:
        io.load_data("spark:db.transactions")
    assert "pip install 'retention-lab[spark]'" in first_line(e)
    assert "spark:db.transactions" in first_line(e)


def test_design_from_the_customers_columns(tmp_path):
    tx = pd.DataFrame({"customer_id": ["a", "b", "c"],
                       "date": ["2025-01-01", "2025-01-05", "2025-02-01"],
                       "amount": [1.0, 2.0, 3.0]})
    covariates = pd.DataFrame({"customer_id": ["a", "b", "c"], "region": ["n", "s", "n"],
                               "age": [31, 45, 27]})
    data = io.load_data(tx, customers=covariates)
    assert data.design is None and data.customers["age"].tolist() == [31, 45, 27]
    path = tmp_path / "customers.csv"
    covariates.assign(enrolled_at=["2025-01-10", None, None]).to_csv(path, index=False)
    data = io.load_data(tx, customers=path)
    assert data.design == "self_selected" and data.params["customers"] == str(path)
    assert io.load_data(tx, customers=covariates.assign(
        arm=["control", "treatment", "control"])).design == "randomized"
    with pytest.raises(DataError) as e:
        io.load_data(tx, customers=covariates, design="self_selected")
    assert e.value.column == "enrolled_at"
    with pytest.raises(DataError) as e:
        io.load_data(tx, customers=covariates, design="randomized")
    assert e.value.column == "arm"


def test_the_bundled_cdnow_duplicates_are_counted_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DuplicateRowsWarning)
        data = io.load_data("cdnow")
    kept = data.quality.table.query("rule == 'no exact duplicate rows'")
    assert kept["n_rows"].tolist() == [21] and kept["action"].tolist() == ["kept"]
