"""Parameter recovery with interval coverage for the covariate BTYD models (slow suite).

Data are simulated with known coefficients by tests/clv_covariates_sim.py (written for these
tests, not the package's simulator): static covariates drawn exactly as the model says
(continuous time, late acquisition); time-varying membership switched on in a random week
of a weekly calendar, simulated in continuous time and written as dated transactions (so the
fit sees weekly-floored data, as users' data are). 200 seeds each; the 95 % Wald interval
of every coefficient should cover the truth 93–97 % of the time, and a null membership effect
should be covered at 0 as often.

Recorded results (each run once, 200 seeds):

* static Pareto/NBD (1,500 customers a seed): trans.x1 96.0 %, trans.x2 95.5 %, life.x1 96.5 %,
  life.x2 98.0 % (outside the 93–97 % target, inside Monte Carlo error of 95 %: 196/200);
* static BG/NBD: 95.5, 96.5, 96.5, 96.5 %;
* time-varying Pareto/NBD, weekly periods (800 customers × 78 weeks): effect (0.4, −0.5):
  trans 93.5 %, life 95.0 %; null (0, 0): trans 85.5 %, life 98.0 % — the weekly-flooring bias
  described in the test; on daily periods (as the test fits now): effect trans 94.5 %,
  life 95.0 %; null trans 95.5 %, life 97.5 % (0 covered in 191 and 195 of 200 seeds).

* impact CLV effect (``membership_clv_effect``, time-varying BG/NBD; rolling simulator, 1,500
  customers and ~318 evaluable members a seed, 50 bootstrap draws): coverage 92.0 % (184/200;
  6 intervals above the truth, 10 below), mean estimate 49.6 against a mean true effect of 48.0
  (bias +1.7, 3.5 %), error sd 15.7 against a mean se of 14.0 — the interval leaves out the
  noise of the realised outcomes that make up the simulated truth.

The assertion allows 2.6 Monte Carlo standard errors around 95 % (``TOLERANCE``).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import retention_lab as rl
from clv_covariates_sim import simulate_dynamic, simulate_static
from retention_lab.clv.covariates_tv import TimeVaryingParetoNBDFitter

SEEDS = range(200)
#: 2.6 Monte Carlo standard errors of a 95 % coverage over 200 seeds (99 % of runs of a
#: correct method fall inside); the 93–97 % target band is ±1.3 standard errors
TOLERANCE = 2.6 * np.sqrt(0.95 * 0.05 / len(SEEDS))


def _coverage(fits, truth):
    hits = {k: np.mean([(f.loc[k, "lower 95%"] <= v <= f.loc[k, "upper 95%"]) for f in fits])
            for k, v in truth.items()}
    print({k: round(float(v), 3) for k, v in hits.items()})
    return hits


@pytest.mark.slow
@pytest.mark.parametrize("model", ["pnbd", "bgnbd"])
def test_static_covariate_coefficients_cover(model):
    g_t, g_l = np.array([0.4, -0.3]), np.array([-0.3, 0.5])
    params = (0.8, 8.0, 0.7, 20.0) if model == "pnbd" else (0.8, 6.0, 1.0, 3.0)
    cls = rl.clv.ParetoNBDFitter if model == "pnbd" else rl.clv.BetaGeoFitter
    fits = []
    for seed in SEEDS:
        summ, cov = simulate_static(1500, params, g_t, g_l, T=52.0, seed=seed, model=model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.append(cls().fit(summ, covariates=cov).summary)
    truth = {"trans.x1": 0.4, "trans.x2": -0.3, "life.x1": -0.3, "life.x2": 0.5}
    hits = _coverage(fits, truth)
    for k, v in hits.items():
        assert abs(v - 0.95) <= TOLERANCE, (k, v)


def _changes(panel):
    """The weekly panel as a table of changes (forward fill), for a fit on daily periods."""
    wide = panel.pivot(index="customer_id", columns="period", values="member")
    change = wide.diff(axis=1).ne(0)
    change.iloc[:, 0] = True
    return wide.where(change).stack().rename("member").reset_index()


@pytest.mark.slow
@pytest.mark.parametrize("effect", [(0.4, -0.5), (0.0, 0.0)], ids=["effect", "null"])
def test_time_varying_membership_coefficients_cover(effect):
    # fitted on daily periods: on weekly ones the first (partial) week of every customer is
    # counted as a full week without repeat purchases, which lowers the early — non-member —
    # rate and showed up as a spurious membership effect (null: trans.member coverage 85.5 %)
    gt, gl = effect
    fits = []
    for seed in SEEDS:
        tx, panel, end = simulate_dynamic(800, (0.8, 8.0, 0.7, 20.0), {"member": gt},
                                          {"member": gl}, weeks=78, seed=seed,
                                          max_birth_week=39)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.append(TimeVaryingParetoNBDFitter().fit(tx, _changes(panel), end, freq="D",
                                                         fill="forward").summary)
    hits = _coverage(fits, {"trans.member": gt, "life.member": gl})
    for k, v in hits.items():
        assert abs(v - 0.95) <= TOLERANCE, (k, v)


@pytest.mark.slow
def test_impact_clv_effect_covers_the_rolling_simulators_truth():
    """membership_clv_effect on the package's rolling simulator (BG/NBD world, enrolment at a
    purchase chosen on the history, both potential outcomes simulated): the interval of the
    members' CLV effect covers the true mean of clv_1 − clv_0 over the same members."""
    from retention_lab.impact.core.clv_effects import membership_clv_effect
    hits, est, truth = [], [], []
    for seed in SEEDS:
        exp = rl.datasets.simulate_loyalty_experiment(n_customers=1500, design="rolling",
                                                      seed=seed)
        m = exp.truth["members"]
        m = m.loc[m["evaluable"]].set_index("customer_id")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = membership_clv_effect(exp, m["enrolled_at"], n_draws=50, seed=seed)
        want = float((m["clv_1"] - m["clv_0"]).mean())
        hits.append(res["ci_low"] <= want <= res["ci_high"])
        est.append(res["abs_diff"])
        truth.append(want)
    cov = float(np.mean(hits))
    print({"coverage": cov, "mean estimate": float(np.mean(est)),
           "mean truth": float(np.mean(truth))})
    assert abs(cov - 0.95) <= TOLERANCE
