"""Scale benchmark: the BTYD summary of 10M / 100M transactions on pandas, DuckDB and Spark.

    .venv/bin/python benchmarks/scale.py                      # 10M and 100M, every engine
    .venv/bin/python benchmarks/scale.py --sizes 10M --engines duckdb,spark
    .venv/bin/python benchmarks/scale.py --sizes 100M --engines duckdb,duckdb-sql --no-fit
    .venv/bin/python benchmarks/scale.py --generate-only --sizes 100M

Datasets are generated once with DuckDB itself (out-of-core, deterministic hashes instead of a
random state) as hive-partitioned Parquet directories under ``benchmarks/data/`` (git-ignored):
``tx_10M/`` (~1M customers) and ``tx_100M/`` (~10M customers), columns ``customer_id, date
(timestamp with time of day), amount``, two years of purchases.

Each measurement runs in a fresh subprocess, so the peak RSS (the whole process tree, the Spark
JVM included, sampled every 50 ms) is that measurement's own. The machine may be shared, so
every size is also timed with a *baseline* in the same run — DuckDB's plain
``SELECT customer_id, COUNT(*), MAX(date) ... GROUP BY customer_id`` over the same files (one
scan, one hash aggregate) — and each summary is reported as a ratio to it (wall and CPU), with
the load average when it ran; compare ratios across runs, not seconds. pandas is refused — with a message
pointing to DuckDB — when the estimated memory need exceeds the memory available, instead of an
out-of-memory crash. The BG/NBD fit runs on the collapsed (frequency, recency, T, weight) table
of the largest dataset's summary, computed engine-side.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SIZES = {"1M": 1_000_000, "10M": 10_000_000, "100M": 100_000_000}
OBSERVATION_END = "2024-12-31"


def dataset_path(size: str) -> Path:
    return DATA / f"tx_{size}"


def generate(size: str, threads: int = 2) -> Path:
    """Write ``tx_<size>/year=YYYY/*.parquet``: ~10 transactions per customer, skewed counts."""
    import duckdb

    n = SIZES[size]
    n_customers = n // 10
    out = dataset_path(size)
    if out.exists() and any(out.rglob("*.parquet")):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = DATA / "duckdb_tmp"
    con = duckdb.connect(config={"memory_limit": "2GB", "threads": threads,
                                 "temp_directory": str(tmp), "preserve_insertion_order": False})
    # u(k): a deterministic uniform on [0, 1) (53 bits) from the row number and a stream k.
    u = "((hash(i * 8 + {k}) >> 11) / 9007199254740992.0)"
    sql = f"""
    COPY (
      WITH t AS (
        SELECT i,
               1 + CAST(floor({n_customers} * pow({u.format(k=1)}, 1.5)) AS BIGINT) AS customer_id
        FROM range({n}) r(i)
      ), d AS (
        SELECT i, customer_id,
               (hash(customer_id) % 365) AS first_day,
               {u.format(k=2)} AS v, {u.format(k=3)} AS w
        FROM t
      )
      SELECT customer_id,
             TIMESTAMP '2023-01-01' + to_days(CAST(first_day + floor(v * v * (730 - first_day)) AS INTEGER))
                 + to_seconds(CAST(floor(w * 86400) AS BIGINT)) AS date,
             round(5 + 95 * {u.format(k=4)}, 2) AS amount,
             year(TIMESTAMP '2023-01-01' + to_days(CAST(first_day + floor(v * v * (730 - first_day)) AS INTEGER))) AS year
      FROM d
    ) TO '{out}' (FORMAT parquet, PARTITION_BY (year), OVERWRITE_OR_IGNORE true)
    """
    t0 = time.perf_counter()
    con.execute(sql)
    print(f"generated {out} ({n:,} rows) in {time.perf_counter() - t0:.1f} s", flush=True)
    return out


class PeakRSS:
    """Peak resident set size of this process and its children (Spark's JVM), sampled."""

    def __init__(self, interval: float = 0.05):
        import psutil
        self.proc, self.interval, self.peak = psutil.Process(), interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:  # a child that just exited
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(self.interval)

    def cpu(self) -> float:
        """CPU seconds (user + system) of the process tree so far."""
        total = 0.0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except Exception:
                pass
        return total

    def __enter__(self):
        self.cpu0 = self.cpu()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())
        self.cpu_seconds = self.cpu() - self.cpu0


def _baseline(size: str) -> dict:
    """Runs inside the child process: the plain DuckDB scan + GROUP BY the ratios refer to."""
    import duckdb

    from retention_lab.engines.backends import DUCKDB_CONFIG

    glob = str(dataset_path(size) / "**" / "*.parquet")
    config = {k: v for k, v in DUCKDB_CONFIG.items() if v is not None}
    con = duckdb.connect(config=config)
    result = {"size": size, "engine": "baseline", "rows": SIZES[size]}
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        out = con.execute(f"SELECT customer_id, COUNT(*) AS n, MAX(date) AS last FROM "
                          f"read_parquet('{glob}') GROUP BY customer_id").fetchnumpy()
        elapsed = time.perf_counter() - t0
    result.update(seconds=elapsed, cpu=rss.cpu_seconds, peak_rss=rss.peak,
                  customers=len(out["customer_id"]))
    return result


def _measure(size: str, engine: str) -> dict:
    """Runs inside the child process: one summary, timed, with its peak RSS."""
    import duckdb  # noqa: F401 - imports are not the summary's time
    import pyarrow  # noqa: F401

    import retention_lab as rl
    import retention_lab.engines  # noqa: F401

    path = str(dataset_path(size))
    n = SIZES[size]
    result = {"size": size, "engine": engine, "rows": n}
    if engine == "pandas":
        from retention_lab.engines.sources import check_fits_in_pandas
        try:
            check_fits_in_pandas(n, f"{size} Parquet")
        except MemoryError as exc:
            result["refused"] = str(exc).split(". ")[0] + ": use engine='duckdb'"
            return result
    spark = None
    if engine == "spark":
        spark = rl.engines.spark_session()  # startup is not part of the summary's time
        spark.range(1).collect()
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        if engine == "pandas":
            import pandas as pd
            tx = pd.read_parquet(path, columns=["customer_id", "date", "amount"])
            summary = rl.features.rfm_summary(tx, observation_end=OBSERVATION_END, freq="D",
                                             engine="pandas")
        elif engine == "duckdb-sql":  # the window-SQL path the one-pass kernel replaced
            src = rl.engines.source(path, "duckdb")
            k = rl.engines.summaries.n_partitions(src, n)
            summary = rl.engines.rfm_summary(src, observation_end=OBSERVATION_END, freq="D",
                                             engine="duckdb", partitions=k)
        else:
            summary = rl.engines.rfm_summary(path, observation_end=OBSERVATION_END, freq="D",
                                             engine=engine)
        elapsed = time.perf_counter() - t0
    result.update(seconds=elapsed, cpu=rss.cpu_seconds, peak_rss=rss.peak, customers=len(summary),
                  path=summary.attrs.get("source", ""))
    return result


def _fit(size: str) -> dict:
    """Runs inside the child process: the collapsed table (DuckDB) and a BG/NBD fit on it."""
    import retention_lab as rl

    path = str(dataset_path(size))
    result = {"size": size, "engine": "duckdb+BG/NBD", "rows": SIZES[size]}
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        collapsed = rl.engines.rfm_summary(path, observation_end=OBSERVATION_END, freq="W",
                                           engine="duckdb", collapse=True)
        t_collapse = time.perf_counter() - t0
        try:
            fitter = rl.clv.BetaGeoFitter()
        except Exception as exc:  # noqa: BLE001 - report what is missing, do not crash
            result["refused"] = f"rl.clv.BetaGeoFitter not available ({type(exc).__name__}: {exc})"
            return result
        t1 = time.perf_counter()
        # Customers first seen in the last week have T = 0: no information, and the fitters
        # require T > 0.
        young = collapsed["T"] <= 0
        n_young = int(collapsed.loc[young, "weight"].sum())
        collapsed = collapsed.loc[~young]
        try:
            fitter.fit(collapsed)
        except Exception as exc:  # noqa: BLE001
            result["refused"] = f"BG/NBD fit on the collapsed table failed: {type(exc).__name__}: {exc}"
            return result
        t_fit = time.perf_counter() - t1
    result.update(seconds=t_collapse + t_fit, cpu=rss.cpu_seconds, peak_rss=rss.peak,
                  note=f"collapse (freq W) {t_collapse:.1f} s -> {len(collapsed):,} rows "
                       f"({int(collapsed['weight'].sum()):,} customers; {n_young:,} with T = 0 "
                       f"left out); fit {t_fit:.1f} s; "
                       f"params {dict((k, round(float(v), 4)) for k, v in dict(fitter.params_).items())}")
    return result


def _child(kind: str, size: str, engine: str) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, size, engine]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"size": size, "engine": engine, "rows": SIZES[size],
                "refused": "failed: " + " | ".join(tail)}
    return json.loads(lines[-1])


def _table(rows: list[dict], baselines: dict | None = None) -> str:
    """One line per measurement; ``x base`` = seconds / the baseline's seconds (same size)."""
    baselines = baselines or {}
    head = (f"{'rows':>6} {'engine':<15} {'customers':>11} {'wall s':>8} {'CPU s':>7} "
            f"{'x base':>7} {'CPU x':>6} {'peak RSS':>9} {'load':>5}")
    out = [head, "-" * len(head)]
    for r in rows:
        if "refused" in r:
            out.append(f"{r['size']:>6} {r['engine']:<15} {r['refused']}")
            continue
        base = baselines.get(r["size"])
        ratio = r["seconds"] / base["seconds"] if base else float("nan")
        cpu_ratio = r.get("cpu", float("nan")) / base["cpu"] if base else float("nan")
        cust = f"{r['customers']:,}" if "customers" in r else ""
        out.append(f"{r['size']:>6} {r['engine']:<15} {cust:>11} {r['seconds']:8.2f} "
                   f"{r.get('cpu', float('nan')):7.1f} {ratio:7.2f} {cpu_ratio:6.2f} "
                   f"{r['peak_rss'] / 2**30:7.2f} G {r.get('load', float('nan')):5.1f}")
        if r.get("note"):
            out.append(f"{'':>6} {'':<15} {r['note']}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10M,100M", help="comma list of 1M, 10M, 100M")
    ap.add_argument("--engines", default="pandas,duckdb,spark")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--no-fit", action="store_true", help="skip the BG/NBD fit")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, size, engine = args.child
        res = (_measure(size, engine) if kind == "summary" else _baseline(size)
               if kind == "baseline" else _fit(size))
        res["load"] = os.getloadavg()[0]
        print(json.dumps(res), flush=True)
        return 0
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        generate(s)
    if args.generate_only:
        return 0
    rows, baselines = [], {}
    for s in sizes:
        baselines[s] = _child("baseline", s, "baseline")
        rows.append(baselines[s])
        for e in [e.strip() for e in args.engines.split(",") if e.strip()]:
            rows.append(_child("summary", s, e))
            print(_table(rows[-1:], baselines).splitlines()[-1], flush=True)
    if not args.no_fit:
        fit_size = "100M" if "100M" in sizes else sizes[-1]
        rows.append(_child("fit", fit_size, "duckdb"))
    print()
    print(f"BTYD summary (freq='D', observation_end={OBSERVATION_END}); {os.cpu_count()} cores "
          f"(load average {os.getloadavg()[0]:.1f}); wall and CPU seconds and peak RSS of the "
          "process tree (Spark: the JVM included); 'x base' and 'CPU x': time / the baseline's "
          "(DuckDB scan + GROUP BY customer_id of the same files, same run)")
    print(_table(rows, baselines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
