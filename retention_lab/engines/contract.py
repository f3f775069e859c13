"""The transactions data contract (:func:`retention_lab.schema.validate_transactions`) checked
inside the engine: counts of bad rows by SQL, never a pandas copy of the table.

The rules, their order, the :class:`~retention_lab.DataError` messages and the
:class:`~retention_lab.DataQuality` records are those of the pandas validation (its message
builders are reused); only the five example rows are fetched. The result is a *clean view*
``customer_id, ts, amount`` — dates parsed to timestamps (time zones to UTC), amounts to
doubles, returns netted per ``order_id`` or excluded — that every summary query reads.

Dates: timestamps and dates are taken as they are; strings are cast (ISO 8601; pandas'
``format="mixed"`` accepts more spellings than SQL does); integers are ``YYYYMMDD``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import pandas as pd

from .. import schema
from ..errors import DataError, DataQuality
from .backends import new_name, type_class
from .sources import Source

TABLE = "transactions"


class _Shape:
    """What :func:`schema._require_columns` looks at: ``columns`` and ``len``."""

    def __init__(self, columns, n_rows):
        self.columns, self._n = list(columns), n_rows

    def __len__(self):
        return self._n


def _error(src: Source, column: str, rule: str, n_bad: int, total: int, where: str,
           over: str | None = None) -> DataError:
    err = DataError.for_rule(TABLE, column, rule, int(n_bad), total=int(total))
    try:
        examples = src.backend.query(f"SELECT * FROM {over or src.view} WHERE {where} LIMIT 5")
    except Exception:  # examples are a courtesy; the count is the message
        examples = None
    return DataError(err.args[0], table=TABLE, column=column, rule=rule, n_rows=int(n_bad),
                     examples=examples)


def _expressions(src: Source, types: dict[str, str]) -> tuple[str, str, str, str | None]:
    """SQL for the parsed date, the parsed amount, the "amount is NaN" test (or None)."""
    be, q = src.backend, src.backend.quote
    d, a = q("date"), q("amount")
    kind = type_class(types["date"])
    if kind == "ts":
        date = f"CAST({d} AS TIMESTAMP)"
    elif kind == "tstz":
        date = be.utc(d)
    elif kind == "int":
        date = be.parse_yyyymmdd(f"CAST({d} AS VARCHAR)" if be.name == "duckdb" else f"CAST({d} AS STRING)")
    elif kind == "float":
        text = f"CAST(CAST({d} AS BIGINT) AS {'VARCHAR' if be.name == 'duckdb' else 'STRING'})"
        date = f"CASE WHEN {d} = FLOOR({d}) THEN {be.parse_yyyymmdd(text)} END"
    else:
        date = f"TRY_CAST({d} AS TIMESTAMP)"
    akind = type_class(types["amount"])
    amount = f"CAST({a} AS DOUBLE)" if akind in ("int", "float") else f"TRY_CAST({a} AS DOUBLE)"
    nan = f"isnan({a})" if akind == "float" and not types["amount"].lower().startswith("decimal") else None
    return date, amount, kind, nan


def _check_options(returns: str, zero_amounts: str) -> None:
    if returns not in ("net", "exclude", "error"):
        raise ValueError(f"returns must be 'net', 'exclude' or 'error', not {returns!r}")
    if zero_amounts not in ("keep", "exclude"):
        raise ValueError(f"zero_amounts must be 'keep' or 'exclude', not {zero_amounts!r}")


def _late(date: str, end) -> str:
    """SQL condition of the rows after ``end`` (the observation end), ``FALSE`` without one."""
    late = "FALSE"
    if end is not None:
        limit = end + pd.Timedelta(days=1) if end == end.normalize() else end
        op = ">=" if end == end.normalize() else ">"
        late = f"({date} {op} TIMESTAMP '{limit.isoformat(sep=' ')}')"
    return late


def _scan(src: Source, types, date, amount, nan, null_amount, late, end, quality):
    """The validating scan: one pass counting each rule's violations (and the window's
    bounds); raises :class:`DataError` on the rules that refuse the table. Returns the counts
    and ``(max_ts, min_ts, min_id, max_id)``."""
    be, q, view = src.backend, src.backend.quote, src.view
    cid, d, a = q("customer_id"), q("date"), q("amount")
    bad_date = f"({d} IS NOT NULL AND {date} IS NULL)"
    bad_amount = f"({a} IS NOT NULL AND {amount} IS NULL)" if nan is None else "FALSE"
    # integer ids: their range, for the one-pass summary kernel (engines.kernels)
    id_range = (f", MIN({cid}) AS min_id, MAX({cid}) AS max_id"
                if type_class(types["customer_id"]) == "int" else "")
    c = be.row(f"""
        SELECT COUNT(*) AS n,
               SUM(CASE WHEN {cid} IS NULL THEN 1 ELSE 0 END) AS null_id,
               SUM(CASE WHEN {bad_date} THEN 1 ELSE 0 END) AS bad_date,
               SUM(CASE WHEN {d} IS NULL THEN 1 ELSE 0 END) AS null_date,
               SUM(CASE WHEN {null_amount} THEN 1 ELSE 0 END) AS null_amount,
               SUM(CASE WHEN {bad_amount} THEN 1 ELSE 0 END) AS bad_amount,
               SUM(CASE WHEN {late} THEN 1 ELSE 0 END) AS late,
               SUM(CASE WHEN {amount} < 0 AND NOT {late} THEN 1 ELSE 0 END) AS negative,
               SUM(CASE WHEN {amount} = 0 AND NOT {late} THEN 1 ELSE 0 END) AS zero,
               MAX(CASE WHEN NOT {late} THEN {date} END) AS max_ts,
               MIN(CASE WHEN NOT {late} THEN {date} END) AS min_ts{id_range}
        FROM {view}""")
    max_ts, min_ts = c.pop("max_ts"), c.pop("min_ts")
    min_id, max_id = c.pop("min_id", None), c.pop("max_id", None)
    c = {k: int(v or 0) for k, v in c.items()}
    n = src._n_rows = c["n"]
    if n == 0:
        raise DataError(f"{TABLE}: the table is empty (0 rows); rule 'table has at least one row'",
                        table=TABLE, column="*", rule="table has at least one row", n_rows=0)
    checks = [("customer_id", "customer_id is not null", "null_id", f"{cid} IS NULL"),
              ("date", "date is a parseable date", "bad_date", bad_date),
              ("date", "date is not null", "null_date", f"{d} IS NULL"),
              ("amount", "amount is not null", "null_amount", null_amount),
              ("amount", "amount is numeric", "bad_amount", bad_amount)]
    for column, rule, k, where in checks:
        if c[k]:
            raise _error(src, column, rule, c[k], n, where)
    if end is not None:
        quality.record(TABLE, "date", f"date <= observation_end ({end.date()})", c["late"],
                       note="transactions after the observation end are outside the window")
    return c, n, (max_ts, min_ts, min_id, max_id)


def _check_unique_orders(src: Source, base: str) -> None:
    be = src.backend
    dup = be.row(f"""
        SELECT COALESCE(SUM(k), 0) AS n_dup, (SELECT COUNT(*) FROM {base} WHERE amount >= 0) AS n_purchases
        FROM (SELECT order_id, COUNT(*) AS k FROM {base}
              WHERE amount >= 0 AND order_id IS NOT NULL GROUP BY order_id HAVING COUNT(*) > 1) d""")
    if int(dup["n_dup"]):
        raise _error(src, "order_id", "order_id is unique among purchases", dup["n_dup"],
                     dup["n_purchases"],
                     f"order_id IN (SELECT order_id FROM {base} WHERE amount >= 0 "
                     f"GROUP BY order_id HAVING COUNT(*) > 1) AND amount >= 0", over=base)


def _returns(src: Source, base: str, c, n, late, amount, returns, has_orders, validate,
             quality, clean_sql):
    """The clean rows' SQL with the returns (negative amounts) netted into their orders,
    excluded or refused as ``returns`` says; each exclusion recorded in ``quality``. Returns
    ``(clean_sql, purchases_where)``."""
    be = src.backend
    purchases_where = None
    if c["negative"]:
        if returns == "error" and validate:
            raise _error(src, "amount", "amount >= 0 (returns not allowed)", c["negative"],
                         n - c.get("late", 0), f"{amount} < 0 AND NOT {late}")
        if returns == "net" and has_orders:
            refunds = be.create_view(new_name("refunds"), f"""
                SELECT order_id, SUM(amount) AS refund FROM {base}
                WHERE amount < 0 AND order_id IS NOT NULL
                  AND order_id IN (SELECT order_id FROM {base} WHERE amount >= 0 AND order_id IS NOT NULL)
                GROUP BY order_id""")
            netted = f"""
                SELECT b.customer_id, b.ts, b.amount + COALESCE(r.refund, 0) AS amount,
                       r.refund IS NOT NULL AS has_refund
                FROM {base} b LEFT JOIN {refunds} r ON b.order_id = r.order_id
                WHERE b.amount >= 0"""
            if validate:
                k = be.row(f"""
                    SELECT (SELECT COUNT(*) FROM {base} b JOIN (SELECT DISTINCT order_id FROM {base}
                              WHERE amount >= 0 AND order_id IS NOT NULL) p ON b.order_id = p.order_id
                            WHERE b.amount < 0) AS known,
                           (SELECT COUNT(*) FROM ({netted}) x WHERE has_refund AND amount <= 0) AS returned""")
                known, returned = int(k["known"] or 0), int(k["returned"] or 0)
                quality.record(TABLE, "amount", "amount >= 0", c["negative"] - known,
                               note="return whose order_id matches no purchase: excluded")
                quality.record(TABLE, "amount", "amount >= 0", known, action="netted",
                               note="return netted into its order (same order_id)")
                quality.record(TABLE, "amount", "net order amount > 0", returned,
                               note="order fully returned: excluded")
            clean_sql = f"SELECT customer_id, ts, amount FROM ({netted}) x WHERE NOT (has_refund AND amount <= 0)"
        else:
            purchases_where = "amount >= 0"
            why = ("returns='exclude'" if returns == "exclude"
                   else "no order_id column to net the return against")
            if validate:
                quality.record(TABLE, "amount", "amount >= 0", c["negative"],
                               note=f"return excluded ({why})")
    return clean_sql, purchases_where


def _remember_bounds(src: Source, clean: str, c, bounds, zero_amounts, end, date_kind) -> None:
    max_ts, min_ts, min_id, max_id = bounds
    # The clean rows are a subset of the kept raw rows with their timestamps unchanged —
    # the same rows when nothing was netted or excluded — so the summaries' window checks
    # can skip a scan (see :func:`last_timestamp`).
    src._last_ts[clean] = (pd.Timestamp(max_ts), c["negative"] == 0 and zero_amounts == "keep")
    src._bounds[clean] = Bounds(min_id, max_id, pd.Timestamp(min_ts), pd.Timestamp(max_ts),
                                plain=(c["negative"] == 0 and zero_amounts == "keep"
                                       and end is None and date_kind == "ts"))


def clean_view(src: Source, *, validate: bool = True, returns: str = "net",
               zero_amounts: str = "keep", observation_end=None) -> tuple[str, DataQuality, int]:
    """Validate ``src`` in its engine; return (the clean view's name, the ledger, rows read).

    ``observation_end``: as in :func:`~retention_lab.schema.validate_transactions`, rows after it
    are excluded (and counted) *before* returns are netted. Cached on the source per option
    set: a notebook's several summaries check the table once.
    """
    end = None if observation_end is None else pd.Timestamp(observation_end)
    key = (validate, returns, zero_amounts, end)
    if key in src._clean:
        view, quality, n = src._clean[key]
        return view, copy.deepcopy(quality), n
    _check_options(returns, zero_amounts)
    be, q, view = src.backend, src.backend.quote, src.view
    types = be.columns(view)
    quality = DataQuality()
    n = src._n_rows
    missing = [c for c in schema.TRANSACTION_COLUMNS if c not in types]
    if missing or (validate and n == 0):
        n = src.n_rows
        if n == 0:
            raise DataError(f"{TABLE}: the table is empty (0 rows); rule 'table has at least one row'",
                            table=TABLE, column="*", rule="table has at least one row", n_rows=0)
        schema._require_columns(_Shape(types, n), TABLE, schema.TRANSACTION_COLUMNS)
    date, amount, date_kind, nan = _expressions(src, types)
    cid, a = q("customer_id"), q("amount")
    has_orders = "order_id" in types
    null_amount = f"({a} IS NULL OR {nan})" if nan else f"{a} IS NULL"

    late = _late(date, end)
    if validate:
        c, n, (max_ts, min_ts, min_id, max_id) = _scan(src, types, date, amount, nan,
                                                       null_amount, late, end, quality)
    else:  # as the pandas path with validate=False: the table is taken as it is
        n = src.n_rows
        c = {"negative": 0, "zero": 0}
        zero_amounts = "keep"
        max_ts = min_ts = min_id = max_id = None

    base = be.create_view(new_name("base"), f"""
        SELECT {cid} AS customer_id, {date} AS ts, {amount} AS amount
               {", " + q("order_id") + " AS order_id" if has_orders else ""}
        FROM {view} WHERE NOT {late}""")
    clean_sql = f"SELECT customer_id, ts, amount FROM {base}"

    if has_orders and validate:
        _check_unique_orders(src, base)
    clean_sql, purchases_where = _returns(src, base, c, n, late, amount, returns, has_orders,
                                          validate, quality, clean_sql)
    if purchases_where:
        clean_sql += f" WHERE {purchases_where}"
    if zero_amounts == "exclude":
        if validate:
            quality.record(TABLE, "amount", "amount > 0", c["zero"], note="zero-amount order excluded")
        clean_sql = f"SELECT * FROM ({clean_sql}) z WHERE amount <> 0"
    clean = be.create_view(new_name("clean"), clean_sql)
    if validate and quality.n_excluded(TABLE):
        left = int(be.row(f"SELECT COUNT(*) AS n FROM {clean}")["n"])
        if left == 0:
            raise DataError(f"{TABLE}: no rows left after the exclusions in the data-quality table; "
                            "rule 'table has at least one row'\n" + repr(quality),
                            table=TABLE, column="*", rule="table has at least one row", n_rows=0)
    src._clean[key] = (clean, copy.deepcopy(quality), n)
    if max_ts is not None:
        _remember_bounds(src, clean, c, (max_ts, min_ts, min_id, max_id), zero_amounts, end,
                         date_kind)
    return clean, quality, n


@dataclass(frozen=True)
class Bounds:
    """What the contract scan learnt about the clean rows: the integer id range (``None`` for
    other ids) and the first and last timestamp (bounds: netting may drop rows), and ``plain``:
    the clean view is the input's rows as they are (nothing netted, excluded or re-parsed)."""

    min_id: int | None
    max_id: int | None
    min_ts: pd.Timestamp
    max_ts: pd.Timestamp
    plain: bool = False


def bounds(src: Source, clean: str) -> Bounds | None:
    """The contract scan's :class:`Bounds` of ``clean`` (``None`` when it did not run)."""
    return src._bounds.get(clean)


def last_timestamp(src: Source, clean: str) -> tuple[pd.Timestamp | None, bool]:
    """``(t, exact)``: no row of the clean view ``clean`` is later than ``t``, and ``exact`` says
    that ``t`` is its last timestamp; ``(None, False)`` when the contract scan did not run."""
    return src._last_ts.get(clean, (None, False))
