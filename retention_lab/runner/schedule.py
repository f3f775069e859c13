"""Schedules: many report runs from one YAML file, in parallel processes, with a progress bar.

Format (see ``reports/schedule.example.yaml``)::

    output_dir: .                   # optional; relative to this file; CLI --output-dir wins
    keep: 10                        # optional retention for every run (keep_days,
                                    #   keep_failed_days too); a run's own keys override it
    runs:
      - name: loyalty_impact        # optional; default: the notebook's file stem
        notebook: ../notebooks/04_loyalty_impact.ipynb   # relative to this file
        parameters: {seed: 1}       # optional
        parameters_file: p.yaml     # optional; `parameters` override its values
        allow_ids: false            # optional; true lets the HTML show customer-id tables
        keep: 5                     # optional; after a successful run keep its newest 5 runs

Retention keys (``keep``, ``keep_days``, ``keep_failed_days``;
:class:`~retention_lab.runner.retention.RetentionPolicy`) prune a report's older runs after it
succeeded; retention options on the command line replace those of the file.

Every run's parameters are checked against its notebook before any kernel starts; one bad
parameter refuses the whole schedule. Once running, a failing run does not stop the others.
"""
from __future__ import annotations

import json
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from tqdm.auto import tqdm

from . import folders
from .execute import RunResult, _keep_failed, _now, _safe_index, run_notebook
from .params import ParameterError, check_parameters, load_parameter_file
from .retention import RetentionPolicy

RETENTION_KEYS = ("keep", "keep_days", "keep_failed_days")


@dataclass
class RunSpec:
    notebook: str
    name: str
    parameters: dict = field(default_factory=dict)
    allow_ids: bool = False
    retention: RetentionPolicy | None = None


def load_schedule(path) -> tuple[list[RunSpec], str | None]:
    """Parse a schedule file → (runs, output_dir or None). Paths resolve against the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ParameterError(f"cannot read schedule {path}: {exc}") from exc
    if isinstance(data, list):
        data = {"runs": data}
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list) or not data["runs"]:
        raise ParameterError(f"{path}: a schedule needs a non-empty list `runs:`")
    unknown = set(data) - {"output_dir", "runs", *RETENTION_KEYS}
    if unknown:
        raise ParameterError(f"{path}: unknown top-level keys {sorted(unknown)}")
    base = path.resolve().parent
    output_dir = str(base / data["output_dir"]) if data.get("output_dir") else None
    defaults = {k: data[k] for k in RETENTION_KEYS if k in data}
    runs, names = [], set()
    for i, item in enumerate(data["runs"], 1):
        if not isinstance(item, dict) or "notebook" not in item:
            raise ParameterError(f"{path}: run {i} needs a `notebook:`")
        unknown = set(item) - {"notebook", "name", "parameters", "parameters_file", "allow_ids",
                               *RETENTION_KEYS}
        if unknown:
            raise ParameterError(f"{path}: run {i} has unknown keys {sorted(unknown)}")
        nb = base / item["notebook"]
        params = load_parameter_file(base / item["parameters_file"]) if item.get("parameters_file") else {}
        params.update(item.get("parameters") or {})
        name = str(item.get("name") or nb.stem)
        try:
            folders.check_name(name)
        except ValueError as exc:
            raise ParameterError(f"{path}: run {i}: {exc}") from exc
        if name in names:
            raise ParameterError(f"{path}: report name {name!r} appears twice; give each run a `name:`")
        names.add(name)
        try:
            retention = RetentionPolicy.from_options(
                **{**defaults, **{k: item[k] for k in RETENTION_KEYS if k in item}})
        except ValueError as exc:
            raise ParameterError(f"{path}: run {i} ({name}): {exc}") from exc
        runs.append(RunSpec(str(nb), name, params, bool(item.get("allow_ids", False)), retention))
    return runs, output_dir


def validate(runs: list[RunSpec]) -> list[RunSpec]:
    """Check every run's parameters (no kernel starts); raise one error listing all problems."""
    problems, checked = [], []
    for spec in runs:
        try:
            checked.append(RunSpec(spec.notebook, spec.name,
                                   check_parameters(spec.notebook, spec.parameters), spec.allow_ids,
                                   spec.retention))
        except ParameterError as exc:
            problems.append(f"[{spec.name}] {exc}")
    if problems:
        raise ParameterError("\n".join(problems))
    return checked


def close_abandoned_run(output_dir, name: str, run_id: str, error: str) -> Path | None:
    """Close the unfinished run ``<output_dir>/<name>/.tmp-<run-id>`` of a runner process that
    died: ``failed-<run-id>`` with ``run.json`` saying "failed" and why, or removed if even
    that cannot be written; an existing ``failed-<run-id>`` is returned as it is. None if there
    is nothing to keep (the run never started, or was removed)."""

    report_dir = folders.check_output_dir(output_dir) / name
    tmp = report_dir / f"{folders.TMP_PREFIX}{run_id}"
    if not tmp.is_dir():   # never started, or the worker closed it itself on its way out
        failed = report_dir / f"{folders.FAILED_PREFIX}{run_id}"
        return failed if failed.is_dir() else None
    try:
        run = json.loads((tmp / "run.json").read_text())
    except (OSError, ValueError):
        run = {"name": name, "run_id": run_id}
    run.update(status="failed", finished=_now(), error=error)
    return _keep_failed(tmp, report_dir, run_id, run, RuntimeError(error))


_STOPPING = False  # set in a worker once the parent stopped the schedule


def _worker_init() -> None:
    """In a worker, SIGTERM (sent by the parent when it is stopped) moves the current run aside
    as failed, and the worker starts no further run."""

    def interrupt(signum, frame):
        global _STOPPING
        _STOPPING = True
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupt)


def _run_one(spec: RunSpec, output_dir: str, kernel_name, run_id: str | None = None
             ) -> RunResult:
    if _STOPPING:
        return RunResult(spec.name, "", "failed", "", spec.notebook, spec.parameters, 0.0,
                         "not started: the schedule was stopped")
    return run_notebook(spec.notebook, spec.parameters, name=spec.name, output_dir=output_dir,
                        kernel_name=kernel_name, update_index=False, allow_ids=spec.allow_ids,
                        retention=spec.retention, run_id=run_id)


def run_schedule(runs: list[RunSpec], *, output_dir="reports", jobs: int = 1,
                 kernel_name: str | None = None, progress: bool = True) -> list[RunResult]:
    """Run every spec (``jobs`` at a time, each in its own process); results in schedule order."""

    runs = validate(runs)
    folders.check_output_dir(output_dir)
    results: dict[int, RunResult] = {}
    bar = tqdm(total=len(runs), desc="reports", unit="run", disable=not progress)
    try:
        if jobs <= 1:
            for i, spec in enumerate(runs):
                bar.set_postfix_str(spec.name)
                results[i] = _run_one(spec, output_dir, kernel_name)
                bar.update()
        else:
            ctx = multiprocessing.get_context("spawn")  # no forked zmq/thread state in workers
            pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init)
            try:
                # run ids are drawn here, so that the run of a worker that dies (killed, out of
                # memory) can still be found and closed as failed-<run-id>
                run_ids = [folders.new_run_id() for _ in runs]
                abandoned: list[int] = []
                futures = {pool.submit(_run_one, spec, output_dir, kernel_name, run_ids[i]): i
                           for i, spec in enumerate(runs)}
                for fut in as_completed(futures):
                    i = futures[fut]
                    try:
                        results[i] = fut.result()
                    except Exception as exc:  # the worker itself died
                        spec = runs[i]
                        results[i] = RunResult(spec.name, run_ids[i], "failed", "", spec.notebook,
                                               spec.parameters, 0.0, f"{type(exc).__name__}: {exc}")
                        abandoned.append(i)
                    bar.set_postfix_str(f"{results[i].name} {results[i].status}")
                    bar.update()
            except BaseException:
                # stopped (SIGTERM/SIGINT): start nothing new; running workers get SIGTERM and
                # move their unfinished runs to failed-<run-id>
                for proc in list(getattr(pool, "_processes", {}).values()):
                    proc.terminate()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
            for i in abandoned:   # every worker has exited now: nobody else writes there
                path = close_abandoned_run(output_dir, runs[i].name, run_ids[i], results[i].error)
                results[i].path = "" if path is None else str(path)
    finally:
        bar.close()
        _safe_index(output_dir)   # a full disk must not hide the runs' results
    return [results[i] for i in range(len(runs))]
