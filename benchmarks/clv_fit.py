"""BG/NBD fit time and peak memory at 2,357 / 100k / 1M customers.

Customers are simulated from the BG/NBD model at the CDNOW estimates with CDNOW's structure
(acquired over the first 12 weeks, observed to week 39, ages recorded in days and expressed in
weeks), so the summary collapses to few distinct (frequency, recency, T) rows, as real daily
data does. "fit" = collapse_summary + BetaGeoFitter.fit (optimisation and Hessian standard
errors); the uncollapsed 100k table (1M with ``--full``) is fitted too, to show that the
estimates are the same. Wall and CPU seconds are both printed: the machine may be shared.

Run: ``.venv/bin/python benchmarks/clv_fit.py`` (about 30 s).
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
    best_wall = best_cpu = np.inf
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    return out, best_wall, best_cpu, peak


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
    # the uncollapsed table gives the same estimates at the cost of every row
    n_full = 1_000_000 if full else 100_000
    k = SIZES.index(n_full)
    data = cdnow_like(n_full, seed=n_full)
    full_model, wall, cpu, peak = measure(lambda: rl.clv.BetaGeoFitter().fit(data))
    collapsed = rows[k][1]
    rel = np.max(np.abs(full_model.params_ / collapsed.params_ - 1))
    print(f"\n{n_full:,} uncollapsed: {wall:.2f} s wall ({cpu:.2f} s CPU), peak {peak:.0f} MB; "
          f"estimates vs collapsed: max relative difference {rel:.1e}; log-likelihood "
          f"{full_model.log_likelihood_:.3f} vs {collapsed.log_likelihood_:.3f}")
    tx = rl.datasets.load_cdnow()
    s = rl.features.rfm_summary(tx, "1997-09-30", freq="D", freq_multiplier=7)
    (m, _), wall, cpu, _ = measure(lambda: fit_collapsed(s), repeat=3)
    print(f"CDNOW 1/10 sample (2,357 customers): {wall:.3f} s; r={m.params_['r']:.3f} "
          f"alpha={m.params_['alpha']:.3f} a={m.params_['a']:.3f} b={m.params_['b']:.3f} "
          f"LL={m.log_likelihood_:.1f} (published 0.243, 4.414, 0.793, 2.426, -9582.4)")


if __name__ == "__main__":
    import sys
    main(full="--full" in sys.argv)
