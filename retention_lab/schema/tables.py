"""Validation of the three tables (transactions, customers, surveys) against the contract, with
the documented policies: duplicates, returns, dates after the observation end, far dates, arms
and customers unknown to the customers table."""
from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd

from .._arrays import stable_order
from ..errors import DataError, DataQuality, DuplicateRowsWarning
from ..periods import day_numbers
from .columns import (
    ARMS,
    CSAT_RANGE,
    CUSTOMER_COLUMNS,
    DUPLICATES,
    NPS_RANGE,
    SURVEY_COLUMNS,
    TRANSACTION_COLUMNS,
    Duplicates,
    Returns,
    _examples,
    _not_null,
    _require_columns,
    _require_frame,
)
from .dates import _observation_end, after_end, parse_dates
from .numbers import _numeric, parse_numbers


def validate_transactions(tx: pd.DataFrame, *, observation_end=None, returns: Returns = "net",
                          zero_amounts: Literal["keep", "exclude"] = "keep",
                          quality: DataQuality | None = None, date_format: str | None = None,
                          decimal: str | None = None, thousands: str | None = None,
                          duplicates: Duplicates | None = None
                          ) -> tuple[pd.DataFrame, DataQuality]:
    """Check a transactions table against the contract and apply the documented policies.

    Errors (:class:`DataError`): empty table; a missing required column; a null ``customer_id``,
    ``date`` or ``amount``; an unparseable date; a non-numeric or infinite amount; a duplicate
    ``order_id`` among purchase rows (non-negative amounts); a negative amount when
    ``returns="error"``; boolean amounts, and text amounts whose reading depends on the
    notation unless ``decimal`` / ``thousands`` give it (:func:`parse_numbers`); an
    ``observation_end`` that is not a date (:func:`parse_date_param`). The readers of
    :mod:`retention_lab.io` add :func:`check_far_dates` when no ``observation_end`` is given.

    Exact duplicate rows (every column equal), with ``duplicates`` (the readers of
    :mod:`retention_lab.io` default to ``"keep"``; None, the default here, skips the rule):
    ``"keep"`` counts them in the ledger (action ``kept``) and warns
    (:class:`~retention_lab.errors.DuplicateRowsWarning`) — two identical purchases on one day
    can be real; ``"drop"`` keeps the first of each set and counts the rest as excluded;
    ``"error"`` raises a DataError.

    Counted exclusions (recorded in the returned ledger):

    * dates after ``observation_end`` (the transactions are outside the observed window);
    * returns (negative amounts): with ``returns="net"`` (default) and an ``order_id`` column, a
      return is netted into the order with the same ``order_id``; an order whose net amount is
      zero or less is excluded as fully returned, a return whose order is not in the table is
      excluded. Without ``order_id`` there is nothing to net against and returns are excluded.
      With ``returns="exclude"`` every negative row is excluded;
    * zero amounts with ``zero_amounts="exclude"`` (by default they are kept: a free order is
      still a purchase occasion, and the published CDNOW results count them).

    Returns the clean frame (``date`` as ``datetime64[ns]``, ``amount`` as float) and the ledger.
    """
    table = "transactions"
    if returns not in ("net", "exclude", "error"):
        raise ValueError(f"returns must be 'net', 'exclude' or 'error', not {returns!r}")
    if duplicates not in (None, *DUPLICATES):
        raise ValueError(f"duplicates must be one of {DUPLICATES}, not {duplicates!r}")
    if zero_amounts not in ("keep", "exclude"):
        raise ValueError(f"zero_amounts must be 'keep' or 'exclude', not {zero_amounts!r}")
    q = DataQuality() if quality is None else quality
    _require_frame(tx, table)
    _require_columns(tx, table, TRANSACTION_COLUMNS)
    _not_null(tx, table, "customer_id")
    df = tx.copy()
    df["date"] = parse_dates(df, table, "date", date_format=date_format)
    _not_null(df, table, "amount")
    df["amount"] = parse_numbers(df, table, "amount", decimal=decimal, thousands=thousands)
    infinite = ~np.isfinite(df["amount"])
    if infinite.any():
        raise DataError.for_rule(table, "amount", "amount is finite", infinite, df)
    if duplicates is not None:
        df = _exact_duplicates(df, duplicates, q)

    end = _observation_end(observation_end)
    if end is not None:
        late = after_end(df["date"], end)
        q.record(table, "date", f"date <= observation_end ({end.date()})", late.sum(),
                 note="transactions after the observation end are outside the window")
        if late.any():      # (else no copy of millions of rows, issue 22)
            df = df.loc[~late]

    negative = df["amount"] < 0
    has_orders = "order_id" in df.columns
    if has_orders:
        purchases = df.loc[~negative]
        dup = purchases["order_id"].duplicated(keep=False) & purchases["order_id"].notna()
        if dup.any():
            raise DataError.for_rule(table, "order_id", "order_id is unique among purchases",
                                     dup, purchases)
    if negative.any():
        if returns == "error":
            raise DataError.for_rule(table, "amount", "amount >= 0 (returns not allowed)",
                                     negative, df)
        if returns == "net" and has_orders:
            df = _net_returns(df, negative, q)
        elif returns in ("net", "exclude"):
            why = ("returns='exclude'" if returns == "exclude"
                   else "no order_id column to net the return against")
            q.record(table, "amount", "amount >= 0", negative.sum(), note=f"return excluded ({why})")
            df = df.loc[~negative]
        else:
            raise ValueError(f"returns must be 'net', 'exclude' or 'error', not {returns!r}")

    if zero_amounts == "exclude":
        zero = df["amount"] == 0
        q.record(table, "amount", "amount > 0", zero.sum(), note="zero-amount order excluded")
        df = df.loc[~zero]
    elif zero_amounts != "keep":
        raise ValueError(f"zero_amounts must be 'keep' or 'exclude', not {zero_amounts!r}")

    if len(df) == 0:
        raise DataError(f"{table}: no rows left after the exclusions in the data-quality table; "
                        "rule 'table has at least one row'\n" + repr(q),
                        table=table, column="*", rule="table has at least one row", n_rows=0)
    # df is this function's own copy: an index already 0 … n−1 needs no reset (another copy)
    whole = isinstance(df.index, pd.RangeIndex) and df.index.start == 0 \
        and df.index.step == 1 and df.index.name is None
    return (df if whole else df.reset_index(drop=True)), q


def _exact_duplicates(df: pd.DataFrame, rule: str, q: DataQuality) -> pd.DataFrame:
    """The ``duplicates`` rule of :func:`validate_transactions` on the parsed rows."""
    table = "transactions"
    dup = duplicated_rows(df)
    n = int(dup.sum())
    if not n:
        return df
    if rule == "error":
        raise DataError.for_rule(table, "*", "no exact duplicate rows (duplicates='error')",
                                 df.duplicated(keep=False), df)
    if rule == "drop":
        q.record(table, "*", "no exact duplicate rows", n, action="excluded",
                 note="identical copy of an earlier row dropped (duplicates='drop')")
        return df.loc[~dup]
    q.record(table, "*", "no exact duplicate rows", n, action="kept",
             note="identical copies of earlier rows kept (duplicates='keep'); "
                  "duplicates='drop' removes them")
    warnings.warn(f"{table}: {n:,} rows are exact copies of earlier rows; they are kept and "
                  "counted in the data-quality table (duplicates='keep'). Pass "
                  "duplicates='drop' if the file was loaded twice, or 'error' to refuse them.",
                  DuplicateRowsWarning, stacklevel=4)
    return df


def duplicated_rows(df: pd.DataFrame) -> np.ndarray:
    """``df.duplicated(keep="first")`` as a boolean array (every column compared, a row marked
    when an earlier row equals it), with the hash over every row only where one could be
    needed (issue 22: 6 s at 17M transactions).

    Equal rows have equal integer columns and equal days, so a coarse key of those (customer
    id and day, packed into an int64 and sorted by value) splits the rows into groups that
    contain every set of equal rows; pandas then compares every column of the rows in groups of
    two or more only, in their order — the same marks. Without such a key (no integer or date
    column, or ranges too wide to pack) pandas compares every row."""
    key, size = None, 1
    for col in df.columns:
        v = df[col].to_numpy()
        if v.dtype.kind in "iub":
            c = v.astype(np.int64)
        elif v.dtype == "datetime64[ns]":
            c = day_numbers(v)                              # the day: a coarser key
        else:
            continue
        if not len(c):
            break
        lo = int(c.min())
        radix = int(c.max()) - lo + 1
        if radix <= 1:
            continue
        if size * radix >= 2 ** 62 // max(len(c), 1):      # key · n + row must fit an int64
            break
        size *= radix
        key = c - lo if key is None else key * radix + (c - lo)
    if key is None:
        return df.duplicated(keep="first").to_numpy()
    rows, k = stable_order(key)      # the packing above keeps key · n + row in an int64
    same = k[1:] == k[:-1]
    cand = np.zeros(len(key), bool)
    cand[rows[1:][same]] = True
    cand[rows[:-1][same]] = True
    out = np.zeros(len(key), bool)
    sub = np.flatnonzero(cand)
    if len(sub):
        out[sub] = df.iloc[sub].duplicated(keep="first").to_numpy()
    return out


#: a date more than this after the bulk of the data, without an observation_end, is refused
FAR_DATE_GAP = pd.Timedelta(days=365)
#: "the bulk": the rows before the gap must hold at least this share of all rows
FAR_DATE_BULK = 0.99


def check_far_dates(df: pd.DataFrame, table: str = "transactions", column: str = "date",
                    gap: pd.Timedelta = FAR_DATE_GAP) -> None:
    """Without an ``observation_end`` the last date ends the window, so one typo (2204-01-01)
    would stretch it by centuries. Rule: sort the dates; if a gap of more than ``gap`` (a year)
    separates the last ≤ 1 % of rows from the rest, those rows are a DataError showing them
    (pass ``observation_end`` to exclude them — they are then counted — or correct them). A
    business with a year without any transaction, then a few, is refused too: the window would
    be unclear."""
    dates = df[column].dropna().sort_values()
    if len(dates) < 2:
        return
    gaps = dates.diff()
    big = np.flatnonzero((gaps > gap).to_numpy())
    if not len(big):
        return
    first_far = big[-1]          # rows from here on are after the last big gap
    n_far = len(dates) - first_far
    if n_far > (1 - FAR_DATE_BULK) * len(dates) and n_far > 1:
        return
    bulk_end = dates.iloc[first_far - 1]
    bad = df[column] > bulk_end + gap
    raise DataError(
        f"{table}.{column}: {int(bad.sum()):,} of {len(df):,} rows are dated more than a year "
        f"after the rest of the data (the bulk ends {bulk_end.date()}, then "
        f"{df.loc[bad, column].min().date()}); rule 'dates within a year of the bulk of the data "
        "(no observation_end given)': pass observation_end (e.g. "
        f"'{bulk_end.date()}') to exclude them, counted, or correct the dates",
        table=table, column=column, rule="dates within a year of the bulk of the data",
        n_rows=int(bad.sum()), examples=_examples(df, bad, 5))


def _net_returns(df: pd.DataFrame, negative: pd.Series, q: DataQuality) -> pd.DataFrame:
    table = "transactions"
    purchases, refunds = df.loc[~negative], df.loc[negative]
    known = refunds["order_id"].isin(purchases["order_id"].dropna()) & refunds["order_id"].notna()
    q.record(table, "amount", "amount >= 0", (~known).sum(),
             note="return whose order_id matches no purchase: excluded")
    refund_by_order = refunds.loc[known].groupby("order_id")["amount"].sum()
    q.record(table, "amount", "amount >= 0", known.sum(), action="netted",
             note="return netted into its order (same order_id)")
    out = purchases.copy()
    out["amount"] = out["amount"] + out["order_id"].map(refund_by_order).fillna(0.0)
    returned = out["order_id"].isin(refund_by_order.index) & (out["amount"] <= 0)
    q.record(table, "amount", "net order amount > 0", returned.sum(),
             note="order fully returned: excluded")
    return out.loc[~returned]


def validate_customers(customers: pd.DataFrame, *, observation_end=None,
                       quality: DataQuality | None = None, date_format: str | None = None
                       ) -> tuple[pd.DataFrame, DataQuality]:
    """Check a customers table.

    Errors: empty table; missing ``customer_id``; null or duplicate ``customer_id``; an ``arm``
    outside ``control``/``treatment`` (nulls included); unparseable ``signup_date`` /
    ``enrolled_at``; an enrolment before the customer's sign-up.

    Counted changes: an ``enrolled_at`` after ``observation_end`` is set to null (the enrolment
    was not observed in the window) and recorded.
    """
    table = "customers"
    q = DataQuality() if quality is None else quality
    _require_frame(customers, table)
    _require_columns(customers, table, CUSTOMER_COLUMNS)
    _not_null(customers, table, "customer_id")
    dup = customers["customer_id"].duplicated(keep=False)
    if dup.any():
        raise DataError.for_rule(table, "customer_id", "customer_id is unique", dup, customers)
    df = customers.copy()
    if "arm" in df.columns:
        bad = ~df["arm"].isin(ARMS)
        if bad.any():
            raise DataError.for_rule(table, "arm", "arm is 'control' or 'treatment'", bad, df)
    if "signup_date" in df.columns:
        df["signup_date"] = parse_dates(df, table, "signup_date", allow_null=True,
                                        date_format=date_format)
    if "enrolled_at" in df.columns:
        df["enrolled_at"] = parse_dates(df, table, "enrolled_at", allow_null=True,
                                        date_format=date_format)
        end = _observation_end(observation_end)
        if end is not None:
            late = after_end(df["enrolled_at"], end)
            q.record(table, "enrolled_at", f"enrolled_at <= observation_end ({end.date()})",
                     late.sum(), action="set to null", note="enrolment not observed in the window")
            df.loc[late, "enrolled_at"] = pd.NaT
        if "signup_date" in df.columns:
            early = df["enrolled_at"] < df["signup_date"]
            if early.any():
                raise DataError.for_rule(table, "enrolled_at", "enrolled_at >= signup_date",
                                         early, df)
    return df.reset_index(drop=True), q


def validate_surveys(surveys: pd.DataFrame, *, observation_end=None,
                     quality: DataQuality | None = None, date_format: str | None = None
                     ) -> tuple[pd.DataFrame, DataQuality]:
    """Check a surveys table: ``customer_id``, ``date`` and ``nps`` (0–10) and/or ``csat`` (1–5).

    Errors: empty table; missing columns (or neither score column); null ids; unparseable dates;
    a score that is not a whole number on its scale (nulls are allowed: a respondent may skip
    a question). Counted exclusions: responses dated after ``observation_end``.
    """
    table = "surveys"
    q = DataQuality() if quality is None else quality
    _require_frame(surveys, table)
    _require_columns(surveys, table, SURVEY_COLUMNS)
    scores = [c for c in ("nps", "csat") if c in surveys.columns]
    if not scores:
        raise DataError("surveys: missing required column(s) 'nps' and/or 'csat'; rule 'at least "
                        "one score column present'", table=table, column="nps,csat",
                        rule="at least one score column present", n_rows=len(surveys))
    _not_null(surveys, table, "customer_id")
    df = surveys.copy()
    df["date"] = parse_dates(df, table, "date", date_format=date_format)
    for col, (lo, hi) in (("nps", NPS_RANGE), ("csat", CSAT_RANGE)):
        if col not in df.columns:
            continue
        values = _numeric(df, table, col)
        bad = values.notna() & ((values < lo) | (values > hi) | (values != np.round(values)))
        if bad.any():
            raise DataError.for_rule(table, col, f"{col} is a whole number from {lo} to {hi}",
                                     bad, df)
        df[col] = values.astype("Int64")
    end = _observation_end(observation_end)
    if end is not None:
        late = after_end(df["date"], end)
        q.record(table, "date", f"date <= observation_end ({end.date()})", late.sum(),
                 note="responses after the observation end are outside the window")
        df = df.loc[~late]
    return df.reset_index(drop=True), q


def check_customers_known(tx: pd.DataFrame, customers: pd.DataFrame) -> None:
    """Every customer in transactions must be in customers (else their arm is unknown): DataError."""
    unknown = ~tx["customer_id"].isin(customers["customer_id"])
    if unknown.any():
        n_customers = tx.loc[unknown, "customer_id"].nunique()
        err = DataError.for_rule("transactions", "customer_id",
                                 "customer_id is in the customers table", unknown, tx)
        who = f"{n_customers:,} customer{'' if n_customers == 1 else 's'}"
        err.args = (err.args[0].replace(" rows break", f" rows ({who}) break", 1),)
        raise err


def check_arms(customers: pd.DataFrame) -> None:
    """A randomized comparison needs both arms populated: DataError naming the empty arm."""
    if "arm" not in customers.columns:
        raise DataError("customers: missing required column(s) 'arm'; rule 'required columns "
                        "present' (the experiment needs an arm per customer)", table="customers",
                        column="arm", rule="required columns present", n_rows=len(customers))
    counts = customers["arm"].value_counts()
    for arm in ARMS:
        if counts.get(arm, 0) == 0:
            raise DataError(f"customers.arm: 0 customers in arm '{arm}'; rule 'each arm has at "
                            "least one customer'", table="customers", column="arm",
                            rule="each arm has at least one customer", n_rows=0)
