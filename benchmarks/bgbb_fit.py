"""BG/BB fit timings: the aggregated pattern table against per-customer rows, in one run.

BG/BB data are naturally a small table of (frequency, recency, n_periods) patterns with the
number of customers of each (22 rows for the 11,104 donors of Fader, Hardie & Shang 2010).
``BetaGeoBetaBinomFitter.fit`` merges identical rows itself, so per-customer input costs the
merge only. Printed, as time ratios against baselines run in the same process:

1. the donations table (22 rows) vs the same data as 11,104 per-customer rows, fitted (a) by
   the fitter (which merges them), (b) without merging (the likelihood over every row, as a
   per-customer implementation does — the baseline), (c) a lifetimes-style likelihood (a
   Python loop over the opportunities adding beta functions row by row, numerical gradient);
2. simulated weekly data over 52 opportunities: 5,000 customers, aggregated vs unaggregated
   rows against the unmerged baseline; 100,000 customers (≈1,400 distinct patterns) without
   the baseline (it takes minutes there).

Wall and CPU seconds are both printed (the machine may be shared).
Run: ``.venv/bin/python benchmarks/bgbb_fit.py`` (under a minute).
"""
from __future__ import annotations

import time

import numpy as np
from scipy import optimize
from scipy.special import betaln

import retention_lab as rl
from retention_lab.clv.beta_geo_beta_binom import BetaGeoBetaBinomFitter, simulate_bgbb


def timed(fn, repeat: int = 3):
    best_wall = best_cpu = np.inf
    out = None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return out, best_wall, best_cpu


def fit_unmerged(rows):
    """The fitter's likelihood and optimiser on every row (no merging of identical rows)."""
    m = BetaGeoBetaBinomFitter()
    x, tx, n = (rows[c].to_numpy(float) for c in ("frequency", "recency", "n_periods"))
    return m._fit(dict(x=x, tx=tx, n=n), np.ones(len(x)), len(x))


def fit_loop_style(rows):
    """A lifetimes-style per-row likelihood: the sum over the opportunities after the last
    transaction accumulated in a Python loop, numerical gradient (BFGS)."""
    x, tx, n = (rows[c].to_numpy(float) for c in ("frequency", "recency", "n_periods"))

    def nll(log_params):
        a, b, g, d = np.exp(log_params)
        A = betaln(a + x, b + n - x) - betaln(a, b) + betaln(g, d + n) - betaln(g, d)
        B = np.zeros_like(x)
        for j in range(int((n - tx).max())):
            B = B + (j < n - tx) * np.exp(betaln(a + x, b + tx - x + j) + betaln(g + 1, d + tx + j))
        B = np.log(B + 1e-300) - betaln(a, b) - betaln(g, d)
        return -np.logaddexp(A, B).mean()

    res = optimize.minimize(nll, np.zeros(4), method="BFGS")
    return np.exp(res.x)


def row(label, wall, cpu, base_wall=None):
    if base_wall:
        ratio = f"{base_wall / wall:8.1f}x"
    else:
        ratio = " baseline" if "baseline" in label else ""
    print(f"  {label:<58s} {wall * 1e3:9.1f} ms wall {cpu * 1e3:9.1f} ms CPU  {ratio}")


def main():
    d = rl.datasets.load_donations()
    rows = d.loc[d.index.repeat(d["weights"])].drop(columns="weights").reset_index(drop=True)
    print(f"1. donations: {len(d)} patterns, {len(rows):,} donors (Fader, Hardie & Shang 2010)")
    agg, w_agg, c_agg = timed(lambda: BetaGeoBetaBinomFitter().fit(d))
    per, w_per, c_per = timed(lambda: BetaGeoBetaBinomFitter().fit(rows))
    raw, w_raw, c_raw = timed(lambda: fit_unmerged(rows))
    loop, w_loop, c_loop = timed(lambda: fit_loop_style(rows), repeat=1)
    row("(b) per-customer rows, no merging (baseline)", w_raw, c_raw)
    row("(c) lifetimes-style loop likelihood, numerical gradient", w_loop, c_loop, w_raw)
    row("(a) per-customer rows, merged by the fitter", w_per, c_per, w_raw)
    row("aggregated table (22 rows)", w_agg, c_agg, w_raw)
    ref = agg.params_.to_numpy()
    gap = np.max(np.abs(np.r_[per.params_.to_numpy() - ref, raw.params_.to_numpy() - ref,
                              loop - ref]))
    print(f"  estimates agree: max |Δ| = {gap:.2g}"
          f"; published α, β, γ, δ = 1.204, 0.750, 0.657, 2.783 → "
          f"{', '.join(f'{v:.3f}' for v in agg.params_)}")

    truth = dict(alpha=1.2, beta=0.75, gamma=0.66, delta=2.8)
    for k, (n_cust, with_baseline) in enumerate(((5_000, True), (100_000, False)), start=2):
        print(f"{k}. simulated weekly BG/BB, {n_cust:,} customers x 52 opportunities")
        table = simulate_bgbb(n_cust, 52, **truth, seed=1)
        people = simulate_bgbb(n_cust, 52, **truth, seed=1, aggregate=False)
        print(f"  {len(table):,} distinct patterns")
        base = None
        if with_baseline:
            _, base, c_raw2 = timed(lambda: fit_unmerged(people), repeat=1)
            row("per-customer rows, no merging (baseline)", base, c_raw2)
        per2, w_per2, c_per2 = timed(lambda: BetaGeoBetaBinomFitter().fit(people), repeat=1)
        agg2, w_agg2, c_agg2 = timed(lambda: BetaGeoBetaBinomFitter().fit(table))
        row("per-customer rows, merged by the fitter", w_per2, c_per2, base)
        row("aggregated table", w_agg2, c_agg2, base)
        print(f"  estimates {', '.join(f'{k}={v:.3f}' for k, v in agg2.params_.items())} "
              f"(truth {', '.join(f'{k}={v}' for k, v in truth.items())})")

if __name__ == "__main__":
    main()
