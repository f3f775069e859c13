"""The contract's tables and columns, and the checks every table shares (a DataFrame with rows,
unique column names, the required columns, no nulls where a value is required)."""
from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ..errors import DataError

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


def _examples(df: pd.DataFrame, mask, n: int = 3) -> pd.DataFrame:
    return df.loc[np.asarray(mask)].head(n)
