"""Parametric models (exactly lifelines on waltons; AIC picks the true family; extrapolated
retention covers the truth) and effect measures (RMST and retention differences covering known
values; the analytic RMST variance agrees with the bootstrap)."""
import numpy as np
import pandas as pd
import pytest
from lifelines import (
    KaplanMeierFitter,
    LogLogisticFitter,
    LogNormalFitter,
    WeibullAFTFitter,
    WeibullFitter,
)
from lifelines.datasets import load_waltons
from lifelines.utils import restricted_mean_survival_time

import retention_lab as rl
from retention_lab.survival.effects import _rmst_counts


@pytest.fixture(scope="module")
def waltons():
    return load_waltons()


def test_parametric_fits_are_exactly_lifelines(waltons):
    p = rl.survival.ParametricRetention().fit(waltons, duration_col="T", event_col="E",
                                              collapse_rows=False)
    for name, cls in [("weibull", WeibullFitter), ("loglogistic", LogLogisticFitter),
                      ("lognormal", LogNormalFitter)]:
        ref = cls().fit(waltons["T"], waltons["E"])
        np.testing.assert_allclose(p.fitters_[name].params_, ref.params_, rtol=1e-10)
        assert p.aic_table.loc[name, "AIC"] == pytest.approx(ref.AIC_, rel=1e-12)
    assert p.best_ == "weibull"
    # lifelines' documented Weibull fit of waltons: lambda 55.73, rho 3.45
    assert p.fitters_["weibull"].params_["lambda_"] == pytest.approx(55.73, abs=0.01)
    assert p.fitters_["weibull"].params_["rho_"] == pytest.approx(3.45, abs=0.01)
    band = WeibullFitter().fit(waltons["T"], waltons["E"], timeline=[10, 50]) \
        .confidence_interval_survival_function_
    tab = p.retention_at([10, 50])
    np.testing.assert_allclose(tab["lower 95%"], band.iloc[:, 0], rtol=1e-9)
    np.testing.assert_allclose(tab["upper 95%"], band.iloc[:, 1], rtol=1e-9)
    collapsed = rl.survival.ParametricRetention().fit(waltons, duration_col="T", event_col="E")
    np.testing.assert_allclose(collapsed.fitters_["weibull"].params_,
                               p.fitters_["weibull"].params_, rtol=1e-5)


def test_aft_regression_matches_lifelines(waltons):
    p = rl.survival.ParametricRetention(models=("weibull",)).fit(
        waltons, ["group"], duration_col="T", event_col="E")
    X = waltons.assign(g=(waltons["group"] == "miR-137").astype(float))[["T", "E", "g"]]
    ref = WeibullAFTFitter().fit(X, "T", "E")
    ours = p.aft_fitters_["weibull"].params_
    assert ours[("lambda_", "group=miR-137")] == pytest.approx(ref.params_[("lambda_", "g")],
                                                               rel=1e-4)
    assert p.aic_table.loc["weibull", "AIC"] == pytest.approx(ref.AIC_, rel=1e-6)


def test_aic_picks_the_true_family_and_extrapolation_covers_truth():
    d = rl.survival.simulate_lifetimes(4000, hazard_ratio=1.0, seed=21, scale=300, shape=1.5,
                                       follow_up=(200, 400))
    p = rl.survival.ParametricRetention().fit(d)
    assert p.best_ == "weibull" and p.notes == []
    tab = p.retention_at([100, 800]).set_index("horizon")
    truth = np.exp(-(800 / 300) ** 1.5)       # twice the longest follow-up
    assert bool(tab.loc[800, "extrapolated"]) and not bool(tab.loc[100, "extrapolated"])
    assert tab.loc[800, "lower 95%"] < truth < tab.loc[800, "upper 95%"]
    assert abs(tab.loc[100, "estimate"] - tab.loc[100, "kaplan_meier"]) < 0.02
    assert "extrapolation" in p.interpretation


def test_zero_durations_point_mass_or_shift():
    d = rl.survival.simulate_lifetimes(500, seed=22)
    d.loc[d.index[:40], ["duration", "churned"]] = [0, 1]  # one-purchase lapses at age 0
    with pytest.raises(ValueError):
        WeibullFitter().fit(d["duration"], d["churned"])    # lifelines refuses them
    zero = d["duration"] == 0
    n_zero = int(zero.sum())
    assert n_zero >= 40
    # default: a point mass at age 0, the family fitted to the positive durations
    p = rl.survival.ParametricRetention(models=("weibull",)).fit(d)
    assert p.zero_share_ == pytest.approx(n_zero / len(d))
    assert any(f"{n_zero} zero duration(s)" in n and "point mass" in n for n in p.notes)
    pos = WeibullFitter().fit(d.loc[~zero, "duration"], d.loc[~zero, "churned"])
    assert p.fitters_["weibull"].params_["rho_"] == pytest.approx(pos.params_["rho_"], rel=1e-4)
    got = p.retention_at([100.0])["estimate"].iloc[0]
    assert got == pytest.approx((1 - n_zero / len(d)) *
                                pos.survival_function_at_times(100.0).iloc[0], rel=1e-4)
    # alternative: shift them to half a day
    q = rl.survival.ParametricRetention(zero_durations="shift", min_duration=0.5).fit(d)
    assert any(n.startswith(f"{n_zero} zero duration(s)") and "0.5 days" in n for n in q.notes)
    ref = WeibullFitter().fit(d["duration"].clip(lower=0.5), d["churned"])
    assert q.fitters_["weibull"].params_["rho_"] == pytest.approx(ref.params_["rho_"], rel=1e-4)


def _km_area_by_hand(t, e, tau):
    """∫₀^τ Ŝ(u) du of the Kaplan–Meier step function, from its definition."""
    area, s, prev = 0.0, 1.0, 0.0
    for u in np.unique(t):
        if u > tau:
            break
        area += s * (u - prev)
        at_risk, deaths = (t >= u).sum(), ((t == u) & (e == 1)).sum()
        s *= 1 - deaths / at_risk
        prev = u
    return area + s * (tau - prev)


def test_rmst_is_lifelines_and_difference_covers_truth(waltons):
    per = rl.survival.rmst(waltons, 50, "group", duration_col="T", event_col="E")
    for label, part in waltons.groupby("group"):
        kmf = KaplanMeierFitter().fit(part["T"], part["E"])
        assert per.loc[label, "estimate"] == pytest.approx(
            restricted_mean_survival_time(kmf, t=50), rel=1e-12)
        for tau in (13.0, 50.0, 80.0):
            assert _rmst_counts(part["T"].to_numpy(float), part["E"].to_numpy(float),
                                np.ones((1, len(part))), tau)[0] == pytest.approx(
                restricted_mean_survival_time(kmf, t=tau), rel=1e-12)
    scale, hr, tau = 200.0, 0.7, 365.0
    d = rl.survival.simulate_lifetimes(6000, hazard_ratio=hr, seed=31, scale=scale)
    d["group"] = np.where(d["x"] == 1, "member", "guest")
    r = rl.survival.rmst_difference(d, "group", tau, reference="guest")
    truth = scale / hr * (1 - np.exp(-tau * hr / scale)) - scale * (1 - np.exp(-tau / scale))
    assert r.ci[0] < truth < r.ci[1]
    assert r.summary.index[0] == "member − guest"
    b = rl.survival.rmst_difference(d, "group", tau, reference="guest", method="bootstrap",
                                    n_boot=400, seed=1)
    # point estimate: the difference of two Kaplan–Meier areas computed by hand (no lifelines)
    hand = {g: _km_area_by_hand(part["duration"].to_numpy(), part["churned"].to_numpy(), tau)
            for g, part in d.groupby("group")}
    assert r.value == pytest.approx(hand["member"] - hand["guest"], rel=1e-10)
    assert b.value == pytest.approx(hand["member"] - hand["guest"], rel=1e-10)
    assert b.se == pytest.approx(r.se, rel=0.15)        # analytic variance ≈ bootstrap
    assert b.ci[0] < truth < b.ci[1]


def test_retention_difference_covers_truth_and_hazard_ratios():
    scale, hr, h = 200.0, 0.7, 180.0
    d = rl.survival.simulate_lifetimes(6000, hazard_ratio=hr, seed=41, scale=scale)
    d["group"] = np.where(d["x"] == 1, "member", "guest")
    r = rl.survival.retention_difference(d, "group", h, reference="guest")
    truth = np.exp(-h * hr / scale) - np.exp(-h / scale)
    assert r.ci[0] < truth < r.ci[1]
    assert r.groups.loc["guest", "estimate"] == pytest.approx(np.exp(-h / scale), abs=0.03)
    assert "points" in r.interpretation
    # hazard ratios against R's coxph on Gehan's 6-MP data (Efron ties): coef −1.5721,
    # se 0.4124 → HR 0.2076 (0.0925–0.4659)
    mp = "6 6 6 6+ 7 9+ 10 10+ 11+ 13 16 17+ 19+ 20+ 22 23 25+ 32+ 32+ 34+ 35+".split()
    pl = "1 1 2 2 3 4 4 5 5 8 8 8 8 11 11 12 12 15 17 22 23".split()
    gehan = pd.DataFrame([(float(v.rstrip("+")), int(not v.endswith("+")), float(arm == "6-MP"))
                          for arm, vals in (("6-MP", mp), ("placebo", pl)) for v in vals],
                         columns=["duration", "churned", "six_mp"])
    m = rl.survival.ChurnCoxModel().fit(gehan, ["six_mp"], check_ph=False)
    for hr in (rl.survival.hazard_ratios(m), rl.survival.hazard_ratios(m.fitter_)):
        row = hr.loc["six_mp"]
        assert row["hazard_ratio"] == pytest.approx(np.exp(-1.5721), rel=2e-4)
        assert row["hr_lower"] == pytest.approx(np.exp(-1.5721 - 1.959964 * 0.4124), rel=1e-3)
        assert row["hr_upper"] == pytest.approx(np.exp(-1.5721 + 1.959964 * 0.4124), rel=1e-3)


def test_rmst_variance_is_greenwood_type_not_lifelines_return_variance():
    """Issue 13, defect 6: lifelines' ``return_variance`` is the variance of min(T, τ) across
    customers (lifelines #1682), not the sampling variance of the RMST estimate; ours is
    Klein & Moeschberger's eq. 4.5.2, checked here by a direct loop over the event times."""
    mp = "6 6 6 6+ 7 9+ 10 10+ 11+ 13 16 17+ 19+ 20+ 22 23 25+ 32+ 32+ 34+ 35+".split()
    t = np.array([float(v.rstrip("+")) for v in mp])
    e = np.array([int(not v.endswith("+")) for v in mp])
    tau = 30.0
    got = rl.survival.rmst(pd.DataFrame({"duration": t, "churned": e}), tau).iloc[0]
    # Var = Σ_{t_i ≤ τ} A_i² d_i / (n_i (n_i − d_i)), A_i = ∫_{t_i}^τ S(u) du
    times = np.unique(t[e == 1])
    s, surv = 1.0, {}
    for u in times:
        s *= 1 - ((t == u) & (e == 1)).sum() / (t >= u).sum()
        surv[u] = s
    def area(lo):
        pts = [u for u in times if lo <= u < tau]
        knots = pts + [tau]
        s_at = lambda u: min([surv[v] for v in times if v <= u], default=1.0)  # noqa: E731
        return sum(s_at(a) * (b - a) for a, b in zip(knots[:-1], knots[1:]))
    var = sum(area(u) ** 2 * ((t == u) & (e == 1)).sum() /
              ((t >= u).sum() * ((t >= u).sum() - ((t == u) & (e == 1)).sum()))
              for u in times if u <= tau)
    assert got["estimate"] == pytest.approx(_km_area_by_hand(t, e, tau), rel=1e-12)
    assert got["se"] == pytest.approx(np.sqrt(var), rel=1e-10)
