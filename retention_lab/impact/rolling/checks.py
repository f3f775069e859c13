"""Identification and diagnostic checks of the rolling design (history before enrolment,
propensity overlap, balance, completion model, censoring, enrolment at a purchase) with their
thresholds, and the launch design's enrolment-timing check that chooses between the launch and
the rolling analysis for ``design="self_selected"``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ... import ids
from ...errors import DataError
from ..core.balance import (
    MIN_EFFECTIVE_COMPARISON,
    OVERLAP_FAIL_SHARE,
    balance_check,
    balance_table,
)
from .history import HISTORY, HISTORY_LABELS

#: members with fewer purchase days than this before their enrolment day have "too little
#: history" (purchase days, not transaction lines: splitting an order into lines changes nothing)
MIN_PRIOR_PURCHASES = 2
#: the history check fails when at least this share of members has too little history. Set
#: low on purpose: latent selection cannot be detected from the history (purchases so far,
#: recency and tenure are sufficient statistics of a member's buying rate under BG/NBD), so the
#: only defence is to refuse when the estimate rests on members whose history says little. On
#: the package's rolling simulator with latent selection and enrolment from the 2nd purchase
#: (null programme) 18 % of members had fewer than 2 earlier purchases and the estimate was a
#: spurious +0.50 [0.17, 0.83] purchases; with enrolment from the 3rd purchase (0 %) it was
#: +0.28 [−0.09, 0.65].
HISTORY_FAIL_SHARE = 0.15
#: the launch design's enrolment-timing check fails when more than this share of members
#: enrolled after their first purchase on or after the launch
LATE_ENROLMENT_FAIL_SHARE = 0.10


def _rolling_checks(rows, member, ok, w, kept, trim, unc, cens, info, model_name):
    """The balance table and the checks of :func:`~retention_lab.impact.rolling.trials.rolling_effects`
    (cut out of it unchanged). Returns ``(balance, checks, thin, ess, trimmed)``."""
    # diagnostics and identification checks
    bal = balance_table(rows.loc[ok, HISTORY].reset_index(drop=True), member[ok],
                        np.where(member, 1.0, w)[ok])
    bal["covariate"] = bal["covariate"].map(HISTORY_LABELS).fillna(bal["covariate"])
    checks = []
    prior = rows.loc[member, "prior_orders"].to_numpy()
    thin = float(np.mean(prior < MIN_PRIOR_PURCHASES))
    checks.append(dict(
        id=ids.CHECK_HISTORY, check="history before enrolment (rolling)",
        status="fail" if thin >= HISTORY_FAIL_SHARE else ("warn" if thin >= 0.05 else "pass"),
        value=thin,
        detail=f"{thin:.0%} of members enrolled with fewer than {MIN_PRIOR_PURCHASES} earlier "
               f"purchase days (median {np.median(prior):.0f}); fails at "
               f"{HISTORY_FAIL_SHARE:.0%} — with so little history, selection on buying rate "
               "cannot be separated from the programme's effect"))
    wc = w[~member & ok & (w > 0)]
    ess = float(wc.sum() ** 2 / np.sum(wc ** 2)) if wc.size else 0.0
    trimmed = float(np.mean(~kept[member]))
    share = float(wc.max() / wc.sum()) if wc.size else np.nan
    ov_fail = trimmed > OVERLAP_FAIL_SHARE or ess < MIN_EFFECTIVE_COMPARISON
    checks.append(dict(
        id=ids.CHECK_OVERLAP_ROLLING, check="propensity overlap (rolling)",
        status="fail" if ov_fail else ("warn" if trimmed > 0.02 or share > 0.05 else "pass"),
        value=ess,
        detail=f"{trimmed:.1%} of members trimmed (propensity > {1 - trim:.2f}; fails above "
               f"{OVERLAP_FAIL_SHARE:.0%}); effective comparison rows {ess:,.0f} (fails below "
               f"{MIN_EFFECTIVE_COMPARISON}); largest weight share {share:.2%}"))
    checks.append(balance_check(bal, "smd_weighted", name="history balance after weighting "
                                "(rolling)", check_id=ids.CHECK_BALANCE_ROLLING))
    comp = ~member
    checks.append(completion_model_check(unc))
    checks.append(dict(
        id=ids.CHECK_CENSORING_ROLLING,
        check="later enrolment of comparison customers (censoring)", status="pass",
        value=float(cens[comp].mean()),
        detail=f"{cens[comp].sum():,} of {comp.sum():,} comparison rows enrolled during their "
               "follow-up: they count as comparison customers up to and including their "
               "enrolment purchase, and the rest of their window is completed with the expected "
               "untreated purchases given their history then "
               f"({model_name} g-computation); their survey answers count only before "
               "they enrolled, weighted by the inverse probability of not having enrolled yet"))
    nap = info["n_members_not_at_purchase"]
    checks.append(dict(
        id=ids.CHECK_ENROLLED_AT_PURCHASE_ROLLING, check="members enrolled at a purchase (rolling)",
        status="pass" if nap <= 0.05 * max(info["n_members_used"], 1) else "warn",
        value=float(nap),
        detail=f"{nap:,} of {info['n_members_used']:,} members have no purchase on their "
               f"enrolment day; {info['n_members_too_late']:,} members enrolled after "
               f"{info['last_index_date'].date()} (no complete window) and "
               f"{info['n_members_before_start']:,} before the start are not analysed"))
    return bal, checks, thin, ess, trimmed


def completion_model_check(unc: dict) -> dict:
    """Whether the completion model's parameter uncertainty is in the intervals (and which
    model the likelihood chose, :func:`_untreated_btyd`)."""
    model = unc.get("model", "BG/NBD")
    ll = unc.get("loglik", {})
    chosen = ("" if len(ll) < 2 else f" ({model} chosen by likelihood: " + ", ".join(
        f"{k} {v:,.1f}" for k, v in ll.items()) + ")")
    if unc["ok"]:
        return dict(id=ids.CHECK_COMPLETION_MODEL, check="completion model uncertainty (rolling)",
                    status="pass", value=1.0,
                    detail=f"the uncertainty of the {model} parameters used to complete the "
                           "comparison customers who enrol later is in the intervals (sandwich "
                           f"over customers, delta method){chosen}")
    return dict(id=ids.CHECK_COMPLETION_MODEL, check="completion model uncertainty (rolling)",
                status="warn", value=0.0,
                detail=f"the parameter uncertainty of the completion model ({model}) is NOT in "
                       f"the intervals: {unc['detail']}; the intervals of purchases, spend, "
                       f"AOV and retention are too narrow by that (unknown) amount{chosen}")


def late_enrolment_check(out: pd.DataFrame) -> dict:
    """Launch design: the comparison assumes members enrolled at their first purchase on or
    after the launch. Fails when more than :data:`LATE_ENROLMENT_FAIL_SHARE` of members enrolled
    later (then members were selected on post-launch behaviour the design cannot adjust for)."""
    D = out["enrolled"].to_numpy() == 1
    late = D & (out["enrolled_at"] > out["first_post"]).to_numpy()
    share = float(late.sum() / D.sum()) if D.sum() else 0.0
    return dict(id=ids.CHECK_ENROLMENT_TIMING, check="enrolment timing (launch design)",
                status="fail" if share > LATE_ENROLMENT_FAIL_SHARE else "pass", value=share,
                detail=f"{late.sum():,} of {D.sum():,} members ({share:.0%}) enrolled after "
                       f"their first purchase on or after the launch (fails above "
                       f"{LATE_ENROLMENT_FAIL_SHARE:.0%}): the launch design adjusts only for "
                       "pre-launch behaviour, so members chosen on later behaviour are not "
                       "comparable — use design='rolling'")


def choose_analysis(out: pd.DataFrame) -> str:
    """``"launch"`` or ``"rolling"`` for ``design="self_selected"``: rolling when enrolment is
    spread out beyond the first purchase after the launch — more than
    :data:`LATE_ENROLMENT_FAIL_SHARE` of members enrolled after their first purchase on or after
    the launch (which includes customers acquired after the launch who joined at a later
    purchase); launch otherwise (everyone decided at their first chance)."""
    return "rolling" if late_enrolment_check(out)["status"] == "fail" else "launch"


def _require_members_and_comparisons(member, info):
    """:class:`DataError` when no member or no comparison row has an observable window."""
    if member.sum() == 0:
        raise DataError("customers: no member enrolled in a period with a complete outcome "
                        f"window (enrolment between {info['start'].date()} and "
                        f"{info['last_index_date'].date()}); rule 'members with an observable "
                        "window'", table="customers", column="enrolled_at",
                        rule="members with an observable window", n_rows=info["n_members"])
    if (~member).sum() == 0:
        raise DataError("transactions: no eligible comparison customer (a purchase in an "
                        "enrolment period before enrolling); rule 'comparison customers "
                        "present'", table="transactions", column="customer_id",
                        rule="comparison customers present", n_rows=0)
