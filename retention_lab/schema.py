"""The data contract (DESIGN.md) and its validation.

Three tables:

=============  ==========================================  ==========================================
table          required                                    optional
=============  ==========================================  ==========================================
transactions   ``customer_id``, ``date``, ``amount``       ``order_id``, ``quantity``, ``channel``
customers      ``customer_id``                             ``signup_date``, ``arm``, ``enrolled_at``,
                                                           ``tier``, any covariates
surveys        ``customer_id``, ``date``, and ``nps``      —
               (0–10) and/or ``csat`` (1–5)
=============  ==========================================  ==========================================

Each rule is enforced one of two ways, and the docstrings below say which:

* a :class:`~retention_lab.DataError` (the input cannot be analysed as it is) naming the table,
  the column, the rule and the number of offending rows, with examples;
* a counted exclusion recorded in a :class:`~retention_lab.DataQuality` ledger (a documented
  policy removed or changed the rows).

Every ``validate_*`` function returns ``(clean_frame, quality)`` and never mutates its input.
"""
from __future__ import annotations

import re
import warnings
from typing import Literal

import numpy as np
import pandas as pd

from .errors import DataError, DataQuality

TRANSACTION_COLUMNS = ("customer_id", "date", "amount")
CUSTOMER_COLUMNS = ("customer_id",)
SURVEY_COLUMNS = ("customer_id", "date")
ARMS = ("control", "treatment")
NPS_RANGE = (0, 10)
CSAT_RANGE = (1, 5)

Returns = Literal["net", "exclude", "error"]


def _require_frame(df, table: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{table}: expected a pandas DataFrame, got {type(df).__name__}; rule "
                        "'a table'", table=table, column="*", rule="a table", n_rows=0)
    if len(df) == 0:
        raise DataError(f"{table}: the table is empty (0 rows); rule 'table has at least one row'",
                        table=table, column="*", rule="table has at least one row", n_rows=0)
    return df


def _require_columns(df: pd.DataFrame, table: str, required) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(
            f"{table}: missing required column(s) {', '.join(repr(c) for c in missing)}; "
            f"rule 'required columns present' (has: {', '.join(map(str, df.columns))})",
            table=table, column=",".join(missing), rule="required columns present",
            n_rows=len(df))


def _not_null(df: pd.DataFrame, table: str, column: str) -> None:
    bad = df[column].isna()
    if bad.any():
        raise DataError.for_rule(table, column, f"{column} is not null", bad, df)


#: ``date_format`` shorthands; anything else is a ``strftime`` format such as ``"%d.%m.%Y"``.
DATE_FORMATS = {"ISO8601": "ISO8601", "iso": "ISO8601", "dayfirst": "%d/%m/%Y",
                "monthfirst": "%m/%d/%Y", "yyyymmdd": "%Y%m%d"}

# d/m/y or m/d/y with any one separator, 2- or 4-digit years, an optional time after a space.
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?:[ T].*)?$")


def _with_utc_fallback(raw: pd.Series, **kwargs) -> pd.Series:
    """``pd.to_datetime`` that converts values with different UTC offsets (or offsets mixed with
    naive values, read as UTC) to UTC instead of leaving objects."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandas' warning about mixed offsets
        try:
            parsed = pd.to_datetime(raw, errors="coerce", **kwargs)
        except (ValueError, TypeError):
            parsed = None
    if parsed is None or not pd.api.types.is_datetime64_any_dtype(parsed):
        parsed = pd.to_datetime(raw, errors="coerce", utc=True, **kwargs)
    return parsed


def _examples(df: pd.DataFrame, mask, n: int = 3) -> pd.DataFrame:
    return df.loc[np.asarray(mask)].head(n)


def _text_dates(raw: pd.Series, df: pd.DataFrame, table: str, column: str,
                date_format: str | None) -> pd.Series:
    """Text dates read in ONE format for the whole column, never a mixture.

    With ``date_format`` every value must match it (a column written wholly in ISO 8601 is read
    as such, whatever the format: it cannot be misread). Without it: ISO 8601 if every value is
    ISO; numeric day/month/year text (``09/02/2024``) is read day-first when some day exceeds 12
    and month-first when some month does; if no value decides, or values decide both ways, or
    some values are numeric and others are not, a :class:`DataError` asks for ``date_format``.
    The work is done once per distinct value (a column holds few distinct dates).
    """
    codes, uniq = pd.factorize(raw)            # missing values get code -1
    u = pd.Series(uniq, dtype=object)

    def rows(mask) -> np.ndarray:              # a mask over distinct values → over rows
        return np.append(np.asarray(mask, dtype=bool), False)[codes]

    def count(mask) -> int:
        return int(rows(mask).sum())

    def first(mask) -> str:
        return str(u.iloc[codes[rows(mask)][0]]).strip()

    def back(parsed_u: pd.Series) -> pd.Series:
        values = parsed_u.to_numpy()
        out = pd.Series(values[np.where(codes < 0, 0, codes)] if len(values) else
                        np.full(len(codes), np.datetime64("NaT", "ns")), index=raw.index)
        return out.mask(codes < 0)

    def parse(**kwargs) -> pd.Series:
        return _with_utc_fallback(u, **kwargs)

    iso = parse(format="ISO8601")
    all_iso = not iso.isna().any()
    if date_format is not None:
        fmt = DATE_FORMATS.get(date_format, date_format)
        parsed = parse(format=fmt)
        bad = parsed.isna()
        if not bad.any():
            return back(parsed)
        if all_iso:                            # a column wholly in ISO 8601 cannot be misread
            return back(iso)
        raise DataError.for_rule(table, column, f"{column} matches date_format {date_format!r}",
                                 pd.Series(rows(bad), index=raw.index), df)
    if all_iso:                                # the common case
        return back(iso)
    text = u.astype("string").str.strip()
    present = text.notna() & (text != "")
    parts = text.str.extract(_NUMERIC_DATE)
    numeric = parts[0].notna()
    if numeric.any() and not numeric[present].all():
        other = present & ~numeric
        raise DataError(
            f"{table}.{column}: mixed date formats: {count(numeric):,} values look like "
            f"day/month/year or month/day/year (e.g. {first(numeric)!r}) and "
            f"{count(other):,} do not (e.g. {first(other)!r}); rule 'one date format "
            "per column': write the dates in one format, or pass date_format",
            table=table, column=column, rule="one date format per column",
            n_rows=count(other), examples=_examples(df, rows(other)))
    if not numeric.any():  # some other single format: pandas infers it from the first value
        return back(parse())
    day, month = parts[0].astype(float), parts[2].astype(float)
    day_first, month_first = day > 12, month > 12
    sep, year = parts[1][numeric].iloc[0], parts[3][numeric].str.len().max()
    if day_first.any() and month_first.any():
        raise DataError(
            f"{table}.{column}: mixed date formats: {count(day_first):,} values can only be "
            f"day-first (e.g. {first(day_first)!r}) and {count(month_first):,} only "
            f"month-first (e.g. {first(month_first)!r}); rule 'one date format per "
            "column'", table=table, column=column, rule="one date format per column",
            n_rows=min(count(day_first), count(month_first)),
            examples=_examples(df, rows(day_first | month_first)))
    if not (day_first.any() or month_first.any()):
        differ = numeric & (day != month)
        if differ.any():
            ex = first(differ)
            a, b, y = parts.loc[u.astype("string").str.strip() == ex].iloc[0][[0, 2, 3]]
            raise DataError(
                f"{table}.{column}: {count(differ):,} of {count(present):,} dates are "
                f"ambiguous: no day exceeds 12, so {ex!r} reads as {int(a)} {_MONTHS[int(b)]} "
                f"{y} (day-first) or {int(b)} {_MONTHS[int(a)]} {y} (month-first); rule 'date "
                "format known': pass date_format='dayfirst' (dd/mm/yyyy) or 'monthfirst' "
                "(mm/dd/yyyy), or a strftime format", table=table, column=column,
                rule="date format known", n_rows=count(differ),
                examples=_examples(df, rows(differ)))
    order = "%d{0}%m{0}" if day_first.any() else "%m{0}%d{0}"
    fmt = order.format(sep) + ("%Y" if year == 4 else "%y")
    # a time of day after the date: pandas reads the rest, the date order fixed by dayfirst
    has_time = text[numeric].str.len().max() > len("00/00/0000")
    values = u.where(present)
    parsed = (_with_utc_fallback(values, dayfirst=bool(day_first.any()), format="mixed")
              if has_time else _with_utc_fallback(values, format=fmt))
    return back(parsed)


_MONTHS = dict(enumerate(["", "January", "February", "March", "April", "May", "June", "July",
                          "August", "September", "October", "November", "December"]))


def parse_dates(df: pd.DataFrame, table: str, column: str, *, allow_null: bool = False,
                date_format: str | None = None) -> pd.Series:
    """Parse ``column`` to ``datetime64[ns]``; unparseable (or, unless allowed, null) values raise.

    Text is read in one format for the whole column (:func:`_text_dates`): ``date_format``
    (``"ISO8601"``, ``"dayfirst"`` = dd/mm/yyyy, ``"monthfirst"`` = mm/dd/yyyy, or a strftime
    format) if given; otherwise ISO 8601, or numeric day/month/year text whose order some value
    decides (a day above 12). Ambiguous or mixed formats raise a :class:`DataError` naming the
    column, both readings and example rows — never a silent mixture. Integers are read as
    ``YYYYMMDD``.

    Time zones are converted to UTC and dropped, so that every date compares with every other.
    """
    raw = df[column]
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    elif pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        # Numbers are read as YYYYMMDD (CDNOW's raw format), never as epoch nanoseconds, which
        # would turn 19970101 into a timestamp in 1970 without a word.
        whole = raw.notna() & (raw == np.floor(raw))
        as_text = raw.where(whole).astype("Int64").astype(str).where(whole)
        parsed = pd.to_datetime(as_text, errors="coerce", format="%Y%m%d")
    else:
        parsed = _text_dates(raw, df, table, column, date_format)
    unparseable = parsed.isna() & raw.notna()
    if unparseable.any():
        raise DataError.for_rule(table, column, f"{column} is a parseable date", unparseable, df)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    if not allow_null and parsed.isna().any():
        raise DataError.for_rule(table, column, f"{column} is not null", parsed.isna(), df)
    return parsed.astype("datetime64[ns]")


def _numeric(df: pd.DataFrame, table: str, column: str) -> pd.Series:
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        raise DataError.for_rule(table, column, f"{column} is numeric", bad, df)
    return values.astype(float)


def _observation_end(observation_end) -> pd.Timestamp | None:
    return None if observation_end is None else pd.Timestamp(observation_end)


def after_end(dates: pd.Series, end: pd.Timestamp) -> pd.Series:
    """Mask of dates after the observation end. An end given as a date (midnight) includes its
    whole day, the convention of :func:`retention_lab.features.periods.window_end`, so that a
    purchase at 14:00 on the last day is inside the window for validation and features alike."""
    if end == end.normalize():
        return dates >= end + pd.Timedelta(days=1)
    return dates > end


def validate_transactions(tx: pd.DataFrame, *, observation_end=None, returns: Returns = "net",
                          zero_amounts: Literal["keep", "exclude"] = "keep",
                          quality: DataQuality | None = None, date_format: str | None = None
                          ) -> tuple[pd.DataFrame, DataQuality]:
    """Check a transactions table against the contract and apply the documented policies.

    Errors (:class:`DataError`): empty table; a missing required column; a null ``customer_id``,
    ``date`` or ``amount``; an unparseable date; a non-numeric or infinite amount; a duplicate
    ``order_id`` among purchase rows (non-negative amounts); a negative amount when
    ``returns="error"``.

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
    if zero_amounts not in ("keep", "exclude"):
        raise ValueError(f"zero_amounts must be 'keep' or 'exclude', not {zero_amounts!r}")
    q = DataQuality() if quality is None else quality
    _require_frame(tx, table)
    _require_columns(tx, table, TRANSACTION_COLUMNS)
    _not_null(tx, table, "customer_id")
    df = tx.copy()
    df["date"] = parse_dates(df, table, "date", date_format=date_format)
    _not_null(df, table, "amount")
    df["amount"] = _numeric(df, table, "amount")
    infinite = ~np.isfinite(df["amount"])
    if infinite.any():
        raise DataError.for_rule(table, "amount", "amount is finite", infinite, df)

    end = _observation_end(observation_end)
    if end is not None:
        late = after_end(df["date"], end)
        q.record(table, "date", f"date <= observation_end ({end.date()})", late.sum(),
                 note="transactions after the observation end are outside the window")
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
    return df.reset_index(drop=True), q


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
