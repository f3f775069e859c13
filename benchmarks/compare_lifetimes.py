"""retention_lab against lifetimes 0.11.3, side by side, in one run (issue 16).

    .venv/bin/python benchmarks/compare_lifetimes.py             # every row, 3 runs each
    .venv/bin/python benchmarks/compare_lifetimes.py --runs 5 --rows pnbd_cdnow,bgnbd_1M
    .venv/bin/python benchmarks/compare_lifetimes.py --fresh     # fresh processes, cold calls

lifetimes needs old numpy/pandas/scipy, so it runs in its own venv, created once under
``benchmarks/.lifetimes-venv`` (git-ignored) with ``lifetimes==0.11.3, numpy<2, pandas<2.2,
scipy<1.12`` from PyPI. When that venv cannot be built (no network, no wheels) the script prints
why and exits 0: the comparison is skipped, not failed.

How it measures:

* lifetimes runs in a worker process of that venv that stays up for the whole run; this process
  runs retention_lab. Both load the same data files (``benchmarks/data/compare/``, generated once)
  before any timing, and each times only the call itself, inside its own process
  (``time.perf_counter`` and ``time.process_time``).
* Each row runs ``--runs`` times per library, alternating lifetimes / retention_lab, after one
  untimed warm-up call each; medians are printed with the ratio lifetimes ÷ retention_lab, of
  wall time and of CPU time (the machine is shared: CPU time and the ratio within one run are
  the robust numbers; ``uptime`` is printed).
* Agreement: summaries must be equal; fitted parameters equal to 1e-6 relative, or else
  retention_lab's log-likelihood (both parameter sets evaluated with the same likelihood code)
  must be the higher; CLV values computed from the *same* parameters (lifetimes' models get
  retention_lab's estimates) equal to 1e-6 relative.

``--fresh`` (issue 22): every timed call runs in a new process of its library, timed from the
library's import to the end of the call (data loaded before the clock starts, as a user's
notebook has it): what a scheduled report pays, first-call costs included; the first call alone
(import excluded) is printed too. Rows
``summary_path``, ``summary_frame``, ``bgnbd_1M`` and ``pnbd_cdnow``; no agreement check (the
default mode checks the same calls). Each checkout's numba cache is warmed first (untimed, as
``make setup`` does). ``--baseline DIR`` times another checkout in the same rotation, e.g.
``git worktree add /tmp/before <commit>`` then ``--fresh --baseline /tmp/before``.

Rows:

``summary_path`` / ``summary_frame``
    BTYD summary (daily) of 10M transactions, ~1M customers (``benchmarks/scale.py``'s
    ``tx_10M``), from the Parquet path (lifetimes: ``pd.read_parquet`` + its summary, as a user
    would) and from an in-memory frame.
``bgnbd_1M``
    BG/NBD fit on 1M customers: CDNOW rows (fractional weeks) resampled, each T jittered by
    0–6 whole days (customers acquired on other days of the week), so recency <= T holds.
``pnbd_cdnow``
    Pareto/NBD fit on CDNOW's 2,357 customers (39-week calibration, fractional weeks).
``pnbd_100k``
    Pareto/NBD fit on 100k resampled customers as above. lifetimes did not finish in 400 s
    (issue 16): it is tried once with ``--lifetimes-timeout`` seconds (default 60), then given
    up, and the row reports retention_lab's time alone.
``bgnbd_1M_distinct`` / ``pnbd_100k_distinct``
    The worst case for retention_lab: T jittered by a uniform fraction of a day, so that every
    customer is a distinct (x, t_x, T) row and merging identical rows saves nothing (a summary
    from :func:`retention_lab.features.rfm_summary` has ages in whole periods, so real tables
    are closer to the rows above).
``clv_1M``
    12-month CLV of the 1M customers from BG/NBD + Gamma-Gamma (parameters fitted by
    retention_lab and given to both), lifetimes' convention (a month of 4.345 weeks, 1 % a
    month); lifetimes computes no intervals, retention_lab 200-draw bootstrap intervals.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".lifetimes-venv"
VENV_PY = VENV / "bin" / "python"
STAMP = VENV / ".installed"
DATA = HERE / "data" / "compare"
REQUIREMENTS = ["lifetimes==0.11.3", "numpy<2", "pandas<2.2", "scipy<1.12", "pyarrow<17"]
ROWS = ("summary_path", "summary_frame", "bgnbd_1M", "pnbd_cdnow", "pnbd_100k", "clv_1M",
        "bgnbd_1M_distinct", "pnbd_100k_distinct")
OBSERVATION_END = "2024-12-31"        # benchmarks/scale.py's tx_10M window
MONTH_WEEKS = 4.345                   # lifetimes' month in weeks (its CLV freq="W")


# ------------------------------------------------------------------------------ lifetimes side
# Everything below up to `main` runs in the lifetimes venv too: stdlib, numpy and pandas only.
def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def worker() -> None:
    """The lifetimes process: one JSON job per stdin line, one JSON answer per stdout line."""
    import warnings

    import lifetimes
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    warnings.simplefilter("ignore")
    cache: dict = {}

    def table(name):
        if name not in cache:
            cache[name] = pd.read_parquet(DATA / f"{name}.parquet")
        return cache[name]

    def frame(path):
        key = ("frame", path)
        if key not in cache:
            cache[key] = pd.read_parquet(path, columns=["customer_id", "date", "amount"])
        return cache[key]

    def summary(tx):
        return summary_data_from_transaction_data(tx, "customer_id", "date", "amount",
                                                  observation_period_end=OBSERVATION_END,
                                                  freq="D")

    for line in sys.stdin:
        job = json.loads(line)
        kind, out = job["job"], {}
        if kind == "summary_path":
            path = job["path"]
            res, wall, cpu = _timed(lambda: summary(
                pd.read_parquet(path, columns=["customer_id", "date", "amount"])))
        elif kind == "summary_frame":
            tx = frame(job["path"])
            res, wall, cpu = _timed(lambda: summary(tx))
        elif kind in ("bgnbd", "pnbd"):
            d = table(job["table"])
            Fitter = lifetimes.BetaGeoFitter if kind == "bgnbd" else lifetimes.ParetoNBDFitter
            res, wall, cpu = _timed(lambda: Fitter().fit(d["frequency"], d["recency"], d["T"]))
            out["params"] = [float(v) for v in res.params_.to_numpy()]
        elif kind == "clv":
            d = table(job["table"])
            bgf = lifetimes.BetaGeoFitter()
            bgf.params_ = pd.Series(job["bg"], index=["r", "alpha", "a", "b"])
            bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time  # as fit() does
            ggf = lifetimes.GammaGammaFitter()
            ggf.params_ = pd.Series(job["gg"], index=["p", "q", "v"])
            res, wall, cpu = _timed(lambda: ggf.customer_lifetime_value(
                bgf, d["frequency"], d["recency"], d["T"], d["monetary_value"], time=12,
                discount_rate=0.01, freq="W"))
        else:
            raise ValueError(kind)
        if job.get("save"):
            pd.DataFrame(res).to_parquet(job["save"])
        out.update(wall=wall, cpu=cpu)
        print(json.dumps(out), flush=True)


class Lifetimes:
    """The worker process, restarted when a job times out."""

    def __init__(self):
        self.proc = None

    def _start(self):
        self.proc = subprocess.Popen([str(VENV_PY), __file__, "--worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def run(self, timeout: float | None = None, **job) -> dict | None:
        """The worker's answer, or ``None`` when it took longer than ``timeout`` seconds."""
        import selectors

        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            self.close()
            return None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the lifetimes worker died (see its traceback above)")
        return json.loads(line)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def ensure_venv() -> str | None:
    """Build the lifetimes venv once; ``None`` when ready, else the reason it is not."""
    if STAMP.exists():
        return None
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True,
                       capture_output=True, text=True, timeout=300)
        r = subprocess.run([str(VENV_PY), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
                           capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            return "pip could not install " + " ".join(REQUIREMENTS) + ":\n" + r.stderr[-2000:]
        r = subprocess.run([str(VENV_PY), "-c", "import lifetimes"], capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            return "lifetimes does not import in its venv:\n" + r.stderr[-2000:]
    except (OSError, subprocess.SubprocessError) as exc:
        return f"could not build {VENV}: {exc}"
    STAMP.touch()
    return None


# ------------------------------------------------------------------------------ data
def cdnow_summary():
    import retention_lab as rl
    tx = rl.datasets.load_cdnow()
    return rl.features.rfm_summary(tx, "1997-09-30", freq="D", freq_multiplier=7)


def resampled(n: int, seed: int, continuous: bool = False):
    """``n`` CDNOW customers drawn with replacement, T (in weeks) + 0–6 whole days (or, with
    ``continuous``, + a uniform fraction of one day)."""
    import numpy as np
    base = cdnow_summary()[["frequency", "recency", "T", "monetary_value"]].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    out = base.iloc[rng.integers(0, len(base), n)].reset_index(drop=True)
    out["T"] = out["T"] + (rng.uniform(0, 1, n) if continuous else rng.integers(0, 7, n)) / 7.0
    out.index.name = "customer_id"
    return out


def prepare_data() -> dict:
    DATA.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, make in (("cdnow", cdnow_summary), ("resampled_1M", lambda: resampled(10 ** 6, 1)),
                       ("resampled_100k", lambda: resampled(10 ** 5, 2)),
                       ("distinct_1M", lambda: resampled(10 ** 6, 3, continuous=True)),
                       ("distinct_100k", lambda: resampled(10 ** 5, 4, continuous=True))):
        path = DATA / f"{name}.parquet"
        if not path.exists():
            table = make()[["frequency", "recency", "T", "monetary_value"]]
            table.attrs = {}  # the data-quality ledger does not serialise
            table.to_parquet(path)
        files[name] = path
    sys.path.insert(0, str(HERE))
    import scale  # the 10M-transaction Parquet dataset of the scale benchmark
    files["tx_10M"] = scale.generate("10M")
    return files


# ------------------------------------------------------------------------------ fresh processes
FRESH_ROWS = ("summary_path", "summary_frame", "bgnbd_1M", "pnbd_cdnow")
_FRESH_CHILD = """
import json, time, warnings
warnings.simplefilter("ignore")
import numpy as np
import pandas as pd
{load}
t0, c0 = time.perf_counter(), time.process_time()
{imp}
t1, c1 = time.perf_counter(), time.process_time()
res = {call}
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps(dict(imp=(t1 - t0, c1 - c0), call=(t2 - t1, c2 - c1))))
"""
_TX_COLUMNS = '["customer_id", "date", "amount"]'


def fresh_jobs(name: str, files: dict) -> tuple[dict, dict]:
    """``(lifetimes job, retention_lab job)``: dicts of ``load``, ``imp``, ``call`` code."""
    tx, lt_sum = str(files["tx_10M"]), (
        'summary_data_from_transaction_data({tx}, "customer_id", "date", "amount", '
        f'observation_period_end="{OBSERVATION_END}", freq="D")')
    if name == "summary_path":
        return (dict(load="", imp="from lifetimes.utils import summary_data_from_transaction_data",
                     call=lt_sum.format(tx=f"pd.read_parquet({tx!r}, columns={_TX_COLUMNS})")),
                dict(load="", imp="import retention_lab.features as features",
                     call=f"features.rfm_summary({tx!r}, {OBSERVATION_END!r}, freq='D')"))
    if name == "summary_frame":
        load = f"tx = pd.read_parquet({tx!r}, columns={_TX_COLUMNS})"
        return (dict(load=load, imp="from lifetimes.utils import summary_data_from_transaction_data",
                     call=lt_sum.format(tx="tx")),
                dict(load=load, imp="import retention_lab.features as features",
                     call=f"features.rfm_summary(tx, {OBSERVATION_END!r}, freq='D')"))
    table, cls = {"bgnbd_1M": ("resampled_1M", "BetaGeoFitter"),
                  "pnbd_cdnow": ("cdnow", "ParetoNBDFitter")}[name]
    load = f"d = pd.read_parquet({str(files[table])!r})"
    return (dict(load=load, imp="import lifetimes",
                 call=f'lifetimes.{cls}().fit(d["frequency"], d["recency"], d["T"])'),
            dict(load=load, imp="import retention_lab.clv as clv", call=f"clv.{cls}().fit(d)"))


def _fresh_run(python: str, job: dict, checkout: Path | None = None) -> dict:
    """``{"imp": (wall, cpu), "call": (wall, cpu)}`` of one new process (retention_lab from
    ``checkout``: its directory is the child's working directory and ``PYTHONPATH``)."""
    env = None
    if checkout is not None:
        env = dict(os.environ, PYTHONPATH=str(checkout))
    out = subprocess.run([python, "-c", _FRESH_CHILD.format(**job)], capture_output=True,
                         text=True, check=False, env=env, cwd=checkout)
    if out.returncode != 0:
        raise RuntimeError(f"fresh {python} run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fresh(rows, runs: int, files: dict, baseline: Path | None = None) -> list:
    """Each row ``runs`` times per library, alternating, each call in a new process; two
    result rows per row: the first call alone, and the library's import + the first call.
    With ``baseline`` (another checkout of retention_lab, e.g. a git worktree of an earlier
    commit), that one runs third in each rotation and gets its own result rows ("before"),
    so that before and after come from the same run."""
    checkouts = [("", HERE.parent)] + ([(" (baseline)", baseline)] if baseline else [])
    for _, checkout in checkouts:  # the numba kernel's cache, as `make setup` warms it
        _fresh_run(sys.executable, dict(load="", imp="import retention_lab.engines as e",
                                        call="e.warm()"), checkout)
    results = []
    for name in rows:
        if name not in FRESH_ROWS:
            print(f"\n== {name}: not in the fresh-process rows {FRESH_ROWS}; skipped")
            continue
        lt_job, rl_job = fresh_jobs(name, files)
        a_lt, a_ours = [], {tag: [] for tag, _ in checkouts}
        for _ in range(runs):
            a_lt.append(_fresh_run(str(VENV_PY), lt_job))
            for tag, checkout in checkouts:
                a_ours[tag].append(_fresh_run(sys.executable, rl_job, checkout))
        for label, parts in (("first call", ("call",)), ("import+call", ("imp", "call"))):
            def total(ans):
                return tuple(sum(ans[p][k] for p in parts) for k in (0, 1))
            for tag, _ in checkouts:
                row = dict(name=f"{name} {label}{tag}", ours=[total(a) for a in a_ours[tag]],
                           lifetimes=[total(a) for a in a_lt], ok=True,
                           note=f"fresh processes: {label}{tag}")
                results.append(row)
                _print_row(row)
    return results


# ------------------------------------------------------------------------------ main
def _median(values):
    import numpy as np
    return float(np.median(values)) if values else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="timed runs per library and row (>= 3)")
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {ROWS}")
    ap.add_argument("--lifetimes-timeout", type=float, default=60.0,
                    help="seconds lifetimes gets for the Pareto/NBD 100k fit")
    ap.add_argument("--fresh", action="store_true",
                    help="time import + first call, each in a new process (issue 22)")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="with --fresh: another retention_lab checkout timed in the same "
                         "rotation (before → after in one run)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker()
        return 0
    rows = [r for r in args.rows.split(",") if r]
    unknown = set(rows) - set(ROWS)
    if unknown:
        ap.error(f"unknown rows {sorted(unknown)}; choose from {ROWS}")

    reason = ensure_venv()
    if reason:
        print(f"compare_lifetimes: SKIPPED — the lifetimes venv is not available.\n{reason}")
        return 0

    import warnings

    import numpy as np
    import pandas as pd

    import retention_lab as rl

    warnings.simplefilter("ignore")
    files = prepare_data()
    tables = {k: pd.read_parquet(v) for k, v in files.items() if k != "tx_10M"}
    tx_path = str(files["tx_10M"])
    print(f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine "
          f"{os.uname().nodename}, {os.cpu_count()} CPUs; uptime: "
          f"{subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    if args.fresh:
        results = fresh(rows, args.runs, files, args.baseline)
        _print_summary(results, "fresh processes: import + first call, medians")
        return 0
    lt = Lifetimes()
    results = []

    def loglik(Fitter, table, params):
        m = Fitter()
        x, tx, T, w = rl.clv.base.btyd_arrays(table)
        (ux, utx, uT), _, uw = rl.clv.base.distinct_rows(x, tx, T)
        return float(uw @ m._loglik(np.asarray(params, float), m._prepare(ux, utx, uT)))

    def compare_fit(Fitter, table, ours, theirs):
        p_ours = ours.params_[list(Fitter._param_names)].to_numpy()
        p_lt = np.asarray(theirs["params"])
        rel = float(np.max(np.abs(p_ours / p_lt - 1)))
        ll_ours, ll_lt = loglik(Fitter, table, p_ours), loglik(Fitter, table, p_lt)
        ok = rel <= 1e-6 or ll_ours >= ll_lt
        return ok, (f"params max rel. diff {rel:.1e}; log-lik ours {ll_ours:.6f} vs lifetimes' "
                    f"estimate {ll_lt:.6f} ({ll_ours - ll_lt:+.2e})")

    def alternate(name, ours_fn, lt_job, check=None, lt_timeout=None, lt_warm=True):
        """One untimed warm-up call each, then ``runs`` alternating timed calls. With
        ``lt_timeout``, lifetimes is given up after its first call over that many seconds."""
        ours_fn()
        if lt_warm and lt_timeout is None:
            lt.run(**lt_job)
        t_ours, t_lt, last_lt, lt_alive = [], [], None, True
        for _ in range(args.runs):
            if lt_alive:
                ans = lt.run(timeout=lt_timeout, **lt_job)
                if ans is None:
                    lt_alive = False
                else:
                    t_lt.append((ans["wall"], ans["cpu"]))
                    last_lt = ans
            last_ours, wall, cpu = _timed(ours_fn)
            t_ours.append((wall, cpu))
        ok, note = (True, "") if check is None else check(last_ours, last_lt)
        row = dict(name=name, ours=t_ours, lifetimes=t_lt, ok=ok, note=note)
        results.append(row)
        _print_row(row)
        return row

    if "summary_path" in rows or "summary_frame" in rows:
        tx = pd.read_parquet(tx_path, columns=["customer_id", "date", "amount"])
        save = str(DATA / "lifetimes_summary_10M.parquet")

        def check_summary(ours, _ans):
            theirs = pd.read_parquet(save)
            o = ours[["frequency", "recency", "T", "monetary_value"]].sort_index()
            t = theirs[["frequency", "recency", "T", "monetary_value"]].sort_index()
            if len(o) != len(t) or not (o.index == t.index).all():
                return False, f"different customers: {len(o):,} vs lifetimes {len(t):,}"
            diff = float(np.max(np.abs(o.to_numpy(float) - t.to_numpy(float))
                                / np.maximum(1.0, np.abs(t.to_numpy(float)))))
            return diff <= 1e-6, f"{len(o):,} customers; max rel. diff of the columns {diff:.1e}"

        for name in ("summary_path", "summary_frame"):
            if name not in rows:
                continue
            src = tx_path if name == "summary_path" else tx
            lt.run(job=name, path=tx_path, save=save)  # warm-up, and its summary for the check
            alternate(name, lambda: rl.features.rfm_summary(src, OBSERVATION_END, freq="D"),
                      dict(job=name, path=tx_path), check=check_summary, lt_warm=False)
        del tx

    if "bgnbd_1M" in rows:
        t = tables["resampled_1M"]
        alternate("bgnbd_1M", lambda: rl.clv.BetaGeoFitter().fit(t),
                  dict(job="bgnbd", table="resampled_1M"),
                  check=lambda o, a: compare_fit(rl.clv.BetaGeoFitter, t, o, a))
    if "pnbd_cdnow" in rows:
        t = tables["cdnow"]
        alternate("pnbd_cdnow", lambda: rl.clv.ParetoNBDFitter().fit(t),
                  dict(job="pnbd", table="cdnow"),
                  check=lambda o, a: compare_fit(rl.clv.ParetoNBDFitter, t, o, a))
    if "pnbd_100k" in rows:
        t = tables["resampled_100k"]
        alternate("pnbd_100k", lambda: rl.clv.ParetoNBDFitter().fit(t),
                  dict(job="pnbd", table="resampled_100k"), lt_timeout=args.lifetimes_timeout,
                  check=lambda o, a: ((True, f"lifetimes did not finish in "
                                             f"{args.lifetimes_timeout:.0f} s") if a is None
                                      else compare_fit(rl.clv.ParetoNBDFitter, t, o, a)))
    if "bgnbd_1M_distinct" in rows:
        t = tables["distinct_1M"]
        alternate("bgnbd_1M_distinct", lambda: rl.clv.BetaGeoFitter().fit(t),
                  dict(job="bgnbd", table="distinct_1M"),
                  check=lambda o, a: compare_fit(rl.clv.BetaGeoFitter, t, o, a))
    if "pnbd_100k_distinct" in rows:
        t = tables["distinct_100k"]
        alternate("pnbd_100k_distinct", lambda: rl.clv.ParetoNBDFitter().fit(t),
                  dict(job="pnbd", table="distinct_100k"), lt_timeout=args.lifetimes_timeout,
                  check=lambda o, a: ((True, f"lifetimes did not finish in "
                                             f"{args.lifetimes_timeout:.0f} s") if a is None
                                      else compare_fit(rl.clv.ParetoNBDFitter, t, o, a)))
    if "clv_1M" in rows:
        t = tables["resampled_1M"]
        bg = rl.clv.BetaGeoFitter().fit(t)
        gg = rl.clv.GammaGammaFitter().fit(t[t["frequency"] > 0])
        month_days = MONTH_WEEKS * 7
        save = str(DATA / "lifetimes_clv_1M.parquet")
        job = dict(job="clv", table="resampled_1M", bg=bg.params_[["r", "alpha", "a", "b"]].tolist(),
                   gg=gg.params_[["p", "q", "v"]].tolist())
        lt.run(save=save, **job)  # warm-up, and its CLV for the check

        def clv_ours():
            return rl.clv.customer_lifetime_value(bg, gg, t, horizon=12, horizon_unit=month_days,
                                                  discount_rate=0.01, summary_unit="W",
                                                  n_draws=200)

        def check_clv(ours, _ans):
            theirs = pd.read_parquet(save).iloc[:, 0].to_numpy()
            rel = float(np.max(np.abs(ours.clv.to_numpy() / theirs - 1)))
            return rel <= 1e-6, (f"same parameters: CLV max rel. diff {rel:.1e}; ours with "
                                 f"200-draw intervals, lifetimes without")

        alternate("clv_1M", clv_ours, job, check=check_clv, lt_warm=False)
    lt.close()
    _print_summary(results, "medians")
    return 0 if all(r["ok"] for r in results) else 1


def _print_summary(results, what: str):
    print(f"\nsummary ({what}; ratio = lifetimes / retention_lab)")
    print(f"{'row':<31} {'lifetimes s':>12} {'ours s':>8} {'ratio wall':>10} {'ratio CPU':>9}"
          f" {'lifetimes CPU s':>15} {'ours CPU s':>10}  agree")
    for row in results:
        _print_row(row, short=True)


def _print_row(row, short: bool = False):
    ow, oc = _median([w for w, _ in row["ours"]]), _median([c for _, c in row["ours"]])
    lw, lc = (_median([w for w, _ in row["lifetimes"]]), _median([c for _, c in row["lifetimes"]]))
    lt_s = f"{lw:12.3f}" if row["lifetimes"] else f"{'—':>12}"
    ratio = f"{lw / ow:9.1f}×" if row["lifetimes"] else f"{'—':>10}"
    ratio_c = f"{lc / oc:8.1f}×" if row["lifetimes"] else f"{'—':>9}"
    if short:
        lt_c = f"{lc:15.3f}" if row["lifetimes"] else f"{'—':>15}"
        print(f"{row['name']:<31} {lt_s} {ow:8.3f} {ratio} {ratio_c} {lt_c} {oc:10.3f}  "
              f"{'yes' if row['ok'] else 'NO'}")
        return
    print(f"\n== {row['name']}")
    print("  lifetimes     wall " + ", ".join(f"{w:.3f}" for w, _ in row["lifetimes"])
          + "  CPU " + ", ".join(f"{c:.3f}" for _, c in row["lifetimes"]))
    print("  retention_lab wall " + ", ".join(f"{w:.3f}" for w, _ in row["ours"])
          + "  CPU " + ", ".join(f"{c:.3f}" for _, c in row["ours"]))
    print(f"  median wall: lifetimes {lt_s.strip()} s, retention_lab {ow:.3f} s, ratio "
          f"{ratio.strip()} (CPU {ratio_c.strip()})")
    print(f"  agreement: {'OK' if row['ok'] else 'FAILED'} — {row['note']}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
