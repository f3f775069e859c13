"""BTYD fitters: likelihood correctness against independent numerical integration, numerical
stability, input validation, degenerate data, weights and the penalizer."""
from __future__ import annotations

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


def test_degenerate_data_is_refused_instead_of_silent_nan():
    # nobody ever came back: the dropout process is not identified (issue 20: the fit used to
    # warn and then predict ±inf); tests/clv/test_clv_degenerate.py has the other cases
    data = pd.DataFrame({"frequency": np.zeros(200), "recency": np.zeros(200),
                         "T": np.linspace(10, 40, 200)})
    with pytest.raises(rl.DataError, match="some customer with frequency > 0") as err:
        rl.clv.BetaGeoFitter().fit(data)
    assert (err.value.column, err.value.n_rows) == ("frequency", 200)


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


# ------------------------------------------------------------------ fitting the distinct rows
def _fit_every_row(fitter, summary):
    """The fit without merging identical rows: every customer its own likelihood term."""
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    fitter.time_unit_ = None
    return fitter._fit(fitter._prepare(x, tx, T), np.ones(len(x)), len(x))


@pytest.mark.parametrize("Fitter", [rl.clv.BetaGeoFitter, rl.clv.ParetoNBDFitter])
def test_fit_on_distinct_rows_is_the_per_customer_fit(Fitter, cdnow_sample):
    s = rl.features.rfm_summary(cdnow_sample, "1997-09-30", freq="D", freq_multiplier=7)
    n_distinct = len(rl.features.collapse_summary(s))
    m = Fitter().fit(s)
    assert m.n_customers_ == 2357 and m.n_rows_ == 2357 and m.n_distinct_rows_ == n_distinct
    assert n_distinct < 0.5 * 2357
    every = _fit_every_row(Fitter(), s)
    np.testing.assert_allclose(m.params_, every.params_, rtol=2e-6)
    np.testing.assert_allclose(m.summary["se"], every.summary["se"], rtol=1e-4)
    assert m.log_likelihood_ == pytest.approx(every.log_likelihood_, rel=1e-9)
    assert m.AIC_ == pytest.approx(every.AIC_, rel=1e-9)
    assert m.BIC_ == pytest.approx(every.BIC_, rel=1e-9)
    # the reported log-likelihood is the per-customer sum at the estimates
    x, tx, T = (s[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    per_customer = m._loglik(m.params_.to_numpy(), m._prepare(x, tx, T))
    assert m.log_likelihood_ == pytest.approx(per_customer.sum(), rel=1e-12)
    # a weighted table with duplicate rows merges too, to the same fit
    w = np.random.default_rng(0).integers(1, 3, len(s)).astype(float)
    dup = pd.concat([s.assign(weight=w), s.assign(weight=1.0)])
    a = Fitter().fit(dup)
    assert a.n_customers_ == w.sum() + 2357 and a.n_rows_ == 2 * 2357
    assert a.n_distinct_rows_ == n_distinct


def test_distinct_rows_maps_back_and_counts():
    from retention_lab.clv.base import distinct_rows
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, 1000).astype(float)
    t = rng.integers(0, 5, 1000) / 7.0
    w = rng.uniform(0, 2, 1000)
    (ux, ut), inv, counts = distinct_rows(x, t, weights=w)
    ref = np.unique(np.stack([x, t], 1), axis=0)
    np.testing.assert_array_equal(np.stack([ux, ut], 1), ref)
    np.testing.assert_array_equal(ux[inv], x)
    np.testing.assert_array_equal(ut[inv], t)
    np.testing.assert_allclose(counts, np.bincount(inv, weights=w), rtol=1e-15)
    assert distinct_rows(x, t)[2].sum() == 1000


# ------------------------------------------------------------------ Pareto/NBD analytic gradient
PNBD_POINTS = [(0.553, 10.578, 0.606, 11.669),   # published CDNOW estimates (alpha < beta)
               (0.55, 20.0, 0.61, 3.0),          # alpha > beta
               (2.0, 5.0, 1.5, 5.0),             # alpha == beta
               (0.3, 0.5, 1.2, 30.0),            # beta >> alpha: z near 1 for small u
               (0.3, 100.0, 1.2, 0.5),           # alpha >> beta: z > 0.95, the fallback rows
               (1.5, 3.0, 0.2, 2.9)]             # alpha just above beta


@pytest.fixture(scope="module")
def pnbd_rows():
    s = rl.features.rfm_summary(rl.datasets.load_cdnow(sample=True), "1997-09-30", freq="D",
                                freq_multiplier=7)
    c = rl.features.collapse_summary(s)
    x = np.r_[c["frequency"], 0, 1, 40, 3000, 5000, 7]
    tx = np.r_[c["recency"], 0, 39, 38, 20, 100, 5]      # includes t_x == T
    T = np.r_[c["T"], 39, 39, 39, 39, 2000, 39]
    return x.astype(float), tx.astype(float), T.astype(float)


@pytest.mark.parametrize("params", PNBD_POINTS)
def test_pareto_analytic_gradient_matches_central_differences(params, pnbd_rows):
    m = rl.clv.ParetoNBDFitter()
    d = m._prepare(*pnbd_rows)
    p = np.array(params)
    ll, g = m._loglik_grad(p, d)
    assert np.all(np.isfinite(ll)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(ll, m._loglik(p, d), rtol=1e-12, atol=1e-12)
    # per row, each parameter: central differences of the scipy-based log-likelihood
    for k in range(4):
        h = 1e-6 * p[k]
        up, down = p.copy(), p.copy()
        up[k] += h
        down[k] -= h
        num = (m._loglik(up, d) - m._loglik(down, d)) / (2 * h)
        # rounding error of the differences: ~eps·|ll|/h per row
        err = np.abs(g[:, k] - num) - 1e-8 * (1 + np.abs(ll)) / p[k]
        assert np.all(err <= 1e-6 * np.abs(num)), (k, np.max(err / np.abs(num)))


def test_pareto_series_matches_scipy_hyp2f1():
    from scipy.special import hyp2f1

    from retention_lab.clv.pareto_nbd import _hyp1_series
    rng = np.random.default_rng(0)
    b = rng.uniform(0.05, 50, 500)
    c = b + rng.uniform(0.05, 30, 500)
    z = rng.uniform(0, 0.95, 500)
    z[:3] = 0.0
    out = _hyp1_series(b, c, z)
    np.testing.assert_allclose(out[0], np.log(hyp2f1(1.0, b, c, z)), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(out[3], b / c * hyp2f1(2.0, b + 1, c + 1, z) / hyp2f1(1.0, b, c, z),
                               rtol=1e-12)
    h = 1e-6 * b
    num_b = (np.log(hyp2f1(1.0, b + h, c, z)) - np.log(hyp2f1(1.0, b - h, c, z))) / (2 * h)
    np.testing.assert_allclose(out[1], num_b, rtol=1e-6, atol=1e-9)
