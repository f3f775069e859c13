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

from .errors import DataError, DataQuality, DuplicateRowsWarning

TRANSACTION_COLUMNS = ("customer_id", "date", "amount")
CUSTOMER_COLUMNS = ("customer_id",)
SURVEY_COLUMNS = ("customer_id", "date")
ARMS = ("control", "treatment")
NPS_RANGE = (0, 10)
CSAT_RANGE = (1, 5)

Returns = Literal["net", "exclude", "error"]
Duplicates = Literal["keep", "drop", "error"]
DUPLICATES = ("keep", "drop", "error")


def _require_frame(df, table: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{table}: expected a pandas DataFrame, got {type(df).__name__}; rule "
                        "'a table'", table=table, column="*", rule="a table", n_rows=0)
    if len(df) == 0:
        raise DataError(f"{table}: the table is empty (0 rows); rule 'table has at least one row'",
                        table=table, column="*", rule="table has at least one row", n_rows=0)
    check_unique_columns(df.columns, table)
    return df


def check_unique_columns(columns, table: str, where: str = "") -> None:
    """Two columns with one name: which one holds the data is anyone's guess (pandas would
    rename the second ``amount.1`` when reading a CSV and use the first): a DataError."""
    cols = pd.Index([str(c) for c in columns])
    dup = cols[cols.duplicated()].unique()
    if len(dup):
        raise DataError(
            f"{table}{where}: column name(s) {', '.join(repr(c) for c in dup)} appear more than "
            f"once in the header; rule 'column names are unique': rename or remove the extra "
            f"column(s) (header: {', '.join(cols)})", table=table, column=",".join(dup),
            rule="column names are unique", n_rows=0)


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

    _check_one_tz_rule(u, raw, df, table, column, codes)
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


# a UTC offset or "Z" at the end of a timestamp (2025-01-02T10:00:00+02:00, …Z, …+0200)
_TZ_SUFFIX = re.compile(r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|UTC|[+-]\d{2}:?\d{2})$",
                        re.IGNORECASE)


def _check_one_tz_rule(u: pd.Series, raw: pd.Series, df: pd.DataFrame, table: str, column: str,
                       codes: np.ndarray) -> None:
    """Timestamps with a time zone (an offset or ``Z``, or tz-aware objects) mixed with naive
    ones: the naive ones could be local time or UTC, and pandas would read them either way
    without a word. A DataError naming that rule (rather than "unparseable")."""
    is_text = u.map(type).eq(str).to_numpy()
    text = u.where(is_text).astype("string").str.strip()
    iso_like = text.str.match(r"\d{4}-\d{2}-\d{2}").fillna(False).to_numpy(bool)
    suffix = text.str.contains(_TZ_SUFFIX).fillna(False).to_numpy(bool)
    timed = text.str.contains(":", regex=False).fillna(False).to_numpy(bool)
    # a date without a time of day is a day, read as UTC midnight beside offset timestamps
    with_tz, without = iso_like & suffix, iso_like & timed & ~suffix
    if not is_text.all():   # datetime objects in an object column: their own tzinfo
        objs = np.array([hasattr(v, "tzinfo") for v in u], dtype=bool)
        tz = np.array([getattr(v, "tzinfo", None) is not None for v in u], dtype=bool)
        with_tz, without = with_tz | (objs & tz), without | (objs & ~tz)
    if with_tz.any() and without.any():
        rows_tz = np.append(with_tz, False)[codes]
        rows_naive = np.append(without, False)[codes]
        ex_tz, ex_naive = u[with_tz].iloc[0], u[without].iloc[0]
        raise DataError(
            f"{table}.{column}: {int(rows_tz.sum()):,} timestamps carry a time zone (e.g. "
            f"{str(ex_tz)!r}) and {int(rows_naive.sum()):,} do not (e.g. {str(ex_naive)!r}); "
            "rule 'timestamps all with a time zone or all without': a naive timestamp could be "
            "local time or UTC — write every timestamp with its offset, or none",
            table=table, column=column, rule="timestamps all with a time zone or all without",
            n_rows=int(min(rows_tz.sum(), rows_naive.sum())),
            examples=_examples(df, rows_tz | rows_naive))


def parse_date_param(value, name: str, date_format: str | None = None) -> pd.Timestamp | None:
    """A date given as a parameter (``observation_end``, ``launch_date``, ``calibration_end``,
    …) read by the same rules as the date columns (:func:`parse_dates`): a Timestamp, or None
    for None. Anything that is not one date is a :class:`DataError` naming the parameter."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp) and value is not pd.NaT:
        return value.tz_convert("UTC").tz_localize(None) if value.tzinfo else value
    frame = pd.DataFrame({name: pd.Series([value], dtype=object)})
    why = ""
    if isinstance(value, (str, np.datetime64)) or hasattr(value, "year"):
        try:
            if not (isinstance(value, str) and not value.strip()):
                parsed = parse_dates(frame, "parameters", name, date_format=date_format)
                return pd.Timestamp(parsed.iloc[0])
        except DataError:
            pass
    else:
        why = f" (a {type(value).__name__})"
    raise DataError(
        f"parameter {name}={value!r} is not a date{why}; rule '{name} is a parseable date': "
        "write it as YYYY-MM-DD (e.g. '2025-06-30'), or in the date_format of the data",
        table="parameters", column=name, rule=f"{name} is a parseable date", n_rows=1)


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
    return parse_date_param(observation_end, "observation_end")


# How numbers may be written; each pattern is anchored (a whole value).
_NUM = {
    "dot_thousands_comma_decimal": r"^[+-]?\d{1,3}(?:\.\d{3})+,\d+$",     # 1.234,56
    "comma_thousands_dot_decimal": r"^[+-]?\d{1,3}(?:,\d{3})+\.\d+$",     # 1,234.56
    "dot_groups": r"^[+-]?\d{1,3}(?:\.\d{3}){2,}$",                        # 1.234.567
    "comma_groups": r"^[+-]?\d{1,3}(?:,\d{3}){2,}$",                        # 1,234,567
    "comma_decimal": r"^[+-]?\d*,\d+$",                                     # 12,5 / 1,234
    "comma_three": r"^[+-]?\d{1,3},\d{3}$",                                 # 1,234
    "dot_decimal": r"^[+-]?\d*\.\d+$",                                     # 12.5 / 1.234
    "dot_three": r"^[+-]?\d{1,3}\.\d{3}$",                                 # 1.234
}


def _number_hint(text: pd.Series, table: str, column: str, df: pd.DataFrame) -> None:
    """Refuse text numbers whose reading depends on the locale (DESIGN: a user's data is never
    silently reinterpreted), naming the parameter that settles it.

    * ``1.234,56`` or ``1.234.567`` — dotted thousands: ``thousands="."`` (and ``decimal=","``);
    * ``1,234.56`` or ``1,234,567`` — comma thousands: ``thousands=","``;
    * ``12,50`` — a decimal comma: ``decimal=","``; ``1,234`` alone could be either: both named;
    * ``1.234`` — when every value with a dot has exactly three digits after it (and at most
      three before), it may be 1,234 with a dotted thousands separator or 1.234: refused until
      ``thousands="."`` or ``decimal="."`` says which. One value with another number of decimals
      (``12.5``) shows the dot is a decimal point, and the column is read as it is.
    """
    failing = pd.to_numeric(text, errors="coerce").isna() & text.notna()
    if failing.any():   # only values pandas cannot read, and only if all of them are in notation
        t = text[failing]
        if not t.str.match("|".join(_NUM[k] for k in _NUM if "dot_" not in k or "comma" in k
                                    or k == "dot_groups")).all():
            return      # something else is wrong too: the plain 'is numeric' error
    else:
        t = text.dropna()
    match = {k: t.str.match(v) for k, v in _NUM.items()}

    def refuse(mask, what: str, fix: str) -> None:
        bad = text.notna() & text.isin(t[mask])
        raise DataError(
            f"{table}.{column}: {int(bad.sum()):,} of {len(text):,} values look like {what} "
            f"(e.g. {t[mask].iloc[0]!r}); rule '{column} is a number in the file's notation': "
            f"{fix}", table=table, column=column, rule=f"{column} is a number in the file's "
            "notation", n_rows=int(bad.sum()), examples=_examples(df, bad))
    if match["dot_thousands_comma_decimal"].any():
        refuse(match["dot_thousands_comma_decimal"], "numbers with dotted thousands and a "
               "decimal comma (1.234,56 = 1234.56)", "pass thousands='.' and decimal=','")
    if match["dot_groups"].any():
        refuse(match["dot_groups"], "numbers with dotted thousands (1.234.567 = 1234567)",
               "pass thousands='.' (and decimal=',' if decimals are written with a comma)")
    if (match["comma_thousands_dot_decimal"] | match["comma_groups"]).any():
        m = match["comma_thousands_dot_decimal"] | match["comma_groups"]
        refuse(m, "numbers with comma thousands (1,234.56 = 1234.56)", "pass thousands=','")
    if match["comma_decimal"].any():
        m = match["comma_decimal"]
        if match["comma_three"][m].all():
            refuse(m, "'1,234': 1234 with a comma thousands separator, or 1.234 with a decimal "
                   "comma", "pass thousands=',' (1,234 = 1234) or decimal=',' (1,234 = 1.234)")
        refuse(m, "numbers with a decimal comma (12,50 = 12.5)", "pass decimal=','")
    dotted = match["dot_decimal"]
    if dotted.any() and match["dot_three"][dotted].all():
        refuse(dotted, "'1.234': 1234 with a dotted thousands separator, or 1.234 — every value "
               "with a dot has exactly three digits after it", "pass thousands='.' (1.234 = "
               "1234) or decimal='.' (1.234 = 1.234)")


def parse_numbers(df: pd.DataFrame, table: str, column: str, *, decimal: str | None = None,
                  thousands: str | None = None) -> pd.Series:
    """``column`` as floats. Booleans are not numbers (a DataError). Text is read in the
    notation ``decimal`` / ``thousands`` give (``decimal=","``, ``thousands="."`` for
    1.234,56); without them, text whose reading depends on the notation is refused with the
    parameter to set (:func:`_number_hint`) — never guessed."""
    raw = df[column]
    bad = (raw.notna() if pd.api.types.is_bool_dtype(raw) else
           raw.map(lambda v: isinstance(v, (bool, np.bool_))).astype(bool)
           if raw.dtype == object else None)
    if bad is not None and bad.any():
        raise DataError.for_rule(table, column, f"{column} is a number (true/false is not an "
                                 "amount)", bad, df)
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype(float)
    text = raw.astype("string").str.strip()
    lowered = text.str.lower()
    boolean = lowered.isin(["true", "false"]).fillna(False).astype(bool)
    if boolean.any():
        raise DataError.for_rule(table, column, f"{column} is a number (true/false is not an "
                                 "amount)", boolean, df)
    if decimal is None and thousands is None:
        _number_hint(text, table, column, df)
    else:
        if thousands:
            text = text.str.replace(thousands, "", regex=False)
        if decimal and decimal != ".":
            stray = text.str.contains(".", regex=False).fillna(False).astype(bool)
            if stray.any():   # 12.5 in a file whose decimal is ',' : which is it?
                raise DataError.for_rule(table, column, f"{column} is written with decimal="
                                         f"{decimal!r}, thousands={thousands!r} (a '.' is "
                                         "neither)", stray, df)
            text = text.str.replace(decimal, ".", regex=False)
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        notation = ("" if decimal is None and thousands is None
                    else f" written with decimal={decimal!r}, thousands={thousands!r}")
        raise DataError.for_rule(table, column, f"{column} is numeric{notation}", bad, df)
    return values.astype(float)


def after_end(dates: pd.Series, end: pd.Timestamp) -> pd.Series:
    """Mask of dates after the observation end. An end given as a date (midnight) includes its
    whole day, the convention of :func:`retention_lab.features.periods.window_end`, so that a
    purchase at 14:00 on the last day is inside the window for validation and features alike."""
    if end == end.normalize():
        return dates >= end + pd.Timedelta(days=1)
    return dates > end


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


def _exact_duplicates(df: pd.DataFrame, rule: str, q: DataQuality) -> pd.DataFrame:
    """The ``duplicates`` rule of :func:`validate_transactions` on the parsed rows."""
    table = "transactions"
    dup = df.duplicated(keep="first")
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
