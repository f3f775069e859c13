"""A pre-registered replication of the three rolling coverage studies that missed the 93–97 %
band on their own seeds (issue 19, acceptance: rolling purchases, spend and retention cover
93–97 %), on fresh seeds and more of them.

Why: on their own 200 seeds, purchases covered 98.0 % in the package +effect study
(tests/impact/test_rolling_coverage.py), 98.0 % in the foreign gap-selection study and 92.0 %
under the foreign price-drift null (tests/impact/test_rolling_foreign.py). Diagnoses on other
seeds, each fixed in writing before its run (session 9: /tmp notes of helpers pkgfx and drift,
summarised in those files' docstrings), found no term in error and pooled SE / SD within Monte
Carlo error of 1. A calibrated 95 % interval lands in 93–97 % over 200 seeds with probability
0.86 per metric; over 600 seeds with probability 0.976. So each study is run once more here,
with the same estimator, the same band and the same truth (the population effect on members;
0 under the null), on 600 seeds that no earlier run used.

Pre-registration: this file — seeds, band and assertions — was committed on 2026-12-06 before
any of these seeds was run (commit message says so); the results are recorded below whatever
they are, and the studies are not re-run with other seeds.

* package simulator, +effect (``simulate_loyalty_experiment(design="rolling")``, 3,000
  customers, ``rolling_effects`` as in test_rolling_coverage.py): seeds 25000–25599
* foreign simulator, selection on the gap, +25 % (``simulate_gap_enrolment``, 3,000 customers,
  the whole analysis as in test_rolling_foreign.py): seeds 45000–45599
* foreign simulator, price-drift null (``lift=0, drift=0.08``): seeds 66000–66599

Results: not yet run.
"""
from __future__ import annotations

import pytest
from test_rolling_coverage import _study, coverage_table
from test_rolling_foreign import _coverage_study, _summary

N_REPLICATION = 600
BAND = (0.93, 0.97)


def _in_band(table):
    return table["coverage"].between(*BAND).all()


@pytest.mark.slow
def test_package_effect_coverage_replication():
    tab = coverage_table(_study(null=False, seed0=25_000, n_seeds=N_REPLICATION))
    print(tab.to_string())
    assert _in_band(tab), tab


@pytest.mark.slow
def test_gap_selection_coverage_replication():
    tab = _summary(_coverage_study(45_000, n_seeds=N_REPLICATION))
    print(tab.to_string())
    assert _in_band(tab), tab


@pytest.mark.slow
def test_price_drift_null_coverage_replication():
    tab = _summary(_coverage_study(66_000, n_seeds=N_REPLICATION, lift=0.0, drift=0.08))
    print(tab.to_string())
    assert _in_band(tab), tab
