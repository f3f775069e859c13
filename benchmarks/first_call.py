"""First-call cost (issue 22, item 4): ``import retention_lab`` plus a first fit or summary,
against the second call of the same, in fresh processes.

    .venv/bin/python benchmarks/first_call.py               # every case, 5 fresh processes each
    .venv/bin/python benchmarks/first_call.py --runs 3 --cases bgnbd_cdnow

Each run is a new Python process that imports numpy and pandas and loads its data (a user's
notebook has done that before calling retention_lab; none of it is timed), then times, with
``time.perf_counter``: the import of the retention_lab module it calls, the first call, and the
second call. The target: ``import + first call − second call <= 0.3 s`` (wall; the CPU time
of all threads is printed beside it, the robust number on a shared machine). Medians over the
runs are printed with that overhead and the ratio ``(import + first) / second``; the machine
is shared, so ``uptime`` is printed too. No timing is asserted anywhere.

Cases:

``bgnbd_cdnow`` / ``pnbd_cdnow``
    ``import retention_lab.clv`` and ``BetaGeoFitter().fit`` / ``ParetoNBDFitter().fit`` on
    CDNOW's 2,357 customers (weeks).
``bgnbd_1M``
    The same BG/NBD fit on 1M resampled CDNOW customers (``compare_lifetimes.py``'s data).
``summary_frame``
    ``import retention_lab.features`` and ``rfm_summary`` of CDNOW's 6,919 transactions (pandas).
``summary_path``
    ``rfm_summary`` of the 10M-transaction Parquet file of ``benchmarks/scale.py`` (DuckDB and
    the compiled one-pass kernel: the C library, else numba's; both are built before the runs
    — by ``retention_lab.engines.warm()``, as ``make setup`` does — the numba cache's
    cold-cost is printed separately, and which kernel counted).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data" / "compare"
OBSERVATION_END = "2024-12-31"   # benchmarks/scale.py's tx_10M window

# Each case: the code run before timing (data loading, not timed), the import timed, the call
# timed twice. ``{path}`` is replaced by the case's data file.
CASES = {
    "bgnbd_cdnow": ("import pandas as pd; d = pd.read_parquet({path!r})",
                    "import retention_lab.clv as clv",
                    "clv.BetaGeoFitter().fit(d)", "cdnow"),
    "pnbd_cdnow": ("import pandas as pd; d = pd.read_parquet({path!r})",
                   "import retention_lab.clv as clv",
                   "clv.ParetoNBDFitter().fit(d)", "cdnow"),
    "bgnbd_1M": ("import pandas as pd; d = pd.read_parquet({path!r})",
                 "import retention_lab.clv as clv",
                 "clv.BetaGeoFitter().fit(d)", "resampled_1M"),
    "summary_frame": ("import pandas as pd; d = pd.read_parquet({path!r})",
                      "import retention_lab.features as features",
                      "features.rfm_summary(d, '1998-06-30', freq='W')", "cdnow_tx"),
    "summary_path": ("import pandas as pd",
                     "import retention_lab.features as features",
                     f"features.rfm_summary({{path!r}}, {OBSERVATION_END!r}, freq='D')",
                     "tx_10M"),
}

CHILD = """
import json, time, warnings
warnings.simplefilter("ignore")
import numpy as np
{setup}
t0, c0 = time.perf_counter(), time.process_time()
{imp}
t1, c1 = time.perf_counter(), time.process_time()
{call}
t2, c2 = time.perf_counter(), time.process_time()
{call}
t3, c3 = time.perf_counter(), time.process_time()
print(json.dumps(dict(imp=t1 - t0, first=t2 - t1, second=t3 - t2,
                      imp_cpu=c1 - c0, first_cpu=c2 - c1, second_cpu=c3 - c2)))
"""


def data_path(name: str) -> str:
    if name == "cdnow_tx":
        path = DATA / "cdnow_tx.parquet"
        if not path.exists():
            import retention_lab as rl
            DATA.mkdir(parents=True, exist_ok=True)
            tx = rl.datasets.load_cdnow()
            tx.attrs = {}
            tx.to_parquet(path)
        return str(path)
    if name == "tx_10M":
        sys.path.insert(0, str(HERE))
        import scale  # the 10M-transaction Parquet dataset of the scale benchmark
        return str(scale.generate("10M"))
    path = DATA / f"{name}.parquet"
    if not path.exists():
        sys.path.insert(0, str(HERE))
        import compare_lifetimes  # its data files (no lifetimes needed for these)
        compare_lifetimes.prepare_data()
    return str(path)


def run_child(code: str, env: dict) -> dict:
    # cwd: a `-c` child puts its working directory first on sys.path — this checkout's package
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=False, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="fresh processes per case")
    ap.add_argument("--cases", default=",".join(CASES), help=f"subset of {tuple(CASES)}")
    args = ap.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        ap.error(f"unknown cases {sorted(unknown)}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in
                                                      env.get("PYTHONPATH", "").split(os.pathsep)
                                                      if p])
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine "
          f"{os.uname().nodename}, {os.cpu_count()} CPUs; uptime: {uptime}")
    if "summary_path" in cases:
        # the numba cache: cold once (an empty cache directory), for the record, then warmed
        # where the package keeps it, as `make setup` does
        code = ("import json, time; t = time.perf_counter(); import retention_lab.engines as e; "
                "w = e.warm(); print(json.dumps(dict(t=time.perf_counter() - t, "
                "compiled=w['compiled'], kernel=w.get('kernel', 'numba'))))")
        with tempfile.TemporaryDirectory() as tmp:
            cold = run_child(code, dict(env, NUMBA_CACHE_DIR=tmp))
        warm = run_child(code, env)
        print(f"numba kernel: empty cache, import + compile {cold['t']:.2f} s "
              f"(compiled: {cold['compiled']}); package cache, import + load {warm['t']:.2f} s "
              f"(compiled: {warm['compiled']}); the summaries count with the "
              f"{warm['kernel']!r} kernel (engines.kernels.KERNEL_SOURCE)")
    rows = []
    for name in cases:
        setup, imp, call, data = CASES[name]
        path = data_path(data)
        code = CHILD.format(setup=setup.format(path=path), imp=imp,
                            call=call.format(path=path))
        runs = [run_child(code, env) for _ in range(args.runs)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        over = statistics.median(r["imp"] + r["first"] - r["second"] for r in runs)
        over_cpu = statistics.median(r["imp_cpu"] + r["first_cpu"] - r["second_cpu"]
                                     for r in runs)
        ratio = statistics.median((r["imp"] + r["first"]) / r["second"] for r in runs)
        rows.append((name, med, over, over_cpu, ratio))
        print(f"{name:<14} import {med['imp']:.3f} s, first {med['first']:.3f} s, second "
              f"{med['second']:.3f} s; import + first − second {over:+.3f} s wall "
              f"({'within' if over <= 0.3 else 'OVER'} 0.3 s), {over_cpu:+.3f} s CPU; "
              f"(import + first) / second {ratio:.2f}", flush=True)
    print(f"\nmedians of {args.runs} fresh processes (wall; CPU of all threads in brackets)")
    print(f"{'case':<14} {'import s':>15} {'first s':>15} {'second s':>15} "
          f"{'overhead s':>15} {'ratio':>6}")
    for name, med, over, over_cpu, ratio in rows:
        print(f"{name:<14} " + " ".join(f"{med[k]:6.3f} ({med[k + '_cpu']:6.3f})"
                                         for k in ("imp", "first", "second"))
              + f" {over:6.3f} ({over_cpu:6.3f}) {ratio:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
