"""Tables of an impact study for people: effects, checks, ROI, power, context, sensitivity.

:func:`effects_table` applies the rules of :func:`retention_lab.report.table_base.table` to the
effects of :func:`retention_lab.impact.analyze`, in business units: money in the report's
currency, shares and NPS differences in points. The verdict card is
:mod:`retention_lab.report.verdict_card`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import formatting as fmt
from .table_base import (
    CI_LABEL,
    METRIC_LABELS,
    MISSING_NOTE,
    Table,
    _currency,
    _humanize,
    key_values,
    kind_of_metric,
    metric_label,
    table,
)


def effects_table(effects: pd.DataFrame, metrics=None, *, estimands=None, currency=None,
                  levels: bool = True, lift: bool = True, n: bool = True,
                  caption: str | None = None) -> Table:
    """Rows of an impact report's ``effects`` (or ``segments``, ``naive``) in business units.

    Control and treatment levels in the metric's unit, the effect (difference; for the hazard and
    rate ratio rows the ratio itself) with its ``95 % CI``, the relative lift (not for NPS, a score
    that can be zero or negative), the p-value (Holm-adjusted where the table has it) and n; the
    method of each row as a footnote.
    """
    e = effects
    if metrics is not None:
        e = e.loc[e["metric"].isin(list(metrics))]
    if estimands is not None:
        e = e.loc[e["estimand"].isin(list(estimands))]
    currency = _currency(currency)
    out = []
    ratio_note = nps_note = False
    for _, r in e.iterrows():
        kind = kind_of_metric(r["metric"])
        is_ratio = kind == "ratio"
        row = {}
        if "segment" in e.columns:
            row[_humanize(r["segment"])] = str(r["level"])
        row["Metric"] = METRIC_LABELS.get(r["metric"], _humanize(r["metric"]))
        row["Estimand"] = r["estimand"]
        if levels:
            if is_ratio:
                row["Control"] = row["Treatment"] = fmt.MISSING
                ratio_note = True
            else:
                row["Control"] = fmt.value(r["control"], kind, currency=currency)
                row["Treatment"] = fmt.value(r["treatment"], kind, currency=currency)
        if is_ratio and "rel_ci_low" not in r:
            row["Effect"], row[CI_LABEL] = effect_text(r, currency)[0], fmt.MISSING
        else:
            row["Effect"], row[CI_LABEL] = effect_text(r, currency)
        if lift:
            if kind == "nps":
                row["Relative lift"] = fmt.MISSING
                nps_note = True
            else:
                row["Relative lift"] = fmt.lift(r["rel_lift"])
        if "p_adjusted" in e.columns:
            row["p (Holm)"] = fmt.p_value(r["p_adjusted"])
        elif "p_value" in e.columns:
            row["p"] = fmt.p_value(r["p_value"])
        if n and "n" in e.columns:
            row["n"] = fmt.count(r["n"])
        row["method"] = r.get("method")
        out.append(row)
    frame = pd.DataFrame(out)
    notes = []
    if "q_p" in e.columns and len(e):
        q = e.drop_duplicates("metric")
        notes.append("Do the effects differ between segments? Cochran's Q: " + "; ".join(
            f"{METRIC_LABELS.get(m, m)} p = {fmt.p_value(v)}" for m, v in zip(q["metric"],
                                                                              q["q_p"])) + ".")
    if ratio_note:
        notes.append("— ratio rows: the hazard or rate ratio compares the groups directly "
                     "(below 1: fewer lapses or purchases in the treatment group).")
    if nps_note:
        notes.append("— NPS: no relative lift for a score on the −100…100 scale; the effect is "
                     "in points.")
    if not len(frame):
        return Table(["Metric"], [], [False], ["No effects for this selection."], caption)
    frame = frame.loc[:, [c for c in frame.columns if not (c == "method" and
                                                            frame[c].isna().all())]]
    text_cols = {"Metric", "Estimand"} | ({_humanize(x) for x in e["segment"]}
                                          if "segment" in e.columns else set())
    if "segment" in e.columns and frame["Estimand"].nunique() == 1:
        # one estimand for every row: say it once, in the caption (the table stays narrow)
        caption = caption or f"Effects by {e['segment'].iloc[0]}: {frame['Estimand'].iloc[0]}"
        frame = frame.drop(columns="Estimand")
    t = table(frame, formats={c: "text" for c in frame.columns}, ci=None, index=False,
              labels={c: c for c in frame.columns}, caption=caption,
              missing="see the notes below.")
    t.numeric = [c not in text_cols and c != "method" for c in t.header]
    t.notes = [n for n in t.notes if not n.startswith("— ")] + notes
    if any(fmt.MISSING in row for row in t.rows) and not notes:
        t.notes.append(MISSING_NOTE)
    if "Estimand" in t.header:  # a phrase, not a label: it may wrap, so nine columns fit 1,000 px
        j = t.header.index("Estimand")
        t.cell_styles.update({(i, j): ";white-space:normal" for i in range(len(t.rows))})
    return t


def checks_table(checks: pd.DataFrame) -> Table:
    """The design checks: check, status (fail in red), detail; failed checks first."""
    c = checks.copy()
    order = {"fail": 0, "warn": 1, "pass": 2}
    c = c.iloc[np.argsort([order.get(s, 3) for s in c["status"]], kind="stable")]
    t = table(c[["check", "status", "detail"]], formats={"check": "text", "status": "text",
                                                         "detail": "text"},
              fail_rows=(c["status"] == "fail").to_numpy())
    colour = {"warn": "#b60", "pass": "#080"}
    t.cell_styles = {(i, 1): f";color:{colour[s]};font-weight:bold"
                     for i, s in enumerate(c["status"]) if s in colour}
    return t


ROI_FORMATS = {"customers": "count", "incremental_revenue": "money", "incremental_margin": "money",
               "reward_cost": "money", "enrolment_cost": "money", "fixed_cost": "money",
               "programme_cost": "money", "net_benefit": "money", "roi": "lift",
               "margin": "share", "p_positive_roi_one_sided": "p"}
ROI_LABELS = {"customers": "Customers the effect applies to",
              "incremental_revenue": "Incremental revenue", "incremental_margin": "Incremental margin",
              "reward_cost": "Rewards paid", "enrolment_cost": "Enrolment costs",
              "fixed_cost": "Fixed costs", "programme_cost": "Programme costs (total)",
              "net_benefit": "Net benefit (margin − costs)", "roi": "ROI", "margin": "Gross margin",
              "p_positive_roi_one_sided": "P(ROI > 0), one-sided"}


def roi_table(roi: dict, currency: str | None = None) -> Table:
    """The ROI of a programme (``report.roi``) in money, with its intervals."""
    return key_values(roi, ROI_FORMATS, labels=ROI_LABELS, currency=currency)


RETENTION_VALUE_FORMATS = {"retention": "share", "margin_per_year": "money", "years": "count",
                           "clv_base": "money", "clv_with_gain": "money",
                           "value_per_customer": "money", "rel_change": "lift", "quoted": "text"}
RETENTION_VALUE_LABELS = {"retention": "Annual retention now", "retention_gain": "Retention gain",
                          "margin_per_year": "Margin per customer per year",
                          "years": "Years valued", "clv_base": "Customer value now",
                          "clv_with_gain": "Customer value with the gain",
                          "value_per_customer": "Worth per customer",
                          "rel_change": "Change in customer value", "quoted": "Often quoted"}


def retention_value_table(value: dict, currency: str | None = None) -> Table:
    """What a retention gain is worth for this customer base (``report.retention_value``)."""
    v = dict(value)
    rows = key_values(v, RETENTION_VALUE_FORMATS, labels=RETENTION_VALUE_LABELS, currency=currency)
    for row, k in zip(rows.rows, [k for k in v if k != "method"]):
        if k == "retention_gain":
            row[1] = fmt.value(v[k], "share", signed=True)
    return rows


def power_table(power: pd.DataFrame, currency: str | None = None) -> Table:
    """Minimum detectable effects (``report.power``) in each metric's units (money in
    ``currency``, default the run's); the power and alpha they were computed for in the caption."""
    p = power.copy()
    caption = None
    if {"alpha", "power"} <= set(p.columns) and len(p):
        caption = (f"Smallest effects detectable with {fmt.share(p['power'].iloc[0], decimals=0)}"
                   f" power at alpha {fmt.number(p['alpha'].iloc[0])} (two-sided)")
        p = p.drop(columns=["alpha", "power", "sd"], errors="ignore")

    def kind(r):
        return kind_of_metric(r["metric"])

    formats = {"n_treated": "count", "n_control": "count", "sd": kind, "mde_abs": kind,
               "mde_members_abs": kind, "mde_rel": "share", "mde_members_rel": "share",
               "alpha": "share", "power": "share", "cuped_se_ratio": "ratio"}
    labels = {"n_treated": "n treated", "n_control": "n control (effective)", "sd": "SD",
              "cuped_se_ratio": "SE ratio after CUPED", "mde_abs": "MDE",
              "mde_rel": "MDE (relative)", "mde_members_abs": "MDE on members",
              "mde_members_rel": "MDE on members (relative)"}
    t = table(p, formats={k: v for k, v in formats.items() if k in p}, labels=labels,
              currency=currency, caption=caption)
    for row in t.rows:
        row[0] = metric_label(row[0])
    return t


def context_table(context: pd.DataFrame) -> Table:
    """Measured lifts beside the ranges practitioners quote (``report.context``)."""
    c = context.copy()
    if not len(c):
        return Table(["Context"], [["No measured lift to compare."]], [False])
    c["quoted range"] = [f"{fmt.share(lo)}–{fmt.share(hi)}" for lo, hi in
                         zip(c["quoted_low"], c["quoted_high"])]
    c = c.drop(columns=["quoted_low", "quoted_high"])
    t = table(c, formats={"measured_rel_lift": "lift", "ci_low": "lift"},
              labels={"measured_rel_lift": "Measured lift", "position": "Point estimate",
                      "quoted": "Source of the quoted range"})
    for row in t.rows:
        row[0] = metric_label(row[0])
    return t


def _scale_text(scale, metric, x, currency):
    if scale in ("rate ratio", "risk ratio", "odds ratio"):
        return fmt.lift(x - 1) if not fmt.is_missing(x) else fmt.MISSING
    if scale == "hazard ratio":
        return fmt.ratio(x)
    return fmt.value(x, kind_of_metric(metric), currency=currency, signed=True)


def effect_text(r, currency: str | None = None) -> tuple[str, str]:
    """``(effect, 95 % interval)`` of one effects row as :func:`effects_table` shows it: the
    difference in the metric's units (money, points, counts), the ratio itself for the hazard
    and rate ratio rows."""
    kind = kind_of_metric(r["metric"])
    if kind == "ratio":
        est = r.get("hazard_ratio") if r["metric"] == "lapse hazard ratio" else \
            r.get("rate_ratio")
        if est is None or fmt.is_missing(est):
            est = 1 + r["rel_lift"]
        return fmt.ratio(est), fmt.interval(1 + r["rel_ci_low"], 1 + r["rel_ci_high"], "ratio")
    return (fmt.value(r["abs_diff"], kind, currency=currency, signed=True),
            fmt.interval(r["ci_low"], r["ci_high"], kind, currency=currency, signed=True))


def sensitivity_table(sensitivity: pd.DataFrame, currency: str | None = None,
                      effects: pd.DataFrame | None = None) -> Table:
    """The sensitivity of each effect on members to unmeasured confounding, in seven columns:
    the estimate and its interval, the E-values of the estimate and of the interval
    (VanderWeele & Ding 2017), the strongest measured covariate, the bias a confounder as strong
    could cause, and the estimate with that covariate left out (the column is left out when no
    row has it: crude benchmarks are not refitted).

    With ``effects`` (the report's effects table) the estimate is the headline's own row, in the
    headline's units (one number, one source); without, the sensitivity row's estimate (ratios
    as relative changes, differences in the metric's units)."""
    currency = _currency(currency)
    rows = []
    key = {} if effects is None else {(r["metric"], r["estimand"]): r
                                      for _, r in effects.iterrows()}
    for _, r in sensitivity.iterrows():
        row = key.get((r["metric"], r.get("estimand")))
        if row is not None:
            est, ci = effect_text(row, currency)
        else:
            est = _scale_text(r["scale"], r["metric"], r["estimate"], currency)
            lo = _scale_text(r["scale"], r["metric"], r["ci_low"], currency)
            hi = _scale_text(r["scale"], r["metric"], r["ci_high"], currency)
            ci = fmt.MISSING if fmt.MISSING in (lo, hi) else f"[{lo}, {hi}]"
        bench = r.get("benchmark")
        if row is None:
            without = _scale_text(r["scale"], r["metric"], r.get("benchmark_estimate_without"),
                                  currency)
        elif kind_of_metric(r["metric"]) == "ratio":   # the ratio itself, as the effect
            without = fmt.ratio(r.get("benchmark_estimate_without"))
        else:
            without = fmt.value(r.get("benchmark_diff_without"), kind_of_metric(r["metric"]),
                                currency=currency, signed=True)
        rows.append([metric_label(r["metric"]), f"{est} {ci}", fmt.ratio(r["evalue"]),
                     fmt.ratio(r["evalue_ci"]), bench if isinstance(bench, str) else fmt.MISSING,
                     fmt.ratio(r.get("benchmark_bias")), without])
    header = ["Metric", f"Effect on members [{CI_LABEL}]", "E-value", "E-value of the interval",
              "Strongest measured covariate", "Its bias factor", "Estimate without it"]
    numeric = [False, True, True, True, False, True, True]
    crude = "benchmark_kind" in sensitivity.columns and \
        (sensitivity["benchmark_kind"] == "crude").all()
    notes = ["E-value: the risk ratio an unmeasured confounder would need with both joining and "
             "the outcome to explain the estimate away (VanderWeele & Ding 2017); of the "
             "interval: to move it to no effect (1 = it already includes no effect).",
             "Bias factor: the largest shift, as a ratio, that a confounder as strong as the "
             "measured covariate " + ("(crude associations: with joining, and with the outcome "
                                      "among non-members)" if crude else "(given the others)") +
             " could cause (Ding & VanderWeele 2016).",
             "Effects in the headline's units" + (" (the effects tables' rows)" if key else
                                                   ": ratios as relative changes") +
             "; each E-value is computed on the ratio scale (differences through the "
             "standardized difference, VanderWeele 2017)."]
    if rows and all(r[-1] == fmt.MISSING for r in rows):
        # no refit without the benchmark (rolling design: crude benchmarks): no empty column
        for r in rows:
            r.pop()
        header.pop()
        numeric.pop()
    if any(fmt.MISSING in r for r in rows):
        notes.append(MISSING_NOTE)
    return Table(header, rows, numeric, notes)
