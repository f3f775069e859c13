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

Results (2026-12-06, the code of commit b02ced9 — the studies' estimator is unchanged since;
package study 19:41–19:48 UTC, the foreign studies 19:48–20:38 UTC, each seed run once; the
foreign studies' printed tables were lost to a truncated log and recomputed from the same seeds
20:24–20:38, deterministic, both runs passing). Coverage of the population truth (SATT in
brackets), mean SE against the SD of the estimates:

* package +effect (600 seeds): purchases 95.0 % (95.7 %), SE 0.3252 vs SD 0.3226 (1.01);
  spend 95.8 % (95.3 %), 22.74 vs 22.68 (1.00); retention 94.8 % (94.8 %), 0.02998 vs 0.02980
  (1.01). Passed.
* foreign gap selection, +25 % (600 seeds): purchases 96.2 % (97.8 %), 0.1793 vs 0.1690 (1.06);
  spend 96.2 % (97.3 %), 8.984 vs 8.565 (1.05); retention 94.8 % (95.0 %), 0.02198 vs 0.02170
  (1.01). Passed.
* foreign price-drift null (600 seeds): purchases 95.2 %, 0.1631 vs 0.1664 (0.98); spend 95.2 %,
  8.766 vs 8.841 (0.99); retention 94.0 %, 0.02217 vs 0.02222 (1.00). Passed.

All nine inside 93–97 %. The original 200-seed tests keep their xfails and their numbers: those
misses (98.0 / 98.0 / 92.0 % for purchases) were Monte Carlo, as the diagnoses above found.
The gap study's purchases and spend SEs stay 5–6 % above the spread, as on its earlier seeds
(1.04 over 400): inside the band, noted.
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
