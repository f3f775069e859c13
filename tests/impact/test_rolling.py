"""Rolling enrolment (issue 12 items 1 and 3): sequential trial emulation checked against hand
computations on a tiny study, and against the closed-form truth of an independent simulator
(tests/impact_rolling_data.py); the design rule; the identification guard on the issue's
failing scenario (members join at their second purchase after the launch, chosen on their latent
buying rate, no true effect)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from impact_rolling_data import rolling_study
from retention_lab.clv import ParetoNBDFitter
from retention_lab.experiment_data import ExperimentData
from retention_lab.impact.rolling import trials as R
from retention_lab.impact.rolling.completion import QuadratureParetoNBD, pnbd_loglik


def quiet(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rl.impact.analyze(data, **kw)


# --- trial rows by hand ------------------------------------------------------------------------

def tiny_study():
    """Five customers, launch 2024-01-01, observation end 2024-12-31, horizon 60 + retention 30
    days; two orders on one day (a tie), one customer acquired after the launch, one comparison
    customer who enrols later (censored)."""
    L = pd.Timestamp("2024-01-01")
    d = lambda k: L + pd.Timedelta(days=k)   # noqa: E731
    tx = pd.DataFrame([
        # customer 1: member, enrols at day 40 (third purchase; two earlier, one a tie day)
        (1, d(-100), 10.0), (1, d(-100), 5.0), (1, d(-30), 20.0), (1, d(40), 30.0),
        (1, d(50), 10.0), (1, d(120), 10.0),
        # customer 2: never enrols; buys on days -60, 35 (January / February), 70, 130
        (2, d(-60), 8.0), (2, d(35), 12.0), (2, d(70), 9.0), (2, d(130), 7.0),
        # customer 3: acquired after the launch (day 33), enrols at day 80 (second purchase)
        (3, d(33), 15.0), (3, d(80), 25.0), (3, d(90), 5.0),
        # customer 4: buys in February, never again
        (4, d(-200), 40.0), (4, d(45), 60.0),
    ], columns=["customer_id", "date", "amount"])
    cust = pd.DataFrame({"customer_id": [1, 2, 3, 4, 5],
                         "enrolled_at": [d(40), pd.NaT, d(80), pd.NaT, pd.NaT],
                         "channel": ["a", "b", "a", "b", "a"]})
    return ExperimentData(tx, cust, None, d(365), L, "self_selected")


def test_trial_rows_match_a_hand_computation():
    rows, info, _, _ = R.build_trials(tiny_study(), horizon_days=60, retention_days=30)
    rows = rows.set_index(["customer_id", "trial"]).sort_index()
    # trial 1 = days 30.4…60.9 (February): member 1 (day 40); comparisons 2 (day 35), 3 (day 33),
    # 4 (day 45)
    m = rows.loc[(1, 1)]
    assert m["member"] == 1 and m["index_date"] == pd.Timestamp("2024-02-10")
    # two lines on day −100 are one purchase day (issue 19 item 3); spend sums both lines
    assert m["prior_orders"] == 2 and m["prior_spend"] == 35.0
    assert m["tenure_days"] == 140 and m["recency_days"] == 70
    assert m["mean_gap_days"] == 70                                 # (−30 − (−100)) / 1
    assert m["orders"] == 1 and m["spend"] == 10.0                  # day 50 only: (40, 100]
    assert m["retained"] == 1.0                                     # day 120 in (100, 130]
    c2 = rows.loc[(2, 1)]
    assert c2["member"] == 0 and c2["index_date"] == pd.Timestamp("2024-02-05")
    assert c2["prior_orders"] == 1 and c2["recency_days"] == 95 and c2["orders"] == 1
    assert c2["retained"] == 0.0 and c2["censored"] == 0            # day 130 not in (95, 125]
    c3 = rows.loc[(3, 1)]                                           # acquired at its index
    assert c3["prior_orders"] == 0 and c3["no_history"] == 1 and c3["tenure_days"] == 0
    assert c3["censored"] == 1                                      # enrols at day 80 ≤ 33+90
    assert rows.loc[(3, 2), "member"] == 1                          # and is trial 2's member
    c4 = rows.loc[(4, 1)]
    assert c4["orders"] == 0 and c4["retained"] == 0 and c4["censored"] == 0
    assert (5, 1) not in rows.index                                 # no purchase: not eligible
    assert info["n_members_used"] == 2 and info["n_members_too_late"] == 0
    assert int(rows.loc[(2, 2), "prior_orders"]) == 2               # day 70: trial 2's comparison


# --- against a simulator with closed-form truth ------------------------------------------------

@pytest.fixture(scope="module")
def observed_selection():
    """Enrolment hazard on observed history only (purchases so far), programme +30 % rate."""
    data = rolling_study(4000, 11, lift=0.3, base=-4.0, observed=0.8, horizon_days=180)
    return data, R.rolling_effects(data, horizon_days=180, retention_days=90)


def test_rolling_recovers_the_closed_form_truth(observed_selection):
    data, res = observed_selection
    e = res.effects.set_index("metric")
    truth = data.truth["rolling"]
    for metric in ("purchases", "spend", "retention"):
        r = e.loc[metric]
        assert abs(r["abs_diff"] - truth[metric]) < 3 * r["se"] + 0.1 * abs(truth[metric]), \
            (metric, r["abs_diff"], truth[metric], r["se"])
    assert e.loc["purchases", "p_value"] < 1e-4
    assert res.identified


def test_naive_member_comparison_would_be_badly_biased(observed_selection):
    """Members are heavy buyers: their raw window mean minus the comparison rows' raw mean is far
    above the truth; the adjusted estimate is not."""
    data, res = observed_selection
    tr = res.trials
    naive = tr.loc[tr.member == 1, "orders"].mean() - tr.loc[
        (tr.member == 0) & (tr.censored == 0), "orders"].mean()
    truth = data.truth["rolling"]["purchases"]
    assert naive > 1.5 * truth
    assert abs(res.effects.set_index("metric").loc["purchases", "abs_diff"] - truth) < \
        0.5 * abs(naive - truth)


def test_null_programme_with_observed_selection_is_not_significant():
    data = rolling_study(4000, 12, lift=0.0, base=-4.0, observed=0.8, horizon_days=180)
    res = R.rolling_effects(data, horizon_days=180, retention_days=90)
    e = res.effects.set_index("metric")
    for metric in ("purchases", "spend", "retention"):
        assert e.loc[metric, "ci_low"] < 0 < e.loc[metric, "ci_high"], metric


def test_retention_completion_matches_monte_carlo():
    """P(a purchase in (T+gap, T+gap+R] | history) under BG/NBD against importance-weighted
    simulation from the prior (weights = the BG/NBD likelihood of the history)."""
    class Fixed:
        params_ = pd.Series({"r": 2.0, "alpha": 60.0, "a": 1.0, "b": 5.0})

        def probability_alive(self, x, tx, T):
            r, al, a, b = 2.0, 60.0, 1.0, 5.0
            odds = a / (b + x - 1) * ((al + T) / (al + tx)) ** (r + x)
            return np.where(x > 0, 1 / (1 + odds), 1.0)
    x, T, gap, Rw = np.array([3.0]), np.array([200.0]), np.array([40.0]), np.array([90.0])
    got = R._retention_probability(Fixed(), x, T, gap, Rw, n_nodes=200)[0]
    rng = np.random.default_rng(0)
    n = 400_000
    lam = rng.gamma(2.0, 1 / 60.0, n)
    p = rng.beta(1.0, 5.0, n)
    # BG/NBD likelihood of x repeat purchases with the last at T (t_x = T): alive after it, or
    # dropped out right after that last purchase
    base = lam ** x[0] * np.exp(-lam * T[0]) * (1 - p) ** (x[0] - 1)
    w_alive, w_dead = base * (1 - p), base * p
    # simulate the future: survive purchases in the gap, then buy within R
    k = rng.poisson(lam * gap[0])
    alive = rng.random(n) < (1 - p) ** k
    buy = rng.random(n) < 1 - np.exp(-lam * Rw[0])
    mc = np.sum(w_alive * (alive & buy)) / np.sum(w_alive + w_dead)
    assert got == pytest.approx(mc, abs=0.004)


# --- the analysis chosen, and the identification guard ----------------------------------------

def test_self_selected_chooses_rolling_only_when_enrolment_is_spread():
    launch = rl.datasets.simulate_loyalty_experiment(n_customers=2000, design="self_selected",
                                                     seed=2)
    rep = quiet(launch, design="self_selected", clv=False, survival=False, sensitivity=False,
                event_study=False, segment_column=None)
    assert rep.analysis == "launch"
    assert rep.checks.set_index("check").loc["enrolment timing (launch design)",
                                              "status"] == "pass"
    rolling = rl.datasets.simulate_loyalty_experiment(n_customers=3000, design="rolling", seed=2)
    rep = quiet(rolling, design="self_selected", clv=False, survival=False, event_study=False,
                segment_column=None)
    assert rep.analysis == "rolling" and "rolling enrolment" in rep.summary_text()


@pytest.fixture(scope="module")
def issue_scenario():
    """The issue's failing scenario, built here: customers acquired over the year before and the
    year after the launch; members decide once, at their second purchase after the launch, with
    a probability rising with their latent buying rate; the programme does nothing."""
    return rolling_study(5000, 7, lift=0.0, rule="second", latent=2.0, horizon_days=180)


def test_issue_scenario_is_not_identified(issue_scenario):
    rep = quiet(issue_scenario, design="self_selected", horizon_days=180, clv=False,
                event_study=False)
    assert rep.analysis == "rolling" and not rep.identified
    assert "history before enrolment (rolling)" in set(rep.failed_checks()["check"])
    text = rep.summary_text()
    assert "NOT IDENTIFIED" in text and "randomized holdout" in text
    assert "raised" not in text and "lowered" not in text
    assert "not a measured effect" in text


def test_issue_scenario_with_the_launch_design_fails_its_timing_check(issue_scenario):
    rep = quiet(issue_scenario, design="launch", horizon_days=180, clv=False,
                event_study=False, segment_column=None)
    assert rep.analysis == "launch" and not rep.identified
    assert rep.checks.set_index("check").loc["enrolment timing (launch design)",
                                              "status"] == "fail"
    assert "raised" not in rep.summary_text()


def test_rolling_data_through_the_launch_design_does_not_crash():
    """Before: ZeroDivisionError 'Weights sum to zero' in the sensitivity analysis."""
    data = rl.datasets.simulate_loyalty_experiment(n_customers=3000, design="rolling", seed=4)
    rep = quiet(data, design="launch", clv=False, survival=False, event_study=False,
                segment_column=None)
    assert rep.analysis == "launch"
    assert not rep.identified                       # members enrolled at later purchases
    assert isinstance(rep.sensitivity_text(), str)


def test_rolling_report_parts():
    data = rl.datasets.simulate_loyalty_experiment(n_customers=4000, design="rolling", seed=5)
    rep = quiet(data, design="rolling", clv=False, survival=False,
                segment_column="acquisition_channel")
    assert rep.design == "self_selected" and rep.analysis == "rolling"
    assert {"purchases", "spend", "aov", "retention"} <= set(rep.effects["metric"])
    assert set(rep.segments["level"]) == set(data.customers["acquisition_channel"])
    sv = rep.sensitivity.set_index("metric")
    assert np.isfinite(sv.loc["purchases", "evalue"])
    assert sv.loc["purchases", "benchmark"] in {"purchases so far", "days since the previous "
                                                "purchase", "tenure", "spend so far",
                                                "mean inter-purchase time"}
    assert "\n" not in rep.sensitivity_text()        # one paragraph
    assert rep.event_study is not None
    assert "pre-trends (event study, not-yet-enrolled comparison)" in set(rep.checks["check"])
    assert np.isfinite(rep.roi["roi"]) or rep.roi["programme_cost"] == 0


def test_rolling_method_notes_describe_the_rolling_analysis():
    """The method notes of a rolling report used to be the launch design's ("outcomes are
    measured in the 365 days from the launch", "CLV ... fitted to each group"): wrong there."""
    from retention_lab.impact.report import _assumptions
    s = dict(analysis="rolling", horizon=180, retention_days=60, alpha=0.1)
    notes = " ".join(_assumptions("self_selected", s))
    assert "from the launch" not in notes and "each group's whole history" not in notes
    assert "180 days after their own enrolment" in notes
    assert "a purchase in the 60 days after the window" in notes
    assert "90% interval" in notes and "clustered by customer" in notes


# --- the completion model (issue 19) ------------------------------------------------------------

def test_quadrature_pareto_nbd_likelihood_matches_the_closed_form():
    """The rolling completion's Pareto/NBD likelihood (one-dimensional quadrature over the
    lifetime) against retention_lab.clv's closed form (Fader & Hardie 2005 note, eqs. 19–22),
    per customer, at parameters from homogeneous to very heterogeneous lifetimes."""
    summ = rl.clv.simulate.pareto_nbd(2000, 0.8, 40.0, 0.7, 300.0, T=700.0, seed=4)
    x, tx, T = (summ[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    ref = ParetoNBDFitter()
    for p in [(1.4, 80.8, 162.2, 180094.0), (0.8, 40.0, 0.7, 300.0), (0.5, 10.0, 0.3, 20.0),
              (3.0, 200.0, 2.0, 2000.0), (0.9, 30.0, 1.0, 30.0)]:
        exact = ref._loglik(np.array(p), ref._prepare(x, tx, T))
        assert np.max(np.abs(pnbd_loglik(p, x, tx, T) - exact)) < 1e-3, p


@pytest.mark.parametrize("truth", ["BG/NBD", "Pareto/NBD"])
def test_completion_model_is_chosen_by_likelihood(truth):
    """Data simulated from each model: the likelihood keeps that model, and the quadrature
    Pareto/NBD's estimates agree with the closed-form fitter's (retention_lab.clv)."""
    if truth == "BG/NBD":
        summ = rl.clv.simulate.beta_geo(4000, 0.8, 40.0, 0.6, 2.0, T=700.0, seed=1)
    else:
        summ = rl.clv.simulate.pareto_nbd(4000, 0.8, 40.0, 0.7, 300.0, T=700.0, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _, ll = R.choose_completion_model(summ)
    assert model._model_name == truth, ll
    if truth == "Pareto/NBD":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = ParetoNBDFitter().fit(summ)
        assert model.params_.to_numpy() == pytest.approx(ref.params_.to_numpy(), rel=0.02)
        assert model.log_likelihood_ == pytest.approx(ref.log_likelihood_, abs=1.0)


def test_pareto_retention_completion_matches_monte_carlo():
    """P(a purchase in (T+gap, T+gap+R] | x repeat purchases, the last at T) under Pareto/NBD
    against importance-weighted simulation from the prior (weights = the likelihood of the
    history: x purchases in (0, T] and alive at T)."""
    class Fixed(QuadratureParetoNBD):
        params_ = pd.Series({"r": 2.0, "alpha": 60.0, "s": 1.5, "beta": 400.0})
    x, T, gap, Rw = np.array([3.0]), np.array([200.0]), np.array([40.0]), np.array([90.0])
    got = R._retention_probability(Fixed(), x, T, gap, Rw, n_nodes=200)[0]
    rng = np.random.default_rng(0)
    n = 400_000
    lam = rng.gamma(2.0, 1 / 60.0, n)
    mu = rng.gamma(1.5, 1 / 400.0, n)
    wgt = lam ** x[0] * np.exp(-(lam + mu) * T[0])
    death = rng.exponential(1 / mu)                 # remaining lifetime after T (memoryless)
    first = gap[0] + rng.exponential(1 / lam)       # first purchase after T + gap
    hit = (first <= gap[0] + Rw[0]) & (first < death)
    assert got == pytest.approx(np.sum(wgt * hit) / np.sum(wgt), abs=0.004)


def test_dr_influence_is_the_derivative_of_the_estimator():
    """The per-customer influence terms of the doubly robust means are the derivatives of the
    estimates with respect to that customer's weight in the sample (finite differences of the
    full computation, weights held fixed) — also when the weights do not balance the covariates
    exactly, where the comparison rows enter through the weighted least squares coefficients."""
    rng = np.random.default_rng(3)
    n, n_cl = 600, 200
    code = rng.integers(0, n_cl, n)
    X = np.c_[np.ones(n), rng.normal(size=(n, 2))]
    member = rng.random(n) < 0.3
    w = np.where(member, 1.0, np.exp(0.8 * X[:, 1]))          # not balancing
    y = 1 + X[:, 1] + 0.5 * X[:, 2] ** 2 + rng.normal(size=n)
    ok = np.ones(n, bool)
    m = R._dr_means({"y": y}, member, w, X, code, n_cl, ok, se="influence")
    eps = 1e-6
    for g in (0, 5, 17, 123):
        v = np.where(code == g, 1 + eps, 1.0)
        # upweighting customer g: their member rows count 1 + eps in the members' mean, their
        # comparison rows have weight w (1 + eps)
        t = member
        mu1 = np.sum(v[t] * y[t]) / v[t].sum()
        c = ~member
        A = X[c] * np.sqrt(w[c] * v[c])[:, None]
        beta = np.linalg.lstsq(A, y[c] * np.sqrt(w[c] * v[c]), rcond=None)[0]
        mu0 = np.sum(v[t] * (X[t] @ beta)) / v[t].sum()
        num = np.array([mu1 - m.est[m.names.index("y|t")], mu0 - m.est[m.names.index("y|c")]])
        got = m.psi[g, [m.names.index("y|t"), m.names.index("y|c")]]
        assert got == pytest.approx(num / eps, rel=1e-4, abs=1e-7), g


def test_dr_jackknife_matches_leaving_each_customer_out():
    """The default standard errors: delete-one-customer jackknife pseudo-values against the
    literal recomputation of both means without each customer (clusters of unequal size, one
    customer with member and comparison rows, weights that do not balance)."""
    rng = np.random.default_rng(5)
    n, n_cl = 400, 90
    code = rng.integers(0, n_cl, n)
    X = np.c_[np.ones(n), rng.normal(size=(n, 2))]
    member = rng.random(n) < 0.3
    w = np.where(member, 1.0, np.exp(0.8 * X[:, 1]))
    Y = {"y": 1 + X[:, 1] + 0.5 * X[:, 2] ** 2 + rng.normal(size=n),
         "z": rng.poisson(2.0, n).astype(float)}
    ok = np.ones(n, bool)
    m = R._dr_means(Y, member, w, X, code, n_cl, ok)

    def means(keep):
        t, c = member & keep, ~member & keep
        out = []
        for y in Y.values():
            A = X[c] * np.sqrt(w[c])[:, None]
            beta = np.linalg.lstsq(A, y[c] * np.sqrt(w[c]), rcond=None)[0]
            out += [y[t].mean(), (X[t] @ beta).mean()]
        return np.array(out)
    used = np.unique(code)
    loo = np.array([means(code != g) for g in used])
    G = len(used)
    expect = np.sqrt((G - 1) / G) * (loo.mean(axis=0) - loo)
    assert m.psi[used] == pytest.approx(expect, rel=1e-6, abs=1e-10)
    assert m.est == pytest.approx(means(ok), rel=1e-10)


def test_dr_jackknife_falls_back_where_a_customer_has_full_leverage():
    """A customer whose rows are the only comparison rows of a trial (joint leverage 1, each row
    1/2): the estimate without them is not defined, and the influence functions are kept."""
    rng = np.random.default_rng(6)
    n, n_cl = 300, 80
    code = rng.integers(1, n_cl, n)
    trial = (rng.random(n) < 0.5).astype(float)
    member = rng.random(n) < 0.3
    # the only comparison rows of trial 2: two rows of customer 0, each with leverage 1/2
    trial[[0, 2]], member[[0, 2]], code[[0, 2]] = 2.0, False, 0
    trial[1], member[1] = 2.0, True
    X = np.c_[np.ones(n), rng.normal(size=n), trial == 1, trial == 2].astype(float)
    w = np.ones(n)
    y = {"y": rng.normal(size=n)}
    ok = np.ones(n, bool)
    jack = R._dr_means(y, member, w, X, code, n_cl, ok)
    infl = R._dr_means(y, member, w, X, code, n_cl, ok, se="influence")
    assert np.array_equal(jack.psi, infl.psi)
