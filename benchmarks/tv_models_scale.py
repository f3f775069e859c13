"""Time-varying BTYD fits at scale: 20k, 200k and 1M customers × 104 weeks (issue 22 item 3).

The world: :func:`clv_covariates_sim.simulate_dynamic_large` — Pareto/NBD customers born over
the first year, half of them enrolling in a random later week (membership raises the purchase
rate, lowers the dropout rate) and a Q4 season dummy, in both processes; daily purchase dates,
the covariates as a table of changes (``fill="forward"``). The same world as
benchmarks/clv_covariates.py part 2 (whose 20k fit issue 22 timed at 5.5 s CPU), vectorised.

For each size, in the same run, the fit as it was before issue 22's work ("before": every
evaluation once per customer, ``compact=False``; the sandwich's scores by central differences;
BFGS from the identity; for the BG/NBD also the central-difference gradient, 2 × parameters + 1
likelihood evaluations each — rebuilt here as subclasses) and as it is (distinct rows,
:meth:`DynamicData.compact`; analytic per-row scores; BFGS from the BHHH curvature; the BG/NBD's
analytic gradient); wall and CPU seconds, the ratio, the number of distinct rows and the
largest difference between the two fits' estimates (medians of ``--repeats`` runs at 20k, one run above). ``--bg`` adds the
time-varying BG/NBD. The machine may be shared: CPU seconds are
the steadier number.

CLVTools (R; Bachmann, Meierer & Näf 2021's ``pnbd()`` with dynamic covariates) publishes no
run times for this model that we found: its walkthrough (vignettes/CLVTools.Rmd, section
"Multithreading") recommends enabling parallel processing "when estimating more complex models
like this", and its dynamic-covariate model defaults to Nelder–Mead with up to 3,000
iterations (R/class_clv_model_pnbd_dynamiccov.R), without a timing.

Run: ``.venv/bin/python benchmarks/tv_models_scale.py [--sizes 20000,200000,1000000]
[--repeats 3] [--bg] [--bg-before-max 200000] [--before-max 1000000]``.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from clv_covariates_sim import simulate_dynamic_large  # noqa: E402
from retention_lab.clv.covariates_tv import TimeVaryingParetoNBDFitter  # noqa: E402
from retention_lab.clv.covariates_tv_bg import (  # noqa: E402
    TimeVaryingBetaGeoFitter,
    bg_dynamic_loglik_terms,
)

PARAMS = (0.8, 8.0, 0.7, 30.0)
G_TRANS = {"member": 0.4, "q4": 0.3}
G_LIFE = {"member": -0.5, "q4": 0.0}


class ParetoBefore(TimeVaryingParetoNBDFitter):
    """The Pareto/NBD fit before issue 22: scores by central differences, BFGS from I."""
    _row_grad = None
    _bhhh_start = False


class BetaGeoBefore(TimeVaryingBetaGeoFitter):
    """The BG/NBD fit before issue 22: central-difference gradient and scores, BFGS from I."""
    _row_grad = None
    _bhhh_start = False

    @staticmethod
    def _total_and_grad(theta, d, h=1e-6):
        f0 = d.w @ bg_dynamic_loglik_terms(theta, d)[0]
        g = np.empty(len(theta))
        for j in range(len(theta)):
            e = np.zeros(len(theta))
            e[j] = h
            g[j] = (d.w @ bg_dynamic_loglik_terms(theta + e, d)[0]
                    - d.w @ bg_dynamic_loglik_terms(theta - e, d)[0]) / (2 * h)
        return float(f0), g


def timed(fn, repeats):
    """(last result, median wall s, median CPU s) over ``repeats`` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return out, float(np.median(walls)), float(np.median(cpus))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20000,200000,1000000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bg", action="store_true", help="also the time-varying BG/NBD")
    ap.add_argument("--bg-before-max", type=int, default=200_000,
                    help="largest size for the BG/NBD's slow before-path")
    ap.add_argument("--before-max", type=int, default=1_000_000,
                    help="largest size for the Pareto/NBD's before-path")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    models = [("Pareto/NBD", ParetoBefore, TimeVaryingParetoNBDFitter)]
    if args.bg:
        models.append(("BG/NBD", BetaGeoBefore, TimeVaryingBetaGeoFitter))
    print(f"time-varying BTYD fits, 104 weeks, member + q4 in both processes "
          f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores)")
    for n in (int(s) for s in args.sizes.split(",")):
        w0 = time.perf_counter()
        tx, changes, end = simulate_dynamic_large(n, PARAMS, G_TRANS, G_LIFE, seed=2)
        print(f"\n{n:,} customers: {len(tx):,} transactions, {len(changes):,} covariate rows "
              f"(simulated in {time.perf_counter() - w0:.1f} s)")
        reps = args.repeats if n <= 20_000 else 1       # minutes a fit beyond 20k
        for name, old, new in models:
            cap = args.bg_before_max if name == "BG/NBD" else args.before_max
            if n > cap:
                after, wa, ca = timed(lambda: new().fit(tx, changes, end), reps)
                print(f"  {name:<10} before: skipped above {cap:,} customers; "
                      f"now {wa:7.1f} s wall ({ca:7.1f} s cpu); {after.n_distinct_rows_:,} rows")
                continue
            before, wb, cb = timed(lambda: old().fit(tx, changes, end, compact=False), reps)
            after, wa, ca = timed(lambda: new().fit(tx, changes, end), reps)
            diff = float(np.max(np.abs(after.params_.to_numpy() - before.params_.to_numpy())
                                / np.maximum(1.0, np.abs(before.params_.to_numpy()))))
            print(f"  {name:<10} before {wb:7.1f} s wall ({cb:7.1f} s cpu); now "
                  f"{wa:7.1f} s wall ({ca:7.1f} s cpu) — {cb / ca:4.2f}x cpu, {wb / wa:4.2f}x wall; "
                  f"{after.n_distinct_rows_:,} rows of {n:,} "
                  f"({after.n_distinct_rows_ / n:.0%}); estimates differ by ≤ {diff:.1e} "
                  f"(median of {reps})")
            print("     " + ", ".join(f"{k} {v:.3f}" for k, v in after.params_.items()))
        print(f"  peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
