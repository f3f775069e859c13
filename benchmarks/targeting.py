"""Targeting end to end at 100k and 1M customers (issue 23): time and peak memory.

For each size, in a fresh subprocess (so that the peak resident memory is that size's own):
the package's campaign simulator, then :func:`retention_lab.targeting.analyze` — features
(BG/NBD + Gamma-Gamma on the pre-period summary), four cross-fitted DR-learners (CLV, IPCW
retention, spend, and the complete-case retention contrast), policy values, Qini curves with
bootstrap bands and the RATE test. Printed: wall and CPU seconds of the simulation and of
``analyze``, the seconds spent inside scikit-learn's gradient boosting (fit + predict: "the
learner library") and their share of ``analyze``, and the peak RSS.

Settings: 3 cross-fitting folds (each learner fits 2 × (3 + 3) outcome models and 3 second
stages), 100 bootstrap draws, one OpenMP thread per model (the shared machine). The 1M case
takes many minutes: run it once (``--sizes 1000000``), not in a loop.

Run: ``.venv/bin/python benchmarks/targeting.py [--sizes 100000 1000000] [--folds 3]``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def one(n: int, folds: int, n_boot: int) -> dict:
    import warnings

    from sklearn.ensemble import HistGradientBoostingRegressor as HGB

    import retention_lab as rl
    from retention_lab import targeting as tg

    warnings.simplefilter("ignore")
    spent = [0.0]
    for name in ("fit", "predict"):
        original = getattr(HGB, name)

        def timed(self, *a, _orig=original, **k):
            t = time.perf_counter()
            try:
                return _orig(self, *a, **k)
            finally:
                spent[0] += time.perf_counter() - t
        setattr(HGB, name, timed)
    w, c = time.perf_counter(), time.process_time()
    data = rl.datasets.simulate_targeting_campaign(n, seed=1)
    sim_wall, sim_cpu = time.perf_counter() - w, time.process_time() - c
    w, c = time.perf_counter(), time.process_time()
    rep = tg.analyze(data.customers, n_folds=folds, n_boot=n_boot, seed=1)
    an_wall, an_cpu = time.perf_counter() - w, time.process_time() - c
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(n=n, sim_wall=sim_wall, sim_cpu=sim_cpu, wall=an_wall, cpu=an_cpu,
                learner=spent[0], peak_mb=peak_mb, contacts=int(rep.customers["contact"].sum()),
                value=rep.policy("learned")["value"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--boot", type=int, default=100)
    ap.add_argument("--child", type=int, default=None)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one(args.child, args.folds, args.boot)))
        return
    print(f"targeting.analyze, {args.folds} folds, {args.boot} bootstrap draws, 1 thread per model")
    print(f"{'customers':>10} {'simulate s':>10} {'analyze wall s':>14} {'cpu s':>8} "
          f"{'in sklearn s':>12} {'share':>6} {'peak RSS MB':>11}")
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--folds",
                              str(args.folds), "--boot", str(args.boot)], capture_output=True,
                             text=True, env=dict(os.environ))
        if out.returncode != 0:
            print(out.stderr[-2000:])
            sys.exit(1)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['n']:>10,} {r['sim_wall']:>10.1f} {r['wall']:>14.1f} {r['cpu']:>8.1f} "
              f"{r['learner']:>12.1f} {r['learner'] / r['wall']:>6.0%} {r['peak_mb']:>11,.0f}",
              flush=True)


if __name__ == "__main__":
    main()
