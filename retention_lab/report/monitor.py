"""Words and tables for a holdout monitor (display layer: the only place in ``monitor`` that turns
numbers into sentences). The decision card puts the pre-registered decision first."""
from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import formatting as fmt, ids
from ..monitor.decision import KEEP_RUNNING, STOP_EFFICACY, STOP_FUTILITY, STOP_HARM, STOP_SRM
from . import recording
from .tables import Table, metric_label, table

__all__ = ["decision_sentence", "DecisionCard", "decision_card", "sequences_table",
           "plan_table", "mde_table", "record_monitor", "KINDS"]

KINDS = {ids.PURCHASES: "number", ids.SPEND: "money", ids.RETENTION: "share"}
_NOUN = {ids.PURCHASES: "purchases per customer", ids.SPEND: "spend per customer",
         ids.RETENTION: "retention"}
_COLOURS = {STOP_EFFICACY: "#080", STOP_HARM: "#c00", STOP_SRM: "#c00", STOP_FUTILITY: "#a60",
            KEEP_RUNNING: "#356"}


def _week(result, day) -> int:
    return int(np.floor(day / 7)) + 1


def decision_sentence(result, currency: str | None = None) -> str:
    """One sentence: the decision under the pre-registered rule, and why."""
    d = result.decision
    m = d["metric"]
    kind = KINDS.get(m, "number")
    est = fmt.estimate(d["estimate"], d["lower"], d["upper"], kind, currency=currency,
                       signed=True)
    noun = _NOUN.get(m, metric_label(m).lower())
    wk = _week(result, d["day"])
    mde = fmt.lift(d["min_effect_rel"])
    if d["decision"] == STOP_SRM:
        return (f"Stop and fix the assignment: the sequential sample-ratio check finds a "
                f"mismatch by week {wk} (holdout share {fmt.share(1 - result.actual['srm_share'])}, "
                f"planned {fmt.share(result.settings['holdout_share'])}); no effect can be read.")
    if d["decision"] == STOP_EFFICACY:
        return (f"Stop for efficacy: by week {wk} the programme raised {noun} by {est} "
                f"(always-valid 95 % interval, {fmt.count(d['n'])} customers) — the interval "
                f"excludes zero.")
    if d["decision"] == STOP_HARM:
        return (f"Stop: by week {wk} the programme lowered {noun} by {est} (always-valid 95 % "
                f"interval, {fmt.count(d['n'])} customers).")
    if d["decision"] == STOP_FUTILITY:
        return (f"Stop for futility: by week {wk} the effect on {noun} is {est}, below the "
                f"smallest effect worth having ({mde}) — the interval excludes it.")
    day = d.get("day_needed", np.nan)
    if np.isfinite(day):
        when = (f"by week {_week(result, day)} "
                f"({(result.start + pd.Timedelta(days=int(day))).date().isoformat()}) the "
                f"interval will be narrow enough to detect {mde} on {noun}, at the current "
                f"enrolment rate")
    else:
        when = (f"at the current enrolment rate the interval will not become narrow enough to "
                f"detect {mde} on {noun}; consider a larger holdout share")
    return f"Keep running: {when} (so far {est}, {fmt.count(d['n'])} customers)."


@dataclass
class DecisionCard:
    sentence: str
    decision: str
    effects: Table

    def _repr_html_(self) -> str:
        colour = _COLOURS.get(self.decision, "#356")
        return (f'<div class="rl-verdict rl-decision" data-decision="{html.escape(self.decision)}"'
                f' style="border:2px solid {colour};padding:12px 16px;margin:0 0 16px 0">'
                f'<p class="rl-answer" style="font-size:120%;font-weight:bold;margin:0 0 8px 0;'
                f'color:{colour}">{html.escape(self.sentence)}</p>'
                f"{self.effects._repr_html_()}</div>")

    def __str__(self) -> str:
        return f"{self.sentence}\n{self.effects}"

    __repr__ = __str__


def sequences_table(result, currency: str | None = None) -> Table:
    """The latest look per metric: effect, always-valid interval, the fixed-horizon interval
    (valid for one pre-planned look only), customers."""
    rows = []
    for _, r in result.latest().iterrows():
        kind = KINDS.get(r["metric"], "number")
        rel = r["estimate"] / r["baseline"] if r["baseline"] else np.nan
        rows.append({"Metric": metric_label(r["metric"]),
                     "ITT effect": fmt.value(r["estimate"], kind, currency=currency, signed=True),
                     "Relative": fmt.lift(rel),
                     "Always-valid 95 % interval": fmt.interval(r["lower"], r["upper"], kind,
                                                                currency=currency, signed=True),
                     "Fixed-horizon interval¹": fmt.interval(r["naive_lower"], r["naive_upper"],
                                                             kind, currency=currency,
                                                             signed=True),
                     "Customers": fmt.count(r["n"])})
    df = pd.DataFrame(rows)
    t = table(df, notes=["¹ Valid only for a single look planned in advance; shown for "
                         "contrast — read weekly, it is wrong far more often than 5 %."])
    return t


def decision_card(result, currency: str | None = None) -> DecisionCard:
    return DecisionCard(decision_sentence(result, currency), result.decision["decision"],
                        sequences_table(result, currency))


def plan_table(result) -> Table:
    """Plan against actuals: customers and weeks for the pre-registered MDE."""
    rows = []
    a = result.actual
    for _, r in result.plan.iterrows():
        rows.append({"Metric": metric_label(r["metric"]),
                     "MDE": fmt.lift(r["mde_rel"]),
                     "CUPED variance reduction": fmt.share(r["variance_reduction"]),
                     "Customers (fixed horizon)": fmt.count(r["n_fixed"]),
                     "Without CUPED": fmt.count(r["n_fixed_unadjusted"]),
                     "Customers (always valid)": fmt.count(r["n_sequential"]),
                     "Weeks (always valid)": fmt.number(r["weeks_sequential"], 2),
                     "Customers so far": fmt.count(a["completed"]),
                     "Weeks so far": fmt.number(a["weeks_run"], 2)})
    return table(pd.DataFrame(rows), notes=[
        f"Planned at {fmt.count(result.plan['enrol_per_week'].iloc[0])} customers entering a "
        f"week (actual: {fmt.count(a['enrol_per_week'])}); customers count once their "
        f"{result.settings['window_days']}-day window is complete. Power "
        f"{fmt.share(result.plan['power'].iloc[0], decimals=0)}, holdout share "
        f"{fmt.share(result.settings['holdout_share'], decimals=0)}."])


def mde_table(mde: pd.DataFrame) -> Table:
    """The MDE reachable after each number of weeks (from :func:`plan.mde_by_week`)."""
    df = pd.DataFrame({"Metric": mde["metric"].map(metric_label),
                       "Weeks": mde["weeks"].map(lambda w: fmt.number(w, 2)),
                       "Customers": mde["n"].map(fmt.count),
                       "MDE, fixed horizon": mde["mde_fixed_rel"].map(fmt.lift),
                       "MDE, always valid": mde["mde_sequential_rel"].map(fmt.lift)})
    return table(df)


RECORD_UNITS = {ids.PURCHASES: "purchases per customer", ids.SPEND: "currency per customer",
                ids.RETENTION: "proportion"}


def record_monitor(result, currency: str | None = None) -> dict:
    """A :class:`~retention_lab.monitor.MonitorResult`'s headline numbers into ``metrics.json``
    (:func:`retention_lab.report.recording.record`): each metric's latest always-valid ITT
    estimate and interval, the decision, weeks run and customers completed; money in
    ``currency`` (default: the run's)."""
    out = {}
    for _, r in result.latest().iterrows():
        out[r["metric"]] = recording.record(
            f"{r['metric']}_itt_always_valid", r["estimate"], (r["lower"], r["upper"]),
            method="asymptotic confidence sequence (Waudby-Smith et al. 2023)",
            unit=RECORD_UNITS.get(r["metric"], "number"), n=int(r["n"]), currency=currency)
    d = result.decision
    out["decision"] = recording.record("decision", float(d["decision"] != "keep_running"),
                                       unit="stop (1) or keep running (0)",
                                       decision=d["decision"])
    out["weeks_run"] = recording.record("weeks_run", result.actual["weeks_run"], unit="weeks")
    out["customers_completed"] = recording.record(
        "customers_completed", result.actual["completed"], unit="customers")
    return out
