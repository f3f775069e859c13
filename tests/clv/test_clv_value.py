"""customer_lifetime_value: the time-unit convention, the discounting arithmetic, the intervals
(parametric bootstrap and delta method) and comparing groups."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl

MONTH_DAYS = 30.436875


@pytest.fixture(scope="module")
def weeks(cdnow_sample):
    return rl.features.rfm_summary(cdnow_sample, "1997-09-30", freq="D", freq_multiplier=7)


@pytest.fixture(scope="module")
def fitted(weeks):
    bg = rl.clv.BetaGeoFitter().fit(weeks)
    gg = rl.clv.GammaGammaFitter().fit(weeks)
    return bg, gg


@pytest.fixture(scope="module")
def clv_boot(fitted, weeks):
    bg, gg = fitted
    return rl.clv.customer_lifetime_value(bg, gg, weeks, horizon=12, freq="M",
                                          discount_rate=0.01, margin=1.0)


def test_same_clv_whether_the_summary_is_in_days_or_weeks(cdnow_sample, weeks, clv_boot):
    days = rl.features.rfm_summary(cdnow_sample, "1997-09-30", freq="D")
    assert days.attrs["freq_multiplier"] == 1
    bg_d = rl.clv.BetaGeoFitter().fit(days)
    assert bg_d.params_["alpha"] == pytest.approx(7 * 4.414, rel=1e-3)
    gg = rl.clv.GammaGammaFitter().fit(days)
    res = rl.clv.customer_lifetime_value(bg_d, gg, days, horizon=12, freq="M", method="delta")
    np.testing.assert_allclose(res.clv.to_numpy(), clv_boot.clv.to_numpy(), rtol=1e-4)
    assert res.settings["summary_unit_days"] == 1.0
    assert clv_boot.settings["summary_unit_days"] == 7.0
    assert clv_boot.settings["periods_per_step"] == pytest.approx(MONTH_DAYS / 7)


def test_unknown_time_unit_is_an_error_not_a_guess(fitted, weeks):
    bg_arrays = rl.clv.BetaGeoFitter().fit(*(weeks[c].to_numpy() for c in ("frequency", "recency", "T")))
    assert bg_arrays.time_unit_ is None
    bare = pd.DataFrame(weeks.to_dict("list"), index=weeks.index)  # no attrs
    with pytest.raises(ValueError, match="time unit of the summary"):
        rl.clv.customer_lifetime_value(bg_arrays, fitted[1], bare)
    # explicit units: a week three ways
    a, b, c = (rl.clv.customer_lifetime_value(bg_arrays, fitted[1], bare, time_unit=u,
                                              method="delta", customer_intervals=False).total
               for u in ("W", "7D", 7))
    assert a == b == c
    # the model remembers the unit of the summary it was fitted on
    d = rl.clv.customer_lifetime_value(fitted[0], fitted[1], bare, method="delta",
                                       customer_intervals=False).total
    assert d == pytest.approx(a, rel=1e-9)


def test_undiscounted_clv_is_spend_times_expected_purchases(fitted, weeks):
    bg, gg = fitted
    res = rl.clv.customer_lifetime_value(bg, gg, weeks, horizon=12, freq="M", discount_rate=0.0,
                                         margin=0.3, method="delta")
    t = 12 * MONTH_DAYS / 7
    exp = bg.expected_purchases(t, weeks["frequency"], weeks["recency"], weeks["T"])
    spend = gg.conditional_expected_average_profit(weeks["frequency"], weeks["monetary_value"])
    np.testing.assert_allclose(res.clv.to_numpy(), 0.3 * spend * exp, rtol=1e-10)
    np.testing.assert_allclose(res.customers["expected_purchases"], exp, rtol=1e-10)


def test_discounting_per_period(fitted, weeks):
    bg, gg = fitted
    one = weeks.iloc[:1]
    r0 = rl.clv.customer_lifetime_value(bg, gg, one, horizon=2, discount_rate=0.0, method="delta")
    r1 = rl.clv.customer_lifetime_value(bg, gg, one, horizon=2, discount_rate=0.1, method="delta")
    step = MONTH_DAYS / 7
    x, tx, T = one.iloc[0][["frequency", "recency", "T"]]
    e1, e2 = bg.expected_purchases(step, x, tx, T), bg.expected_purchases(2 * step, x, tx, T)
    spend = r0.customers["expected_spend"].iloc[0]
    assert r1.clv.iloc[0] == pytest.approx(spend * (e1 / 1.1 + (e2 - e1) / 1.1 ** 2), rel=1e-10)
    assert r0.clv.iloc[0] == pytest.approx(spend * e2, rel=1e-10)


def test_bootstrap_intervals(clv_boot, fitted, weeks):
    res = clv_boot
    c = res.customers
    assert list(c.columns[:3]) == ["clv", "lower 95%", "upper 95%"]
    assert (c["lower 95%"] <= c["clv"] * 1.0001).all() and (c["clv"] <= c["upper 95%"] * 1.0001).all()
    assert res.total_ci[0] < res.total < res.total_ci[1]
    assert res.total == pytest.approx(c["clv"].sum())
    assert res.mean == pytest.approx(res.total / 2357)
    assert len(res.total_draws) == 200 and res.mean_draws.shape == (200,)
    assert "bootstrap" in res.method
    # reproducible with the seed, different with another
    again = rl.clv.customer_lifetime_value(*fitted, weeks, customer_intervals=False)
    np.testing.assert_array_equal(again.total_draws, res.total_draws)
    other = rl.clv.customer_lifetime_value(*fitted, weeks, customer_intervals=False, seed=1)
    assert not np.allclose(other.total_draws, res.total_draws)
    # relative width of the total's interval: parameter uncertainty of 2,357 customers
    width = (res.total_ci[1] - res.total_ci[0]) / res.total
    assert 0.1 < width < 0.4


def test_delta_and_bootstrap_agree(clv_boot, fitted, weeks):
    delta = rl.clv.customer_lifetime_value(*fitted, weeks, method="delta")
    assert delta.total == pytest.approx(clv_boot.total, rel=1e-12)
    np.testing.assert_allclose(delta.total_ci, clv_boot.total_ci, rtol=0.05)
    wb = clv_boot.customers["upper 95%"] - clv_boot.customers["lower 95%"]
    wd = delta.customers["upper 95%"] - delta.customers["lower 95%"]
    assert np.median(wd / wb) == pytest.approx(1.0, abs=0.15)
    with pytest.raises(ValueError, match="method"):
        rl.clv.customer_lifetime_value(*fitted, weeks, method="magic")


def test_compare_two_groups(weeks):
    halves = {}
    for k, part in enumerate((weeks.iloc[::2], weeks.iloc[1::2])):
        bg = rl.clv.BetaGeoFitter().fit(part)
        gg = rl.clv.GammaGammaFitter().fit(part)
        halves[k] = rl.clv.customer_lifetime_value(bg, gg, part, seed=k, n_draws=100,
                                                   customer_intervals=False)
    a, b = halves[0], halves[1]
    param_only = a.difference(b, sampling=False)
    assert param_only["difference"] == pytest.approx(a.mean - b.mean)
    se_a, se_b = np.std(a.mean_draws, ddof=1), np.std(b.mean_draws, ddof=1)
    assert param_only["se"] == pytest.approx(np.hypot(se_a, se_b), rel=0.25)
    # two random halves of one population: with the customer-sampling variance the interval
    # of the difference covers 0 (parameter uncertainty alone is too narrow for two arms)
    d = a.difference(b)
    samp = np.var(a.clv, ddof=1) / a.n + np.var(b.clv, ddof=1) / b.n
    # the sampling and the parameter error are positively correlated (the same customers made
    # the estimates): the variance exceeds their sum
    assert d["se"] ** 2 > param_only["se"] ** 2 + samp
    assert d["ci"][0] < 0 < d["ci"][1]
    assert d["ci"][1] - d["ci"][0] > param_only["ci"][1] - param_only["ci"][0]


def test_fixed_spend_pareto_and_record_result(weeks):
    pn = rl.clv.ParetoNBDFitter().fit(weeks)
    res = rl.clv.customer_lifetime_value(pn, 20.0, weeks, horizon=6, margin=0.5, n_draws=50)
    assert (res.customers["expected_spend"] == 20.0).all()
    assert np.isfinite(res.customers[["clv", "lower 95%", "upper 95%"]].to_numpy()).all()
    entry = rl.report.recording.record("test_clv_mean", res.value, res.ci, method=res.method, n=res.n)
    assert entry["value"] == pytest.approx(res.mean) and entry["ci_low"] < entry["value"]


@pytest.mark.parametrize("kwargs, match", [(dict(horizon=0), "horizon"),
                                           (dict(horizon=1.5), "horizon"),
                                           (dict(freq="fortnight"), "time unit")])
def test_bad_arguments(fitted, weeks, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rl.clv.customer_lifetime_value(*fitted, weeks, **kwargs)


def test_lifetimes_style_gamma_gamma_call(fitted, weeks, clv_boot):
    bg, gg = fitted
    clv = gg.customer_lifetime_value(bg, weeks["frequency"], weeks["recency"], weeks["T"],
                                     weeks["monetary_value"], time=12, discount_rate=0.01,
                                     freq="W")
    np.testing.assert_allclose(clv.to_numpy(), clv_boot.clv.to_numpy(), rtol=1e-12)
    assert clv.index.equals(weeks.index)
    with pytest.raises(ValueError, match="freq="):
        gg.customer_lifetime_value(bg, weeks["frequency"], weeks["recency"], weeks["T"],
                                   weeks["monetary_value"])
    res = gg.customer_lifetime_value(bg, weeks, method="delta", customer_intervals=False)
    assert res.total == pytest.approx(clv_boot.total)


def test_collapsed_summary_gives_the_same_total(fitted, weeks, clv_boot):
    bg, _ = fitted
    collapsed = rl.features.collapse_summary(weeks)
    full = rl.clv.customer_lifetime_value(bg, 25.0, weeks, seed=3, n_draws=100,
                                          customer_intervals=False)
    coll = rl.clv.customer_lifetime_value(bg, 25.0, collapsed, time_unit="W", seed=3,
                                          n_draws=100, customer_intervals=False)
    assert coll.n == 2357 and len(coll.customers) == len(collapsed)
    assert coll.total == pytest.approx(full.total, rel=1e-10)
    np.testing.assert_allclose(coll.total_draws, full.total_draws, rtol=1e-10)
    delta = rl.clv.customer_lifetime_value(bg, 25.0, collapsed, time_unit="W", method="delta")
    delta_full = rl.clv.customer_lifetime_value(bg, 25.0, weeks, method="delta")
    np.testing.assert_allclose(delta.total_ci, delta_full.total_ci, rtol=1e-8)


def _clv_by_customer(tm, sm, summary, step, horizon, discount_rate, margin):
    """Brute force: every customer's own conditional expectations over the horizon."""
    x, tx, T, m = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T",
                                                        "monetary_value"))
    factors = (1.0 + discount_rate) ** -np.arange(1, horizon + 1)
    out = np.empty(len(x))
    for i in range(len(x)):
        cum = tm.expected_purchases(step * np.arange(1, horizon + 1), x[i], tx[i], T[i])
        out[i] = margin * sm.conditional_expected_average_profit(x[i], m[i]) * (
            factors @ np.diff(cum, prepend=0.0))
    return out


@pytest.mark.parametrize("which", ["bgnbd", "pareto"])
def test_clv_and_intervals_equal_the_per_customer_evaluation(which, fitted, weeks):
    _, gg = fitted
    tm = (rl.clv.BetaGeoFitter() if which == "bgnbd" else rl.clv.ParetoNBDFitter()).fit(weeks)
    sub = weeks.iloc[::8]  # every 8th customer: the brute force is slow
    n_draws, seed = 30, 5
    res = rl.clv.customer_lifetime_value(tm, gg, sub, horizon=12, freq="M", discount_rate=0.01,
                                         margin=0.3, n_draws=n_draws, seed=seed)
    step = res.settings["periods_per_step"]
    ref = _clv_by_customer(tm, gg, sub, step, 12, 0.01, 0.3)
    np.testing.assert_allclose(res.clv.to_numpy(), ref, rtol=1e-10, atol=0)
    assert res.total == pytest.approx(ref.sum(), rel=1e-12)
    # the bootstrap: the same draws, each evaluated customer by customer
    t_stream, s_stream = rl.clv.value.draw_streams(seed, tm, gg)
    t_draws = tm.sample_params(n_draws, seed=t_stream)
    s_draws = gg.sample_params(n_draws, seed=s_stream)
    per_draw = np.array([_clv_by_customer(tm._with_params(t_draws[j]), gg._with_params(s_draws[j]),
                                          sub, step, 12, 0.01, 0.3) for j in range(n_draws)])
    np.testing.assert_allclose(res.total_draws, per_draw.sum(1), rtol=1e-10, atol=0)
    lo, hi = np.percentile(per_draw, [2.5, 97.5], axis=0)
    np.testing.assert_allclose(res.customers["lower 95%"], lo, rtol=1e-10, atol=0)
    np.testing.assert_allclose(res.customers["upper 95%"], hi, rtol=1e-10, atol=0)
    assert np.all(hi > lo)


@pytest.mark.parametrize("method", ["bootstrap", "delta"])
def test_unidentified_fit_gives_point_estimates_without_intervals(fitted, weeks, clv_boot,
                                                                  method):
    """A fit without a finite covariance (on the boundary: the data do not identify the model)
    keeps its CLV point estimates, warns, and reports no interval rather than failing."""
    import copy

    bg, gg = fitted
    broken = copy.copy(bg)
    broken.variance_matrix_log_ = bg.variance_matrix_log_ * np.nan
    with pytest.warns(rl.clv.ConvergenceWarning, match="BetaGeoFitter has no finite covariance"):
        res = rl.clv.customer_lifetime_value(broken, gg, weeks, horizon=12, freq="M",
                                             discount_rate=0.01, margin=1.0, method=method)
    assert res.total == pytest.approx(clv_boot.total, rel=1e-12)
    np.testing.assert_allclose(res.customers["clv"], clv_boot.customers["clv"], rtol=1e-12)
    assert np.isnan(res.total_ci).all() and np.isnan(res.mean_ci).all()
    assert res.customers[["lower 95%", "upper 95%"]].isna().all().all()
    assert res.method == "point estimate only (no finite covariance for BetaGeoFitter)"


def _halves_clv(weeks, **kwargs):
    out = []
    for part in (weeks.iloc[::2], weeks.iloc[1::2]):
        bg = rl.clv.BetaGeoFitter().fit(part)
        gg = rl.clv.GammaGammaFitter().fit(part)
        out.append(rl.clv.customer_lifetime_value(bg, gg, part, customer_intervals=False,
                                                  **kwargs))
    return out


@pytest.mark.parametrize("seed", [None, "default", 7])
def test_difference_of_two_fits_carries_both_variances(weeks, seed):
    """Issue 13 item 2: two independently fitted halves of CDNOW must get independent bootstrap
    draws — with the default seed (the same seed for both) their draws correlated at 0.997 and
    the difference's parameter SE was 0.18 instead of sqrt(var_a + var_b) = 3.07."""
    kwargs = {} if seed == "default" else {"seed": seed}
    a, b = _halves_clv(weeks, **kwargs)
    n = min(len(a.mean_draws), len(b.mean_draws))  # a non-finite draw may be dropped
    assert abs(np.corrcoef(a.mean_draws[:n], b.mean_draws[:n])[0, 1]) < 0.3
    separate = np.hypot(np.std(a.mean_draws, ddof=1), np.std(b.mean_draws, ddof=1))
    param_only = a.difference(b, sampling=False)
    assert param_only["se"] == pytest.approx(separate, rel=0.25)
    # with the customer sampling: the two groups' own population SEs, added as variances
    both = a.difference(b)
    assert both["se"] == pytest.approx(np.hypot(a.mean_se_population, b.mean_se_population))
    for res in (a, b):  # each covers more than its parameter error or its sampling alone
        assert res.mean_se_population > np.std(res.mean_draws, ddof=1)
        assert res.mean_se_population > np.std(res.clv, ddof=1) / np.sqrt(res.n)


def test_population_se_of_the_mean_matches_a_customer_bootstrap(weeks):
    """The SE of the mean CLV (influence function: sampling and parameter error together)
    against an independent oracle: resampling the customers, refitting and recomputing."""
    half = weeks.iloc[::2]
    kw = dict(horizon=12, horizon_unit="M", summary_unit="W", method="delta",
              customer_intervals=False)
    res = rl.clv.customer_lifetime_value(rl.clv.BetaGeoFitter().fit(half), 10.0, half, **kw)
    rng = np.random.default_rng(11)
    means = []
    for _ in range(100):
        boot = half.iloc[rng.integers(0, len(half), len(half))]
        means.append(rl.clv.customer_lifetime_value(rl.clv.BetaGeoFitter().fit(boot), 10.0,
                                                    boot, **kw).mean)
    # 100 resamples: the bootstrap SD itself is uncertain by about 7 %
    assert res.mean_se_population == pytest.approx(np.std(means, ddof=1), rel=0.25), \
        (res.mean_se_population, np.std(means, ddof=1))


def test_same_fit_and_seed_reproduce_the_draws(fitted, weeks):
    bg, gg = fitted
    one, two = (rl.clv.customer_lifetime_value(bg, gg, weeks, seed=3, n_draws=50,
                                               customer_intervals=False) for _ in range(2))
    np.testing.assert_array_equal(one.total_draws, two.total_draws)


PUBLISHED_BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # FHL (2005a)
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.44}                    # FHL (2005b)


@pytest.mark.parametrize("container", ["reordered Series", "dict"])
def test_params_are_read_by_name(container):
    """Issue 13 item 7: params_ in another order gave 0.149 instead of Hardie's 1.226 (read by
    position); a dict raised."""
    bg = rl.clv.BetaGeoFitter()
    params = dict(reversed(list(PUBLISHED_BG.items())))
    bg.params_ = pd.Series(params) if container == "reordered Series" else params
    assert bg.expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=1e-3)


def test_clv_from_published_parameters_without_covariance(weeks):
    """Issue 13 item 7: CLV from hand-set (published) parameters failed with AttributeError on
    variance_matrix_log_; it gives point values, no intervals, and says so."""
    bg, gg = rl.clv.BetaGeoFitter(), rl.clv.GammaGammaFitter()
    bg.params_, gg.params_ = pd.Series(PUBLISHED_BG), dict(PUBLISHED_GG)
    res = rl.clv.customer_lifetime_value(bg, gg, weeks, horizon=12, freq="M")
    # the point values equal those of a fitted model set to the same parameters
    fitted_bg = rl.clv.BetaGeoFitter().fit(weeks)._with_params(list(PUBLISHED_BG.values()))
    fitted_gg = rl.clv.GammaGammaFitter().fit(weeks)._with_params(list(PUBLISHED_GG.values()))
    ref = rl.clv.customer_lifetime_value(fitted_bg, fitted_gg, weeks, method="delta",
                                         customer_intervals=False)
    np.testing.assert_allclose(res.clv, ref.clv, rtol=1e-12)
    assert np.isnan(res.total_ci).all() and res.customers["lower 95%"].isna().all()
    assert res.total_draws is None and "no covariance" in res.method


def test_unit_names_say_what_they_are_and_old_names_still_work(fitted, weeks):
    """Issue 13 item 7: ``freq`` meant the horizon's unit here but the summary's unit in the
    lifetimes-style method (and the flooring period in features): now horizon_unit= and
    summary_unit=, with freq= / time_unit= kept as aliases."""
    bg, gg = fitted
    kw = dict(method="delta", customer_intervals=False)
    new = rl.clv.customer_lifetime_value(bg, gg, weeks, horizon=4, horizon_unit="Y",
                                         summary_unit="W", **kw)
    old = rl.clv.customer_lifetime_value(bg, gg, weeks, horizon=4, freq="Y", time_unit="W", **kw)
    long = rl.clv.customer_lifetime_value(bg, gg, weeks, horizon=4, horizon_unit="year", **kw)
    assert new.total == old.total == long.total
    assert new.settings["horizon_unit"] == "Y"
    with pytest.raises(TypeError, match="disagree"):
        rl.clv.customer_lifetime_value(bg, gg, weeks, horizon_unit="M", freq="W", **kw)
    # in the lifetimes-style method freq is the summary's unit in both call styles
    frame = gg.customer_lifetime_value(bg, weeks, time=12, freq="W", **kw)
    arrays = gg.customer_lifetime_value(bg, weeks["frequency"], weeks["recency"], weeks["T"],
                                        weeks["monetary_value"], time=12, freq="W")
    np.testing.assert_allclose(frame.clv, arrays, rtol=1e-12)
    days = gg.customer_lifetime_value(bg, weeks, time=12, freq=1, **kw)  # recency, T read as days
    assert days.total > 3 * frame.total
