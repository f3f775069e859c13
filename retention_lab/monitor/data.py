"""``read_holdout``: a running holdout from your own tables (paths or DataFrames).

``customers``: ``customer_id``, ``arm`` (``control`` = held out / ``treatment``), ``entered_at``
(the day the customer entered the experiment). ``transactions``: ``customer_id``, ``date``,
``amount`` — before and after entry (the pre-entry history feeds the regression adjustment and
the plan). Rows after ``as_of`` (default: the last transaction day) are cut, as on the day of
the look; how many is kept in ``HoldoutData.params["cut_after_as_of"]``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..datasets.holdout import HoldoutData
from ..errors import DataError

__all__ = ["read_holdout"]


def _frame(src, table: str) -> pd.DataFrame:
    if isinstance(src, pd.DataFrame):
        return src.copy()
    path = Path(src)
    if not path.exists():
        raise DataError(f"{table}: no file at {path}", table=table, rule="file exists")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _dates(df: pd.DataFrame, table: str, column: str, date_format=None) -> pd.Series:
    out = pd.to_datetime(df[column], errors="coerce", format=date_format)
    bad = out.isna() & df[column].notna()
    if bad.any() or df[column].isna().any():
        raise DataError.for_rule(table, column, "a parseable, non-null date",
                                 bad | df[column].isna(), df)
    return out


def read_holdout(transactions, customers, *, holdout_share: float, start=None, as_of=None,
                 date_format: str | None = None) -> HoldoutData:
    """Read and check a holdout's tables; see the module docstring."""
    tx, cu = _frame(transactions, "transactions"), _frame(customers, "customers")
    for table, df, cols in (("customers", cu, ("customer_id", "arm", "entered_at")),
                            ("transactions", tx, ("customer_id", "date", "amount"))):
        for c in cols:
            if c not in df.columns:
                raise DataError(f"{table}: missing column {c!r} (has {list(df.columns)})",
                                table=table, column=c, rule="required column")
        if not len(df):
            raise DataError(f"{table}: the table is empty", table=table, rule="not empty")
    if cu["customer_id"].duplicated().any():
        raise DataError.for_rule("customers", "customer_id", "unique",
                                 cu["customer_id"].duplicated(), cu)
    bad = ~cu["arm"].isin(["control", "treatment"])
    if bad.any():
        raise DataError.for_rule("customers", "arm", "control or treatment", bad, cu)
    for arm in ("control", "treatment"):
        if not (cu["arm"] == arm).any():
            raise DataError(f"customers.arm: no customer in the {arm} arm", table="customers",
                            column="arm", rule="both arms present", n_rows=0)
    if not 0 < float(holdout_share) < 1:
        raise ValueError(f"holdout_share must be in (0, 1), got {holdout_share!r}")
    cu["entered_at"] = _dates(cu, "customers", "entered_at", date_format).dt.normalize()
    tx["date"] = _dates(tx, "transactions", "date", date_format)
    neg = pd.to_numeric(tx["amount"], errors="coerce")
    if neg.isna().any() or (neg < 0).any():
        raise DataError.for_rule("transactions", "amount", "a number >= 0",
                                 neg.isna() | (neg < 0), tx)
    tx["amount"] = neg
    start = pd.Timestamp(start).normalize() if start is not None else cu["entered_at"].min()
    as_of = pd.Timestamp(as_of).normalize() if as_of is not None else tx["date"].max().normalize()
    early = cu["entered_at"] < start
    if early.any():
        raise DataError.for_rule("customers", "entered_at", "on or after the start", early, cu)
    later_c = cu["entered_at"] > as_of
    later_t = tx["date"].dt.normalize() > as_of
    cut = {"customers": int(later_c.sum()), "transactions": int(later_t.sum())}
    return HoldoutData(customers=cu.loc[~later_c].reset_index(drop=True),
                       transactions=tx.loc[~later_t].reset_index(drop=True), start=start,
                       as_of=as_of, holdout_share=float(holdout_share),
                       params={"cut_after_as_of": cut})
