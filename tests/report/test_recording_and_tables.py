"""The presentation layer: numbers, tables and the verdict card as a reader sees them (exact
strings), and the metrics.json keys and units."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from retention_lab import formatting as fmt
from retention_lab.report.tables import VerdictCard

NB = "\u00a0"


@pytest.fixture(autouse=True)
def _no_currency():
    rl.report.recording.set_currency(None)
    yield
    rl.report.recording.set_currency(None)


@pytest.mark.parametrize("x, expected", [
    (5.853e-299, "< 0.001"), (0.00063, "< 0.001"), (0.001, "0.001"), (0.0421, "0.042"),
    (0.31, "0.31"), (0.9996, "> 0.999"), (None, "—"), (float("nan"), "—")])
def test_p_values(x, expected):
    assert fmt.p_value(x) == expected


@pytest.mark.parametrize("x, expected", [
    (0.000632, "0.000632"), (2.66821, "2.67"), (0.0500, "0.05"), (139.24, "139"),
    (118982.69, "118,983"), (-0.04858, "−0.0486"), (5.853e-299, "0"), (0.0, "0")])
def test_numbers_never_use_scientific_notation(x, expected):
    assert fmt.number(x) == expected


def test_counts_money_shares_points():
    assert fmt.count(7997.0) == "7,997"
    assert fmt.money(20.256978, "USD", signed=True) == "+$20.26"
    assert fmt.money(-1234.5, "EUR") == "−€1,234"
    assert fmt.money(1234.5, "CHF") == f"1,234{NB}CHF"
    assert fmt.money(0.0, "USD") == "$0"
    assert fmt.money(55.5, "€") == "€55.50"
    assert fmt.money(55.5, None) == "55.50"
    assert fmt.money(20390.17, "USD", sig=3) == "$20,400"
    assert fmt.share(0.356898) == "35.7%"
    assert fmt.value(0.038116, "share", signed=True) == f"+3.8{NB}pts"
    assert fmt.value(10.74162, "nps", signed=True) == f"+10.7{NB}pts"
    assert fmt.value(12.595556, "nps") == "12.6"
    assert fmt.lift(0.15875) == "+15.9%"
    assert fmt.lift(-0.102507) == "−10.3%"
    assert fmt.ratio(0.897493) == "0.897"
    assert fmt.ratio(1.21297) == "1.21"
    assert fmt.days(12.117828, signed=True) == f"+12.1{NB}days"


def test_intervals_are_bracketed_in_the_estimates_units():
    assert fmt.interval(0.009470, 0.066762, "share", signed=True) == f"[+0.9{NB}pts, +6.7{NB}pts]"
    assert fmt.interval(55450.77988278912, 186903.48044989049, "money", currency="USD") == \
        "[$55,451, $186,903]"
    assert fmt.interval(float("nan"), 1.0) == "—"
    assert fmt.estimate(0.365547, 0.155903, 0.575191, "number", signed=True) == \
        "+0.366 [+0.156, +0.575]"


def _visible(table) -> str:
    return re.sub(r"<[^>]+>", " ", table._repr_html_())


def test_table_for_people():
    df = pd.DataFrame({"metric": ["purchases", "spend"], "customers": [7997.0, 12.0],
                       "coef": [0.36554, 20.25], "lower 95%": [0.1559, 5.72],
                       "upper 95%": [0.5752, 34.79], "p": [5.853e-299, None],
                       "method": ["CUPED/Lin", "CUPED/Lin"]}, index=[0, 10])
    t = rl.report.tables.table(df)
    assert t.header == ["Metric", "Customers", "Coefficient", "95 % CI", "p"]
    assert t.rows == [["purchases¹", "7,997", "0.366", "[0.156, 0.575]", "< 0.001"],
                      ["spend¹", "12", "20.2", "[5.72, 34.8]", "—"]]
    assert t.notes == ["¹ CUPED/Lin", "— no value: not defined or not estimable for this row."]
    html = t._repr_html_()
    assert "<sup>1</sup>" in html and "10" not in _visible(t).split("spend")[0][-5:]
    text = _visible(t)
    for raw in ("nan", "None", "e-299", "7997.0", "(", "NaN"):
        assert raw not in text, raw


def test_table_index_shown_only_when_it_names_rows():
    named = pd.DataFrame({"value": [0.5]}, index=pd.Index(["retention"], name="metric"))
    assert rl.report.tables.table(named).header == ["Metric", "Value"]
    unnamed = pd.DataFrame({"value": [0.5]}, index=[7])
    assert rl.report.tables.table(unnamed).header == ["Value"]


def test_table_cells_tuples_lists_and_row_kinds():
    df = pd.DataFrame({"metric": ["retention", "spend"], "value": [0.3569, 139.2],
                       "ci_low": [0.31, 120.0], "ci_high": [0.40, 160.0],
                       "range": [(1.0, 2.0), None], "tags": [["a", "b"], []]})
    kinds = {"value": lambda r: rl.report.tables.kind_of_metric(r["metric"])}
    t = rl.report.tables.table(df, formats=kinds, currency="USD")
    assert t.rows == [["retention", "35.7%", "[31.0%, 40.0%]", "[1, 2]", "a, b"],
                      ["spend", "$139", "[$120, $160]", "—", ""]]


def test_key_values_roi_has_no_tuples_or_none():
    roi = {"incremental_revenue": 40129.07, "incremental_revenue_ci": (11340.96, 68917.19),
           "roi": 1.1298, "roi_ci": (-0.398, 2.658), "p_positive_roi_one_sided": None,
           "method": "ROI = (margin × revenue − costs) / costs"}
    t = rl.report.tables.key_values(roi, {"incremental_revenue": "money", "roi": "lift", "p_positive_roi_one_sided": "p"},
                                currency="USD")
    assert t.rows == [["Incremental revenue", "$40,129"],
                      ["Incremental revenue — 95 % CI", "[$11,341, $68,917]"],
                      ["ROI", "+113.0%"], ["ROI — 95 % CI", "[−39.8%, +265.8%]"],
                      ["P positive roi one sided", "—"]]
    assert t.notes[0] == "Method: ROI = (margin × revenue − costs) / costs"


def _effects():
    return pd.DataFrame([
        dict(metric="spend", estimand="ITT", control=118.98, treatment=139.24, abs_diff=20.257,
             rel_lift=0.17025, ci_low=5.7249, ci_high=34.789, p_value=0.0063, n=4000,
             rel_ci_low=0.0468, rel_ci_high=0.3082, method="CUPED"),
        dict(metric="nps", estimand="ITT", control=1.854, treatment=12.596, abs_diff=10.742,
             rel_lift=5.794, ci_low=1.9775, ci_high=19.506, p_value=0.0163, n=1255,
             rel_ci_low=-0.78, rel_ci_high=209.6, method="CUPED"),
        dict(metric="lapse hazard ratio", estimand="ITT", control=1.0, treatment=0.8975,
             abs_diff=-0.1025, rel_lift=-0.1025, ci_low=-0.1684, ci_high=-0.0314,
             p_value=0.0054, n=4000, rel_ci_low=-0.1684, rel_ci_high=-0.0314,
             hazard_ratio=0.8975, method="Cox"),
        dict(metric="retention", estimand="ITT", control=0.3188, treatment=0.3569,
             abs_diff=0.0381, rel_lift=0.1196, ci_low=0.00947, ci_high=0.06676,
             p_value=0.0091, n=4000, rel_ci_low=0.028, rel_ci_high=0.219, method="CUPED")])


def test_effects_in_business_units():
    t = rl.report.tables.effects_table(_effects(), currency="USD")
    assert t.header == ["Metric", "Estimand", "Control", "Treatment", "Effect", "95 % CI",
                        "Relative lift", "p", "n"]
    assert t.rows[0] == ["Spend per customer¹", "ITT", "$119", "$139", "+$20.26",
                         "[+$5.72, +$34.79]", "+17.0%", "0.006", "4,000"]
    # NPS in points, never as a relative lift of +579 %
    assert t.rows[1][4:7] == [f"+10.7{NB}pts", f"[+2.0{NB}pts, +19.5{NB}pts]", "—"]
    # the hazard ratio itself, not the ratio minus one
    assert t.rows[2][2:6] == ["—", "—", "0.897", "[0.832, 0.969]"]
    assert t.rows[3][2:6] == ["31.9%", "35.7%", f"+3.8{NB}pts", f"[+0.9{NB}pts, +6.7{NB}pts]"]
    assert t.notes[:2] == ["¹ CUPED", "² Cox"]
    assert any(n.startswith("— NPS") for n in t.notes)


class _Report:
    design = "randomized"
    roi = {"roi": 1.1298, "roi_ci": (-0.398, 2.658), "incremental_margin": 12038.7,
           "programme_cost": 5652.4, "net_benefit": 6386.3, "net_benefit_ci": (-2250.2, 15022.7)}
    checks = pd.DataFrame({"check": ["sample ratio (SRM)", "balance"], "status": ["fail", "pass"],
                           "value": [1e-6, 0.05],
                           "detail": ["2,400 invited vs 1,600 control", "largest |SMD| 0.05"]})

    def __init__(self):
        self.effects = _effects()

    def summary_sentence(self):
        return "Inviting customers raised spend per customer."

    def roi_verdict(self):
        return ("Whether the programme paid for itself is not settled by these data. ROI +113.0% "
                "(95 % CI -39.8% to +265.8%): incremental margin 12,000 against costs 5,650.")


def test_verdict_card():
    card = rl.report.tables.verdict_card(_Report(), currency="USD")
    assert isinstance(card, VerdictCard)
    assert card.sentence == "Inviting customers raised spend per customer."
    assert [r[0] for r in card.effects.rows] == ["Spend per customer¹", "Retention at the horizon¹",
                                                 "NPS¹"]
    assert "Estimand" not in card.effects.header
    assert card.roi == ("Whether the programme paid for itself is not settled by these data. "
                        "ROI +113.0% [−39.8%, +265.8%]; incremental margin $12,039; programme cost "
                        "$5,652; net benefit +$6,386 [−$2,250, +$15,023].")
    html = card._repr_html_()
    assert 'style="color:#c00;font-weight:bold">Failed check — sample ratio (SRM): 2,400 invited' \
        in html
    assert html.index("Inviting customers") < html.index("Spend per customer") < \
        html.index("ROI +113.0%") < html.index("Failed check")


def test_checks_table_puts_failures_first_in_red():
    t = rl.report.tables.checks_table(_Report.checks.iloc[::-1])
    assert [r[1] for r in t.rows] == ["fail", "pass"]
    html = t._repr_html_()
    assert '<tr class="rl-fail" style="color:#c00;font-weight:bold">' in html
    assert 'white-space:nowrap;color:#080;font-weight:bold">pass</td>' in html


def test_metrics_keys_have_no_spaces_and_every_metric_a_unit(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    monkeypatch.setenv(rl.report.recording.ENV_VAR, str(path))
    rl.report.recording.clear()
    rl.report.recording.set_currency("USD")
    rl.report.recording.record("lapse hazard ratio_itt", 0.9, (0.8, 0.97))
    rl.report.recording.record("spend_itt", 20.3, (5.7, 34.8))
    rl.report.recording.record("clv_mean", 60.0, unit="currency per customer")
    rl.report.recording.record("nps_members", 10.0)
    rl.report.recording.record("retention_365d", 0.4)
    rl.report.recording.record("logrank_p_value", 0.01)
    rl.report.recording.record("repeat_purchase_rate", 0.89)
    with pytest.warns(UserWarning, match="without a unit"):
        rl.report.recording.record("mystery", 1.0)
    saved = json.loads(path.read_text())
    assert sorted(saved) == ["clv_mean", "lapse_hazard_ratio_itt", "logrank_p_value", "mystery",
                             "nps_members", "repeat_purchase_rate", "retention_365d",
                             "spend_itt"]
    assert {k: v["unit"] for k, v in saved.items()} == {
        "lapse_hazard_ratio_itt": "hazard ratio", "spend_itt": "USD per customer",
        "clv_mean": "USD per customer", "nps_members": "NPS points",
        "retention_365d": "proportion", "logrank_p_value": "probability",
        "repeat_purchase_rate": "proportion", "mystery": "unspecified"}
    rl.report.recording.clear()


def test_verdict_card_of_an_unidentified_study_makes_no_claim():
    class Unidentified(_Report):
        design = "self_selected"
        identified = True   # the verdict's claim decides, not this flag or any wording
        verdict = {"claim": "not identified", "evidence": "observational", "robustness": None,
                   "reasons": ["overlap_rolling"]}

        def __init__(self):
            self.effects = _effects().assign(estimand="effect on members")

        def summary_sentence(self):
            return "Not identified: these data cannot tell whether the programme worked."
    card = rl.report.tables.verdict_card(Unidentified(), currency="USD")
    assert card.sentence.startswith("Not identified: these data cannot tell")
    assert not card.identified and card.claim == "not identified"
    assert str(card).splitlines()[0] == ("Not identified — observational data: customers chose "
                                         "to join")
    assert card.roi == "ROI not assessed: it needs an identified effect on spend."
    assert "an association, not a measured effect" in card.effects.caption
    assert "border:2px solid #c00" in card._repr_html_()


def test_sensitivity_table_in_the_headlines_units():
    """Issue 19: the rolling sensitivity table showed spend as "+$0.08 [+$0.04, +$0.11]" (the
    standardized d) while the headline said +$21.94, and "Estimate without it" was — in every
    row. With the effects, each row is the effects table's own number; an all-missing column
    goes."""
    sens = pd.DataFrame([
        dict(metric="spend", estimand="effect on members", scale="standardized mean difference",
             estimate=0.08, ci_low=0.04, ci_high=0.11, evalue=1.36, evalue_ci=1.24,
             benchmark="spend so far", benchmark_bias=1.48, benchmark_estimate_without=np.nan),
        dict(metric="retention", estimand="effect on members", scale="risk ratio",
             estimate=1.204, ci_low=1.109, ci_high=1.307, evalue=1.70, evalue_ci=1.46,
             benchmark="mean inter-purchase time", benchmark_bias=1.36,
             benchmark_estimate_without=np.nan)])
    eff = pd.DataFrame([
        dict(metric="spend", estimand="effect on members", control=296.0, treatment=317.94,
             abs_diff=21.94, ci_low=10.5, ci_high=33.4, rel_lift=0.074, rel_ci_low=0.035,
             rel_ci_high=0.113),
        dict(metric="retention", estimand="effect on members", control=0.40, treatment=0.481,
             abs_diff=0.081, ci_low=0.043, ci_high=0.119, rel_lift=0.204, rel_ci_low=0.109,
             rel_ci_high=0.307)])
    t = rl.report.tables.sensitivity_table(sens, currency="USD", effects=eff)
    assert t.header[-1] == "Its bias factor"        # "Estimate without it" had no value
    assert t.rows[0][1] == "+$21.94 [+$10.50, +$33.40]"
    assert t.rows[1][1] == "+8.1\u00a0pts [+4.3\u00a0pts, +11.9\u00a0pts]"
    assert t.rows[0][2:4] == ["1.36", "1.24"]


def test_general_format_for_plain_text_logs():
    from retention_lab import formatting as fmt
    assert fmt.general(0.000632123) == "0.000632" and fmt.general(12345.6) == "1.23e+04"
    assert fmt.general(float("nan"), missing="not estimable") == "not estimable"
    assert fmt.general(float("inf")) == fmt.MISSING and fmt.general(None) == fmt.MISSING
