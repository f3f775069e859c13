"""Rolling-enrolment analysis at 100k customers (issue 12: ≤ 60 s on this machine).

The package's rolling simulator (``design="rolling"``) at 10k and 100k customers; printed for
each: the trial rows, the time of :func:`retention_lab.impact.rolling.rolling_effects` (wall and
CPU seconds — the machine may be shared) and, as the baseline run in the same process, the time
of the launch design's outcome table on the same data (one pass over the transactions), with
the ratio of the two. The 100k line says whether the 60-second budget holds.

The BLAS thread count matters on a shared 2-core machine: with OpenBLAS' default threads the
small least-squares solves thrash (25× slower matrix products were measured); the script pins
one thread unless OPENBLAS_NUM_THREADS is already set.

Run: ``.venv/bin/python benchmarks/impact_rolling.py`` (about a minute).
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402
import warnings  # noqa: E402

import retention_lab as rl  # noqa: E402
from retention_lab.impact.core.outcomes import outcome_table  # noqa: E402
from retention_lab.impact.rolling import rolling_effects  # noqa: E402

BUDGET_S = 60.0


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main():
    warnings.simplefilter("ignore")
    for n in (10_000, 100_000):
        data = rl.datasets.simulate_loyalty_experiment(n_customers=n, design="rolling", seed=1)
        h = data.truth["windows"]["horizon_days"]
        _, base_w, _ = timed(lambda: outcome_table(data, h))
        res, wall, cpu = timed(lambda: rolling_effects(data, horizon_days=h))
        print(f"{n:>7,} customers, {len(data.transactions):>9,} transactions, "
              f"{res.info['n_rows']:>8,} trial rows: rolling_effects {wall:6.1f} s wall "
              f"({cpu:5.1f} s CPU); outcome table {base_w:5.2f} s; ratio {wall / base_w:5.1f}x")
        if n == 100_000:
            print(f"budget {BUDGET_S:.0f} s: {'met' if wall <= BUDGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
