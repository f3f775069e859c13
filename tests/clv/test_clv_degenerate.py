"""Degenerate BTYD summaries and boundary fits (issue 20, "Numbers that are really failures").

* A summary from which nothing can be estimated is a ``DataError`` naming the column, the rule
  and the count: every customer first seen on the observation end (``T = 0``: BG/NBD used to
  predict −inf purchases, Pareto/NBD 12.8 purchases for customers observed for 0 days), or no
  repeat purchase at all (BG/NBD used to predict ±inf).
* A customer with ``T = 0`` among others is valid: their prediction is the unconditional one of
  a customer just acquired. Oracle: the expectation of the individual-level model integrated
  numerically over the mixing distributions (no 2F1 involved).
* An estimate that runs to the boundary of the parameter space is flagged
  (``at_boundary_``, ``summary.attrs['at_boundary']``), its se / interval / p-value are NaN and a
  ``BoundaryWarning`` is emitted — data built in the test where dropout is not identified
  (one group of customers never drops out).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import retention_lab as rl
from retention_lab.errors import BoundaryWarning, RetentionLabWarning

# Fader, Hardie & Lee (2005) CDNOW estimates (weeks), used as given parameters
BG = dict(r=0.243, alpha=4.414, a=0.793, b=2.426)
PNBD = dict(r=0.553, alpha=10.578, s=0.606, beta=11.669)


def _summary(x, T):
    x, T = np.asarray(x, float), np.asarray(T, float)
    return pd.DataFrame({"frequency": x, "recency": np.where(x > 0, T / 2, 0.0), "T": T})


@pytest.mark.parametrize("fitter", [rl.clv.BetaGeoFitter, rl.clv.ParetoNBDFitter])
def test_everyone_observed_for_no_time_is_a_data_error(fitter):
    data = _summary(np.zeros(50), np.zeros(50))
    with pytest.raises(rl.DataError, match="some customer with T > 0") as err:
        fitter().fit(data)
    assert (err.value.table, err.value.column, err.value.n_rows) == ("summary", "T", 50)


@pytest.mark.parametrize("fitter", [rl.clv.BetaGeoFitter, rl.clv.ParetoNBDFitter])
def test_no_repeat_purchase_at_all_is_a_data_error(fitter):
    data = _summary(np.zeros(80), np.linspace(1, 40, 80))
    with pytest.raises(rl.DataError, match="some customer with frequency > 0") as err:
        fitter().fit(data)
    assert (err.value.column, err.value.rule, err.value.n_rows) == (
        "frequency", "some customer with frequency > 0", 80)
    # a zero-weight row with a repeat purchase does not count
    w = np.r_[np.ones(80), 0.0]
    data = pd.concat([data, _summary([3], [30])], ignore_index=True).assign(weight=w)
    with pytest.raises(rl.DataError, match="frequency > 0"):
        fitter().fit(data)


def test_bgbb_degenerate_tables_are_data_errors():
    none = pd.DataFrame({"frequency": [0, 0], "recency": [0, 0], "n_periods": [6, 6],
                         "weights": [10, 5]})
    with pytest.raises(rl.DataError, match="some customer with frequency > 0") as err:
        rl.clv.BetaGeoBetaBinomFitter().fit(none)
    assert err.value.table == "bgbb data" and err.value.n_rows == 2
    zero = none.assign(n_periods=0)
    with pytest.raises(rl.DataError, match="some customer with n_periods > 0") as err:
        rl.clv.BetaGeoBetaBinomFitter().fit(zero)
    assert err.value.column == "n_periods"


def _bg_unconditional(t, r, alpha, a, b):
    """E[X(t)] of a new BG/NBD customer: E[(1 − e^{−λpt})/p] over λ ~ Gamma(r, α),
    p ~ Beta(a, b); the λ integral is (α/(α+pt))^r, the p integral numerical."""
    f = lambda p: (-np.expm1(r * np.log(alpha / (alpha + p * t))) / p  # noqa: E731
                   * stats.beta.pdf(p, a, b))
    return integrate.quad(f, 0, 1, limit=200, epsabs=0, epsrel=1e-11)[0]


def _pnbd_unconditional(t, r, alpha, s, beta):
    """E[X(t)] of a new Pareto/NBD customer: E[λ] E[(1 − e^{−μt})/μ], μ ~ Gamma(s, β)."""
    f = lambda mu: -np.expm1(-mu * t) / mu * stats.gamma.pdf(mu, s, scale=1 / beta)  # noqa
    return r / alpha * integrate.quad(f, 0, np.inf, limit=200, epsabs=0, epsrel=1e-11)[0]


def test_a_customer_first_seen_today_gets_the_unconditional_prediction():
    bg = rl.clv.BetaGeoFitter()
    bg.params_ = pd.Series(BG)
    pn = rl.clv.ParetoNBDFitter()
    pn.params_ = pd.Series(PNBD)
    for t in (1.0, 13.0, 52.0):
        assert float(bg.expected_purchases(t, 0, 0, 0)) == pytest.approx(
            _bg_unconditional(t, **BG), rel=1e-8)
        assert float(pn.expected_purchases(t, 0, 0, 0)) == pytest.approx(
            _pnbd_unconditional(t, **PNBD), rel=1e-8)
    assert float(bg.probability_alive(0, 0, 0)) == 1.0
    assert float(pn.probability_alive(0, 0, 0)) == pytest.approx(1.0, abs=1e-12)


def test_fit_with_some_customers_first_seen_today(cdnow_sample):
    summary = rl.features.rfm_summary(cdnow_sample, observation_end="1997-09-30", freq="W")
    new = pd.DataFrame({"frequency": [0.0] * 5, "recency": 0.0, "T": 0.0, "monetary_value": 0.0},
                       index=pd.Index([f"new{i}" for i in range(5)], name=summary.index.name))
    data = pd.concat([summary, new])
    for fitter, oracle in ((rl.clv.BetaGeoFitter, _bg_unconditional),
                           (rl.clv.ParetoNBDFitter, _pnbd_unconditional)):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RetentionLabWarning)
            m = fitter().fit(data)
        assert not m.at_boundary_.any()
        got = m.expected_purchases(26.0, data["frequency"], data["recency"], data["T"])
        assert np.all(np.isfinite(got)) and np.all(got >= 0)
        assert got[-1] == pytest.approx(oracle(26.0, *m.params_.to_numpy()), rel=1e-7)


# ---------------------------------------------------------------------------- boundary fits
def _simulate_bgnbd(n, p, rng, r=0.8, alpha=8.0, T=52.0):
    """BG/NBD customers with given per-customer dropout probabilities ``p``."""
    lam = rng.gamma(r, 1 / alpha, n)
    rows = []
    for lam_i, p_i in zip(lam, p):
        t = tx = 0.0
        x = 0
        while True:
            t += rng.exponential(1 / lam_i)
            if t > T:
                break
            x, tx = x + 1, t
            if rng.random() < p_i:
                break
        rows.append((x, tx, T))
    return pd.DataFrame(rows, columns=["frequency", "recency", "T"], dtype=float)


@pytest.fixture(scope="module")
def never_drop_out():
    """Group 0 never drops out (p = 0: the dropout parameter a runs to 0), group 1 does
    (p ~ Beta(1, 4))."""
    rng = np.random.default_rng(7)
    g0 = _simulate_bgnbd(1000, np.zeros(1000), rng)
    g1 = _simulate_bgnbd(1000, rng.beta(1.0, 4.0, 1000), rng)
    data = pd.concat([g0, g1], ignore_index=True)
    data.index.name = "customer_id"
    cov = pd.DataFrame({"channel": np.r_[np.zeros(1000), np.ones(1000)]}, index=data.index)
    return g0, data, cov


def test_plain_fit_at_the_boundary_is_flagged(never_drop_out):
    g0, _, _ = never_drop_out
    with pytest.warns(BoundaryWarning, match=r"boundary.*\ba = "):
        m = rl.clv.BetaGeoFitter().fit(g0)
    assert m.params_["a"] < 1e-5                    # runs to 0: nobody drops out
    assert m.summary.attrs["at_boundary"] == {"r": False, "alpha": False, "a": True,
                                              "b": False}
    assert m.at_boundary_["a"] and not m.at_boundary_[["r", "alpha"]].any()
    assert m.summary.loc["a", ["se", "lower 95%", "upper 95%"]].isna().all()
    assert issubclass(BoundaryWarning, rl.clv.ConvergenceWarning)


def test_covariate_fit_at_the_boundary_has_no_p_value(never_drop_out):
    _, data, cov = never_drop_out
    with pytest.warns(BoundaryWarning, match="life.channel"):
        m = rl.clv.BetaGeoFitter().fit(data, covariates=cov, covariates_trans=[])
    assert m.params_["life.channel"] > 12              # runs to +inf
    assert m.at_boundary_["life.channel"]
    assert m.summary.attrs["at_boundary"]["life.channel"] is True
    assert np.isnan(m.summary.loc["life.channel", "p"])
    assert m.summary.loc["life.channel", ["se", "lower 95%", "upper 95%"]].isna().all()


def test_an_identified_fit_has_no_boundary_flag(cdnow_sample):
    summary = rl.features.rfm_summary(cdnow_sample, observation_end="1997-09-30", freq="W")
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoundaryWarning)
        m = rl.clv.BetaGeoFitter().fit(summary)
    assert m.summary.attrs["at_boundary"] == dict.fromkeys(["r", "alpha", "a", "b"], False)
    assert m.summary["se"].notna().all()


def test_homogeneous_dropout_runs_a_and_b_to_infinity_like_clvtools_apparel():
    """The issue's pattern (CLVTools' apparel data: a = 4.4e6, b = 3.2e7, life.Channel −14.6,
    'p = 0.0003', no warning): one channel's customers share one dropout probability (0.08: no
    heterogeneity, so a and b run to ∞ with a/(a+b) fixed), the other's vary (Beta(0.8, 8)); the
    shared lifetime coefficient runs to −∞ to bring the second back to finite a_i, b_i."""
    rng = np.random.default_rng(1)
    n = 2000
    g0 = _simulate_bgnbd(n, np.full(n, 0.08), rng, r=3.0, alpha=6.0, T=104.0)
    g1 = _simulate_bgnbd(n, rng.beta(0.8, 8.0, n), rng, r=3.0, alpha=6.0, T=104.0)
    data = pd.concat([g0, g1], ignore_index=True)
    data.index.name = "customer_id"
    cov = pd.DataFrame({"channel": np.r_[np.zeros(n), np.ones(n)]}, index=data.index)
    with pytest.warns(BoundaryWarning, match="life.channel"):
        m = rl.clv.BetaGeoFitter().fit(data, covariates=cov, covariates_trans=[])
    assert m.params_["a"] > 1e5 and m.params_["b"] > 1e6 and m.params_["life.channel"] < -12
    assert m.params_["a"] / (m.params_["a"] + m.params_["b"]) == pytest.approx(0.08, abs=0.01)
    assert m.at_boundary_[["a", "b", "life.channel"]].all()
    assert not m.at_boundary_[["r", "alpha"]].any()
    assert m.summary.loc[["a", "b", "life.channel"], ["se", "p"]].isna().all().all()


# ---------------------------------------------------------------------------- bootstrap draws
class _FailsAboveR(rl.clv.BetaGeoFitter):
    """A BG/NBD whose predictions are NaN when r exceeds a cut (a fake of a numerically failing
    parameter region)."""

    cut = np.inf

    def _expected_purchases_if_alive(self, t, x, T):
        out = super()._expected_purchases_if_alive(t, x, T)
        return out * np.nan if self.params_["r"] > self.cut else out


@pytest.mark.parametrize("z, refused", [(2.5, False), (0.0, True)])
def test_non_finite_bootstrap_draws_are_counted_and_refused_above_the_share(cdnow_sample, z,
                                                                            refused):
    summary = rl.features.rfm_summary(cdnow_sample, observation_end="1997-09-30", freq="W")
    m = _FailsAboveR().fit(summary)
    m.cut = m.params_["r"] + z * m.standard_errors_["r"]
    with pytest.warns(rl.clv.ConvergenceWarning, match=r"of 400 bootstrap draws") as rec:
        res = rl.clv.customer_lifetime_value(m, 1.0, summary, horizon=12, n_draws=400, seed=3)
    n_bad = res.settings["n_nonfinite_draws"]
    assert 0 < n_bad < 400
    assert f"{n_bad} of 400" in str(rec[0].message) and f"{n_bad} of 400" in res.method
    assert (n_bad > 0.05 * 400) == refused
    assert np.isnan(res.total_ci[0]) == refused
    assert np.isfinite(res.total)


def test_clv_of_a_fit_at_the_boundary_has_no_interval(cdnow_sample):
    """A fit flagged at the boundary with a finite covariance (made by hand here: the flag set
    on an ordinary fit) gets CLV point estimates without intervals, like a fit without a
    covariance, and a BoundaryWarning."""
    import copy
    summary = rl.features.rfm_summary(cdnow_sample, observation_end="1997-09-30", freq="W")
    bg = rl.clv.BetaGeoFitter().fit(summary)
    ok = rl.clv.customer_lifetime_value(bg, 1.0, summary, horizon=6, n_draws=50)
    flagged = copy.copy(bg)
    flagged.at_boundary_ = bg.at_boundary_.copy()
    flagged.at_boundary_["b"] = True
    with pytest.warns(BoundaryWarning, match=r"BetaGeoFitter \(b\) at the boundary"):
        res = rl.clv.customer_lifetime_value(flagged, 1.0, summary, horizon=6, n_draws=50)
    assert res.total == pytest.approx(ok.total, rel=1e-12)
    assert np.isnan(res.total_ci).all() and np.isfinite(ok.total_ci).all()
    assert res.method == "point estimate only (at the boundary: BetaGeoFitter (b))"
