"""The churn (survival) table of a non-contractual business.

A customer *lapses* (churns) when they buy nothing for ``inactivity_days``. The inactivity window
**confirms** a lapse, it does not **date** it: the customer lapsed after their last purchase, so

* the event time is the customer's age at their **last purchase** (``last − first``);
* a lapse can be confirmed only for last purchases at least ``inactivity_days`` before the
  observation end, i.e. on or before the *confirmation cutoff* ``observation_end −
  inactivity_days``;
* every other customer is right-censored **at the cutoff** (``cutoff − first``): at the cutoff we
  know they had not yet made their last purchase, and a fixed administrative censoring time is
  non-informative — censoring at the last purchase would tie censoring to the purchase process;
* customers first seen after the cutoff carry no information about lapses and are excluded
  (counted in ``attrs['quality']``).

Dating the churn at the end of the inactivity window instead would add ``inactivity_days`` of
phantom survival to every churner and bias any time-varying analysis (e.g. of loyalty enrolment)
that compares exposure during that phantom window.

``churn_table`` is :func:`retention_lab.engines.churn_table` (pandas, DuckDB or Spark; the
pandas implementation is :func:`retention_lab.engines.pandas_engine.churn_table`).
"""
from ..engines.pandas_engine import collapse_churn
from ..engines.summaries import churn_table

__all__ = ["churn_table", "collapse_churn"]
