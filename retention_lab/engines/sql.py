"""The aggregations, written once as SQL that DuckDB and Spark SQL both run.

Every summary starts from the same reduction of transactions in the window: dates floored to
their period, several purchases in one period counted as one purchase occasion (lifetimes'
convention). Only the day number of a timestamp differs between the dialects (``{day}``, from
the backend); the period numbers are those of
:func:`retention_lab.periods.period_index`:

* ``D`` — days since 1970-01-01;
* ``W`` — ``floor((day + 3) / 7)``: Monday-based weeks (1970-01-01 was a Thursday);
* ``M`` — ``12 * (year − 1970) + month − 1``.

The per-customer summaries rank each customer's purchase periods with ``dense_rank()``
(:data:`RANKED_PERIODS`; :data:`RANKED_SPLIT` ranks the calibration and holdout windows in one
sort) instead of first grouping by (customer, period): the number of purchase periods is the
top rank and the first period's amount is the sum over rank 1. A sort per customer partition
costs less than a hash table with one entry per (customer, period): 1.6–1.9 s instead of
2.4–3.5 s for 10M transactions on two cores, 17–20 s instead of 32 s for 100M
(``benchmarks/scale.py``). The churn table (:data:`CHURN`) and the cohort counts
(:data:`COHORT`) use the same window; :data:`CUSTOMER_PERIODS` (one row per customer and
period) remains for ``customer_periods``.

Ages are differences of period numbers divided by ``freq_multiplier`` (as doubles, so the
division is the same IEEE operation as numpy's); ``monetary_value`` is (total − first period's
amount) / repeat periods, the pandas path's formula. Results equal the pandas path's up to the
order of floating-point additions in sums (≤ 1e-12 relative).
"""
from __future__ import annotations

import pandas as pd

from ..periods import check_freq


def period_sql(freq: str, day: str, ts: str = "ts") -> str:
    f = check_freq(freq)
    if f == "D":
        return day
    if f == "W":
        return f"CAST(FLOOR(({day} + 3) / 7.0) AS BIGINT)"
    return f"CAST((year({ts}) - 1970) * 12 + month({ts}) - 1 AS BIGINT)"


def double(x) -> str:
    """A double literal both dialects read exactly (Spark reads ``7.0`` as a DECIMAL)."""
    return f"CAST('{float(x)!r}' AS DOUBLE)"


def timestamp(ts: pd.Timestamp) -> str:
    return f"TIMESTAMP '{pd.Timestamp(ts).isoformat(sep=' ')}'"


def in_window(end: pd.Timestamp, start: pd.Timestamp | None = None, col: str = "ts") -> str:
    """SQL twin of :func:`retention_lab.periods.in_window` (a date includes its day)."""
    end = pd.Timestamp(end)
    if end == end.normalize():
        cond = f"{col} < {timestamp(end + pd.Timedelta(days=1))}"
    else:
        cond = f"{col} <= {timestamp(end)}"
    if start is not None:
        cond = f"NOT ({in_window(start, col=col)}) AND {cond}"
    return cond


CUSTOMER_PERIODS = """
SELECT customer_id, period, SUM(amount) AS amount, COUNT(*) AS n
FROM (SELECT customer_id, {period} AS period, amount FROM {clean} WHERE {where}) t
GROUP BY customer_id, period
"""

#: One row per transaction in the window with its period and ``r``, the dense rank of that
#: period among the customer's purchase periods (1 = the first).
RANKED_PERIODS = """
SELECT customer_id, period, amount, dense_rank() OVER (PARTITION BY customer_id ORDER BY period) AS r
FROM (SELECT customer_id, CAST({period} AS INT) AS period, amount FROM {clean} WHERE {where}) t
"""

#: Calibration and holdout rows ranked in one sort, each window on its own: ``hold`` is 1 for a
#: holdout row, and ``r`` ranks a period among the customer's periods of the same window.
RANKED_SPLIT = """
SELECT customer_id, period, amount, hold,
       dense_rank() OVER (PARTITION BY customer_id, hold ORDER BY period) AS r
FROM (SELECT customer_id, CAST({period} AS INT) AS period, amount,
             CASE WHEN {in_hold} THEN 1 ELSE 0 END AS hold
      FROM {clean} WHERE ({in_cal}) OR ({in_hold})) t
"""


def summary_columns(fm: str, end_period: int, include_first_transaction: bool,
                    rows: str | None = None) -> str:
    """The BTYD summary's aggregates over ranked rows (``RANKED_*``), restricted to the rows
    where ``rows`` holds (default: all): the number of purchase periods is the top rank, the
    first period's amount the sum over rank 1."""
    def only(x: str) -> str:
        return x if rows is None else f"CASE WHEN {rows} THEN {x} END"

    n, first, last = f"MAX({only('r')})", f"MIN({only('period')})", f"MAX({only('period')})"
    total = f"SUM({only('amount')})"
    if include_first_transaction:
        frequency, monetary = n, f"{total} / CAST({n} AS DOUBLE)"
    else:
        frst = f"SUM(CASE WHEN {'' if rows is None else rows + ' AND '}r = 1 THEN amount ELSE CAST(0 AS DOUBLE) END)"
        frequency = f"{n} - 1"
        monetary = (f"CASE WHEN {n} > 1 THEN ({total} - {frst}) / CAST({n} - 1 AS DOUBLE) "
                    "ELSE CAST(0 AS DOUBLE) END")
    return (f"CAST({frequency} AS DOUBLE) AS frequency, "
            f"CAST({last} - {first} AS DOUBLE) / {fm} AS recency, "
            f"CAST({end_period} - {first} AS DOUBLE) / {fm} AS T, "
            f"{monetary} AS monetary_value")


SUMMARY = """
SELECT customer_id, {columns}
FROM ({ranked}) rp
GROUP BY customer_id
"""

COLLAPSE = """
SELECT {columns}, COUNT(*) AS weight FROM ({inner}) s GROUP BY {columns} ORDER BY {columns}
"""

#: Calibration summary and holdout activity of every customer with a purchase in either window;
#: customers without a calibration purchase (``n_calibration_rows = 0``) are counted and dropped
#: by the caller.
HOLDOUT = """
SELECT customer_id, {calibration},
       CAST(COALESCE(MAX(CASE WHEN hold = 1 THEN r END), 0) AS DOUBLE) AS frequency_holdout,
       COALESCE(SUM(CASE WHEN hold = 1 THEN amount END)
                / CAST(MAX(CASE WHEN hold = 1 THEN r END) AS DOUBLE), CAST(0 AS DOUBLE))
         AS monetary_value_holdout,
       {duration} AS duration_holdout,
       SUM(1 - hold) AS n_calibration_rows, SUM(hold) AS n_holdout_rows
FROM ({ranked}) rp
GROUP BY customer_id
"""

WINDOW_COUNTS = """
SELECT COUNT(*) AS n, SUM(CASE WHEN {where} THEN 0 ELSE 1 END) AS outside, MAX(ts) AS max_ts
FROM {clean}
"""

#: Per customer: first and last purchase day and the number of purchase days (``{ranked}`` is
#: :data:`RANKED_PERIODS` on day numbers).
CHURN = """
SELECT customer_id, MIN(period) AS first_day, MAX(period) AS last_day, MAX(r) AS n_purchases
FROM ({ranked}) rp
GROUP BY customer_id
"""

#: Collapsed churn table: (duration, churned) → weight; customers too new for a lapse to be
#: confirmed come back as one row with churned = -1 (counted, then dropped).
CHURN_COLLAPSED = """
SELECT duration, churned, COUNT(*) AS weight FROM (
  SELECT CASE WHEN first_day > {cutoff} THEN CAST(0 AS DOUBLE)
              ELSE CAST(LEAST(last_day, {cutoff}) - first_day AS DOUBLE) / {days_per} END AS duration,
         CASE WHEN first_day > {cutoff} THEN -1 WHEN last_day <= {cutoff} THEN 1 ELSE 0 END AS churned
  FROM ({churn}) c) s
GROUP BY duration, churned ORDER BY churned, duration
"""

#: Customers active in period ``cohort + k``, by acquisition cohort: one sort per customer
#: gives the cohort (the first period) and marks the first row of each purchase period.
COHORT = """
SELECT cohort, period - cohort AS k, SUM(CASE WHEN new_period THEN 1 ELSE 0 END) AS customers
FROM (SELECT period, first_value(period) OVER w AS cohort,
             COALESCE(lag(period) OVER w <> period, TRUE) AS new_period
      FROM (SELECT customer_id, CAST({period} AS INT) AS period FROM {clean} WHERE {where}) t
      WINDOW w AS (PARTITION BY customer_id ORDER BY period)) x
GROUP BY cohort, period - cohort
"""
