"""The verdict (issue 19): claims graded by the evidence and decided by ids.

* the rules of :func:`retention_lab.impact.verdict.decide` on hand-built inputs whose answers
  follow from the rule by hand (Holm by hand; ``B = RR_EU RR_UD / (RR_EU + RR_UD − 1)``);
* the bias factor against a brute-force search over binary confounders (Ding & VanderWeele 2016:
  no binary ``U`` with those associations shifts the ratio by more than ``B``, and some come
  arbitrarily close), and the rule's E-value form against its ratio form over a grid;
* the holdout size against statsmodels' ``NormalIndPower``;
* rewriting every check label, every metric display label and every covariate label to
  gibberish changes neither the verdict nor ``identified`` (a real ``analyze`` run), and a
  not-identified report is recognised by the id of its failed check, whatever its label.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from retention_lab import ids
from retention_lab.impact import verdict as vd
from retention_lab.impact.core.evalues import bias_factor, evalue
from retention_lab.impact.core.power import holdout_size


def _effects(p=(1e-6, 1e-4, 1e-3), estimand=ids.MEMBERS, diff=(0.5, 20.0, 0.05)):
    return pd.DataFrame([dict(metric=m, estimand=estimand, control=1.0, treatment=1.0 + d,
                              abs_diff=d, rel_lift=d, ci_low=d / 2, ci_high=d * 1.5,
                              rel_ci_low=d / 2, rel_ci_high=d * 1.5, p_value=pv, n=1000) for m, pv, d in zip(ids.PRIMARY_METRICS, p, diff)])


def _sens(bounds=(1.20, 1.10, 1.05), bias=1.15, benchmark="purchases so far"):
    return pd.DataFrame([dict(metric=m, estimand=ids.MEMBERS, rr=b + 0.1, rr_ci_low=b,
                              rr_ci_high=b + 0.2, benchmark=benchmark, benchmark_bias=bias)
                         for m, b in zip(ids.PRIMARY_METRICS, bounds)])


def _checks(failed=()):
    rows = [dict(id=ids.CHECK_BALANCE_ROLLING, check="balance", status="pass", value=0.01,
                 detail="")]
    rows += [dict(id=i, check="x", status="fail", value=1.0, detail="") for i in failed]
    return pd.DataFrame(rows)


def test_randomized_keeps_holm():
    # Holm by hand: p 0.01, 0.03, 0.04 (ITT) and 0.5 x3 (members): sorted 0.01*6 = 0.06 > 0.05
    e = pd.concat([_effects((0.01, 0.03, 0.04), ids.ITT), _effects((0.5, 0.5, 0.5))])
    v = vd.decide(e, _checks(), "randomized")
    assert v == dict(claim="no effect detected", evidence="randomized", robustness=None,
                     reasons=["not_significant"])
    e = pd.concat([_effects((0.001, 0.03, 0.04), ids.ITT), _effects((0.5, 0.5, 0.5))])
    # 0.001 * 6 = 0.006 < 0.05: purchases survives; 0.03 * 5 = 0.15 does not
    assert vd.significant(e, "randomized") == ["purchases"]
    v = vd.decide(e, _checks(), "randomized")
    assert (v["claim"], v["reasons"]) == ("effect", ["holm_significant"])


def test_failed_identification_check_decides_whatever_else():
    v = vd.decide(_effects(), _checks([ids.CHECK_HISTORY, ids.CHECK_OVERLAP_ROLLING]),
                  "self_selected", sensitivity=_sens(bias=1.0))
    assert v["claim"] == "not identified" and v["evidence"] == "observational"
    assert v["reasons"] == [ids.CHECK_HISTORY, ids.CHECK_OVERLAP_ROLLING]
    # a failed check that is not an identification check does not
    v = vd.decide(_effects(), _checks([ids.CHECK_BALANCE_ROLLING]), "self_selected",
                  sensitivity=_sens(bias=1.0))
    assert v["claim"] == "effect"
    # control customers enrolled leave only the effect on members unidentified: the ITT of a
    # randomized study keeps its claim
    r = vd.decide(_effects(estimand=ids.ITT), _checks([ids.CHECK_CONTROL_NOT_ENROLLED]),
                  "randomized")
    assert r["claim"] == "effect"


def test_observational_claim_needs_every_significant_effect_to_survive_the_benchmark():
    # bounds 1.20, 1.10, 1.05 over B: survive iff bound > B
    assert vd.decide(_effects(), _checks(), "self_selected",
                     sensitivity=_sens(bias=1.04))["claim"] == "effect"
    v = vd.decide(_effects(), _checks(), "self_selected", sensitivity=_sens(bias=1.07))
    assert v["claim"] == "suggestive"   # retention's 1.05 does not survive 1.07
    assert v["reasons"] == ["holm_significant", "fragile_to_benchmark"]
    assert [v["robustness"][m]["survives"] for m in ids.PRIMARY_METRICS] == [True, True, False]
    # ... unless retention is not significant: then purchases and spend decide
    e = _effects(p=(1e-6, 1e-4, 0.3))
    assert vd.decide(e, _checks(), "self_selected", sensitivity=_sens(bias=1.07))["claim"] \
        == "effect"
    # nothing significant: no effect detected, still observational
    v = vd.decide(_effects(p=(0.3, 0.4, 0.5)), _checks(), "self_selected", sensitivity=_sens())
    assert (v["claim"], v["evidence"]) == ("no effect detected", "observational")
    # robustness: the bound's E-value beside the benchmark's equal-strength E-value
    r = vd.decide(_effects(), _checks(), "self_selected", sensitivity=_sens(bias=1.15))
    p = r["robustness"]["purchases"]
    assert p["bound"] == 1.20 and p["evalue_bound"] == pytest.approx(1.2 + np.sqrt(1.2 * 0.2))
    assert p["benchmark_strength"] == pytest.approx(1.15 + np.sqrt(1.15 * 0.15))
    assert p["benchmark"] == "purchases so far"


def test_a_decrease_uses_the_upper_limit():
    e = _effects(diff=(-0.3, -10.0, -0.04))
    s = pd.DataFrame([dict(metric=m, estimand=ids.MEMBERS, rr=0.7, rr_ci_low=0.6,
                           rr_ci_high=0.8, benchmark="b", benchmark_bias=bias)
                      for m, bias in zip(ids.PRIMARY_METRICS, (1.2, 1.3, 1.2))])
    v = vd.decide(e, _checks(), "self_selected", sensitivity=s)
    # 1 / 0.8 = 1.25: survives 1.2, not 1.3
    assert [v["robustness"][m]["survives"] for m in ids.PRIMARY_METRICS] == [True, False, True]
    assert v["claim"] == "suggestive"


def test_no_benchmark_is_suggestive_never_effect():
    v = vd.decide(_effects(), _checks(), "self_selected", sensitivity=None)
    assert v == dict(claim="suggestive", evidence="observational", robustness=None,
                     reasons=["holm_significant", "no_benchmark"])
    v = vd.decide(_effects(), _checks(), "self_selected", sensitivity=_sens(bias=np.nan))
    assert v["claim"] == "suggestive" and "no_benchmark" in v["reasons"]


def test_bias_factor_is_the_largest_shift_of_a_binary_confounder():
    """Brute force over binary confounders U with P(U=1|E=1) / P(U=1|E=0) = RR_EU and
    E[Y|E=0,U=1] / E[Y|E=0,U=0] = RR_UD: the confounded ratio over the true one is
    (1 + (RR_UD − 1) p1) / (1 + (RR_UD − 1) p0) (Ding & VanderWeele 2016, eq. 2); its maximum
    over p0 is B, reached as p1 → 1."""
    for eu, ud in ((1.5, 2.0), (2.0, 3.0), (1.27, 3.94), (4.0, 1.2)):
        p1 = np.linspace(1e-4, 1.0, 200_001)
        p0 = p1 / eu
        shift = (1 + (ud - 1) * p1) / (1 + (ud - 1) * p0)
        assert shift.max() <= bias_factor(eu, ud) + 1e-12
        assert shift.max() == pytest.approx(bias_factor(eu, ud), rel=1e-9)


def test_ratio_rule_equals_the_evalue_rule():
    """bound / B > 1 ⟺ E-value(bound) > E-value(B) (= the strength of an equal-strength
    confounder with bias factor B)."""
    for bound in np.linspace(1.001, 3, 60):
        for b in np.linspace(1.001, 3, 60):
            if abs(bound - b) < 1e-9:
                continue
            assert (bound / b > 1) == (evalue(bound) > vd.benchmark_strength(b))
    for b in (1.05, 1.5, 2.7):   # an equal-strength confounder of E_B has bias factor B
        e = vd.benchmark_strength(b)
        assert bias_factor(e, e) == pytest.approx(b)


def test_holdout_size_against_statsmodels():
    from statsmodels.stats.power import NormalIndPower
    for effect, sd, take_up, h in ((0.8, 4.3, 0.33, 0.5), (1.65, 4.24, 0.45, 0.1),
                                   (20.0, 150.0, 0.2, 0.2)):
        res = holdout_size(effect, sd, take_up, arrivals_per_week=1e9, shares=(h,))
        d = take_up * effect / sd
        n1 = NormalIndPower().solve_power(effect_size=d, nobs1=None, alpha=0.05, power=0.8,
                                          ratio=h / (1 - h), alternative="two-sided")
        assert res["share"] == h
        assert abs(res["n_offered"] - n1) <= 1.5, (res, n1)
        assert abs(res["n_holdout"] - n1 * h / (1 - h)) <= 1.5
    # the smallest share that fits in a year of sign-ups is proposed
    r = holdout_size(1.65, 4.24, 0.45, arrivals_per_week=60.3)
    n = lambda h: (2.8015852 / (0.45 * 1.65 / 4.24)) ** 2 * (1 / h + 1 / (1 - h))  # noqa: E731
    assert r["share"] == 0.1 and n(0.05) / 60.3 > 52 and n(0.1) / 60.3 <= 52
    assert r["weeks"] == np.ceil(np.ceil(n(0.1)) / 60.3)
    assert np.isnan(holdout_size(0.0, 1.0, 0.5, 10.0)["weeks"])


def _gibberish(mapping: dict) -> dict:
    return {k: f"zq{i}xv" for i, k in enumerate(mapping)}


@pytest.fixture(scope="module")
def small_study():
    return rl.datasets.simulate_loyalty_experiment(n_customers=1500, design="self_selected",
                                                   seed=3)


def test_rewriting_every_label_changes_no_decision(small_study, monkeypatch):
    kw = dict(design="self_selected", clv=False, survival=False, event_study=False,
              segment_column=None)
    before = rl.impact.analyze(small_study, **kw)
    import sys
    an = sys.modules["retention_lab.impact.analyze"]
    from retention_lab import presentation
    from retention_lab.impact import design_rolling, report, sensitivity
    from retention_lab.impact.core import benchmarks
    real_frame = pd.DataFrame

    class Scrambled:   # every check label rewritten before identification and the verdict
        def __getattr__(self, name):
            return getattr(pd, name)

        @staticmethod
        def DataFrame(*a, **k):
            f = real_frame(*a, **k)
            if "check" in f.columns and "id" in f.columns:
                f["check"] = [f"label {i} ¤" for i in range(len(f))]
            return f
    monkeypatch.setattr(an, "pd", Scrambled())
    for mod, name in ((presentation, "METRIC_LABELS"), (report, "LABELS"),
                      (sensitivity, "COVARIATE_LABELS"), (benchmarks, "COVARIATE_LABELS"),
                      (design_rolling, "BENCHMARKS")):
        monkeypatch.setattr(mod, name, _gibberish(getattr(mod, name)))
    after = rl.impact.analyze(small_study, **kw)
    assert list(after.checks["check"]) != list(before.checks["check"])
    assert after.identified == before.identified
    strip = lambda v: {**v, "robustness": {m: {k: x for k, x in r.items() if k != "benchmark"}  # noqa: E731
                                           for m, r in (v["robustness"] or {}).items()}}
    assert strip(after.verdict) == strip(before.verdict)
    assert before.verdict["claim"] in ids.CLAIMS


def test_not_identified_by_id_whatever_the_label():
    """A report whose identification check failed under any label is 'not identified': no
    causal verb in the card or the summary, and the summary's alert lines are found by kind,
    not by a 'NOT IDENTIFIED' prefix."""
    from retention_lab.impact.report import ImpactReport
    checks = _checks([ids.CHECK_HISTORY]).assign(check=["balance ¤", "wibble wobble"])
    rep = ImpactReport(design="self_selected", effects=_effects(), checks=checks,
                       segments=pd.DataFrame(), roi={}, assumptions=[],
                       settings=dict(horizon=365, alpha=0.05), analysis="rolling",
                       sensitivity=_sens(bias=1.0))
    assert rep.verdict["claim"] == "not identified" and not rep.identified
    assert rep.verdict["reasons"] == [ids.CHECK_HISTORY]
    assert "(failed: wibble wobble)" in rep.summary_sentence()
    kinds = dict(rep.summary_lines())
    assert "not_identified" in kinds and "wibble wobble" in kinds["not_identified"]
    card = rl.report.tables.verdict_card(rep)
    assert "raised" not in str(card) and not card.identified
    assert 'data-claim="not identified"' in card._repr_html_()
