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

# One module per concern; every name stays importable from retention_lab.schema.
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
    _require_columns as _require_columns,  # used by engines and survival
    check_unique_columns,
)
from .dates import DATE_FORMATS, after_end, parse_date_param, parse_dates
from .numbers import parse_numbers
from .tables import (
    FAR_DATE_BULK,
    FAR_DATE_GAP,
    check_arms,
    check_customers_known,
    check_far_dates,
    validate_customers,
    validate_surveys,
    validate_transactions,
)

__all__ = [
    "TRANSACTION_COLUMNS", "CUSTOMER_COLUMNS", "SURVEY_COLUMNS", "ARMS", "NPS_RANGE",
    "CSAT_RANGE", "DUPLICATES", "Returns", "Duplicates", "DATE_FORMATS", "FAR_DATE_GAP",
    "FAR_DATE_BULK", "check_unique_columns", "parse_date_param", "parse_dates",
    "parse_numbers", "after_end", "validate_transactions", "validate_customers",
    "validate_surveys", "check_far_dates", "check_customers_known", "check_arms",
]
