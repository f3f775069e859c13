"""Notebook 04's rolling analysis at 20k, 200k and 1M customers (issue 22, item 5).

Data: the rolling-enrolment simulator of ``benchmarks/_rolling_world.py`` (written for this
benchmark, not the package's own; ~16.6 purchases per customer, ~44 % members, enrolment at a
purchase), written once per size to Parquet files in ``--data-dir``. Each run is a fresh
subprocess that does what a user does: :func:`retention_lab.io.read_experiment` on the files,
then :func:`retention_lab.impact.analyze` with ``design="self_selected"`` (all defaults: the
rolling analysis, event study, time-varying Cox, the membership CLV effect, sensitivity).

Printed per size: the median over ``--repeats`` runs of the wall time of ``read_experiment``
and of ``analyze``, the peak RSS of the process (``resource.getrusage``: ``ru_maxrss``,
which includes the read), and the three most expensive stages (explicit stage timers around
the analysis' main steps; inclusive times, so a stage may contain another), with the targets
of issue 22 (1M: ≤ 60 s and ≤ 8 GiB; 200k: ≤ 15 s) and, as the baseline measured in the same
run, the ratio of ``analyze`` to ``read_experiment`` (the cost of reading the data once).

The machine is usually shared: the figures are wall-clock medians; say so when quoting them.
The BLAS thread count is pinned to one (``OPENBLAS_NUM_THREADS``) unless already set:
OpenBLAS' default threads thrash on a shared 2-core machine.

Run: ``.venv/bin/python benchmarks/flagship_scale.py`` (the ``make benchmarks`` default: 20k and
200k customers, one run each — about 170 s of CPU on the 2-core development machine on
2026-12-06, so a few minutes when it is quiet; it was 7-12 minutes of wall time with the machine
shared by other jobs); the issue's acceptance run is ``--sizes 20000 200000 1000000
--repeats 3`` (on 2026-12-06 one 1M run alone took tens of minutes on the shared machine);
``--profile`` adds a cProfile listing (top 15 by cumulative time) per run. Peak RSS is per
process (``ru_maxrss``) and includes the read; the line under each size names the stages during
which the peak grew most. Since issue 22's side process (``retention_lab.engines.side_process``: on
large studies the event study, the time-varying Cox model and the CLV effect run in a forked
process beside the trial emulation) the peak is the larger of that and the sampled peak of the
proportional set size of this process plus its children (shared pages counted once), the CPU
time of ``analyze`` includes the side process', and its stages are listed with "(side
process)" from the side process' own timers.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
TARGETS = {1_000_000: (60.0, 8.0), 200_000: (15.0, None)}   # seconds, GiB
#: the stages timed in the child: (module, attribute, label)
STAGES = [
    ("retention_lab.impact.analyze", "outcome_table", "outcome table"),
    ("retention_lab.impact.rolling.design", "rolling_effects", "rolling_effects (all)"),
    ("retention_lab.impact.rolling.trials", "build_trials", "build_trials"),
    ("retention_lab.impact.rolling.trials", "_enrolment_hazard", "enrolment hazard"),
    ("retention_lab.impact.rolling.trials", "_logit", "logit fits"),
    ("retention_lab.impact.rolling.trials", "_untreated_btyd", "completion model fit"),
    ("retention_lab.impact.rolling.trials", "_completion_uncertainty", "completion uncertainty"),
    ("retention_lab.impact.rolling.trials", "_dr_means", "DR means + clustered SE"),
    # trials.py re-exports these, but they are also called inside the modules split out of it
    # (issue 21): wrapped there too (a stage is timed at its outermost call only)
    ("retention_lab.impact.rolling.surveys", "_enrolment_hazard", "enrolment hazard"),
    ("retention_lab.impact.rolling.hazard", "_logit", "logit fits"),
    ("retention_lab.impact.rolling.inference", "_dr_means", "DR means + clustered SE"),
    ("retention_lab.impact.rolling.design", "_event_study", "event study"),
    # imported by name into rolling.design: wrapped where the analysis looks them up
    ("retention_lab.impact.rolling.design", "enrolment_hazard_ratio", "time-varying Cox"),
    ("retention_lab.impact.rolling.design", "rolling_clv_rows", "CLV effect (all)"),
    ("retention_lab.impact.core.clv_effects", "order_value_ratio", "CLV: order-value ratio"),
    ("retention_lab.clv.covariates_tv.TimeVaryingParetoNBDFitter", "fit", "CLV: TV model fit"),
    ("retention_lab.clv.covariates_tv.TimeVaryingParetoNBDFitter", "_data_at",
     "CLV: member histories"),
    ("retention_lab.clv.covariates_tv_bg.TimeVaryingBetaGeoFitter", "_cum_expected",
     "CLV: projections (fitter)"),
    ("retention_lab.impact.core.clv_effects", "_bg_projections", "CLV: projections (fused)"),
    ("retention_lab.impact.rolling.design", "rolling_sensitivity", "sensitivity"),
    ("retention_lab.impact.analyze", "segment_effects", "segments"),
    # the rolling design computes its segments itself, before awaiting the side process
    ("retention_lab.impact.rolling.design", "segment_effects", "segments"),
    # the parent's wait for the side process (or its own run of a side stage that failed)
    ("retention_lab.impact.rolling.design", "_side_result", "side results (wait)"),
]


def _resolve(path):
    import importlib
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for p in parts[i:]:
            obj = getattr(obj, p)
        return obj
    raise ImportError(path)


def _install_timers(acc, cpu, peaks):
    """Wrap each stage in a timer adding its inclusive wall time (outermost call only) to
    ``acc[label]`` (its CPU time, all threads, to ``cpu[label]``), and record in ``peaks[label]`` how much the process' peak RSS (GiB) grew
    during the stage. Stages missing in this version of the package are skipped."""
    import functools
    import resource
    depth = {}
    for mod, attr, label in STAGES:
        try:
            owner = _resolve(mod)
            fn = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        except (ImportError, AttributeError, KeyError):
            continue
        if isinstance(fn, staticmethod):
            fn, static = fn.__func__, True
        else:
            static = False

        def wrap(f, label=label):
            @functools.wraps(f)
            def timed(*a, **k):
                depth[label] = depth.get(label, 0) + 1
                t0, c0 = time.perf_counter(), time.process_time()
                r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                try:
                    return f(*a, **k)
                finally:
                    depth[label] -= 1
                    if depth[label] == 0:
                        acc[label] = acc.get(label, 0.0) + time.perf_counter() - t0
                        cpu[label] = cpu.get(label, 0.0) + time.process_time() - c0
                        r1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                        peaks[label] = peaks.get(label, 0.0) + (r1 - r0) / 2 ** 20
            return timed
        w = wrap(fn)
        setattr(owner, attr, staticmethod(w) if static else w)


def _children_cpu() -> float:
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class _PssSampler:
    """The peak, over the run, of the proportional set size (``Pss`` of
    ``/proc/PID/smaps_rollup``) of this process plus its children (the analysis' side
    process: pages it shares with this one are counted once, split between them), sampled
    every 0.1 s in a thread. ``stop()`` returns it in GiB, or None where /proc has no
    ``smaps_rollup``."""

    def __init__(self):
        import threading
        self.peak, self._stop = 0.0, threading.Event()
        self._ok = Path("/proc/self/smaps_rollup").exists()
        self._t = threading.Thread(target=self._run, daemon=True)
        if self._ok:
            self._t.start()

    @staticmethod
    def _pss_kib(pid) -> float:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    return float(line.split()[1])
        except OSError:
            pass
        return 0.0

    def _run(self):
        me = os.getpid()
        while not self._stop.is_set():
            kids = []
            for task in Path(f"/proc/{me}/task").iterdir():
                try:
                    kids += (task / "children").read_text().split()
                except OSError:
                    pass
            total = self._pss_kib(me) + sum(self._pss_kib(k) for k in kids)
            self.peak = max(self.peak, total / 2 ** 20)
            self._stop.wait(0.1)

    def stop(self):
        if not self._ok:
            return None
        self._stop.set()
        self._t.join()
        return self.peak


def child(folder: str, profile: bool) -> dict:
    """One run in this (fresh) process; returns the measurements."""
    import resource
    import warnings

    import retention_lab as rl
    sys.path.insert(0, str(HERE))
    import _rolling_world as world
    warnings.simplefilter("ignore")
    stages: dict = {}
    peaks: dict = {}
    stage_cpu: dict = {}
    _install_timers(stages, stage_cpu, peaks)
    folder = Path(folder)
    t0 = time.perf_counter()
    data = rl.io.read_experiment(folder / "transactions.parquet", folder / "customers.parquet",
                                 observation_end=world.observation_end(),
                                 launch_date=world.launch_date(), design="self_selected")
    t_read = time.perf_counter() - t0
    prof = None
    if profile:
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    sampler = _PssSampler()
    t0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
    rep = rl.impact.analyze(data, design="self_selected")
    t_an = time.perf_counter() - t0
    c_an = time.process_time() - c0 + _children_cpu() - k0   # the side process' CPU too
    pss_gib = sampler.stop()
    if prof is not None:
        import io
        import pstats
        prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(15)
        print(s.getvalue(), file=sys.stderr)
    eff = rep.effects
    est = {f"{r.metric}": [float(r.abs_diff), float(r.se)] for r in eff.itertuples()
           if r.estimand == "effect on members"}
    side = (rep.settings.get("rolling") or {}).get("side_process")
    if side:   # stages that ran in the side process: timed there (wall and CPU)
        for label, cost in side["cost"].items():
            stages[f"{label} (side process)"] = cost["wall"]
            stage_cpu[f"{label} (side process)"] = cost["cpu"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    return dict(n_tx=len(data.transactions), read=t_read, analyze=t_an, analyze_cpu=c_an,
                rss_gib=max(rss, pss_gib or 0.0), rss_self_gib=rss, pss_peak_gib=pss_gib,
                side_process=side,
                stages=stages, stage_cpu=stage_cpu, peak_growth_gib=peaks, analysis=rep.settings.get("analysis"), estimates=est)


def run_size(n: int, data_dir: Path, repeats: int, profile: bool, seed: int = 0):
    sys.path.insert(0, str(HERE))
    import _rolling_world as world
    folder = data_dir / f"n{n}_seed{seed}"
    t0 = time.perf_counter()
    world.write(n, folder, seed)
    t_sim = time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(folder)]
        if profile:
            cmd.append("--profile")
        res = subprocess.run(cmd, capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                                 filter(None, [str(HERE.parent),
                                               os.environ.get("PYTHONPATH")]))))
        if res.returncode:
            print(res.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"run at {n:,} customers failed")
        if profile:
            print(res.stderr, file=sys.stderr)
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return t_sim, runs


def _median(xs):
    xs = sorted(xs)
    k = len(xs)
    return xs[k // 2] if k % 2 else 0.5 * (xs[k // 2 - 1] + xs[k // 2])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(),
                                                       "retention_lab_flagship"))
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--json", help="also write the raw measurements to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.child, a.profile)))
        return
    raw = {}
    print(f"{'customers':>10} {'transactions':>13} {'read s':>7} {'analyze s':>10} "
          f"{'analyze/read':>12} {'peak GiB':>9}  top stages (median s)")
    for n in a.sizes:
        t_sim, runs = run_size(n, Path(a.data_dir), a.repeats, a.profile)
        raw[n] = dict(simulate=t_sim, runs=runs)
        rd, an = _median([r["read"] for r in runs]), _median([r["analyze"] for r in runs])
        rss = _median([r["rss_gib"] for r in runs])
        labels = set().union(*(r["stages"] for r in runs))
        st = {k: _median([r["stages"].get(k, 0.0) for r in runs]) for k in labels}
        top = sorted(st.items(), key=lambda kv: -kv[1])[:3]
        sc = {k: _median([r.get("stage_cpu", {}).get(k, 0.0) for r in runs]) for k in labels}
        print(f"{n:>10,} {runs[0]['n_tx']:>13,} {rd:7.1f} {an:10.1f} {an / rd:12.1f} "
              f"{rss:9.2f}  " + "; ".join(f"{k} {v:.1f} ({sc[k]:.1f} CPU)" for k, v in top)
              + f"   [{len(runs)} run(s): analyze " + ", ".join(
                  f"{r['analyze']:.1f} s ({r['analyze_cpu']:.1f} s CPU)" for r in runs) + "]")
        grow = {k: _median([r.get("peak_growth_gib", {}).get(k, 0.0) for r in runs])
                for k in labels}
        big = [kv for kv in sorted(grow.items(), key=lambda kv: -kv[1])[:3] if kv[1] > 0.01]
        if big:
            print(f"{'':>10} peak RSS grew in: "
                  + "; ".join(f"{k} +{v:.2f} GiB" for k, v in big))
        if n in TARGETS:
            t_max, m_max = TARGETS[n]
            ok = an <= t_max and (m_max is None or rss <= m_max)
            print(f"{'':>10} target ≤ {t_max:.0f} s" + (f", ≤ {m_max:.0f} GiB" if m_max else "")
                  + f": {'met' if ok else 'MISSED'}")
    if a.json:
        Path(a.json).write_text(json.dumps(raw, indent=1, default=str))


if __name__ == "__main__":
    main()
