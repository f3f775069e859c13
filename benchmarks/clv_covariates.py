"""BTYD covariate models: fit times against the no-covariate fit of the same data, same run.

1. Static covariates: Pareto/NBD on 100k customers (one normal and one binary covariate in
   both processes; ages in days expressed in weeks, so almost every row is distinct) —
   ``ParetoNBDFitter().fit(summary, covariates=df)`` against ``ParetoNBDFitter().fit(summary)``
   and the same for BG/NBD. Target: ≤ 10 s for the Pareto/NBD.
2. Time-varying covariates: Pareto/NBD on 20k customers × 104 weeks (membership switched on
   in a random week for half the customers, and a Q4 season dummy, in both processes) —
   ``TimeVaryingParetoNBDFitter().fit`` (including building the per-customer segments from
   the 2.08M-row panel) against the no-covariate Pareto/NBD on the same weekly summary.
   Target: ≤ 60 s. The same data through the time-varying BG/NBD
   (``TimeVaryingBetaGeoFitter``, the impact report's CLV model) against the no-covariate BG/NBD.

Wall and CPU seconds are printed (the machine may be shared). Run:
``.venv/bin/python benchmarks/clv_covariates.py``.
"""
from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

import retention_lab as rl  # noqa: E402
from clv_covariates_sim import simulate_dynamic, simulate_static  # noqa: E402
from retention_lab.clv.covariates_tv import TimeVaryingParetoNBDFitter  # noqa: E402
from retention_lab.clv.covariates_tv_bg import TimeVaryingBetaGeoFitter  # noqa: E402


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main():
    warnings.simplefilter("ignore")
    print("1. static covariates, 100,000 customers")
    summ, cov = simulate_static(100_000, (0.6, 10.0, 0.7, 12.0), np.array([0.4, -0.3]),
                                np.array([-0.3, 0.5]), T=52.0, seed=1)
    summ[["recency", "T"]] = np.round(summ[["recency", "T"]] * 7) / 7   # days in weeks
    for name, cls in (("Pareto/NBD", rl.clv.ParetoNBDFitter), ("BG/NBD", rl.clv.BetaGeoFitter)):
        base, wb, cb = timed(lambda: cls().fit(summ))
        m, wc, cc = timed(lambda: cls().fit(summ, covariates=cov))
        print(f"   {name:<11} no covariates {wb:6.2f} s wall ({cb:6.2f} s cpu); with covariates "
              f"{wc:6.2f} s wall ({cc:6.2f} s cpu) — ratio {wc / wb:5.1f}x; "
              f"{m.n_distinct_rows_:,} distinct rows")
        print("      " + ", ".join(f"{k} {v:.3f}" for k, v in m.params_.items()))
    print("2. time-varying covariates, 20,000 customers x 104 weeks")
    tx, panel, end = simulate_dynamic(20_000, (0.8, 8.0, 0.7, 30.0), {"member": 0.4, "q4": 0.3},
                                      {"member": -0.5, "q4": 0.0}, weeks=104, seed=2,
                                      season=True)
    summ_w = rl.features.rfm_summary(tx, end, freq="W")
    base, wb, cb = timed(lambda: rl.clv.ParetoNBDFitter().fit(summ_w))
    m, wc, cc = timed(lambda: TimeVaryingParetoNBDFitter().fit(tx, panel, end))
    print(f"   panel {len(panel):,} rows, {len(m.data_.seg_c):,} merged segments, "
          f"{len(m.data_.dead_seg):,} after the last purchase")
    print(f"   Pareto/NBD no covariates {wb:6.2f} s wall ({cb:6.2f} s cpu); time-varying "
          f"{wc:6.2f} s wall ({cc:6.2f} s cpu) — ratio {wc / wb:5.1f}x")
    print("      " + ", ".join(f"{k} {v:.3f}" for k, v in m.params_.items()))
    base, wb, cb = timed(lambda: rl.clv.BetaGeoFitter().fit(summ_w))
    m, wc, cc = timed(lambda: TimeVaryingBetaGeoFitter().fit(tx, panel, end))
    print(f"   BG/NBD no covariates {wb:6.2f} s wall ({cb:6.2f} s cpu); time-varying "
          f"{wc:6.2f} s wall ({cc:6.2f} s cpu) — ratio {wc / wb:5.1f}x")
    print("      " + ", ".join(f"{k} {v:.3f}" for k, v in m.params_.items()))


if __name__ == "__main__":
    main()
