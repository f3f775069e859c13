"""The impact report's sentences read like a report: p-values as ``< 0.001``, money in the report's
currency, no scientific notation, NaN, None or Python reprs (issue 15), the hazard ratio itself in
``metrics.json``, and one answer sentence that respects the identification guard and Holm.

The reports are built by hand so that every number in the expected text is known in advance."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from retention_lab import ids
from retention_lab.impact.report import ImpactReport

#: the browser test's patterns for raw output (tests/report/test_browser.py::RAW)
RAW = {"a Python repr": r"\b[A-Z]\w+\(\w+=|<[\w.]+ object at 0x",
       "a tuple of floats": r"\(-?\d+\.\d+, -?\d+\.\d+\)", "None": r"\bNone\b",
       "NaN": r"\b(?:NaN|nan)\b", "n/a": r"\bn/a\b",
       "scientific notation": r"\b\d+(?:\.\d+)?[eE][+-]?\d+\b",
       "an unformatted float": r"\b\d+\.\d{7,}\b"}


def _raw(text: str) -> dict:
    return {what: re.findall(pat, text) for what, pat in RAW.items() if re.search(pat, text)}


def _row(metric, estimand, control, treatment, lo, hi, p, rel_lo=np.nan, rel_hi=np.nan, **kw):
    diff = treatment - control
    return dict(metric=metric, estimand=estimand, control=control, treatment=treatment,
                abs_diff=diff, rel_lift=diff / control, ci_low=lo, ci_high=hi, p_value=p,
                rel_ci_low=rel_lo, rel_ci_high=rel_hi, se=0.1, n=2574,
                method="doubly robust", **kw)


def _sensitivity(bias=1.0219, benchmark="days since the last purchase"):
    base = dict(benchmark_kind="conditional", benchmark_rr_eu=1.1345, benchmark_rr_ud=1.2467,
                benchmark_bias=bias, benchmark_shift=1.01, largest_shift="acquisition channel",
                crude_benchmark="pre-launch purchase frequency", crude_benchmark_bias=1.0912,
                benchmark=benchmark)
    return pd.DataFrame([
        dict(metric="purchases", scale="rate ratio", estimate=1.2863, evalue=1.8912,
             evalue_ci=1.6412, rr=1.2863, rr_ci_low=1.181, rr_ci_high=1.400,
             benchmark_estimate_without=1.434,
             largest_shift_estimate_without=1.44, **base),
        dict(metric="spend", scale="standardized mean difference", estimate=56.93, evalue=1.6071,
             evalue_ci=1.3912, rr=1.19, rr_ci_low=1.10, rr_ci_high=1.29,
             benchmark_estimate_without=60.69,
             largest_shift_estimate_without=61.0, **base),
        dict(metric="retention", scale="risk ratio", estimate=1.1598, evalue=1.5918,
             evalue_ci=np.nan, rr=1.1598, rr_ci_low=1.068, rr_ci_high=1.259,
             benchmark_estimate_without=1.163,
             largest_shift_estimate_without=1.166, **base)])


def _report(design="self_selected", p=(1.1e-08, 2.7e-05, 0.00043), identified=True,
            sensitivity=None):
    """The self-selected run of the browser test, by hand: the p-values printed as 1.1e-08,
    2.7e-05 and 0.00043 before the fix."""
    est = "ITT" if design == "randomized" else "effect on members"
    rows = [_row("purchases", est, 4.3813, 5.6355, 0.824, 1.685, p[0], 0.181, 0.400),
            _row("spend", est, 224.92, 281.86, 30.34, 83.53, p[1], 0.128, 0.393),
            _row("retention", est, 0.5081, 0.5893, 0.0360, 0.1264, p[2], 0.068, 0.259),
            _row("lapse hazard ratio", est, 1.0, 0.789, -0.313, -0.095, 0.0004,
                 -0.313, -0.095, hazard_ratio=0.789)]
    rows[3].update(abs_diff=-0.211, rel_lift=-0.211)
    checks = [dict(id=ids.CHECK_SRM, check="sample ratio (SRM)", status="fail", value=3e-12,
                   detail=rl.impact.randomized.srm_check(
                       np.r_[np.ones(600), np.zeros(400)])["detail"])]
    if not identified:
        checks.append(dict(id=ids.CHECK_HISTORY, check="history before enrolment (rolling)",
                           status="fail", value=0.9, detail="90% of members have no history"))
    checks = pd.DataFrame(checks)
    settings = dict(horizon=365, alpha=0.05, identified=identified,
                    not_identified_because=[] if identified else
                    ["history before enrolment (rolling)"])
    context = pd.DataFrame([dict(metric="retention", estimand=est, measured_rel_lift=0.1598,
                                 ci_low=0.068, ci_high=0.259, quoted_low=0.05, quoted_high=0.10,
                                 position="above (interval overlaps)",
                                 quoted="loyalty programmes lift retention 5–10 %")])
    return ImpactReport(
        design=design, effects=pd.DataFrame(rows), checks=checks, segments=pd.DataFrame(),
        roi=dict(roi=0.6481, roi_ci=(-0.1223, 1.4189), incremental_margin=14057.2,
                 programme_cost=8527.4, method="ROI"),
        assumptions=[], settings=settings, analysis="launch" if design != "randomized" else "",
        context=context, take_up=dict(n_members=823, n_customers=4000,
                                      n_eligible_non_members=1751, n_invited=2000,
                                      n_control=2000, take_up=0.4112, ci=(0.3897, 0.4328)),
        retention_value=dict(retention=0.5081, retention_gain=0.05, value_per_customer=4.4512,
                             years=5, rel_change=0.0757),
        sensitivity=None if design == "randomized" else
        (_sensitivity() if sensitivity is None else sensitivity))


def test_summary_p_values_are_formatted_not_scientific():
    """Before: "p = 1.1e-08, Holm-adjusted 3.3e-08" (the browser test's failure)."""
    text = _report().summary_text(currency="USD")
    assert "p < 0.001, Holm-adjusted p < 0.001" in text
    assert ("For members, the programme raised spend per customer in the 365 days after launch: "
            "$225 to $282 (+25.3%, 95 % CI [+12.8%, +39.3%]; p < 0.001, Holm-adjusted "
            "p < 0.001).") in text
    assert ("raised the share still buying after 365 days: 50.8% to 58.9% (+8.1\u00a0pts, "
            "95 % CI [+3.6\u00a0pts, +12.6\u00a0pts]; p < 0.001, Holm-adjusted p < 0.001)") in text
    # a failed check's detail (SRM on a 60/40 split) is formatted too
    assert "chi-square p < 0.001 (fail below 0.001)" in text
    mid = _report(p=(0.0123, 0.2, 0.04)).summary_text()
    assert "p = 0.012, Holm-adjusted p = 0.037" in mid
    assert "p = 0.20, Holm-adjusted p = 0.20" in mid
    for rep in (_report(), _report("randomized"), _report(identified=False),
                _report(p=(np.nan, 0.2, 0.04))):
        for text in (rep.summary_text(), rep.summary_html(), rep.roi_verdict(),
                     rep.context_text(), rep.sensitivity_text(), rep.summary_sentence()):
            assert _raw(text) == {}, text
    assert "p = —, Holm-adjusted p = —" in _report(p=(np.nan, 0.2, 0.04)).summary_text()


def test_take_up_sentence_of_a_randomized_report():
    text = _report("randomized").summary_text()
    assert text.splitlines()[0] == ("Randomized study: 2,000 customers invited, 2,000 in control; "
                                    "41.1% of the invited joined (95 % CI [39.0%, 43.3%]).")


def test_record_keeps_the_hazard_ratio_itself_with_units_and_no_spaces():
    """Before: ``lapse hazard ratio_itt`` with value HR − 1 = −0.211 (it read as a negative
    ratio). Now ``lapse_hazard_ratio_itt`` = 0.789 [0.687, 0.905], unit "hazard ratio"."""
    rl.report.recording.clear()
    rl.report.recording.set_currency("EUR")
    try:
        rec = _report("randomized").record()
    finally:
        rl.report.recording.set_currency(None)
    hr = rec["lapse_hazard_ratio_itt"]
    assert hr["value"] == pytest.approx(0.789)
    assert (hr["ci_low"], hr["ci_high"]) == pytest.approx((0.687, 0.905))
    assert hr["unit"] == "hazard ratio" and hr["p_value"] == pytest.approx(0.0004)
    assert rec["spend_itt"]["unit"] == "EUR per customer"
    assert rec["retention_itt"]["unit"] == "proportion"
    assert rec["take_up"]["unit"] == "proportion"
    assert all(" " not in k for k in rec)
    assert all(e.get("unit") not in (None, "unspecified") for e in rec.values())


def test_money_in_the_reports_currency():
    rep = _report()
    assert rep.roi_verdict(currency="EUR") == (
        "Whether the programme paid for itself is not settled by these data. ROI +64.8% "
        "(95 % CI [−12.2%, +141.9%]): incremental margin €14,057 against costs €8,527.")
    assert "margin 14,057\u00a0CHF against" in rep.roi_verdict(currency="CHF")
    ctx = rep.context_text(currency="USD").splitlines()
    assert ctx[0] == ("Measured retention lift for members: +16.0% (95 % CI [+6.8%, +25.9%]) — "
                      "point estimate above (interval overlaps) the quoted 5%–10% (loyalty "
                      "programmes lift retention 5–10 %).")
    assert ctx[1].startswith("For this customer base, raising annual retention from 50.8% to "
                             "55.8% is worth $4.45 of discounted margin per customer over 5 "
                             "years (+7.6% of customer value)")
    assert "£225 to £282" in rep.summary_text(currency="GBP")
    # the report's currency is the default
    rl.report.recording.set_currency("USD")
    try:
        assert "margin $14,057" in rep.roi_verdict()
        assert "$4.45" in rep.context_text()
    finally:
        rl.report.recording.set_currency(None)


def test_summary_sentence_answers_with_holm_and_the_identification_guard():
    rep = _report()
    robust = ("; observational evidence that survives an unmeasured trait as strong as the "
              "strongest measured covariate (see the sensitivity section).")
    # bounds 1.181, 1.10, 1.068 over the benchmark's bias factor 1.0219: all above 1
    assert rep.verdict["claim"] == "effect" and rep.verdict["evidence"] == "observational"
    assert rep.summary_sentence(currency="USD") == (
        "Yes: for members, the programme raised purchases per customer (+28.6%), spend per "
        "customer (+25.3%) and retention (+8.1\u00a0pts) — each significant after a Holm "
        "correction across the 3 headline tests" + robust)
    # Holm by hand: sorted p 0.01, 0.03, 0.04 -> 0.03, 0.06, 0.06: only purchases survives
    mixed = _report(p=(0.01, 0.03, 0.04)).summary_sentence()
    assert mixed == ("Yes: for members, the programme raised purchases per customer (+28.6%) — "
                     "significant after a Holm correction across the 3 headline tests; spend "
                     "per customer and retention did not clearly change" + robust)
    lowered = _report(p=(0.01, 0.03, 0.001))   # Holm: 0.02, 0.03, 0.003
    lowered.effects.loc[2, ["abs_diff", "rel_lift"]] = (-0.05, -0.1)
    assert lowered.summary_sentence().startswith(
        "Mixed: for members, the programme raised purchases per customer (+28.6%) and spend "
        "per customer (+25.3%) but lowered retention (−5.0\u00a0pts) — each significant")
    none = _report(p=(0.2, 0.3, 0.04)).summary_sentence()
    assert none == ("Not clearly: members did not differ significantly from comparable "
                    "non-members in purchases per customer, spend per customer or retention "
                    "after a Holm correction across the 3 headline tests.")
    rnone = _report("randomized", p=(0.2, 0.3, 0.04)).summary_sentence()
    assert rnone == ("Not clearly: inviting customers did not significantly change purchases "
                     "per customer, spend per customer or retention after a Holm correction "
                     "across the 6 headline tests.") or rnone.startswith("Not clearly: inviting")
    guarded = _report(identified=False).summary_sentence()
    assert guarded.startswith("Not identified: these data cannot tell whether the programme "
                              "worked") and "randomized holdout" in guarded
    assert "(failed: history before enrolment (rolling))" in guarded
    assert "raised" not in guarded and "lowered" not in guarded
    # the verdict card shows it first
    card = rl.report.tables.verdict_card(rep, currency="USD")
    assert card.sentence == rep.summary_sentence(currency="USD")


def test_suggestive_sentence_says_what_was_measured_not_what_the_programme_did():
    # 1.181 / 1.25 < 1: fragile
    rep = _report(sensitivity=_sensitivity(bias=1.25, benchmark="purchases so far"))
    assert rep.verdict["claim"] == "suggestive"
    assert rep.verdict["reasons"] == ["holm_significant", "fragile_to_benchmark"]
    assert rep.summary_sentence() == (
        "Suggestive, not proven: members bought 28.6% more, spent 25.3% more and had a "
        "retention 8.1\u00a0pts higher than comparable non-members (each significant after a "
        "Holm correction) — members chose to join, so this measures a difference, not what the "
        "programme did.")
    # E-value of 1.181 = 1.181 + sqrt(1.181 * 0.181) = 1.6434; of B = 1.25: 1.25 + sqrt(0.3125)
    assert rep.fragility_sentence() == (
        "Fragile: an unmeasured difference between members and non-members as strong as "
        "purchases so far could explain the purchases difference (and the spend and retention "
        "differences) away — the end of its interval nearest no effect needs an unmeasured trait "
        "of strength 1.64 (E-value), less than the 1.81 that purchases so far implies.")
    text = rep.summary_text()
    assert "raised" not in text.replace("ROI", "")
    assert "the programme paid" not in text or "Only if the spend difference" in text


def test_executive_summary_has_one_sensitivity_sentence():
    rep = _report()
    lines = [ln for ln in rep.summary_text().splitlines() if "unmeasured" in ln]
    assert lines == ["Sensitivity to unmeasured confounding (E-values, VanderWeele & Ding 2017): "
                     "an unmeasured trait would need a risk-ratio association of at least 1.89 "
                     "for purchases, 1.61 for spend and 1.59 for retention with both joining and "
                     "the outcome to explain the estimated differences away, and 1.64, 1.39 and — "
                     "to bring each interval to no effect — the sensitivity section compares "
                     "this with the strongest measured covariates."]
    assert "strongest measured covariate, days since the last purchase" in rep.sensitivity_text()
    # the paragraph discusses the metric that decides the verdict: purchases, first significant
    assert "moves the purchases estimate from +28.6% to +43.4%" in rep.sensitivity_text()
    # the section's E-value of the interval is missing for retention: shown as —, not nan
    assert "(for the interval to reach no effect: 1.64, 1.39 and —)" in rep.sensitivity_text()
    assert not any("unmeasured" in ln for ln in _report(identified=False)
                   .summary_text().splitlines())


def test_p_text_in_sentences():
    from retention_lab import formatting as fmt
    assert [fmt.p_text(p) for p in (1.1e-08, 0.00043, 0.0123, 0.2, 0.9996, np.nan)] == \
        ["p < 0.001", "p < 0.001", "p = 0.012", "p = 0.20", "p > 0.999", "p = —"]
    assert fmt.p_text(0.04, "Holm-adjusted p") == "Holm-adjusted p = 0.040"


def test_effects_table_lets_the_estimand_wrap():
    """Before: every short text cell was nowrap, so the self-selected Retention table (estimands
    such as "effect on members (time-varying Cox)") was 927 px wide in a 919 px column."""
    rep = _report()
    t = rl.report.tables.effects_table(rep.effects)
    j = t.header.index("Estimand")
    html = t._repr_html_()
    assert html.count("white-space:nowrap;white-space:normal") == len(t.rows)
    assert all(t.cell_styles[(i, j)] == ";white-space:normal" for i in range(len(t.rows)))
    assert rl.report.tables.verdict_card(rep).effects.cell_styles == {}


def test_sensitivity_interpretation_has_no_raw_numbers():
    """Before: "n/a" for a missing estimate and "nan to move the interval" (issue 15)."""
    from retention_lab.impact.core.sensitivity import format_estimate, interpret
    assert [format_estimate("rate ratio", 1.2863), format_estimate("hazard ratio", 0.7891),
            format_estimate("standardized mean difference", 56.934),
            format_estimate("risk ratio", np.nan)] == ["+28.6%", "a hazard ratio of 0.789",
                                                       "+56.9", "—"]
    text = interpret(dict(evalue=1.59, evalue_ci=np.nan, rr=1.16, benchmark=None), "retention")
    assert "(— to move the interval to include no effect)" in text and _raw(text) == {}
