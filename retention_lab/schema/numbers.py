"""Numbers: amounts and scores read as floats in the file's notation; text whose reading depends
on the locale (1.234,56 / 1,234) is refused with the parameter that settles it, never guessed."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .columns import _examples


def _numeric(df: pd.DataFrame, table: str, column: str) -> pd.Series:
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        raise DataError.for_rule(table, column, f"{column} is numeric", bad, df)
    return values.astype(float)


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
