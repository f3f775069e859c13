"""One test per rule of the data contract (DESIGN.md): the bad input, the exact message, and the
ledger — every row that leaves a table is counted (rows in == rows out + counted removals)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention_lab import DataError, DataQuality, schema

# Ledger actions that take a row out of its table ("set to null" changes a value, keeps the row).
REMOVING = ("excluded", "netted")


def message(excinfo) -> str:
    """The first line of a DataError (the examples follow on later lines)."""
    return str(excinfo.value).splitlines()[0]


def removed(q: DataQuality, table: str) -> int:
    return sum(e["n_rows"] for e in q.entries if e["table"] == table and e["action"] in REMOVING)


def assert_accounted(frame_in: pd.DataFrame, frame_out: pd.DataFrame, q: DataQuality,
                     table: str) -> None:
    assert len(frame_in) == len(frame_out) + removed(q, table)


def tx_frame(**overrides) -> pd.DataFrame:
    base = {
        "customer_id": [1, 1, 2, 3],
        "date": ["2024-01-05", "2024-02-10", "2024-01-20", "2024-03-01"],
        "amount": [10.0, 20.0, 5.0, 7.5],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def customers_frame(**overrides) -> pd.DataFrame:
    base = {
        "customer_id": [1, 2, 3, 4],
        "signup_date": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"],
        "arm": ["control", "treatment", "control", "treatment"],
        "enrolled_at": [None, "2024-02-01", None, "2024-03-15"],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def surveys_frame(**overrides) -> pd.DataFrame:
    base = {
        "customer_id": [1, 2, 3],
        "date": ["2024-02-01", "2024-02-02", "2024-02-03"],
        "nps": [10, 7, 3],
        "csat": [5, 4, 1],
    }
    base.update(overrides)
    return pd.DataFrame(base)


# --------------------------------------------------------------------------- clean input


def test_clean_transactions_pass_unchanged_and_typed():
    tx = tx_frame()
    out, q = schema.validate_transactions(tx)
    assert len(out) == 4 and len(q) == 0
    assert out["date"].dtype == "datetime64[ns]"
    assert out["amount"].dtype == float
    assert out["date"].iloc[1] == pd.Timestamp("2024-02-10")
    assert tx["date"].dtype == object  # the input is not mutated


def test_integer_dates_are_read_as_yyyymmdd():
    out, _ = schema.validate_transactions(tx_frame(date=[19970101, 19970102, 19971231, 19980630]))
    assert list(out["date"].dt.strftime("%Y-%m-%d")) == [
        "1997-01-01", "1997-01-02", "1997-12-31", "1998-06-30"]


def test_time_zones_are_converted_to_utc_and_dropped():
    dates = pd.to_datetime(["2024-01-05 01:00", "2024-02-10 00:00", "2024-01-20 00:00",
                            "2024-03-01 00:00"]).tz_localize("Europe/Berlin")
    out, _ = schema.validate_transactions(tx_frame(date=dates))
    assert out["date"].dt.tz is None
    assert out["date"].iloc[0] == pd.Timestamp("2024-01-05 00:00")


def test_mixed_utc_offsets_in_text_are_converted_to_utc():
    tx = tx_frame(date=["2024-01-05T10:00+01:00", "2024-02-10T10:00+02:00", "2024-01-20",
                        "2024-03-01T23:30-05:00"])
    out, _ = schema.validate_transactions(tx)
    assert out["date"].dtype == "datetime64[ns]"
    assert out["date"].tolist() == [pd.Timestamp("2024-01-05 09:00"),
                                    pd.Timestamp("2024-02-10 08:00"),
                                    pd.Timestamp("2024-01-20 00:00"),  # naive: read as UTC
                                    pd.Timestamp("2024-03-02 04:30")]


# --------------------------------------------------------------------------- missing columns


def test_missing_required_column():
    tx = tx_frame().drop(columns="amount")
    with pytest.raises(DataError) as e:
        schema.validate_transactions(tx)
    assert message(e) == ("transactions: missing required column(s) 'amount'; rule 'required "
                          "columns present' (has: customer_id, date)")
    assert e.value.column == "amount" and e.value.rule == "required columns present"


def test_missing_several_required_columns():
    with pytest.raises(DataError) as e:
        schema.validate_transactions(pd.DataFrame({"id": [1], "value": [2.0]}))
    assert message(e) == ("transactions: missing required column(s) 'customer_id', 'date', "
                          "'amount'; rule 'required columns present' (has: id, value)")


def test_customers_missing_customer_id():
    with pytest.raises(DataError) as e:
        schema.validate_customers(pd.DataFrame({"id": [1, 2]}))
    assert message(e) == ("customers: missing required column(s) 'customer_id'; rule 'required "
                          "columns present' (has: id)")


def test_surveys_without_any_score_column():
    with pytest.raises(DataError) as e:
        schema.validate_surveys(surveys_frame().drop(columns=["nps", "csat"]))
    assert message(e) == ("surveys: missing required column(s) 'nps' and/or 'csat'; rule 'at "
                          "least one score column present'")


def test_not_a_dataframe_is_a_data_error():
    with pytest.raises(DataError) as e:
        schema.validate_transactions([1, 2, 3])
    assert message(e) == "transactions: expected a pandas DataFrame, got list; rule 'a table'"


# --------------------------------------------------------------------------- dates


def test_unparseable_dates():
    tx = tx_frame(date=["2024-01-05", "not a date", "2024-13-45", "2024-03-01"])
    with pytest.raises(DataError) as e:
        schema.validate_transactions(tx)
    assert message(e) == "transactions.date: 2 of 4 rows break the rule 'date is a parseable date'"
    assert e.value.n_rows == 2
    assert list(e.value.examples["date"]) == ["not a date", "2024-13-45"]
    assert "Examples:" in str(e.value) and "not a date" in str(e.value)


def test_null_date():
    with pytest.raises(DataError) as e:
        schema.validate_transactions(tx_frame(date=["2024-01-05", None, "2024-01-20", None]))
    assert message(e) == "transactions.date: 2 of 4 rows break the rule 'date is not null'"


def test_unparseable_integer_date():
    with pytest.raises(DataError) as e:
        schema.validate_transactions(tx_frame(date=[19970101, 1234, 19971231, 19980630]))
    assert message(e) == "transactions.date: 1 of 4 rows break the rule 'date is a parseable date'"


def test_unparseable_signup_date():
    with pytest.raises(DataError) as e:
        schema.validate_customers(customers_frame(signup_date=["2024-01-01", "yesterday",
                                                               None, "2024-01-04"]))
    assert message(e) == ("customers.signup_date: 1 of 4 rows break the rule 'signup_date is a "
                          "parseable date'")


def test_dates_after_observation_end_are_excluded_and_counted():
    tx = tx_frame(date=["2024-01-05", "2024-02-10", "2024-02-29 23:59", "2024-03-01"])
    out, q = schema.validate_transactions(tx, observation_end="2024-02-29")
    # a date-only end includes its whole day: the 23:59 purchase stays, 1 March goes
    assert list(out["customer_id"]) == [1, 1, 2]
    assert q.table.to_dict("records") == [dict(
        table="transactions", column="date", rule="date <= observation_end (2024-02-29)",
        n_rows=1, action="excluded",
        note="transactions after the observation end are outside the window")]
    assert_accounted(tx, out, q, "transactions")


def test_observation_end_with_a_time_of_day_is_exact():
    tx = tx_frame(date=["2024-01-05", "2024-02-10 12:00", "2024-02-10 12:01", "2024-03-01"])
    out, q = schema.validate_transactions(tx, observation_end="2024-02-10 12:00")
    assert len(out) == 2 and q.n_excluded("transactions") == 2
    assert_accounted(tx, out, q, "transactions")


def test_survey_responses_after_observation_end_are_excluded_and_counted():
    sv = surveys_frame(date=["2024-02-01", "2024-02-02", "2024-04-01"])
    out, q = schema.validate_surveys(sv, observation_end="2024-03-31")
    assert len(out) == 2
    assert q.table[["table", "column", "n_rows", "action"]].to_dict("records") == [
        dict(table="surveys", column="date", n_rows=1, action="excluded")]
    assert_accounted(sv, out, q, "surveys")


def test_everything_after_observation_end_leaves_no_rows():
    with pytest.raises(DataError) as e:
        schema.validate_transactions(tx_frame(), observation_end="2023-12-31")
    assert message(e) == ("transactions: no rows left after the exclusions in the data-quality "
                          "table; rule 'table has at least one row'")
    assert "n_rows" in str(e.value) and "4" in str(e.value)  # the ledger is shown


# --------------------------------------------------------------------------- ids


def test_duplicate_order_id():
    tx = tx_frame(order_id=["A", "B", "B", "C"])
    with pytest.raises(DataError) as e:
        schema.validate_transactions(tx)
    assert message(e) == ("transactions.order_id: 2 of 4 rows break the rule 'order_id is "
                          "unique among purchases'")
    assert list(e.value.examples["customer_id"]) == [1, 2]


def test_null_order_ids_are_not_duplicates():
    out, q = schema.validate_transactions(tx_frame(order_id=["A", None, None, "C"]))
    assert len(out) == 4 and len(q) == 0


def test_null_customer_id_in_transactions():
    with pytest.raises(DataError) as e:
        schema.validate_transactions(tx_frame(customer_id=[1, None, 2, None]))
    assert message(e) == ("transactions.customer_id: 2 of 4 rows break the rule 'customer_id is "
                          "not null'")


def test_null_customer_id_in_customers():
    with pytest.raises(DataError) as e:
        schema.validate_customers(customers_frame(customer_id=[1, 2, np.nan, 4]))
    assert message(e) == ("customers.customer_id: 1 of 4 rows break the rule 'customer_id is "
                          "not null'")


def test_null_customer_id_in_surveys():
    with pytest.raises(DataError) as e:
        schema.validate_surveys(surveys_frame(customer_id=[None, 2, 3]))
    assert message(e) == ("surveys.customer_id: 1 of 3 rows break the rule 'customer_id is not "
                          "null'")


def test_duplicate_customer_ids():
    with pytest.raises(DataError) as e:
        schema.validate_customers(customers_frame(customer_id=[1, 2, 2, 2]))
    assert message(e) == ("customers.customer_id: 3 of 4 rows break the rule 'customer_id is "
                          "unique'")


# --------------------------------------------------------------------------- amounts


def test_null_amount():
    with pytest.raises(DataError) as e:
        schema.validate_transactions(tx_frame(amount=[1.0, None, 2.0, 3.0]))
    assert message(e) == "transactions.amount: 1 of 4 rows break the rule 'amount is not null'"


def test_non_numeric_amount():
    with pytest.raises(DataError) as e:
        schema.validate_transactions(tx_frame(amount=["1.0", "12,50", "two", "3"]))
    assert message(e) == "transactions.amount: 2 of 4 rows break the rule 'amount is numeric'"


def test_infinite_amount():
    with pytest.raises(DataError) as e:
        schema.validate_transactions(tx_frame(amount=[1.0, np.inf, -np.inf, 3.0]))
    assert message(e) == "transactions.amount: 2 of 4 rows break the rule 'amount is finite'"


def returns_frame() -> pd.DataFrame:
    """Order A partly returned, order B fully returned, a return of an unknown order Z."""
    return pd.DataFrame({
        "customer_id": [1, 1, 2, 2, 3, 3],
        "date": ["2024-01-05", "2024-01-09", "2024-01-06", "2024-01-08", "2024-01-07",
                 "2024-01-10"],
        "amount": [50.0, -20.0, 30.0, -30.0, 12.0, -5.0],
        "order_id": ["A", "A", "B", "B", "C", "Z"],
    })


def test_negative_amounts_netted_per_order():
    tx = returns_frame()
    out, q = schema.validate_transactions(tx, returns="net")
    assert out[["order_id", "amount"]].to_dict("records") == [
        {"order_id": "A", "amount": 30.0}, {"order_id": "C", "amount": 12.0}]
    assert out["date"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-07")]
    assert q.table[["rule", "n_rows", "action", "note"]].to_dict("records") == [
        dict(rule="amount >= 0", n_rows=1, action="excluded",
             note="return whose order_id matches no purchase: excluded"),
        dict(rule="amount >= 0", n_rows=2, action="netted",
             note="return netted into its order (same order_id)"),
        dict(rule="net order amount > 0", n_rows=1, action="excluded",
             note="order fully returned: excluded"),
    ]
    assert_accounted(tx, out, q, "transactions")  # 6 = 2 + 1 + 2 + 1


def test_negative_amounts_net_without_order_id_are_excluded():
    tx = returns_frame().drop(columns="order_id")
    out, q = schema.validate_transactions(tx, returns="net")
    assert len(out) == 3 and (out["amount"] > 0).all()
    assert q.table[["n_rows", "action", "note"]].to_dict("records") == [
        dict(n_rows=3, action="excluded",
             note="return excluded (no order_id column to net the return against)")]
    assert_accounted(tx, out, q, "transactions")


def test_negative_amounts_excluded():
    tx = returns_frame()
    out, q = schema.validate_transactions(tx, returns="exclude")
    assert out["amount"].tolist() == [50.0, 30.0, 12.0]
    assert q.table[["rule", "n_rows", "note"]].to_dict("records") == [
        dict(rule="amount >= 0", n_rows=3, note="return excluded (returns='exclude')")]
    assert_accounted(tx, out, q, "transactions")


def test_negative_amounts_error():
    with pytest.raises(DataError) as e:
        schema.validate_transactions(returns_frame(), returns="error")
    assert message(e) == ("transactions.amount: 3 of 6 rows break the rule 'amount >= 0 "
                          "(returns not allowed)'")


def test_unknown_returns_policy():
    with pytest.raises(ValueError, match="returns must be 'net', 'exclude' or 'error', not 'drop'"):
        schema.validate_transactions(tx_frame(), returns="drop")


def test_zero_amounts_kept_by_default_and_excludable():
    tx = tx_frame(amount=[0.0, 20.0, 0.0, 7.5])
    out, q = schema.validate_transactions(tx)
    assert len(out) == 4 and len(q) == 0
    out, q = schema.validate_transactions(tx, zero_amounts="exclude")
    assert len(out) == 2 and q.n_excluded() == 2
    assert_accounted(tx, out, q, "transactions")


# --------------------------------------------------------------------------- surveys


def test_nps_outside_its_scale():
    with pytest.raises(DataError) as e:
        schema.validate_surveys(surveys_frame(nps=[11, 7, -1]))
    assert message(e) == ("surveys.nps: 2 of 3 rows break the rule 'nps is a whole number from 0 "
                          "to 10'")


def test_nps_not_a_whole_number():
    with pytest.raises(DataError) as e:
        schema.validate_surveys(surveys_frame(nps=[9.5, 7, 3]))
    assert message(e) == ("surveys.nps: 1 of 3 rows break the rule 'nps is a whole number from 0 "
                          "to 10'")


def test_csat_outside_its_scale():
    with pytest.raises(DataError) as e:
        schema.validate_surveys(surveys_frame(csat=[0, 4, 6]))
    assert message(e) == ("surveys.csat: 2 of 3 rows break the rule 'csat is a whole number from 1 "
                          "to 5'")


def test_non_numeric_score():
    with pytest.raises(DataError) as e:
        schema.validate_surveys(surveys_frame(csat=["5", "good", "1"]))
    assert message(e) == "surveys.csat: 1 of 3 rows break the rule 'csat is numeric'"


def test_skipped_questions_are_allowed():
    out, q = schema.validate_surveys(surveys_frame(nps=[10, None, 3], csat=[None, 4, 1]))
    assert str(out["nps"].dtype) == "Int64" and out["nps"].isna().sum() == 1
    assert out["csat"].tolist()[1:] == [4, 1]


# --------------------------------------------------------------------------- customers


def test_customers_in_transactions_but_not_in_customers():
    tx, _ = schema.validate_transactions(tx_frame(customer_id=[1, 7, 7, 8]))
    cust, _ = schema.validate_customers(customers_frame())
    with pytest.raises(DataError) as e:
        schema.check_customers_known(tx, cust)
    assert message(e) == ("transactions.customer_id: 3 of 4 rows (2 customers) break the rule "
                          "'customer_id is in the customers table'")
    assert e.value.n_rows == 3
    schema.check_customers_known(tx_frame(), cust)  # every customer known: no error


def test_bad_arm_values():
    with pytest.raises(DataError) as e:
        schema.validate_customers(customers_frame(arm=["control", "Treatment", None, "treatment"]))
    assert message(e) == ("customers.arm: 2 of 4 rows break the rule 'arm is 'control' or "
                          "'treatment''")


def test_treatment_arm_with_no_customers():
    cust, _ = schema.validate_customers(customers_frame(arm=["control"] * 4))
    with pytest.raises(DataError) as e:
        schema.check_arms(cust)
    assert message(e) == ("customers.arm: 0 customers in arm 'treatment'; rule 'each arm has at "
                          "least one customer'")


def test_control_arm_with_no_customers():
    with pytest.raises(DataError) as e:
        schema.check_arms(customers_frame(arm=["treatment"] * 4))
    assert message(e) == ("customers.arm: 0 customers in arm 'control'; rule 'each arm has at "
                          "least one customer'")


def test_arms_need_an_arm_column():
    with pytest.raises(DataError) as e:
        schema.check_arms(customers_frame().drop(columns="arm"))
    assert message(e) == ("customers: missing required column(s) 'arm'; rule 'required columns "
                          "present' (the experiment needs an arm per customer)")


def test_enrolment_before_signup():
    with pytest.raises(DataError) as e:
        schema.validate_customers(customers_frame(enrolled_at=[None, "2023-12-31", None,
                                                               "2024-03-15"]))
    assert message(e) == ("customers.enrolled_at: 1 of 4 rows break the rule 'enrolled_at >= "
                          "signup_date'")
    assert e.value.examples["customer_id"].tolist() == [2]


def test_enrolment_after_observation_end_is_set_to_null_and_counted():
    cust = customers_frame()
    out, q = schema.validate_customers(cust, observation_end="2024-03-14")
    assert len(out) == len(cust)  # a changed value, not a removed row
    assert out["enrolled_at"].isna().tolist() == [True, False, True, True]
    assert q.table.to_dict("records") == [dict(
        table="customers", column="enrolled_at", rule="enrolled_at <= observation_end (2024-03-14)",
        n_rows=1, action="set to null", note="enrolment not observed in the window")]
    assert_accounted(cust, out, q, "customers")
    assert cust["enrolled_at"].notna().sum() == 2  # the input is not mutated


# --------------------------------------------------------------------------- empty tables


@pytest.mark.parametrize("validate, table, columns", [
    (schema.validate_transactions, "transactions", ["customer_id", "date", "amount"]),
    (schema.validate_customers, "customers", ["customer_id"]),
    (schema.validate_surveys, "surveys", ["customer_id", "date", "nps"]),
])
def test_empty_table(validate, table, columns):
    with pytest.raises(DataError) as e:
        validate(pd.DataFrame(columns=columns))
    assert message(e) == f"{table}: the table is empty (0 rows); rule 'table has at least one row'"
    assert e.value.n_rows == 0


def test_ledgers_share_one_quality_object():
    q = DataQuality()
    schema.validate_transactions(returns_frame(), returns="exclude", quality=q)
    schema.validate_customers(customers_frame(), observation_end="2024-03-14", quality=q)
    assert q.table["table"].tolist() == ["transactions", "customers"]
    assert q.n_excluded() == 3 and q.n_excluded("customers") == 0


# --------------------------------------------------------------------------- number notation


@pytest.mark.parametrize("text, kwargs, expected", [
    (["1.234,56", "12,50", "7"], dict(decimal=",", thousands="."), [1234.56, 12.5, 7.0]),
    (["1,234.56", "12.50", "7"], dict(thousands=","), [1234.56, 12.5, 7.0]),
    (["1 234,56", "12,5", "7"], dict(decimal=",", thousands=" "), [1234.56, 12.5, 7.0]),
    (["1.234", "999", "12.345"], dict(thousands="."), [1234.0, 999.0, 12345.0]),
    (["1.234", "999", "12.345"], dict(decimal="."), [1.234, 999.0, 12.345]),
    (["1.5", "12.25", "0.125"], {}, [1.5, 12.25, 0.125]),        # mixed decimals: no doubt
    ([" 3 ", "-2.5", "+4"], {}, [3.0, -2.5, 4.0]),
])
def test_numbers_in_a_given_notation(text, kwargs, expected):
    out = schema.parse_numbers(pd.DataFrame({"amount": text}), "transactions", "amount",
                               **kwargs)
    assert out.tolist() == pytest.approx(expected)


@pytest.mark.parametrize("text, names", [
    (["1.234,56", "7"], ["thousands='.'", "decimal=','"]),
    (["1,234.56", "7"], ["thousands=','"]),
    (["12,50", "7,5"], ["decimal=','"]),
    (["1,234", "7"], ["thousands=','", "decimal=','"]),               # either reading
    (["1.234", "7", "25.000"], ["thousands='.'", "decimal='.'"]),       # either reading
    (["1.234.567"], ["thousands='.'"]),
])
def test_numbers_whose_reading_depends_on_the_notation_are_refused(text, names):
    with pytest.raises(DataError) as e:
        schema.parse_numbers(pd.DataFrame({"amount": text}), "transactions", "amount")
    assert all(n in message(e) for n in names) and e.value.column == "amount"


def test_a_dot_in_a_decimal_comma_column_is_refused():
    with pytest.raises(DataError) as e:
        schema.parse_numbers(pd.DataFrame({"amount": ["12,5", "3.75"]}), "transactions",
                             "amount", decimal=",")
    assert e.value.n_rows == 1


def test_duplicate_column_names_in_a_frame():
    tx = tx_frame()
    tx.insert(3, "extra", 1.0)
    tx.columns = ["customer_id", "date", "amount", "date"]
    with pytest.raises(DataError) as e:
        schema.validate_transactions(tx)
    assert e.value.column == "date" and e.value.rule == "column names are unique"
