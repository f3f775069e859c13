"""Dates: date columns and date parameters read in one format per column, never a silent
mixture (day/month order, time zones, YYYYMMDD integers), and the observation window's end."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from ..errors import DataError
from .columns import _examples

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


def _observation_end(observation_end) -> pd.Timestamp | None:
    return parse_date_param(observation_end, "observation_end")


def after_end(dates: pd.Series, end: pd.Timestamp) -> pd.Series:
    """Mask of dates after the observation end. An end given as a date (midnight) includes its
    whole day, the convention of :func:`retention_lab.features.periods.window_end`, so that a
    purchase at 14:00 on the last day is inside the window for validation and features alike."""
    if end == end.normalize():
        return dates >= end + pd.Timedelta(days=1)
    return dates > end
