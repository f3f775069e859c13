"""Pareto/NBD with time-varying covariates (retention_lab.clv.covariates_tv).

Oracles: (1) with covariates constant over time the model is the static-covariate model —
same likelihood at any parameter point, same fit, same predictions; (2) a brute-force
likelihood: each customer's individual-level likelihood (purchase times of a Poisson process
with intensity λ·a(t), exponential-hazard lifetime μ·c(t), both piecewise constant by week) in
closed form per week for given (λ, μ), integrated numerically over the two gamma distributions
on a dense grid. Recovery over 200 seeds: tests/clv/test_static_covariates_slow.py.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import roots_legendre

import retention_lab as rl
from clv_covariates_sim import ORIGIN, simulate_dynamic
from retention_lab.clv.covariates import pnbd_loglik_rows
from retention_lab.clv.covariates_tv import (
    DynamicData,
    TimeVaryingParetoNBDFitter,
    dynamic_loglik_terms,
    membership_covariates,
)


def _grid(lo, hi, n):
    u, w = roots_legendre(n)
    return (hi - lo) / 2 * u + (hi + lo) / 2, (hi - lo) / 2 * w


def week_intervals(kb, flags, T):
    """The age intervals (weeks since the first purchase, made on day 2 of week ``kb``) of the
    calendar weeks kb, kb+1, …: week j covers days [7j, 7j+7), day d the ages
    ((d − d0 − 1)/7, (d − d0)/7] (a purchase on day d sits at the end of its day), clipped to
    [0, T]; returns (lo, hi, flag of each interval)."""
    d0 = 7 * kb + 2
    j = kb + np.arange(len(flags))
    lo = np.maximum(7 * j - d0 - 1, 0) / 7
    hi = np.minimum((7 * j + 6 - d0) / 7, T)
    keep = hi > lo
    return lo[keep], hi[keep], np.asarray(flags, float)[keep]


def brute_loglik(r, alpha, s, beta, purchase_ages, lo, hi, a, c, n=700):
    """log ∫∫ L(purchases | λ, μ) dGamma(λ) dGamma(μ) with the purchase multiplier ``a`` and the
    dropout multiplier ``c`` constant on the age intervals [lo_j, hi_j) (tiling [0, T]);
    ``purchase_ages``: the repeat purchases' exact ages."""
    lu, wl = _grid(-90, 8, n)
    mv, wm = _grid(-90, 8, n)
    lam, mu = np.exp(lu)[:, None], np.exp(mv)[None, :]
    x = len(purchase_ages)
    tx = max(purchase_ages) if x else 0.0
    A = np.r_[0, np.cumsum(a * (hi - lo))]
    C = np.r_[0, np.cumsum(c * (hi - lo))]
    alive = np.exp(-lam * A[-1] - mu * C[-1])
    dead = 0.0
    for j in range(len(lo)):   # death inside interval j, after the last purchase
        if hi[j] <= tx:
            continue
        off = max(lo[j], tx) - lo[j]
        h = hi[j] - lo[j] - off
        k = lam * a[j] + mu * c[j]
        dead = dead + (mu * c[j] * np.exp(-lam * (A[j] + a[j] * off) - mu * (C[j] + c[j] * off))
                       * -np.expm1(-k * h) / k)
    where = [int(np.searchsorted(hi, t, side="left")) for t in purchase_ages]
    prod_a = np.prod(a[where]) if x else 1.0
    ind = prod_a * lam ** x * (alive + dead)
    dens = (stats.gamma.pdf(lam, r, scale=1 / alpha) * lam
            * stats.gamma.pdf(mu, s, scale=1 / beta) * mu)
    return float(np.log(wl @ (ind * dens) @ wm))


def _world(histories):
    """Transactions and a weekly panel from {customer: (birth week, [repeat purchase weeks],
    [member flag per week from birth to the end])}; observation end = end of week 30."""
    rows, panel = [], []
    for cid, (kb, buys, flags) in histories.items():
        for k in [kb] + buys:
            rows.append((cid, ORIGIN + pd.Timedelta(days=7 * k + 2), 5.0))
        for j, f in enumerate(flags):
            panel.append((cid, ORIGIN + pd.Timedelta(days=7 * (kb + j)), f))
    tx = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    pan = pd.DataFrame(panel, columns=["customer_id", "period", "member"])
    return tx, pan, ORIGIN + pd.Timedelta(days=7 * 31 - 1)


HIST = {
    1: (0, [3, 9, 10], [0] * 5 + [1] * 26),        # enrols in week 5, buys before and after
    2: (4, [], [0] * 27),                          # never buys again, never enrols
    3: (10, [12, 30], [0, 0, 1, 1] + [0] * 5 + [1] * 12),  # on, off, on again; buys at the end
    4: (20, [21, 22, 23, 25], [1] * 11),            # a member from the first week
}


@pytest.mark.parametrize("theta", [(0.6, 9.0, 0.7, 12.0, 0.5, -0.4), (1.4, 3.0, 0.3, 40.0, -0.3, 0.8),
                                   (0.3, 20.0, 2.0, 5.0, 1.0, 0.0)])
def test_dynamic_likelihood_equals_brute_force(theta):
    tx, pan, end = _world(HIST)
    d = DynamicData(tx, pan, end, "W")
    th = np.r_[np.log(theta[:4]), theta[4:]]
    ll = dynamic_loglik_terms(th, d)[0]
    r, alpha, s, beta, gt, gl = theta
    for i, cid in enumerate(d.ids):
        kb, buys, flags = HIST[cid]
        lo, hi, f = week_intervals(kb, flags, (216 - 7 * kb - 2) / 7)
        want = brute_loglik(r, alpha, s, beta, [b - kb for b in buys], lo, hi,
                            np.exp(gt * f), np.exp(gl * f))
        assert ll[i] == pytest.approx(want, abs=1e-6), cid


@pytest.fixture(scope="module")
def constant_world():
    """Weekly transactions whose covariates never change within a customer."""
    tx, panel, end = simulate_dynamic(800, (0.8, 8.0, 0.7, 20.0), {}, {}, weeks=60, seed=3,
                                      p_member=0.0)
    rng = np.random.default_rng(4)
    z = pd.Series(rng.normal(size=800), index=np.arange(800))
    panel["z"] = z.reindex(panel["customer_id"]).to_numpy()
    panel = panel.drop(columns="member")
    # exact purchase days, ages in weeks (the time-varying model's event times)
    summ = rl.features.rfm_summary(tx, end, freq="D")[["frequency", "recency", "T"]] \
        .assign(recency=lambda f: f["recency"] / 7, T=lambda f: f["T"] / 7)
    return tx, panel, end, summ, z.reindex(summ.index).to_frame("z")


def test_constant_covariates_equal_the_static_model(constant_world):
    tx, panel, end, summ, cov = constant_world
    # the static model's summary counts purchase days: the same events
    d = DynamicData(tx, panel, end, "W", events="days")
    assert (d.summary().to_numpy() == summ[["frequency", "recency", "T"]].to_numpy()).all()
    zi = cov["z"].to_numpy()
    for th in ([0.6, 9.0, 0.7, 12.0, 0.5, -0.4], [1.2, 4.0, 0.4, 30.0, -0.2, 0.7]):
        theta = np.r_[np.log(th[:4]), th[4:]]
        dyn = dynamic_loglik_terms(theta, d)[0]
        st = pnbd_loglik_rows(th[0], th[2], th[1] * np.exp(-th[4] * zi),
                              th[3] * np.exp(-th[5] * zi), summ["frequency"].to_numpy(float),
                              summ["recency"].to_numpy(float), summ["T"].to_numpy(float))
        np.testing.assert_allclose(dyn, st, rtol=1e-10, atol=1e-10)
    # per-customer scores (the sandwich's ingredients) against the static model's analytic
    # per-row gradient, chain rule α_i = α e^{-γ_t z}, β_i = β e^{-γ_l z}
    th = [0.6, 9.0, 0.7, 12.0, 0.5, -0.4]
    theta = np.r_[np.log(th[:4]), th[4:]]
    ai, bi = th[1] * np.exp(-th[4] * zi), th[3] * np.exp(-th[5] * zi)
    _, g = pnbd_loglik_rows(th[0], th[2], ai, bi, summ["frequency"].to_numpy(float),
                            summ["recency"].to_numpy(float), summ["T"].to_numpy(float),
                            grad=True)
    want = np.column_stack([th[0] * g[:, 0], ai * g[:, 1], th[2] * g[:, 2], bi * g[:, 3],
                            -zi * ai * g[:, 1], -zi * bi * g[:, 3]])
    np.testing.assert_allclose(TimeVaryingParetoNBDFitter()._score_rows(theta, d), want,
                               rtol=1e-5, atol=1e-7)
    tv = TimeVaryingParetoNBDFitter().fit(tx, panel, end, se="model", events="days")
    static = rl.clv.ParetoNBDFitter().fit(summ, covariates=cov)
    np.testing.assert_allclose(tv.params_.to_numpy(), static.params_.to_numpy(), rtol=2e-5,
                               atol=2e-6)
    assert tv.log_likelihood_ == pytest.approx(static.log_likelihood_, abs=1e-6)
    np.testing.assert_allclose(tv.summary["se"], static.summary["se"], rtol=1e-3)
    # predictions: the future path held at each customer's (constant) covariate
    pa = static.probability_alive(summ["frequency"], summ["recency"], summ["T"])
    ep = static.expected_purchases(26, summ["frequency"], summ["recency"], summ["T"])
    tv_static_params = tv._with_params(static.params_.to_numpy())
    np.testing.assert_allclose(tv_static_params.probability_alive(), pa, rtol=1e-9)
    np.testing.assert_allclose(tv_static_params.expected_purchases(26), ep, rtol=1e-9)
    np.testing.assert_allclose(tv_static_params.expected_purchases(26, future=cov), ep,
                               rtol=1e-9)


def test_membership_table_from_enrolment_dates():
    customers = pd.DataFrame({"customer_id": ["a", "b", "c"],
                              "enrolled_at": [pd.Timestamp("2021-01-13"), pd.NaT,
                                              pd.Timestamp("2021-01-04")]})
    tab = membership_covariates(customers, "2021-01-04", "2021-01-31", freq="W")
    wide = tab.pivot(index="customer_id", columns="period", values="member")
    assert wide.shape == (3, 4)
    # a: enrols on a Wednesday of week 2 -> member from week 3 (the enrolment purchase is a
    # non-member's); b never; c enrols on the first Monday -> member from week 2
    assert wide.loc["a"].tolist() == [0, 0, 1, 1]
    assert wide.loc["b"].tolist() == [0, 0, 0, 0]
    assert wide.loc["c"].tolist() == [0, 1, 1, 1]
    same = membership_covariates(customers, "2021-01-04", "2021-01-31", from_next_period=False)
    assert same.pivot(index="customer_id", columns="period", values="member").loc["a"].tolist() \
        == [0, 1, 1, 1]
    with pytest.raises(rl.DataError, match="enrolled_at"):
        membership_covariates(customers[["customer_id"]], "2021-01-04", "2021-01-31")


def test_missing_panel_periods_are_a_data_error():
    tx, pan, end = _world(HIST)
    with pytest.raises(rl.DataError, match="lack rows"):
        DynamicData(tx, pan.iloc[3:], end, "W")
    with pytest.raises(rl.DataError, match="duplicate"):
        DynamicData(tx, pd.concat([pan, pan.iloc[:1]]), end, "W")


def test_membership_effect_and_future_paths():
    tx, panel, end = simulate_dynamic(3000, (0.8, 8.0, 0.7, 30.0), {"member": 0.5},
                                      {"member": -0.5}, seed=11)
    m = TimeVaryingParetoNBDFitter().fit(tx, panel, end)
    s = m.summary
    assert s.loc["trans.member", "lower 95%"] < 0.5 < s.loc["trans.member", "upper 95%"]
    on = m.expected_purchases(52, future={"member": 1.0})
    off = m.expected_purchases(52, future={"member": 0.0})
    assert (on > off).all()
    res_on = m.customer_lifetime_value(10.0, horizon=12, future={"member": 1.0}, n_draws=40)
    res_off = m.customer_lifetime_value(10.0, horizon=12, future={"member": 0.0}, n_draws=40)
    assert res_on.mean > res_off.mean
    assert res_on.mean_ci[0] < res_on.mean < res_on.mean_ci[1]


def test_compact_change_table_gives_the_dense_panels_fit():
    tx, panel, end = simulate_dynamic(600, (0.8, 8.0, 0.7, 20.0), {"member": 0.4},
                                      {"member": -0.3}, weeks=60, seed=5)
    # the same membership as a table of changes only (first row before every first purchase)
    wide = panel.pivot(index="customer_id", columns="period", values="member")
    change = wide.diff(axis=1).ne(0)
    change.iloc[:, 0] = True
    compact = wide.where(change).stack().rename("member").reset_index()
    dense = TimeVaryingParetoNBDFitter().fit(tx, panel, end)
    sparse = TimeVaryingParetoNBDFitter().fit(tx, compact, end, fill="forward")
    np.testing.assert_allclose(sparse.params_, dense.params_, rtol=1e-10)
    with pytest.raises(rl.DataError, match="lack rows"):
        TimeVaryingParetoNBDFitter().fit(tx, compact, end)       # gaps without fill
    customers = pd.DataFrame({"customer_id": ["a", "b"],
                              "enrolled_at": [pd.Timestamp("2021-01-13"), pd.NaT]})
    c = membership_covariates(customers, "2021-01-04", "2021-03-31", compact=True)
    d = membership_covariates(customers, "2021-01-04", "2021-03-31")
    assert c.attrs["fill"] == "forward" and len(c) == 3
    filled = (c.set_index(["customer_id", "period"])["member"].unstack()
              .reindex(columns=sorted(d["period"].unique())).ffill(axis=1))
    np.testing.assert_array_equal(filled.to_numpy(),
                                  d.pivot(index="customer_id", columns="period",
                                          values="member").to_numpy())


def test_analytic_gradient_matches_central_differences():
    from retention_lab.clv.covariates_tv import dynamic_loglik_grad
    tx, panel, end = simulate_dynamic(300, (0.8, 8.0, 0.7, 30.0), {"member": 0.4, "q4": 0.3},
                                      {"member": -0.5}, weeks=80, seed=2, season=True)
    d = DynamicData(tx, panel, end, "W")
    for th in ([0.6, 9.0, 0.7, 12.0, 0.5, -0.4, 0.2, 0.1], [0.5, 20.0, 1.5, 5.0, 0.1, 0.2, 0.0, -0.6]):
        t = np.r_[np.log(th[:4]), th[4:]]
        f, g = dynamic_loglik_grad(t, d)
        assert f == pytest.approx(dynamic_loglik_terms(t, d)[0].sum(), rel=1e-13)
        num = [(dynamic_loglik_terms(t + e, d)[0].sum() - dynamic_loglik_terms(t - e, d)[0].sum())
               / 2e-6 for e in np.eye(len(t)) * 1e-6]
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-6)


def test_fit_needs_only_customer_id_and_date():
    """The fitter's docstring asks for ``customer_id, date``: no ``amount`` column is needed
    (issue 20: it raised KeyError: 'amount'). Same fit with and without amounts."""
    import retention_lab as rl
    from retention_lab.clv import covariates_tv as tv
    e = rl.datasets.simulate_loyalty_experiment(n_customers=600, design="self_selected", seed=2)
    cov = tv.membership_covariates(e.customers, e.transactions["date"].min(), e.observation_end,
                                   freq="W", compact=True)
    a = tv.TimeVaryingParetoNBDFitter().fit(e.transactions[["customer_id", "date"]], cov,
                                            e.observation_end, fill="forward")
    b = tv.TimeVaryingParetoNBDFitter().fit(e.transactions, cov, e.observation_end,
                                            fill="forward")
    assert np.allclose(a.params_.to_numpy(float), b.params_.to_numpy(float))


@pytest.mark.parametrize("theta", [(0.6, 9.0, 0.7, 12.0, 0.5, -0.4), (1.4, 3.0, 0.3, 40.0, -0.3, 0.8)])
def test_same_day_orders_are_tied_events_against_brute_force(theta):
    """``events="orders"`` (default): a second order on a repeat-purchase day is a second
    purchase at the same age (brute force: the age listed twice); a second order on the first
    purchase day is not counted (it falls before age 0). ``events="days"`` counts each day
    once: the brute force of the de-duplicated history."""
    tx, pan, end = _world(HIST)
    dup = tx.iloc[[1, 5, 9]]            # customer 1's week-3 order, 3's first, 4's week-21
    assert dup["customer_id"].tolist() == [1, 3, 4]
    tx2 = pd.concat([tx, dup], ignore_index=True)
    extra = {1: [3], 3: [], 4: [21]}
    th = np.r_[np.log(theta[:4]), theta[4:]]
    ll = dynamic_loglik_terms(th, DynamicData(tx2, pan, end, "W"))[0]
    ll_days = dynamic_loglik_terms(th, DynamicData(tx2, pan, end, "W", events="days"))[0]
    ll_once = dynamic_loglik_terms(th, DynamicData(tx, pan, end, "W"))[0]
    assert ll_days == pytest.approx(ll_once, rel=1e-12)
    r, alpha, s, beta, gt, gl = theta
    for i, cid in enumerate(sorted(HIST)):
        kb, buys, flags = HIST[cid]
        lo, hi, f = week_intervals(kb, flags, (216 - 7 * kb - 2) / 7)
        ages = sorted(b - kb for b in buys + extra.get(cid, []))
        want = brute_loglik(r, alpha, s, beta, ages, lo, hi, np.exp(gt * f), np.exp(gl * f))
        assert ll[i] == pytest.approx(want, abs=1e-6), cid


def _with_copies(tx, panel, n_copies, seed=0):
    """The data with ``n_copies`` customers' histories (transactions and covariate rows)
    repeated under new ids: rows the compaction must merge."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(pd.unique(tx["customer_id"]), n_copies, replace=False)
    new = {c: 10_000 + i for i, c in enumerate(pick)}
    t2 = tx.loc[tx["customer_id"].isin(pick)].assign(
        customer_id=lambda f: f["customer_id"].map(new))
    p2 = panel.loc[panel["customer_id"].isin(pick)].assign(
        customer_id=lambda f: f["customer_id"].map(new))
    return (pd.concat([tx, t2], ignore_index=True), pd.concat([panel, p2], ignore_index=True))


@pytest.mark.parametrize("events", ["orders", "days"])
def test_distinct_rows_give_the_per_customer_likelihood(events):
    """Issue 22 item 3: the likelihood and gradient over distinct rows, weighted by the
    customers sharing them, equal the per-customer sums to 1e-10 relative at several
    parameter points (Pareto/NBD analytic gradient; BG/NBD per-row terms), on a simulated
    world with a season dummy and membership switches, daily purchase times, and 150 customer
    histories present twice; the fit's per-customer scores and estimates are unchanged."""
    from retention_lab.clv.covariates_tv import dynamic_loglik_grad
    from retention_lab.clv.covariates_tv_bg import bg_dynamic_loglik_terms
    tx, panel, end = simulate_dynamic(1500, (0.8, 8.0, 0.7, 20.0), {"member": 0.4, "q4": 0.3},
                                      {"member": -0.5}, weeks=60, seed=5, season=True)
    tx, panel = _with_copies(tx, panel, 150)
    d = DynamicData(tx, panel, end, "W", events=events)
    for purchases in (False, True):
        rows, inv = d.compact(purchases)
        assert rows.w.sum() == d.n and d.n - 150 >= rows.n and (inv >= 0).all()
        assert (rows.x[inv] == d.x).all() and (rows.T[inv] == d.T).all()
        for th in ([0.8, 8.0, 0.7, 20.0, 0.4, 0.3, -0.5, 0.0],
                   [1.5, 3.0, 0.3, 60.0, -0.6, 0.9, 1.2, -0.8],
                   [0.3, 25.0, 2.0, 5.0, 0.0, -0.2, 0.0, 0.5]):
            theta = np.r_[np.log(th[:4]), th[4:]]
            v, g = dynamic_loglik_grad(theta, d)
            vc, gc = dynamic_loglik_grad(theta, rows)
            assert vc == pytest.approx(v, rel=1e-10)
            np.testing.assert_allclose(gc, g, rtol=1e-10, atol=1e-10 * np.abs(g).max())
            b = bg_dynamic_loglik_terms(theta, d)[0]
            bc = bg_dynamic_loglik_terms(theta, rows)[0]
            np.testing.assert_allclose(bc[inv], b, rtol=1e-12)
            assert rows.w @ bc == pytest.approx(b.sum(), rel=1e-10)
    full = TimeVaryingParetoNBDFitter().fit(tx, panel, end, events=events, compact=False)
    fast = TimeVaryingParetoNBDFitter().fit(tx, panel, end, events=events)
    assert fast.n_distinct_rows_ < full.n_distinct_rows_ == d.n
    np.testing.assert_allclose(fast.params_, full.params_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(fast.standard_errors_, full.standard_errors_, rtol=1e-4)
    np.testing.assert_allclose(fast.scores_, full._score_rows(fast._theta, d), rtol=1e-6,
                               atol=1e-9)
