"""BTYD fitters: likelihood correctness against independent numerical integration, numerical
stability, input validation, degenerate data, weights and the penalizer."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import gammaln

import retention_lab as rl
from retention_lab.clv.base import numerical_gradient
from retention_lab.clv.simulate import beta_geo


def pareto_loglik_by_quadrature(r, alpha, s, beta, x, tx, T):
    """The Pareto/NBD likelihood from its lifetime representation: alive through T, or dead at
    τ ∈ (t_x, T) with Lomax density — a 1-D integral, scaled by (α+t_x)^(r+x) against underflow."""
    c = (r + x) * np.log(alpha + tx)
    alive = np.exp(c - (r + x) * np.log(alpha + T) + s * np.log(beta / (beta + T)))
    dens = lambda tau: np.exp(c - (r + x) * np.log(alpha + tau) + np.log(s) + s * np.log(beta)  # noqa: E731
                              - (s + 1) * np.log(beta + tau))
    # the integrand decays like ((α+t_x)/(α+τ))^(r+x): split where it has fallen by e^-50
    mid = min(T, (alpha + tx) * np.exp(50 / (r + x)) - alpha)
    dead = 0.0
    for lo, hi in ((tx, mid), (mid, T)):
        if hi > lo:
            dead += integrate.quad(dens, lo, hi, epsabs=1e-13 * dead, epsrel=1e-10, limit=200)[0]
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) - c + np.log(alive + dead)


@pytest.mark.parametrize("params", [(0.55, 10.6, 0.61, 11.7),    # alpha < beta
                                    (0.55, 20.0, 0.61, 3.0),     # alpha > beta
                                    (2.0, 5.0, 1.5, 5.0)])       # alpha == beta
@pytest.mark.parametrize("x, tx, T", [(0, 0, 39), (2, 30.43, 38.86), (7, 5.0, 39.0),
                                      (40, 38.0, 39.0), (3000, 20.0, 39.0), (5000, 100.0, 2000.0)])
def test_pareto_likelihood_matches_quadrature_including_large_x(params, x, tx, T):
    m = rl.clv.ParetoNBDFitter()
    d = dict(x=np.array([x], float), tx=np.array([tx], float), T=np.array([T], float))
    ll = m._loglik(np.array(params), d)[0]
    assert np.isfinite(ll)
    assert ll == pytest.approx(pareto_loglik_by_quadrature(*params, x, tx, T), rel=1e-8, abs=1e-8)


def test_pareto_predictions_finite_for_extreme_customers():
    m = rl.clv.ParetoNBDFitter()
    m.fit(beta_geo(3000, 0.5, 5.0, 0.7, 3.0, T=52, seed=3))
    x = np.array([0, 1, 5000, 5000, 1e5])
    tx = np.array([0, 1, 100, 999, 1e4])
    T = np.array([1e4, 1e4, 1000, 1000, 1e4])
    p = m.probability_alive(x, tx, T)
    e = m.expected_purchases(52, x, tx, T)
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    assert np.all(np.isfinite(e)) and np.all(e >= 0)
    assert p[2] < 1e-100 and p[3] > 0.5  # long silence after many purchases → gone


def test_bgnbd_analytic_gradient_matches_numerical():
    data = beta_geo(500, 0.3, 3.0, 0.9, 2.0, T=30, seed=1)
    m = rl.clv.BetaGeoFitter()
    d = m._prepare(data["frequency"].to_numpy(), data["recency"].to_numpy(), data["T"].to_numpy())
    w = np.random.default_rng(0).integers(1, 4, len(data)).astype(float)
    theta = np.log([0.5, 2.0, 1.3, 0.8])
    g = m._objective_grad(theta, d, w, w.sum())[1]
    g_num = numerical_gradient(lambda t: m._objective(t, d, w, w.sum()), theta)
    np.testing.assert_allclose(g, g_num, rtol=1e-6, atol=1e-9)


def test_gamma_gamma_and_sbg_gradients_match_numerical():
    gg = rl.clv.GammaGammaFitter()
    x = np.array([1.0, 2, 5, 9])
    mval = np.array([10.0, 35, 22, 70])
    d = dict(x=x, m=mval, logm=np.log(mval), logx=np.log(x))
    w = np.ones(4)
    t = np.log([3.0, 2.5, 12.0])
    np.testing.assert_allclose(gg._objective_grad(t, d, w, 4.0)[1],
                               numerical_gradient(lambda u: gg._objective(u, d, w, 4.0), t), rtol=1e-6)
    sbg = rl.clv.ShiftedBetaGeoFitter()
    d = dict(t=np.array([1.0, 2, 3, 3]), churned=np.array([True, True, True, False]))
    w = np.array([30.0, 20, 10, 40])
    t = np.log([0.8, 1.7])
    np.testing.assert_allclose(sbg._objective_grad(t, d, w, 100.0)[1],
                               numerical_gradient(lambda u: sbg._objective(u, d, w, 100.0), t), rtol=1e-6)


def test_weights_equal_replicated_rows():
    data = beta_geo(400, 0.3, 3.0, 0.9, 2.0, T=30, seed=2, resolution=1)
    w = np.random.default_rng(5).integers(1, 5, len(data))
    rep = data.loc[data.index.repeat(w)]
    a = rl.clv.BetaGeoFitter().fit(data, weights=w)
    b = rl.clv.BetaGeoFitter().fit(rep)
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-6)
    np.testing.assert_allclose(a.summary["se"], b.summary["se"], rtol=1e-4)
    # a `weight` column is picked up
    c = rl.clv.BetaGeoFitter().fit(data.assign(weight=w))
    np.testing.assert_allclose(c.params_, a.params_, rtol=1e-8)


def test_penalizer_shrinks_parameters(cdnow_sample):
    s = rl.features.rfm_summary(cdnow_sample, "1997-09-30", freq="D", freq_multiplier=7)
    p0 = rl.clv.BetaGeoFitter().fit(s).params_
    p1 = rl.clv.BetaGeoFitter(penalizer_coef=0.1).fit(s).params_
    p2 = rl.clv.BetaGeoFitter(penalizer_coef=10).fit(s).params_
    assert (p1.sum() < p0.sum()) and (p2.sum() < p1.sum())
    with pytest.raises(ValueError):
        rl.clv.BetaGeoFitter(penalizer_coef=-1)


@pytest.mark.parametrize("column, value, rule", [
    ("frequency", -1, "frequency >= 0"),
    ("recency", 50.0, "0 <= recency <= T"),
    ("T", -1.0, "T >= 0"),
    ("frequency", np.nan, "finite"),
    ("frequency", 1.5, "whole number"),
])
def test_bad_summary_raises_data_error(column, value, rule):
    data = pd.DataFrame({"frequency": [0.0, 2, 3], "recency": [0.0, 10, 20], "T": [30.0, 30, 30]})
    data.loc[1, column] = value
    with pytest.raises(rl.DataError, match=rule) as err:
        rl.clv.BetaGeoFitter().fit(data)
    assert err.value.column == column and err.value.n_rows == 1


@pytest.mark.parametrize("fitter", [rl.clv.BetaGeoFitter, rl.clv.ParetoNBDFitter])
def test_customers_first_seen_on_the_observation_end_add_nothing(fitter):
    """T == 0 (first purchase on the last day) is valid data whose likelihood term is 1."""
    tx = rl.datasets.load_cdnow()
    s = rl.features.rfm_summary(tx, "1997-09-30", freq="D", freq_multiplier=7)
    new = pd.DataFrame({"frequency": [0.0] * 3, "recency": [0.0] * 3, "T": [0.0] * 3})
    both = pd.concat([s[["frequency", "recency", "T"]], new], ignore_index=True)
    a, b = fitter().fit(s), fitter().fit(both)
    assert b.log_likelihood_ == pytest.approx(a.log_likelihood_, abs=1e-6)
    np.testing.assert_allclose(b.params_.to_numpy(), a.params_.to_numpy(), rtol=1e-4)
    assert np.isfinite(b.probability_alive(0, 0, 0))


def test_missing_column_and_empty_table():
    with pytest.raises(rl.DataError, match="missing column"):
        rl.clv.ParetoNBDFitter().fit(pd.DataFrame({"frequency": [1.0], "T": [3.0]}))
    with pytest.raises(rl.DataError, match="no customers"):
        rl.clv.BetaGeoFitter().fit(pd.DataFrame({"frequency": [], "recency": [], "T": []}))
    with pytest.raises(rl.DataError, match="recency == 0 when frequency == 0"):
        rl.clv.BetaGeoFitter().fit([0, 1], [2.0, 1.0], [5.0, 5.0])


def test_degenerate_data_warns_instead_of_silent_nan():
    # nobody ever came back: the dropout process is not identified
    data = pd.DataFrame({"frequency": np.zeros(200), "recency": np.zeros(200),
                         "T": np.linspace(10, 40, 200)})
    with pytest.warns(rl.clv.ConvergenceWarning):
        m = rl.clv.BetaGeoFitter().fit(data)
    assert np.all(np.isfinite(m.params_))


def test_gamma_gamma_rejects_bad_spend():
    with pytest.raises(rl.DataError, match="monetary_value > 0"):
        rl.clv.GammaGammaFitter().fit([1, 2, 3, 4], [10.0, 0.0, 5.0, 7.0])
    with pytest.raises(rl.DataError, match="at least 3"):
        rl.clv.GammaGammaFitter().fit([0, 0, 2], [0.0, 0.0, 5.0])


def test_sbg_rejects_bad_counts():
    with pytest.raises(rl.DataError, match="non-increasing"):
        rl.clv.ShiftedBetaGeoFitter().fit(survivors=[1000, 700, 800])
    with pytest.raises(rl.DataError, match="no customer churned"):
        rl.clv.ShiftedBetaGeoFitter().fit(survivors=[100, 100, 100])
    with pytest.raises(TypeError):
        rl.clv.ShiftedBetaGeoFitter().fit()


def test_unfitted_model_raises_and_print_summary(capsys, cdnow_sample):
    with pytest.raises(RuntimeError, match="not fitted"):
        rl.clv.BetaGeoFitter().probability_alive(1, 1, 2)
    s = rl.features.rfm_summary(cdnow_sample, "1997-09-30", freq="D", freq_multiplier=7)
    m = rl.clv.BetaGeoFitter().fit(rl.features.collapse_summary(s))
    m.print_summary()
    out = capsys.readouterr().out
    assert "BG/NBD" in out and "2,357 (" in out and "-9582.429" in out
    assert "r: 0.243" in repr(m)
