"""The impact report's words: an :class:`~retention_lab.impact.result.ImpactResult` turned into
the executive summary (the verdict sentence, the headline effects with their intervals, the ROI
verdict, failed checks), the context paragraph, the event-study sentence, HTML and the printed
summary. No estimation happens here; :class:`~retention_lab.impact.report.ImpactReport`'s
methods call these functions.

The sensitivity paragraph is in :mod:`.impact_sensitivity`, the headline table and the
``metrics.json`` entries in :mod:`.impact_record`, the method notes in :mod:`.impact_notes`;
their names are importable from here too.
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd

from .. import formatting as fmt, ids
from .impact_format import (  # noqa: F401
    LABELS,
    POINTS,
    PRIMARY,
    RATIO_METRICS,
    UNITS,
    _ci,
    _currency,
    _fmt,
    _join,
    estimate_text,
)
from .impact_notes import _assumptions, _rolling_assumptions, assumptions  # noqa: F401
from .impact_record import headline_table, record  # noqa: F401
from .impact_sensitivity import (  # noqa: F401
    _sensitivity_metric,
    fragility_sentence,
    sensitivity_sentence,
    sensitivity_text,
)


def roi_verdict(res, currency: str | None = None) -> str:
    """Whether the programme paid for itself within the horizon: ROI with its interval, the
    incremental margin and the programme costs in ``currency`` (default: the report's,
    :func:`retention_lab.report.recording.set_currency`)."""
    currency = _currency(currency)
    r = res.roi
    if not r or fmt.is_missing(r.get("roi")):
        return "ROI could not be computed (no programme costs known)."
    lo, hi = r["roi_ci"]
    head = (f"ROI {fmt.lift(r['roi'])} ({_ci(lo, hi, 'lift')}): incremental margin "
            f"{fmt.money(r['incremental_margin'], currency)} against costs "
            f"{fmt.money(r['programme_cost'], currency)}")
    if lo > 0:
        return f"The programme paid for itself within the horizon. {head}."
    if hi < 0:
        return f"The programme did not pay for itself within the horizon. {head}."
    return f"Whether the programme paid for itself is not settled by these data. {head}."


def _groups(res) -> tuple:
    """(estimand, subject of the sentence) of the headline sentences."""
    if res.design == "randomized":
        return (("ITT", "Inviting customers"),
                ("effect on members", "For customers who joined, the programme"))
    return (("effect on members", "For members, the programme"),)


def _effect_words(r, currency: str | None) -> tuple[str, str]:
    """(levels "a to b", difference with its interval) of a headline row: retention in
    points, purchases and spend as relative lifts."""
    if r["metric"] == "retention":
        return (f"{fmt.share(r['control'])} to {fmt.share(r['treatment'])}",
                f"{fmt.points(r['abs_diff'], scale=100)}, "
                f"{_ci(r['ci_low'], r['ci_high'], 'share')}")
    kind = "money" if r["metric"] == "spend" else "number"
    return (f"{fmt.value(r['control'], kind, currency=currency)} to "
            f"{fmt.value(r['treatment'], kind, currency=currency)}",
            f"{fmt.lift(r['rel_lift'])}, {_ci(r['rel_ci_low'], r['rel_ci_high'], 'lift')}")


def summary_sentence(res, currency: str | None = None) -> str:
    """One sentence answering "did the programme work?" for the verdict card: the headline
    effects (purchases, spend, retention) of the design's estimand (ITT in a randomized
    study, the effect on members otherwise) that survive a Holm correction across the
    headline family, with their intervals. When identification fails it makes no causal
    claim and recommends a randomized holdout."""
    currency = _currency(currency)
    if res.claim == ids.CLAIM_NOT_IDENTIFIED:
        why = "; ".join(res.check_labels(res.verdict.get("reasons", [])))
        return ("Not identified: these data cannot tell whether the programme worked, because "
                "they cannot separate who chose to join from what joining did"
                + (f" (failed: {why})" if why else "") +
                " — run a randomized holdout to measure it.")
    if res.claim == ids.CLAIM_SUGGESTIVE:
        return measured_sentence(res)
    alpha = res.settings.get("alpha", 0.05)
    est, _ = _groups(res)[0]
    fam = res.headline_family()
    rows = fam.loc[fam["estimand"] == est]
    if rows.empty:
        return "No headline effect (purchases, spend, retention) could be estimated."
    names = {"purchases": "purchases per customer", "spend": "spend per customer",
             "retention": "retention"}
    up, down, unclear = [], [], []
    for _, r in rows.iterrows():
        diff = _effect_words(r, currency)[1].split(", 95 % CI ")[0]
        text = f"{names[r['metric']]} ({diff})"
        if np.isfinite(r["p_holm"]) and r["p_holm"] < alpha:
            (up if r["abs_diff"] > 0 else down).append(text)
        else:
            unclear.append(names[r["metric"]])
    who = "inviting customers" if est == "ITT" else "the programme"
    n_sig = len(up) + len(down)
    tail = (f" — {'each ' if n_sig > 1 else ''}significant after a Holm correction across "
            f"the {len(fam)} headline tests")
    if not up and not down:
        if res.design != "randomized":
            return (f"Not clearly: members did not differ significantly from comparable "
                    f"non-members in {_join([names[m] for m in rows['metric']], 'or')} "
                    f"after a Holm correction across the {len(fam)} headline tests.")
        return (f"Not clearly: {who} did not significantly change "
                f"{_join([names[m] for m in rows['metric']], 'or')} after a Holm correction "
                f"across the {len(fam)} headline tests.")
    parts = []
    if up:
        parts.append(f"raised {_join(up)}")
    if down:
        parts.append(f"lowered {_join(down)}")
    answer = "Yes" if up and not down else ("No" if down and not up else "Mixed")
    rest = f"; {_join(unclear)} did not clearly change" if unclear else ""
    subject = "inviting customers" if est == "ITT" else "for members, the programme"
    robust = ""
    if res.verdict.get("evidence") == ids.EVIDENCE_OBSERVATIONAL:
        robust = ("; observational evidence that survives an unmeasured trait as strong as "
                  "the strongest measured covariate (see the sensitivity section)")
    return f"{answer}: {subject} {' but '.join(parts)}{tail}{rest}{robust}."


#: what members did, per metric, for the suggestive verdict (no causal verb)
_MEASURED = {"purchases": ("bought {x} more", "bought {x} less"),
             "spend": ("spent {x} more", "spent {x} less"),
             "retention": ("had a retention {x} higher", "had a retention {x} lower")}


def measured_sentence(res) -> str:
    """The suggestive verdict's sentence: what was measured — members against comparable
    non-members, the Holm-significant headline differences — with no causal verb."""
    alpha = res.settings.get("alpha", 0.05)
    fam = res.headline_family()
    rows = fam.loc[fam["estimand"] == ids.MEMBERS]
    said, unclear = [], []
    names = {"purchases": "purchases", "spend": "spend", "retention": "retention"}
    for _, r in rows.iterrows():
        m = r["metric"]
        if not (np.isfinite(r["p_holm"]) and r["p_holm"] < alpha):
            unclear.append(names[m])
            continue
        if m == "retention":
            x = fmt.points(abs(r["abs_diff"]), scale=100, signed=False)
        else:
            x = fmt.share(abs(r["rel_lift"]))
        said.append(_MEASURED[m][0 if r["abs_diff"] > 0 else 1].format(x=x))
    rest = f"; {_join(unclear)} did not clearly differ" if unclear else ""
    return (f"Suggestive, not proven: members {_join(said)} than comparable non-members "
            f"(each significant after a Holm correction{rest}) — members chose to join, so "
            "this measures a difference, not what the programme did.")


def holdout_sentence(res, currency: str | None = None) -> str:
    """The randomized holdout (share, weeks) that would settle a suggestive verdict
    (``report.holdout``, :func:`retention_lab.impact.core.power.holdout_plan`)."""
    h = res.holdout
    if not h or fmt.is_missing(h.get("weeks")):
        return ("A randomized holdout would settle it: keep a random share of newly eligible "
                "customers out of the programme and compare them with the rest.")
    currency = _currency(currency)
    m = h["metric"]
    kind = {"purchases": "number", "spend": "money", "retention": "share"}[m]
    unit = {"purchases": " purchases", "spend": "", "retention": ""}[m]

    def v(x):
        if m == "retention":
            return fmt.points(x, scale=100)
        return fmt.value(x, kind, currency=currency, signed=True) + unit
    long = (" At the current rate that is more than a year of sign-ups: only a larger base "
            "(or a larger effect) would shorten it." if h["weeks"] > 52 else "")
    return (f"A randomized holdout would settle it: keep a random "
            f"{fmt.share(h['share'], decimals=0)} of newly eligible customers out of the "
            f"programme; at about {fmt.count(h['arrivals_per_week'])} new eligible customers "
            f"a week, {fmt.count(h['weeks'])} weeks of sign-ups "
            f"({fmt.count(h['n_total'])} customers, {fmt.count(h['n_holdout'])} held out) "
            f"give {fmt.share(h['power'], decimals=0)} power to detect the difference measured "
            f"here ({v(h['effect_members'])} per member, {v(h['effect_itt'])} per customer "
            f"offered at {fmt.share(h['take_up'], decimals=0)} take-up), each customer "
            f"followed for {h['window_days']} days.{long}")


def summary_text(res, currency: str | None = None) -> str:
    """Plain sentences for an executive summary: the design, the headline effects with
    intervals (shares in points, purchases and spend as relative lifts, levels in the
    report's ``currency``) and which of them survive a Holm correction across the headline
    family, the sensitivity in one sentence, the ROI verdict and any failed check. When
    identification fails the summary makes no causal claim; a suggestive (observational)
    verdict describes differences, how fragile they are and the holdout that would settle
    them."""
    return "\n".join(text for _, text in summary_lines(res, currency))


#: kinds of :meth:`summary_lines` shown in red
ALERT_LINES = ("fail", "not_identified")


def _study_lines(res) -> list[str]:
    """The summary's first sentences: the design, who was compared with whom, and (randomized)
    the take-up."""
    s = res.settings
    h = s.get("horizon", 365)
    rolling = res.analysis == "rolling"
    lines = []
    tu = res.take_up
    if res.design == "randomized":
        ci = tu.get("ci", (np.nan, np.nan))
        lines.append(f"Randomized study: {fmt.count(tu.get('n_invited', 0))} customers invited, "
                     f"{fmt.count(tu.get('n_control', 0))} in control; "
                     f"{fmt.share(tu.get('take_up'))} of the invited joined "
                     f"({_ci(ci[0], ci[1], 'share', signed=False)}).")
        if tu.get("members_not_identified"):   # control customers enrolled: no first stage
            lines.append(f"The effect on members is not estimated — "
                         f"{tu['members_not_identified']}.")
    elif rolling:
        ri = s.get("rolling", {})
        lines.append(
            f"Self-selected study, rolling enrolment: "
            f"{fmt.count(tu.get('n_members_analysed', 0))} of "
            f"{fmt.count(tu.get('n_members', 0))} members are analysed at their own enrolment "
            f"date (the others enrolled too late for a complete {h}-day window), each against "
            f"customers not yet enrolled who bought in the same month, with the purchase "
            f"history both had at that moment ({fmt.count(ri.get('n_trials', 0))} monthly "
            f"trials, {fmt.count(tu.get('n_comparison_customers', 0))} comparison customers; "
            "doubly robust adjustment; comparison customers who enrolled later are followed "
            "until their enrolment and completed with their expected untreated purchases).")
    else:
        lines.append(f"Self-selected study, one launch date: {fmt.count(tu.get('n_members', 0))} "
                     f"members among {fmt.count(tu.get('n_customers', 0))} customers; members "
                     f"are compared with {fmt.count(tu.get('n_eligible_non_members', 0))} "
                     "non-members who also bought after the launch, weighted to resemble them "
                     "(inverse-probability weighting with a regression adjustment: doubly "
                     "robust).")
    return lines


def summary_lines(res, currency: str | None = None) -> list[tuple[str, str]]:
    """``(kind, sentence)`` of the executive summary: kind ``"text"``, ``"not_identified"``,
    ``"suggestive"`` or ``"fail"`` (a failed check) — the display styles by kind, never by
    the wording."""
    currency = _currency(currency)
    s = res.settings
    h = s.get("horizon", 365)
    alpha = s.get("alpha", 0.05)
    anchor = "after enrolment" if res.analysis == "rolling" else "after launch"
    lines = _study_lines(res)
    identified = res.identified
    suggestive = res.suggestive
    kinds = ["text"] * len(lines)
    if not identified:
        why = "; ".join(res.check_labels(res.verdict.get("reasons", [])))
        kinds.append("not_identified")
        lines.append(
            f"NOT IDENTIFIED — the effect of the programme is not identified by these data "
            f"(failed: {why}): they cannot separate who chose to join from what joining "
            "did. The differences below describe how members differed from comparable "
            "customers; they are not a measured effect of the programme. To measure it, "
            "run a randomized holdout: keep a random share of eligible customers out of the "
            "programme (or invite a random half) and compare them.")
    if suggestive:
        kinds += ["suggestive"] * 3
        lines += [measured_sentence(res), fragility_sentence(res),
                  holdout_sentence(res, currency)]
    fam = res.headline_family()
    for est, who in _groups(res):
        for metric in PRIMARY:
            row = fam.loc[(fam["metric"] == metric) & (fam["estimand"] == est)]
            if row.empty:
                continue
            r = row.iloc[0]
            lvl, diff = _effect_words(r, currency)
            what = {"purchases": f"purchases per customer in the {h} days {anchor}",
                    "spend": f"spend per customer in the {h} days {anchor}",
                    "retention": f"the share still buying after {h} days"}[metric]
            p_txt = f"{fmt.p_text(r['p_value'])}, Holm-adjusted {fmt.p_text(r['p_holm'])}"
            if not identified:
                kinds.append("text")
                lines.append(f"Members vs comparison customers, {what}: {lvl} ({diff}; "
                             f"{p_txt}) — an association, not an effect.")
                continue
            if suggestive:
                kinds.append("text")
                lines.append(f"Members vs comparable non-members, {what}: {lvl} ({diff}; "
                             f"{p_txt}) — a measured difference, not a proven effect.")
                continue
            if r["p_holm"] < alpha:
                verb = "raised" if r["abs_diff"] > 0 else "lowered"
            elif r["p_value"] < alpha:
                verb = ("may have " + ("raised" if r["abs_diff"] > 0 else "lowered") +
                        " (not significant after correcting for the "
                        f"{len(fam)} headline tests)")
            else:
                verb = "did not clearly change"
            kinds.append("text")
            lines.append(f"{who} {verb} {what}: {lvl} ({diff}; {p_txt}).")
    if res.analysis == "launch" and len(res.naive):
        nv = res.naive.loc[res.naive["metric"] == "purchases"]
        if len(nv):
            corr = res.effect("purchases", "effect on members")["abs_diff"]
            kinds.append("text")
            lines.append(
                f"A naive comparison of members with all non-members would have credited the "
                f"programme with {fmt.number(nv.iloc[0]['abs_diff'])} extra purchases per "
                f"member instead of {fmt.number(corr)} — members were heavier buyers to "
                "begin with and had to be active to enrol.")
    if res.design == "self_selected" and identified:
        kinds.append("text")
        lines.append(sensitivity_sentence(res))
    kinds.append("text")
    if not identified:
        lines.append("ROI not assessed: it needs an identified effect on spend.")
    elif suggestive:
        roi = roi_verdict(res, currency)
        lines.append("Only if the spend difference were entirely the programme's doing: "
                     + roi[:1].lower() + roi[1:])
    else:
        lines.append(roi_verdict(res, currency))
    for _, c in res.failed_checks().iterrows():
        kinds.append("fail")
        lines.append(f"FAILED CHECK — {c['check']}: {c['detail']}")
    return list(zip(kinds, lines))


def event_study_summary(es) -> str:
    """An event study (:class:`~retention_lab.impact.core.event_study.EventStudyResult`) in
    sentences: the mean effect over the months after enrolment with its interval, the pre-trend
    test, the same effect over 12 months in the metric's unit, and a warning when most members
    enrolled on a purchase day."""
    o, p = es.overall, es.pretrend
    level = int(round(100 * (1 - es.alpha)))
    text = (f"Event study ({es.outcome} per month): mean effect over months 0–"
            f"{o['months'][-1] if o['months'] else '?'} after enrolment "
            f"{fmt.estimate(o['estimate'], o['ci_low'], o['ci_high'], signed=True)} "
            f"({level} % CI); pre-trend test "
            f"{p['status']}: {p['detail']}")
    unit = {"purchases": "purchases", "spend": "spend", "active": "active months"}.get(
        es.outcome, es.outcome)
    if o["months"] and np.isfinite(o["estimate"]):
        kind = "money" if es.outcome == "spend" else "number"
        year = fmt.estimate(12 * o["estimate"], 12 * o["ci_low"], 12 * o["ci_high"], kind,
                            signed=True)
        text += (f" A different estimand from the headline: {unit} per member per month, "
                 f"by month since enrolment, against customers not yet enrolled, without "
                 f"adjusting for purchase history; at 12 times the mean monthly effect it is "
                 f"{year} {unit} per member over 12 months.")
    share = es.sample.get("share_members_enrolled_on_a_purchase_day", float("nan"))
    if share >= 0.5:
        text += (f" {100 * share:.0f} % of members enrolled on a day they bought: month 0 "
                 f"contains that purchase by construction, and members were selected on "
                 f"recent activity, which this unadjusted comparison does not remove.")
    return text


def event_study_text(res, currency: str | None = None) -> str:
    """The event study's summary beside the headline's own purchases effect, in the same
    unit (purchases per member over the window), so that a reader sees the two estimands
    side by side: the event study is unadjusted and per month; the headline is adjusted for
    purchase history."""
    if res.event_study is None:
        return ""
    text = event_study_summary(res.event_study)
    try:
        r = res.effect("purchases", ids.MEMBERS)
    except KeyError:
        return text
    h = res.settings.get("horizon", 365)
    anchor = "enrolment" if res.analysis == "rolling" else "the launch"
    return (f"{text} The headline, adjusted for that history: "
            f"{fmt.estimate(r['abs_diff'], r['ci_low'], r['ci_high'], signed=True)} purchases "
            f"per member in the {h} days after {anchor}.")


def context_text(res, currency: str | None = None) -> str:
    """Plain sentences: measured lifts beside the quoted ranges, and the value of a 5-point
    retention gain for this customer base in ``currency`` (default: the report's)."""
    currency = _currency(currency)
    lines = []
    for _, c in res.context.iterrows():
        who = ("of inviting customers (ITT)" if c.get("estimand") == "ITT" else
               "for members")
        lines.append(f"Measured {c['metric']} lift {who}: "
                     f"{fmt.lift(c['measured_rel_lift'])} "
                     f"({_ci(c['ci_low'], c['ci_high'], 'lift')}) — point estimate "
                     f"{c['position']} the quoted {fmt.share(c['quoted_low'], decimals=0)}–"
                     f"{fmt.share(c['quoted_high'], decimals=0)} ({c['quoted']}).")
    v = res.retention_value
    if v:
        lines.append(f"For this customer base, raising annual retention from "
                     f"{fmt.share(v['retention'])} to "
                     f"{fmt.share(v['retention'] + v['retention_gain'])} is worth "
                     f"{fmt.money(v['value_per_customer'], currency)} of discounted margin "
                     f"per customer over {v['years']} years ({fmt.lift(v['rel_change'])} of "
                     f"customer value) — against the often-quoted 'a 5 % retention gain lifts "
                     f"profit 25–95 %'.")
    return "\n".join(lines)


def summary_html(res, currency: str | None = None) -> str:
    """The executive summary as HTML: one paragraph per sentence, failed checks in red."""
    parts = []
    for kind, line in summary_lines(res, currency):
        if kind in ALERT_LINES:
            parts.append(f'<p style="color:#c00;font-weight:bold">{html.escape(line)}</p>')
        elif kind == "suggestive":
            parts.append(f'<p style="color:#8a5a00;font-weight:bold">{html.escape(line)}</p>')
        else:
            parts.append(f"<p>{html.escape(line)}</p>")
    return "\n".join(parts)


def checks_html(res) -> str:
    """The checks table as HTML with the status coloured (fail red, warn orange)."""
    colour = {"pass": "#080", "warn": "#c60", "fail": "#c00"}
    rows = "".join(
        f"<tr><td>{html.escape(str(c['check']))}</td><td style=\"color:"
        f"{colour.get(c['status'], '#000')};font-weight:bold\">{c['status']}</td>"
        f"<td>{html.escape(str(c['detail']))}</td></tr>" for _, c in res.checks.iterrows())
    return ("<table><tr><th>check</th><th>status</th><th>detail</th></tr>" + rows +
            "</table>")


def print_summary(res, file=None) -> None:
    print(summary_text(res), file=file)
    cols = ["metric", "estimand", "control", "treatment", "abs_diff", "rel_lift", "ci_low",
            "ci_high", "p_value"]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(res.effects[cols].to_string(index=False, float_format=lambda v: _fmt(v)),
              file=file)
        print(res.checks[["check", "status", "detail"]].to_string(index=False), file=file)
