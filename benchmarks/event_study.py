"""Event-study benchmark: 20k customers × 36 calendar months (the rolling simulator's default
window), timed against building the same customer × month panel in the same run.

    .venv/bin/python benchmarks/event_study.py [--customers 20000] [--repeat 3]

Prints the best of ``--repeat`` runs of each step and the ratio of the event study (−6 … +12
months, not-yet-treated controls, influence-function standard errors and the pre-trend test) to
the panel build (the baseline: one pass over the transactions).
"""
from __future__ import annotations

import argparse
import time

import retention_lab as rl
from retention_lab.impact.core.event_study import event_panel, event_study


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    data = rl.datasets.simulate_loyalty_experiment(args.customers, design="rolling", seed=1)
    t_sim = time.perf_counter() - t0
    t_panel, panel = best(lambda: event_panel(data), args.repeat)
    t_es, res = best(lambda: event_study(data, months_before=6, months_after=12), args.repeat)
    n_months = panel["period"].nunique()
    print(f"data: {args.customers:,} customers, {len(data.transactions):,} transactions, "
          f"{n_months} months, {len(panel):,} customer-months (simulated in {t_sim:.1f} s)")
    print(f"panel build (baseline)   {t_panel:7.2f} s")
    print(f"event study (-6..+12)    {t_es:7.2f} s   ratio {t_es / t_panel:5.1f}x the panel build; "
          f"{len(res.group_time)} ATT(g,t) cells, pre-trend {res.pretrend['status']}")


if __name__ == "__main__":
    main()
