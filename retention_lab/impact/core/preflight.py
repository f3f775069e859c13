"""Degenerate designs, refused before any estimator runs.

An impact analysis compares groups: invited with control customers (randomized), members with
non-members (self-selected). When a group is empty, or so small that a variance or a regression
cannot be computed, or nobody in it bought anything in the outcome window, the estimators fail
deep inside numpy / statsmodels (``ZeroDivisionError: Weights sum to zero``, ``LinAlgError``,
a statsmodels ``ValueError``) or return 0/0 and ∞. :func:`check_design` turns each of these
into a :class:`~retention_lab.DataError` that says what the data lack.

Rules (each group is an arm of a randomized study, or members / non-members of a single-launch
self-selected study):

* at least :data:`MIN_PER_GROUP` customers in each group (a difference of means needs a
  variance on each side; below ten customers a normal-approximation interval means little);
* at least one customer in each group with a purchase in the outcome window (otherwise purchase
  rates and ratios are 0 or ∞);
* rolling enrolment compares members at their enrolment with customers not yet enrolled:
  at least :data:`MIN_PER_GROUP` members and as many customers in all.
"""
from __future__ import annotations

import pandas as pd

from ...errors import DataError

#: the fewest customers a compared group may have
MIN_PER_GROUP = 10


def _too_few(column: str, what: str, n: int, need: str, rule: str) -> DataError:
    return DataError(f"customers.{column}: {n:,} {what}; rule '{rule}' ({need})",
                     table="customers", column=column, rule=rule, n_rows=n)


def _groups(out: pd.DataFrame, analysis: str) -> tuple[str, dict]:
    if analysis == "randomized":
        z = out["arm_treated"].to_numpy() == 1
        return "arm", {"arm 'treatment' (invited)": z, "arm 'control'": ~z}
    member = out["enrolled"].to_numpy() == 1
    return "enrolled_at", {"members (enrolled_at given)": member,
                           "non-members (no enrolled_at)": ~member}


def check_design(out: pd.DataFrame, analysis: str, min_per_group: int = MIN_PER_GROUP) -> None:
    """Raise a DataError when the outcome table ``out`` (:func:`.outcomes.outcome_table`)
    cannot support ``analysis`` (``"randomized"``, ``"launch"``, ``"rolling"``); see the
    module docstring for the rules."""
    if analysis == "randomized" and "arm_treated" not in out.columns:
        return   # the randomized analysis names the missing 'arm' column itself
    if analysis == "rolling":
        n_members = int(out["enrolled"].sum())
        if n_members < min_per_group:
            raise _too_few("enrolled_at", f"member{'s' if n_members != 1 else ''} (customers "
                           "with an enrolled_at date)", n_members,
                           f"a rolling-enrolment comparison needs at least {min_per_group}",
                           "enough members to compare")
        if len(out) < 2 * min_per_group:
            raise _too_few("customer_id", "customers in all", len(out),
                           f"at least {2 * min_per_group} are needed to compare members with "
                           "customers not yet enrolled", "enough customers to compare")
        return
    column, groups = _groups(out, analysis)
    design = "a randomized comparison" if analysis == "randomized" else \
        "a comparison of members with non-members"
    for name, mask in groups.items():
        n = int(mask.sum())
        if n < min_per_group:
            extra = ("" if analysis == "randomized" or "non-members" not in name else
                     ": every customer enrolled, so nobody shows what members would have done "
                     "without the programme — a randomized holdout would")
            raise _too_few(column, f"customer{'s' if n != 1 else ''} in {name}", n,
                           f"{design} needs at least {min_per_group} in each group{extra}",
                           "each compared group has enough customers")
    horizon = out.attrs.get("horizon", "the")
    for name, mask in groups.items():
        if not (out.loc[mask, "orders"] > 0).any():
            raise DataError(
                f"transactions: no customer in {name} bought anything in the {horizon} days of "
                "the outcome window; rule 'each compared group has a purchase in the window' "
                "(purchase rates and their ratio would be 0 or infinite): check launch_date, "
                "observation_end and horizon_days", table="transactions", column="date",
                rule="each compared group has a purchase in the window", n_rows=0)
