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

Measured (2026-12-06, 08:24 UTC, all 200 seeds in one run on commit 62d5e95, the fitters
counting every order — ``events="orders"``, their default since that commit; 45 min wall /
11 min CPU on a loaded machine; 2,000 customers a seed, seeds 1000 + i; coverage = share of
95 % intervals covering 0). Later commits (distinct rows, analytic gradients) change the fits
only by rounding, except where a rounding sliver of the dead integral used to make the
Pareto/NBD gradient NaN (fixed in ed6b3cb):

* Pareto/NBD ``trans.member``: mean −0.0012, SD 0.0186, mean SE 0.0176, coverage 92.5 % (185/200)
* Pareto/NBD ``life.member``: mean +0.0107, SD 0.121, mean SE 0.116, coverage 94.0 % (188/200)
* BG/NBD ``trans.member``: mean −0.0029, SD 0.0232, mean SE 0.0221, coverage 94.5 % (189/200)
* BG/NBD ``life.member``: mean −0.0060, SD 0.145, mean SE 0.142, coverage 95.0 % (190/200)
* CLV effect (BG/NBD, daily, influence functions; purchase days, unchanged): mean +1.59,
  SD 10.09, mean SE 9.80, coverage 95.5 % (191/200)
* CLV effect, +8 %/yr price drift for everybody (60 seeds): mean +2.60, SD 9.47, mean SE 10.67,
  coverage 98.3 % (59/60)

Re-run of block 1 (2026-12-06, 10:35–11:34 UTC, commit 1328478 — fitters unchanged by this
session; the whole file in one run, 8.3 min CPU / 58 min wall on a loaded machine): every number
above reproduced to the printed digits. The SD of the z-values est/SE (1 for a calibrated
interval; its Monte Carlo SE ≈ 0.05 at 200 seeds): Pareto/NBD ``trans.member`` 1.053,
``life.member`` 1.046; BG/NBD 1.056 / 1.019; CLV effect 1.020; CLV under drift 0.909 (60 seeds).

Before (purchase days, same seeds): Pareto/NBD ``trans.member`` mean +0.0056, SD 0.0183, mean
SE 0.0173, coverage 91.5 % (183/200); ``life.member`` 95.5 %; BG/NBD ``trans.member`` mean
+0.0031, 95.0 %; ``life.member`` 95.5 %. The bias had this cause: enrolment here is chosen on
the gap since the previous purchase, in continuous time, and two purchases on the enrolment
day (favoured by a short gap) were one event in the data — the enrolment carried information
about a pre-switch purchase the likelihood could not see. Counting orders removes it (on 20,000
customers × 8 seeds: +0.0055 ± 0.0010 with purchase days, −0.0011 ± 0.0012 with orders; see
retention_lab/clv/covariates_tv.py).

Second block (added 2026-12-06 after block 1's 92.5 % and before block 2 was run — the
assertions on the pooled 400 seeds were written then too): 200 more Pareto/NBD worlds, seeds
2000 + i, the same simulator, size and fitter (Pareto/NBD world only: the question was its
``trans.member``). Measured in the same run as the block-1 re-run above (and once more
separately, 11:13–11:33 UTC: the same numbers):

* block 2, ``trans.member``: mean −0.0002, SD 0.0186, mean SE 0.0175 (SD/SE 1.06), coverage
  94.5 % (189/200), SD of z = est/SE 1.069, skewness of z −0.44, excess kurtosis 0.82 (the
  largest misses all on the left: z = −4.16, −3.30, −2.80, −2.72, −2.70; those fits are
  converged — gradient ≤ 2e-4, the same optimum from another start)
* block 2, ``life.member``: mean −0.0115, SD 0.121, mean SE 0.117, coverage 94.0 % (188/200),
  SD of z 1.034
* pooled 400 seeds: ``trans.member`` mean −0.0007, SD 0.0186, mean SE 0.0176, coverage 93.5 %
  (374/400), SD of z 1.060; ``life.member`` mean −0.0004, SD 0.121, mean SE 0.116, coverage
  94.0 % (376/400), SD of z 1.043

Diagnosis of the 1.06 (this session; tests/clv/test_tv_sandwich.py): the robust SE is the
sandwich clustered by customer — each customer's whole history is one score, the distinct-row
meat weights each row's score outer product by the customers sharing it — equal to a
brute-force per-customer sandwich to 5e-5. A customer bootstrap (100 refits, seeds
1000–1005) gives SE / robust SE 0.873–1.102 for ``trans.member``, 0.994 pooled (mean log ratio
−0.004 ± 0.041), and the model-based SE is within 1 % of the robust one; the finite-sample
corrections of a cluster sandwich are negligible at 2,000 customers (approximate jackknife,
CR3: +0.26 %; Bell & McCaffrey 2002 degrees of freedom ≈ 400). So no SE default was changed.
What is left is a sampling distribution of ``trans.member`` with a heavier left tail than the
Wald interval assumes (z skewed, −0.44) and an SD 1.06x the SE in each block — 1.4–1.6 Monte
Carlo SEs from 1 over 400 seeds (SE of the SD 0.038, 0.044 with the observed kurtosis), not
excluded, not established; the SD of z is 1.02–1.06 for every key above as well; a remedy for skewness would be a
profile-likelihood or bootstrap-percentile interval, not a larger SE. Block 1's
``trans.member`` keeps its xfail (92.5 %); the pooled 400 are asserted in the band.
Before the exact-time likelihood (commit a5c63ca) the weekly default gave a null
``trans.member`` of +0.10 to +0.14 (SE 0.016–0.019; 0 of 8 seeds covered) on this world.

Robust adjusted profile-likelihood interval (session 7, ``profile_confidence_interval``:
Royall & Tsou 2003, the profile likelihood ratio scaled by the model-based over the robust
variance; retention_lab/clv/profile_interval.py), reported beside the Wald interval on the
same seeds and fits — the remedy the skew above suggested. The assertions (93–97 %) were
written before the run. Measured 2026-12-06, 13:07–13:31 UTC, commit 302ec18, all 400 + 200
seeds in one run (the same call as the fixture; 11.9 min CPU / 24.4 min wall, load 5–6), every
Wald number above reproduced to the printed digits. Coverage Wald → profile (misses below /
above 0, Wald then profile):

* Pareto/NBD ``trans.member``: block 1 92.5 → 92.5 % (7/8, 7/8); block 2 94.5 → 94.5 % (7/4,
  7/4); pooled 93.5 → 93.5 % (14/12, 14/12) — the two intervals cover the same seeds; their
  endpoints differ by at most 0.003 SE (mean arms 0.9986 / 1.0015 of the Wald half-width)
* Pareto/NBD ``life.member``: block 1 94.0 → 94.0 % (7/5 → 6/6); block 2 94.0 → 93.5 % (8/4 →
  8/5); pooled 94.0 → 93.75 %; arms 0.976 / 1.033 (endpoints differ by at most 0.11 SE; three
  seeds at |z| = 1.95–1.96 change side)
* BG/NBD ``trans.member`` 94.5 → 94.5 %, ``life.member`` 95.0 → 95.0 % (the same seeds)

Why no change: the log-likelihood is quadratic in ``trans.member`` to within 0.003 SE over
±2 SE, so the profile interval is the Wald interval; and the skew it was meant to respect is
not established — block 1's z are not skewed (skewness +0.10, p = 0.57; misses 7 below / 8
above: its 92.5 % is the SD/SE of 1.05 on both sides), block 2's −0.44 (p = 0.011) comes from
two fits (z = −4.16, −3.30), pooled −0.18 (p = 0.14). The skewness of each fit's influence
values (``Σψ³ / (Σψ²)^{3/2}``, the linear term's) is −0.001 on average (SD 0.009 over the 400
Pareto/NBD fits). So the Wald interval stays the default; block 1's profile key keeps an
xfail with its measured 92.5 %. Confirmed by ``pytest -m slow`` on this file (commit 6a2c799,
with the session's DynamicData speed-ups; 14:06–14:18 UTC, 11.9 min wall, load 1–3): every
number above to the printed digits, 14 passed, 2 xfailed (block 1 ``pnbd trans``, both
intervals).

Compared, cheaply, with a customer bootstrap (whole histories resampled, 200 refits a seed,
Pareto/NBD seeds 1000–1004 — the first five of block 1, fixed before running; 13:32–14:03 UTC,
2–4.5 min CPU a seed against 0.3 s for both profile intervals of a fit): bootstrap SD / robust
SE of ``trans.member`` 1.075, 0.910, 0.947, 1.043, 1.005 (RMS 0.998; ``life.member`` 0.955–1.025,
RMS 0.991); skewness of the bootstrap estimates −0.25 to +0.18 (``life.member`` −0.13 to
+0.26), no common sign; the percentile interval's arms are 0.88–1.16 (``life.member`` 0.81–1.10)
of the Wald half-width, scattered on both sides, where the profile's are 1.00 / 1.00 (0.97–0.99
/ 1.02–1.04). Three of the 200 refits of seed 1003 had a non-finite robust SE (the bootstrap-t
left them out). Nothing here points to an asymmetry a per-data-set interval could follow.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_membership_calibration import fit_membership, simulate_enrolment

from retention_lab.experiment_data import ExperimentData
from retention_lab.impact.core.clv_effects import membership_clv_effect

N_SEEDS = 200
N_DRIFT_SEEDS = 60
N_CUSTOMERS = 2000
#: the second, independent block of Pareto/NBD worlds (seeds 2000 + i; module docstring)
N_PNBD_SEEDS_2 = 200


def study(seeds, n=N_CUSTOMERS, drift_seeds=(), pnbd_seeds_2=()):
    """Estimates, SEs and robust adjusted profile-likelihood intervals (NaN for the CLV
    effect) per seed: a dict of arrays (name → (estimates, ses, profile lower, upper))."""
    out = {k: ([], [], [], []) for k in ("pnbd trans", "pnbd life", "bgnbd trans",
                                         "bgnbd life", "clv", "clv drift", "pnbd trans 2",
                                         "pnbd life 2")}

    def add(key, est, se, ci=(np.nan, np.nan)):
        for lst, v in zip(out[key], (est, se, *ci)):
            lst.append(v)

    def add_fit(key, m):
        for k in ("trans", "life"):
            add(_key(key, k),
                m.params_[f"{k}.member"], m.standard_errors_[f"{k}.member"],
                m.profile_confidence_interval(f"{k}.member"))
    for seed in seeds:
        for model in ("pnbd", "bgnbd"):
            tx, cust, end = simulate_enrolment(n, model, seed=1000 + seed)
            add_fit(model, fit_membership(model, tx, cust, end))
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
    for seed in pnbd_seeds_2:
        tx, cust, end = simulate_enrolment(n, "pnbd", seed=2000 + seed)
        add_fit("pnbd 2", fit_membership("pnbd", tx, cust, end))
    res = {k: tuple(np.asarray(v, float) for v in vals) for k, vals in out.items()}
    for k in ("pnbd trans", "pnbd life"):      # both blocks pooled
        res[f"{k} pooled"] = tuple(np.r_[a, b] for a, b in zip(res[k], res[f"{k} 2"]))
    return res


def _key(model, k):
    """``"pnbd" → "pnbd trans"``; ``"pnbd 2" → "pnbd trans 2"`` (the second block)."""
    return f"pnbd {k} 2" if model == "pnbd 2" else f"{model} {k}"


def summarise(res):
    """name → (seeds, mean estimate, SD of estimates, mean SE, coverage of 0, SD of the
    z-values estimate / SE — 1 for a calibrated interval, Wald misses below 0 / above 0);
    and, for the membership coefficients, ``"<name> profile"`` → (seeds, coverage of 0 by the
    robust adjusted profile interval, its misses below / above 0, mean lower / upper arm
    over the Wald half-width)."""
    rows = {}
    for k, (e, s, lo, hi) in res.items():
        if not len(e):
            continue
        z = e / s
        rows[k] = (len(e), float(e.mean()), float(e.std(ddof=1)), float(s.mean()),
                   float(np.mean(np.abs(z) < 1.959964)), float(np.std(z, ddof=1)),
                   int(np.sum(z <= -1.959964)), int(np.sum(z >= 1.959964)))
        if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
            hw = 1.959964 * s
            rows[f"{k} profile"] = (len(e), float(np.mean((lo < 0) & (0 < hi))),
                                    int(np.sum(hi <= 0)), int(np.sum(lo >= 0)),
                                    float(np.mean((e - lo) / hw)), float(np.mean((hi - e) / hw)))
    return rows


@pytest.fixture(scope="module")
def coverage_study():
    res = summarise(study(range(N_SEEDS), drift_seeds=range(N_DRIFT_SEEDS),
                          pnbd_seeds_2=range(N_PNBD_SEEDS_2)))
    for k, row in res.items():
        if k.endswith(" profile"):
            n, cov, below, above, arm_lo, arm_hi = row
            print(f"{k}: seeds {n}, coverage {cov:.3f} ({round(cov * n)}/{n}), misses below "
                  f"{below} / above {above}, arms / Wald half-width {arm_lo:.3f} / {arm_hi:.3f}")
            continue
        n, mean, sd, se, cov, sdz, below, above = row
        print(f"{k}: seeds {n}, mean {mean:+.4f}, SD {sd:.4f}, mean SE {se:.4f}, "
              f"coverage {cov:.3f} ({round(cov * n)}/{n}), SD of z {sdz:.3f}, misses below "
              f"{below} / above {above}")
    return res


KNOWN_MISS = ("Pareto/NBD trans.member, block 1: 92.5 % over 200 seeds (bias -0.0012 after "
              "counting orders; SD 1.06x the robust SE, the robust SE checked against a "
              "customer bootstrap: 0.994); block 2 94.5 %, pooled 93.5 %; see the module "
              "docstring")


@pytest.mark.slow
@pytest.mark.parametrize("key", [
    pytest.param("pnbd trans", marks=pytest.mark.xfail(reason=KNOWN_MISS, strict=False)),
    "pnbd life", "pnbd trans pooled", "pnbd life pooled",
    "bgnbd trans", "bgnbd life", "clv"])
def test_null_programme_coverage(coverage_study, key):
    assert 0.93 <= coverage_study[key][4] <= 0.97, (key, coverage_study[key])


@pytest.mark.slow
def test_clv_effect_covers_a_null_under_price_drift(coverage_study):
    # fewer seeds: the bias check (the interval must not miss 0 more often than nominal)
    assert coverage_study["clv drift"][4] >= 0.93, coverage_study["clv drift"]


#: the membership coefficients whose robust adjusted profile-likelihood interval is measured
PROFILE_KEYS = ("pnbd trans", "pnbd life", "pnbd trans 2", "pnbd life 2", "pnbd trans pooled",
                "pnbd life pooled", "bgnbd trans", "bgnbd life")


PROFILE_MISS = ("Pareto/NBD trans.member, block 1: the robust adjusted profile interval covers "
                "92.5 % (185/200), the same seeds as the Wald interval (endpoints within 0.003 "
                "SE; misses 7 below / 8 above 0); see the module docstring")


@pytest.mark.slow
@pytest.mark.parametrize("key", [
    pytest.param(k, marks=pytest.mark.xfail(reason=PROFILE_MISS, strict=False))
    if k == "pnbd trans" else k for k in PROFILE_KEYS])
def test_profile_interval_coverage(coverage_study, key):
    """The robust adjusted profile-likelihood interval (``profile_confidence_interval``;
    Royall & Tsou 2003) on the same seeds and fits as the Wald intervals above."""
    assert 0.93 <= coverage_study[f"{key} profile"][1] <= 0.97, coverage_study[f"{key} profile"]
