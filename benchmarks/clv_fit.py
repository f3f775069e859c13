"""BTYD fit and CLV timings at the scale of ``analyze_clv`` on 1M customers.

Customers are simulated from the BG/NBD model at the CDNOW estimates with CDNOW's structure
(acquired over the first 12 weeks, observed to week 39, ages recorded in days and expressed in
weeks). Printed:

1. BG/NBD: collapse_summary + fit at 2,357 / 100k / 1M customers (time, peak memory);
2. what ``analyze_clv`` does: BG/NBD and Pareto/NBD fitted on the *un-collapsed* 1M-customer
   summary (the fitters merge identical rows themselves) against the collapsed fits;
3. Pareto/NBD with its analytic gradient against the previous numerical-gradient fitter
   (central differences, the baseline) in the same process, as a time ratio;
4. customer_lifetime_value (200 bootstrap draws) against the previous per-draw evaluation of
   every distinct (x, t_x, T) over the horizon (baseline), as a time ratio.

Wall and CPU seconds are both printed: the machine may be shared.

Run: ``.venv/bin/python benchmarks/clv_fit.py`` (a few minutes; ``--quick`` skips the 1M
baselines).
"""
from __future__ import annotations

import time
import tracemalloc
import warnings

import numpy as np

import retention_lab as rl
from retention_lab.clv import simulate

TRUE = dict(r=0.243, alpha=4.414, a=0.793, b=2.426)
SIZES = (2_357, 100_000, 1_000_000)


def cdnow_like(n: int, seed: int = 0):
    rng = np.random.default_rng(seed + 1)
    T = (273 - rng.integers(0, 84, n)) / 7.0  # 39 weeks minus the acquisition day
    return simulate.beta_geo(n, **TRUE, T=T, seed=seed, resolution=1 / 7)


def measure(fn, repeat: int = 1):
    """(result, best wall seconds, best CPU seconds, peak traced MB); memory is traced in a
    separate run so that tracing does not slow the timed ones."""
    out, best_wall, best_cpu = timed(fn, repeat)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    return out, best_wall, best_cpu, peak


def timed(fn, repeat: int = 1):
    """(result, best wall seconds, best CPU seconds), without the memory-tracing run."""
    best_wall = best_cpu = np.inf
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return out, best_wall, best_cpu


def fit_collapsed(data):
    collapsed = rl.features.collapse_summary(data)
    return rl.clv.BetaGeoFitter().fit(collapsed), len(collapsed)


def main(full: bool = False):
    warnings.simplefilter("ignore")
    rl.clv.BetaGeoFitter().fit(cdnow_like(500))  # warm up imports
    rows = []
    for n in SIZES:
        data = cdnow_like(n, seed=n)
        (model, distinct), wall, cpu, peak = measure(lambda: fit_collapsed(data),
                                                     repeat=3 if n < 1_000_000 else 2)
        rows.append((n, model, wall, cpu, peak, distinct))
    base_w, base_m = rows[0][2], rows[0][4]
    print("BG/NBD: collapse_summary + BetaGeoFitter.fit (with Hessian SEs); best of 2-3 runs")
    print(f"{'customers':>10} {'distinct':>9} {'wall s':>7} {'CPU s':>6} {'peak MB':>8} "
          f"{'time ×':>7} {'mem ×':>6}   r      alpha  a      b")
    for n, model, wall, cpu, peak, distinct in rows:
        p = model.params_
        print(f"{n:>10,} {distinct:>9,} {wall:>7.3f} {cpu:>6.3f} {peak:>8.1f} {wall / base_w:>7.1f} "
              f"{peak / base_m:>6.1f}   {p['r']:.3f}  {p['alpha']:.3f}  {p['a']:.3f}  {p['b']:.3f}")
    print(f"(truth: r={TRUE['r']}, alpha={TRUE['alpha']}, a={TRUE['a']}, b={TRUE['b']})")
    # what analyze_clv does: fit the per-customer summary (the fitters merge identical rows)
    data = cdnow_like(1_000_000, seed=1_000_000)
    print("\n1M customers, un-collapsed input (fit merges identical rows)")
    for Fitter in (rl.clv.BetaGeoFitter, rl.clv.ParetoNBDFitter):
        model, wall, cpu, peak = measure(lambda: Fitter().fit(data))
        ref = Fitter().fit(rl.features.collapse_summary(data))
        rel = np.max(np.abs(model.params_ / ref.params_ - 1))
        print(f"  {Fitter.__name__:<16} {wall:6.2f} s wall ({cpu:.2f} s CPU), peak {peak:.0f} MB, "
              f"{model.n_distinct_rows_:,} distinct rows; vs collapsed input: max rel. param "
              f"diff {rel:.1e}, LL {model.log_likelihood_:.3f} vs {ref.log_likelihood_:.3f}")

    # Pareto/NBD: analytic gradient vs the previous central-difference gradient (same process)
    class NumericalGradient(rl.clv.ParetoNBDFitter):
        _loglik_grad = None  # the fitter before the analytic gradient: central differences

    print("\nPareto/NBD fit: analytic gradient vs numerical-gradient baseline, same process")
    tx = rl.datasets.load_cdnow()
    s = rl.features.rfm_summary(tx, "1997-09-30", freq="D", freq_multiplier=7)
    cases = [("CDNOW 1/10 sample", s), ("100k simulated", cdnow_like(100_000, seed=100_000))]
    if full:
        cases.append(("1M simulated", data))
    for label, table in cases:
        new, w_new, c_new = timed(lambda: rl.clv.ParetoNBDFitter().fit(table), repeat=2)
        old, w_old, c_old = timed(lambda: NumericalGradient().fit(table))
        rel = np.max(np.abs(new.params_ / old.params_ - 1))
        print(f"  {label:<18} {new.n_distinct_rows_:>8,} distinct: analytic {w_new:6.2f} s "
              f"({c_new:.2f} CPU), numerical {w_old:6.2f} s ({c_old:.2f} CPU): "
              f"×{w_old / w_new:.1f} wall, ×{c_old / c_new:.1f} CPU; params max rel. diff "
              f"{rel:.1e}")

    # CLV: the horizon sum once per distinct (x, T) vs per (x, t_x, T) per draw (baseline)
    class PerRow:
        """The transaction model without its (x, T) factorisation: the previous CLV path."""
        def __init__(self, model):
            self._m = model

        def __getattr__(self, name):
            if name == "_expected_purchases_if_alive":
                raise AttributeError(name)
            return getattr(self._m, name)

        def _with_params(self, params):
            return PerRow(self._m._with_params(params))

    n_clv = 1_000_000 if full else 100_000
    table = cdnow_like(n_clv, seed=n_clv)
    table.attrs.update(freq="W", freq_multiplier=1)
    bg = rl.clv.BetaGeoFitter().fit(table)
    print(f"\ncustomer_lifetime_value, {n_clv:,} customers, 200 bootstrap draws, fixed spend")
    new, w_new, c_new = timed(lambda: rl.clv.customer_lifetime_value(bg, 30.0, table))
    old, w_old, c_old = timed(lambda: rl.clv.customer_lifetime_value(PerRow(bg), 30.0, table))
    diff = np.max(np.abs(new.customers[["clv", "lower 95%", "upper 95%"]].to_numpy()
                         / old.customers[["clv", "lower 95%", "upper 95%"]].to_numpy() - 1))
    print(f"  (x, T) factorised {w_new:.2f} s ({c_new:.2f} CPU), per-row baseline {w_old:.2f} s "
          f"({c_old:.2f} CPU): ×{w_old / w_new:.1f} wall; max rel. difference of clv and "
          f"intervals {diff:.1e}")


if __name__ == "__main__":
    import sys
    main(full="--quick" not in sys.argv)
