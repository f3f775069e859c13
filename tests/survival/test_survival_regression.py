"""Cox PH: exactly lifelines on the Rossi recidivism data, known hazard ratio recovered on
simulated lifetimes, the Schoenfeld check and its fallbacks, and the input guards."""
import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi
from lifelines.statistics import proportional_hazard_test

import retention_lab as rl
from retention_lab import DataError

ROSSI_COVS = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]


@pytest.fixture(scope="module")
def rossi_fit():
    rossi = load_rossi()
    ours = rl.survival.ChurnCoxModel().fit(rossi, ROSSI_COVS, duration_col="week",
                                           event_col="arrest")
    ref = CoxPHFitter().fit(rossi, "week", "arrest")
    return rossi, ours, ref


def test_cox_on_rossi_is_exactly_lifelines(rossi_fit):
    rossi, ours, ref = rossi_fit
    s = ours.summary.loc[ROSSI_COVS]
    np.testing.assert_allclose(s["coef"], ref.params_[ROSSI_COVS], rtol=1e-10)
    np.testing.assert_allclose(s["se"], ref.standard_errors_[ROSSI_COVS], rtol=1e-10)
    np.testing.assert_allclose(s["p_value"], ref.summary.loc[ROSSI_COVS, "p"], rtol=1e-8)
    assert ours.fitter_.log_likelihood_ == pytest.approx(ref.log_likelihood_, rel=1e-12)
    # lifelines' documented values for this model: fin −0.379 (HR 0.68), prio 0.091
    assert s.loc["fin", "coef"] == pytest.approx(-0.379, abs=5e-4)
    assert s.loc["fin", "hazard_ratio"] == pytest.approx(0.684, abs=5e-4)
    assert s.loc["prio", "coef"] == pytest.approx(0.091, abs=5e-4)
    assert ours.concordance_index_ == pytest.approx(ref.concordance_index_, rel=1e-12)
    row_by_row = rl.survival.ChurnCoxModel().fit(rossi, ROSSI_COVS, duration_col="week",
                                                 event_col="arrest", collapse_rows=False,
                                                 check_ph=False)
    np.testing.assert_allclose(row_by_row.summary.loc[ROSSI_COVS, "coef"],
                               ref.params_[ROSSI_COVS], rtol=1e-10)


def test_ph_check_is_lifelines_schoenfeld_test_and_falls_back(rossi_fit):
    rossi, ours, ref = rossi_fit
    lt = proportional_hazard_test(ref, rossi, time_transform="rank").summary
    for cov in ROSSI_COVS:
        assert ours.ph_test_.loc[cov, "p_value"] == pytest.approx(lt.loc[cov, "p"], rel=1e-6)
    # age and wexp break PH at the 1 % level (lifelines' check_assumptions says the same)
    assert set(ours.ph_test_.index[ours.ph_test_["fails"]]) == {"age", "wexp"}
    assert "The effect of age on the lapse hazard changes with customer age" in \
        ours.ph_interpretation
    assert "The effect of fin looks constant" in ours.ph_interpretation
    fb = ours.fallback_
    assert fb is not None and "time interaction" in fb.method
    assert {"age (age ≤ 28)", "age (age > 28)"} <= set(fb.summary.index)
    assert fb.summary.loc["fin", "coef"] == pytest.approx(-0.38, abs=0.02)


def test_categorical_covariate_failing_ph_is_stratified():
    rng = np.random.default_rng(5)
    n = 4000
    late = rng.random(n) < 0.5
    u = rng.random(n)
    # 'late' customers: Weibull shape 2 (hazard rising with age) vs exponential — not PH
    t = np.where(late, 200 * np.sqrt(-np.log(u)), 200 * -np.log(u))
    c = rng.uniform(100, 500, n)
    d = pd.DataFrame({"duration": np.floor(np.minimum(t, c)), "churned": (t <= c).astype(int),
                      "cohort": np.where(late, "late", "early"),
                      "x": (rng.random(n) < 0.5).astype(float)})
    m = rl.survival.ChurnCoxModel().fit(d, ["cohort", "x"], reference={"cohort": "early"})
    assert bool(m.ph_test_.loc["cohort=late", "fails"]) and not bool(m.ph_test_.loc["x", "fails"])
    assert "stratified by cohort" in m.fallback_.method
    assert list(m.fallback_.summary.index) == ["x"]
    assert "stratified by cohort" in m.ph_interpretation


def test_known_hazard_ratio_is_covered():
    d = rl.survival.simulate_lifetimes(4000, hazard_ratio=0.7, seed=11)
    m = rl.survival.ChurnCoxModel().fit(d, ["x", "channel"])
    r = m.summary.loc["x"]
    assert r["hr_lower"] < 0.7 < r["hr_upper"]
    assert r["hazard_ratio"] == pytest.approx(0.7, abs=0.05)
    assert m.info_["channel"]["reference"] in {"email", "search", "social"}
    assert "lapse at" in m.interpretation


def test_guards_collinear_constant_missing_and_separation():
    d = rl.survival.simulate_lifetimes(500, seed=3)
    d["x2"] = 2 * d["x"] + 1
    with pytest.raises(DataError, match=r"'x2' are linear combinations.*covariates linearly"):
        rl.survival.ChurnCoxModel().fit(d, ["x", "x2"])
    with pytest.raises(DataError, match="covariate varies"):
        rl.survival.ChurnCoxModel().fit(d.assign(k=1.0), ["k"])
    bad = d.copy()
    bad.loc[bad.index[:3], "channel"] = None
    with pytest.raises(DataError, match="channel: 3 of 500 rows break the rule"):
        rl.survival.ChurnCoxModel().fit(bad, ["channel"])
    sep = d.copy()
    sep.loc[sep["channel"] == "social", "churned"] = 0  # nobody from social lapses
    # issue 20: separation is reported as such; the penalised refit is kept apart, labelled
    with pytest.warns(rl.errors.SeparationWarning, match="channel=social"):
        m = rl.survival.ChurnCoxModel().fit(sep, ["channel"], check_ph=False)
    assert any("penalizer 0.01" in n and "channel=social" in n for n in m.notes)
    assert m.summary.loc["channel=social", "hazard_ratio"] == 0.0
    assert np.isnan(m.summary.loc["channel=social", "se"])
    pen = m.penalized_summary_
    assert np.isfinite(pen["se"]).all() and (pen["se"] < 5).all()


# -- issue 13, defect 1: Cox on collapsed rows (Efron ties, PH test) ---------------------------

def _gehan_6mp():
    """Gehan's (1965) leukaemia remission times in weeks ('+' = censored), 21 patients per arm."""
    mp = "6 6 6 6+ 7 9+ 10 10+ 11+ 13 16 17+ 19+ 20+ 22 23 25+ 32+ 32+ 34+ 35+".split()
    pl = "1 1 2 2 3 4 4 5 5 8 8 8 8 11 11 12 12 15 17 22 23".split()
    rows = [(float(v.rstrip("+")), int(not v.endswith("+")), arm)
            for arm, vals in (("6-MP", mp), ("placebo", pl)) for v in vals]
    return pd.DataFrame(rows, columns=["duration", "churned", "drug"])


def test_efron_ties_on_gehan_6mp_match_r_coxph():
    # R: coxph(Surv(time, status) ~ drug, ties = "efron") → coef −1.5721, se 0.4124
    # (Therneau & Grambsch 2000; the collapsed fit gave −1.5417: tied lapses counted as one)
    m = rl.survival.ChurnCoxModel().fit(_gehan_6mp(), ["drug"], reference={"drug": "placebo"})
    assert m.summary.loc["drug=6-MP", "coef"] == pytest.approx(-1.5721, abs=1e-4)
    assert m.summary.loc["drug=6-MP", "se"] == pytest.approx(0.4124, abs=1e-4)
    assert m.n_ == 42 and m.n_events_ == 30


def _tied_days(seed, n, shape_x):
    """Whole-day lapse ages (heavy ties); x = 1 is Weibull with ``shape_x`` (PH holds at 1)."""
    rng = np.random.default_rng(seed)
    x = (rng.random(n) < 0.5).astype(float)
    u = rng.random(n)
    t = np.where(x == 1, 60 * (-np.log(u)) ** (1 / shape_x), 60 * -np.log(u) / 0.7)
    c = rng.uniform(30, 200, n)
    return pd.DataFrame({"duration": np.floor(np.minimum(t, c)),
                         "churned": (t <= c).astype(int), "x": x})


def test_ph_test_is_the_per_customer_test_on_tied_days():
    for shape, seed in ((1.0, 1), (1.3, 2)):
        d = _tied_days(seed, 1500, shape)
        m = rl.survival.ChurnCoxModel(fallback=None).fit(d, ["x"])
        assert len(m.frame_) < len(d)                        # censored rows still merged
        ref = CoxPHFitter().fit(d, "duration", "churned")    # lifelines, one row per customer
        assert m.summary.loc["x", "coef"] == pytest.approx(ref.params_["x"], rel=1e-9)
        p = proportional_hazard_test(ref, d, time_transform="rank").summary.loc["x", "p"]
        assert m.ph_test_.loc["x", "p_value"] == pytest.approx(p, rel=1e-6)
    # Weibull shape 1.3 against exponential: a clear violation is detected at 1 % (the test on
    # merged rows gave p = 0.15 here) and the fallback fires
    assert m.ph_test_.loc["x", "p_value"] < 1e-4
    assert rl.survival.ChurnCoxModel().fit(d, ["x"]).fallback_ is not None


def test_cox_on_cdnow_master_is_the_per_customer_fit():
    tx = rl.datasets.load_cdnow(sample=False)
    churn = rl.features.churn_table(tx, inactivity_days=90)
    on_first_day = tx["date"].dt.normalize().to_numpy() == \
        churn["first_purchase"].reindex(tx["customer_id"]).to_numpy()
    first = tx.loc[on_first_day].groupby("customer_id")["amount"].sum()   # first-day spend
    churn["big_first_order"] = (first.reindex(churn.index) > first.median()).astype(float)
    assert ((churn["duration"] == 0) & (churn["churned"] == 1)).mean() == pytest.approx(0.511,
                                                                                      abs=1e-3)
    m = rl.survival.ChurnCoxModel().fit(churn, ["big_first_order"], check_ph=False)
    ref = CoxPHFitter().fit(churn[["duration", "churned", "big_first_order"]], "duration",
                            "churned")
    # per customer −0.1932 (SE 0.0141); the merged table gave −0.1676, 1.8 SE away
    assert m.summary.loc["big_first_order", "coef"] == pytest.approx(-0.1932, abs=5e-4)
    assert m.summary.loc["big_first_order", "coef"] == pytest.approx(
        ref.params_["big_first_order"], rel=1e-8)
