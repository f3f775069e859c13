"""The rolling analysis' building blocks rewritten for scale (issue 22), against brute force.

* ``_history`` (purchase days by one sort of the keys) against a per-transaction loop into a
  dict of (customer, day) → spend;
* ``jackknife._gram`` (blocks of rows) against the sum of per-row outer products;
* ``_logit`` (Newton with the blocked Hessian) against a direct maximisation of the same
  penalised likelihood by scipy (BFGS on the negative log-likelihood, its own gradient);
* the completion's retention probabilities (closed forms in the rates, one Gauss quadrature)
  against scipy's adaptive quadrature of the models' defining integrals;
* the jackknife's leverage check (trace bound) against numpy's eigenvalues, and the DR means
  with one regression shared by the model-uncertainty term against literal lstsq fits.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize
from scipy.special import betaln, gammaln, hyp1f1

import retention_lab as rl
from retention_lab.impact.rolling import (
    completion,
    gcomputation as gc,
    inference,
    jackknife,
    trials as tr,
)
from retention_lab.impact.rolling.completion import QuadratureParetoNBD


def test_history_matches_a_per_transaction_loop():
    rng = np.random.default_rng(3)
    n_cust, n_tx, K = 40, 600, 400
    code = rng.integers(0, n_cust - 3, n_tx)          # the last 3 customers buy nothing
    day = rng.integers(0, 60, n_tx)                    # many same-day lines
    amount = np.round(rng.gamma(2.0, 20.0, n_tx), 2)
    signup = np.where(rng.random(n_cust) < 0.5, rng.integers(0, 80, n_cust), np.nan)
    H = tr._history(code, day, amount, n_cust, signup.astype(float), K)
    ref = {}
    for c, d, a in zip(code, day, amount):
        ref[(int(c), int(d))] = ref.get((int(c), int(d)), 0.0) + float(a)
    keys = sorted(ref)
    assert list(zip(H.code.tolist(), H.day.tolist())) == keys
    np.testing.assert_allclose(np.diff(H.c_spend), [ref[k] for k in keys], rtol=1e-12)
    np.testing.assert_array_equal(np.diff(H.c_orders), 1.0)
    for c in range(n_cust):
        days = [d for (cc, d) in keys if cc == c]
        first = min(days) if days else np.nan
        if np.isfinite(signup[c]):
            first = np.fmin(first, signup[c])
        assert (np.isnan(first) and np.isnan(H.first[c])) or H.first[c] == first
        if days:
            assert H.start[c] == keys.index((c, min(days)))


def test_weighted_gram_matches_the_sum_of_outer_products(monkeypatch):
    rng = np.random.default_rng(4)
    X = np.asfortranarray(rng.normal(size=(1000, 5)))
    w = rng.random(1000)
    ref = sum(w[i] * np.outer(X[i], X[i]) for i in range(len(X)))
    monkeypatch.setattr(jackknife, "CHUNK", 64)
    np.testing.assert_allclose(jackknife._gram(X, w), ref, rtol=1e-12)


def penalised_logit_problem(seed: int, n: int, intercept: float, ridge: float = 1e-4):
    """``(X, y, ridge, β̂)``: a simulated logit with an intercept, three normal and two binary
    covariates, and the maximum of its ridge-penalised likelihood (intercept unpenalised) by
    scipy's BFGS — the oracle of the propensity fits (``hazard._logit``)."""
    rng = np.random.default_rng(seed)
    X = np.c_[np.ones(n), rng.normal(size=(n, 3)), (rng.random((n, 2)) < 0.3).astype(float)]
    b_true = np.array([intercept, 0.8, -0.4, 0.2, 0.6, 0.0])
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ b_true)))).astype(float)
    pen = np.full(X.shape[1], ridge * n)
    pen[0] = 0.0

    def nll(b):
        eta = X @ b
        return np.sum(np.logaddexp(0, eta) - y * eta) + 0.5 * np.sum(pen * b ** 2)

    def grad(b):
        return X.T @ (1 / (1 + np.exp(-(X @ b))) - y) + pen * b
    ref = optimize.minimize(nll, np.zeros(X.shape[1]), jac=grad, method="BFGS",
                            options={"gtol": 1e-10, "maxiter": 2000}).x
    return X, y, ridge, ref


def test_logit_matches_a_direct_maximisation_of_the_penalised_likelihood():
    X, y, ridge, ref = penalised_logit_problem(5, 4000, -1.5)
    np.testing.assert_allclose(tr._logit(X, y, ridge=ridge), ref, rtol=1e-6, atol=1e-8)


# the completion's retention probabilities (issue 22): closed forms in the rates plus one
# Gauss quadrature, against adaptive quadrature of the model's defining double integral
RET_ROWS = [  # x, T, gap, R: typical, no repeat purchase, heavy buyer, short history, long gap
    (3.0, 200.0, 40.0, 90.0), (0.0, 30.0, 300.0, 90.0), (60.0, 900.0, 364.0, 90.0),
    (1.0, 1.0, 1.0, 90.0), (12.0, 400.0, 364.0, 365.0),
    # a long gap after a recent first purchase: with a small α the integrand in p (or in the
    # log first-purchase time) is steep and the rules add nodes (z = (gap + R)/(α + T) to 450)
    (0.0, 0.0, 364.0, 90.0), (2.0, 3.0, 200.0, 90.0), (50.0, 60.0, 364.0, 90.0)]


def _gamma_pdf(k, rate):
    return lambda v: np.exp(k * np.log(rate) + (k - 1) * np.log(v) - rate * v - gammaln(k))


@pytest.mark.parametrize("par", [(1.3, 38.0, 1.2, 20.0), (0.4, 5.0, 0.3, 0.8),
                                 (2.0, 92.6, 1.1e-7, 3.1e4),    # no dropout
                                 (1.0, 1.0, 1.0, 1.0), (5.0, 2.0, 3.0, 0.5)])   # small α
def test_bgnbd_retention_matches_adaptive_quadrature(par):
    """``_bgnbd_retention`` (λ in closed form, Gauss–Jacobi over p) against scipy's adaptive
    quadrature over λ ~ Gamma(r + x, α + T) of E_p[e^{−λ p gap}] = 1F1(a; a + b + x; −λ gap)
    times 1 − e^{−λ R}, times the model's P(alive)."""
    r, alpha, a, b = par

    class Fixed:
        params_ = pd.Series({"r": r, "alpha": alpha, "a": a, "b": b})

        def probability_alive(self, x, tx, T):
            return np.full(np.shape(x), 0.7)
    x, T, gap, R = (np.array(c) for c in zip(*RET_ROWS))
    got = gc._bgnbd_retention(Fixed(), x, T, gap, R)
    for i in range(len(x)):
        dens = _gamma_pdf(r + x[i], alpha + T[i])
        ref = integrate.quad(lambda lam: dens(lam) * hyp1f1(a, a + b + x[i], -lam * gap[i]) *
                             -np.expm1(-lam * R[i]), 0, np.inf, epsabs=0, epsrel=1e-12,
                             limit=400)[0]
        assert got[i] == pytest.approx(0.7 * ref, rel=1e-8), RET_ROWS[i]


@pytest.mark.parametrize("par", [(1.5, 47.0, 0.76, 529.0), (0.5, 10.0, 1e6, 1e6 * 300.0),
                                 (3.0, 1.0, 2.0, 30.0)])
def test_pnbd_retention_matches_adaptive_quadrature(par):
    """``_pnbd_retention`` (both rates in closed form under one Gauss–Legendre integral over the
    first purchase time) against scipy's adaptive quadrature: the first-purchase-before-dropout
    probability λ/(λ+μ)(1 − e^{−(λ+μ)R}) e^{−μ gap} integrated over μ ~ Gamma(s, β + T) (inner)
    and λ ~ Gamma(r + x, α + T) (outer) on the first five rows; the second set has s at the
    fitter's homogeneous bound (μ ≈ 1/300 for everyone), where the μ-integral is replaced by its
    limit μ = s/β. The steep rows (small α + T, the last three rows and the third set) against
    adaptive quadrature in calendar time t of the first-purchase density
    (k/A)(A/(A+t))^{k+1}(B/(B+gap+t))^s (the nested quadrature takes tens of seconds there;
    the closed forms are the ones checked by the nested rows and by test_rolling's Monte
    Carlo)."""
    r, alpha, s, beta = par

    class Fixed(QuadratureParetoNBD):
        params_ = pd.Series({"r": r, "alpha": alpha, "s": s, "beta": beta})
    x, T, gap, R = (np.array(c) for c in zip(*RET_ROWS))
    got = gc._pnbd_retention(Fixed(), x, T, gap, R)
    for i in range(len(x)):
        k, A, B = r + x[i], alpha + T[i], beta + T[i]
        if i >= 5 or alpha < 5:
            ref = integrate.quad(lambda t: k / A * (A / (A + t)) ** (k + 1)
                                 * (B / (B + gap[i] + t)) ** s, 0, R[i], epsabs=0,
                                 epsrel=1e-12, limit=400)[0]
        else:
            dl = _gamma_pdf(k, A)

            def given_lam(lam):
                def f(mu):
                    return (np.exp(-mu * gap[i]) * lam / (lam + mu)
                            * -np.expm1(-(lam + mu) * R[i]))
                if s > 1e5:
                    return f(s / B)
                dm = _gamma_pdf(s, B)
                return integrate.quad(lambda mu: dm(mu) * f(mu), 0, np.inf, epsabs=0,
                                      epsrel=1e-10, limit=100)[0]
            ref = integrate.quad(lambda lam: dl(lam) * given_lam(lam), 0, np.inf, epsabs=0,
                                 epsrel=1e-10, limit=100)[0]
        alive = Fixed().probability_alive(x[i:i + 1], T[i:i + 1], T[i:i + 1])[0]
        assert got[i] == pytest.approx(alive * ref, rel=1e-8 if s < 1e5 or i >= 5 else 1e-5), \
            RET_ROWS[i]


@pytest.mark.parametrize("a,b", [(1.2, 20.0), (0.3, 1.8), (5.0, 0.5), (1e-7, 3e4)])
def test_beta_nodes_integrate_beta_moments_exactly(a, b):
    """Gauss quadrature of Beta(a, b) with n nodes is exact for polynomials of degree 2n − 1:
    the first moments against B(a + j, b) / B(a, b); also where scipy's roots_jacobi overflows
    (a BG/NBD fit without dropout: a → 0, b ≈ 3e4; there the moments are below 1e-11 and
    the nodes' absolute rounding leaves them 3e-5 relative, measured)."""
    p, w = gc._beta_nodes(a, b, 8)
    for j in range(0, 8):
        exact = np.exp(betaln(a + j, b) - betaln(a, b))
        assert np.sum(w * p ** j) == pytest.approx(exact, rel=1e-9 if a > 1e-3 else 1e-4), j


@pytest.fixture(scope="module")
def pnbd_summary():
    return rl.clv.simulate.pareto_nbd(3000, 0.8, 40.0, 0.7, 300.0, T=700.0, seed=2)


@pytest.mark.parametrize("params", [(1.5, 47.0, 0.76, 529.0), (0.3, 1.0, 0.2, 10.0),
                                    (2.0, 100.0, 1e6, 3e8)])
def test_pnbd_loglik_grad_matches_central_differences(pnbd_summary, params):
    """The exact gradient of the quadrature log-likelihood against fourth-order central
    differences of :func:`pnbd_loglik` (step 1e-3 relative; their own error is ~1e-9), per
    customer; the log-likelihood is the same to the bit."""
    x, tx, T = (pnbd_summary[k].to_numpy(float) for k in ("frequency", "recency", "T"))
    assert_pnbd_grad_matches_differences(np.array(params), x, tx, T)


def assert_pnbd_grad_matches_differences(p, x, tx, T):
    """:func:`pnbd_loglik_grad` against fourth-order central differences of
    :func:`pnbd_loglik` (a separate implementation), per customer; the log-likelihoods equal to
    the bit (also used by test_rolling_speed for the threaded blocks)."""
    ll, g = completion.pnbd_loglik_grad(p, x, tx, T)
    np.testing.assert_array_equal(ll, completion.pnbd_loglik(p, x, tx, T))
    for j in range(4):
        h = 1e-3 * p[j]

        def f(c):
            return completion.pnbd_loglik(p + c * h * np.eye(4)[j], x, tx, T)
        num = (8 * (f(1) - f(-1)) - (f(2) - f(-2))) / (12 * h)
        np.testing.assert_allclose(g[:, j], num, rtol=1e-6, atol=1e-6 / p[j])


def test_quadrature_pnbd_fit_is_the_maximum(pnbd_summary):
    """The fit (L-BFGS-B on the exact gradient) against an independent polish: Nelder–Mead on
    the log-likelihood alone (no gradient) from the estimate, in the log parameters, moves them
    by less than 1e-6 relative, and the central-difference gradient of the mean log-likelihood
    at the estimate is below 1e-7."""
    m = QuadratureParetoNBD().fit(pnbd_summary)
    x, tx, T = (pnbd_summary[k].to_numpy(float) for k in ("frequency", "recency", "T"))
    p0 = m.params_.to_numpy(float)

    def nll(z):
        return -np.mean(completion.pnbd_loglik(np.exp(z), x, tx, T))
    z0 = np.log(p0)
    polish = optimize.minimize(nll, z0, method="Nelder-Mead",
                               options={"xatol": 1e-10, "fatol": 1e-15, "maxiter": 4000})
    np.testing.assert_allclose(np.exp(polish.x), p0, rtol=1e-6)
    grad = [(nll(z0 + 1e-5 * e) - nll(z0 - 1e-5 * e)) / 2e-5 for e in np.eye(4)]
    assert np.max(np.abs(grad)) < 1e-7
    assert m.variance_matrix_log_.shape == (4, 4)          # computed on first read
    assert np.all(np.isfinite(m.variance_matrix_log_.to_numpy()))


@pytest.mark.parametrize("collinear", [False, True])
def test_dr_counterfactual_mean_matches_a_literal_weighted_least_squares(collinear):
    """The doubly robust counterfactual mean (normal equations when X'WX is well conditioned,
    else the SVD least squares) against its definition computed literally: the weighted least
    squares fit on the comparison rows by np.linalg.lstsq, mean over members of the prediction
    plus the weighted mean residual of the comparison rows; also with two nearly collinear
    columns (the SVD path)."""
    rng = np.random.default_rng(8)
    n = 3000
    X = np.c_[np.ones(n), rng.normal(size=(n, 3))]
    if collinear:
        X = np.c_[X, X[:, 1] + 1e-7 * rng.normal(size=n)]
    member = rng.random(n) < 0.3
    w = np.where(member, 1.0, np.exp(0.5 * X[:, 1]))
    y = 1 + X[:, 1] - 0.5 * X[:, 2] ** 2 + rng.normal(size=n)
    code = np.arange(n)
    m = inference._dr_means({"y": y}, member, w, X, code, n, np.ones(n, bool), se="influence")
    c = ~member
    sw = np.sqrt(w[c])
    beta = np.linalg.lstsq(X[c] * sw[:, None], y[c] * sw, rcond=None)[0]
    ref = np.mean(X[member] @ beta) + np.average(y[c] - X[c] @ beta, weights=w[c])
    assert m["y|c"] == pytest.approx(ref, rel=1e-10)
    assert m["y|t"] == pytest.approx(y[member].mean(), rel=1e-12)


def test_max_leverage_decides_as_the_largest_eigenvalue():
    """The jackknife's leverage check (trace bound, eigenvalues only where the trace reaches the
    threshold) against numpy's eigenvalues of every customer's block ``W½ X_g A⁻¹ X_g' W½``:
    the same decision for every batch, and the same value where it is at the threshold or
    above; batches with traces on both sides of 0.9 and with one joint-leverage-1 customer
    whose rows each have leverage 1/2."""
    rng = np.random.default_rng(11)
    p = 4
    B = rng.normal(size=(p, p))
    A_inv = np.linalg.inv(B @ B.T + p * np.eye(p))
    for size in (1, 2, 3, 5):
        for scale in (0.05, 0.5, 2.0, 8.0, 40.0):
            Xg = rng.normal(size=(30, size, p))
            wg = scale * rng.gamma(2.0, 0.5, size=(30, size))
            XAX = Xg @ A_inv @ Xg.transpose(0, 2, 1)
            sw = np.sqrt(wg)
            truth = np.linalg.eigvalsh(XAX * sw[:, :, None] * sw[:, None, :]).max()
            got = inference._max_leverage(XAX, wg)
            assert (got >= 0.9) == (truth >= 0.9), (size, scale)
            if truth >= 0.9:
                assert got == pytest.approx(truth, rel=1e-12)
    # two identical rows, each of leverage 1/2, together leverage 1 (trace 1, eigenvalues 1, 0)
    x = np.array([1.0, 0.0, 0.0, 0.0])
    XAX = np.full((1, 2, 2), x @ A_inv @ x)
    wg = np.full((1, 2), 0.5 / (x @ A_inv @ x))
    assert inference._max_leverage(XAX, wg) == pytest.approx(1.0, rel=1e-12)


def test_dr_shared_regression_matches_literal_least_squares():
    """The means and their model-uncertainty term sharing one regression (``fit``), on a subset
    of rows, against literal lstsq fits: the counterfactual means of the outcomes and of the
    completion derivatives ``D`` (the term's ``G``), ``psi + psi_theta G``; a ``fit`` made on
    other rows is not reused (the answer is that of the rows passed)."""
    rng = np.random.default_rng(12)
    n, n_cl = 900, 300
    code = rng.integers(0, n_cl, n)
    X = np.c_[np.ones(n), rng.normal(size=(n, 3))]
    member = rng.random(n) < 0.3
    w = np.where(member, 1.0, np.exp(0.6 * X[:, 1]))
    ok = rng.random(n) < 0.8
    Y = {"orders": 1 + X[:, 1] + rng.normal(size=n), "spend": rng.gamma(2.0, 3.0, n)}
    D = [{k: rng.normal(size=n) for k in Y} for _ in range(2)]
    psi_theta = rng.normal(size=(n_cl, 2))
    unc = dict(ok=True, D=D, psi_theta=psi_theta, names=["r", "alpha"])

    def dr_c(y, keep):
        t, c = member & keep, ~member & keep
        sw = np.sqrt(w[c])
        beta = np.linalg.lstsq(X[c] * sw[:, None], y[c] * sw, rcond=None)[0]
        return np.mean(X[t] @ beta) + np.average(y[c] - X[c] @ beta, weights=w[c])

    other: dict = {}
    inference._dr_means(Y, member, w, X, code, n_cl, np.ones(n, bool), fit=other)
    for fit in ({}, other):
        m = inference._dr_means(Y, member, w, X, code, n_cl, ok, fit=fit)
        m2 = inference._with_model_uncertainty(m, unc, member, w, X, code, n_cl, ok, fit=fit)
        for k, y in Y.items():
            assert m[f"{k}|c"] == pytest.approx(dr_c(y, ok), rel=1e-10)
            assert m[f"{k}|t"] == pytest.approx(y[member & ok].mean(), rel=1e-12)
        G = np.zeros((2, len(m.names)))
        for i, Dk in enumerate(D):
            for k, d in Dk.items():
                G[i, m.names.index(f"{k}|c")] = dr_c(d, ok)
                G[i, m.names.index(f"{k}|t")] = d[member & ok].mean()
        np.testing.assert_allclose(m2.psi, m.psi + psi_theta @ G, rtol=1e-9, atol=1e-12)


def test_days_since_matches_pandas_normalize():
    """Day numbers of the trials (numpy floor to the day for naive dates) against pandas'
    ``(to_datetime(d).dt.normalize() - origin).dt.days``: times of day before and after the
    origin, dates before 1970, missing dates, a microsecond unit, time-zone-aware dates and
    strings (the last two through pandas)."""
    rng = np.random.default_rng(13)
    ns = pd.Timestamp("1969-11-03").value + rng.integers(-400, 400, 500) * 86_400 * 10**9 + \
        rng.integers(0, 86_400 * 10**9, 500)
    naive = pd.Series(pd.to_datetime(ns))
    origin = pd.Timestamp("1969-12-31")
    berlin = origin.tz_localize("Europe/Berlin")
    cases = [(naive, origin), (naive.where(rng.random(500) < 0.8), origin),
             (naive.astype("datetime64[us]"), origin),
             (naive.dt.tz_localize("Europe/Berlin"), berlin),
             (naive.dt.strftime("%Y-%m-%d %H:%M:%S"), origin)]
    for dates, o in cases:
        ref = (pd.to_datetime(dates).dt.normalize() - o).dt.days.to_numpy()
        got = tr._days_since(dates, o)
        assert got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)


def test_cluster_sums_match_a_loop_over_rows():
    """The jackknife's per-customer sums (one sort, reduceat) against adding the rows one by
    one in a loop: unsorted clusters, clusters without rows, and no rows at all."""
    rng = np.random.default_rng(14)
    cl = rng.integers(0, 30, 200) * 2                  # odd clusters have no rows
    A, B = rng.normal(size=(200, 3)), rng.normal(size=(200, 5))
    SA, SB = inference._cluster_sums(cl, 61, A, B)
    refA, refB = np.zeros((61, 3)), np.zeros((61, 5))
    for i, g in enumerate(cl):
        refA[g] += A[i]
        refB[g] += B[i]
    np.testing.assert_allclose(SA, refA, rtol=1e-13, atol=1e-13)   # pairwise vs sequential
    np.testing.assert_allclose(SB, refB, rtol=1e-13, atol=1e-13)
    assert np.array_equal(SA == 0, refA == 0)
    (empty,) = inference._cluster_sums(np.zeros(0, int), 4, np.zeros((0, 2)))
    np.testing.assert_array_equal(empty, np.zeros((4, 2)))


def test_subset_effects_match_a_literal_doubly_robust_fit():
    """A segment's effects (the subset's rows only, constant columns dropped) against the
    doubly robust means computed literally from the trial rows: lstsq of the outcome on the
    design over the segment's comparison rows with the odds weights, mean over its members of
    the prediction plus the weighted mean residual."""
    data = rl.datasets.simulate_loyalty_experiment(n_customers=2000, design="rolling", seed=7)
    res = tr.rolling_effects(data)
    cust = data.customers.drop_duplicates("customer_id").reset_index(drop=True)
    level = sorted(cust["acquisition_channel"].unique())[0]
    mask = (cust["acquisition_channel"] == level).to_numpy()
    got = res.subset_effects(mask, ("purchases", "spend")).set_index("metric")
    p, rows = res._parts, res.trials
    sub = p["ok"] & mask[p["code"]]
    t, c = sub & p["member"], sub & ~p["member"] & (p["w"] > 0)
    sw = np.sqrt(p["w"][c])
    for metric, col in (("purchases", "orders"), ("spend", "spend")):
        y = rows[col].to_numpy(float)
        beta = np.linalg.lstsq(p["X"][c] * sw[:, None], y[c] * sw, rcond=None)[0]
        mu0 = np.mean(p["X"][t] @ beta) + np.average(y[c] - p["X"][c] @ beta, weights=p["w"][c])
        assert got.loc[metric, "control"] == pytest.approx(mu0, rel=1e-9)
        assert got.loc[metric, "treatment"] == pytest.approx(y[t].mean(), rel=1e-12)
        assert got.loc[metric, "se"] > 0
