"""One report run: a notebook and a parameter set → ``reports/<name>/<run-id>/``.

The run folder holds ``report.ipynb`` (executed by Papermill), ``report.html`` (see
:mod:`retention_lab.runner.html`), ``metrics.json`` (what the notebook recorded with
:func:`retention_lab.report.recording.record`), ``run.json`` (notebook, parameters, times, status,
versions) and every file the notebook wrote through :func:`retention_lab.report.recording.output_path`
(e.g. ``at_risk.csv``). The kernel learns where to write from the environment it inherits:
``RETENTION_LAB_METRICS``, ``RETENTION_LAB_RUN_DIR``, ``RETENTION_LAB_RUN_ID``.
Atomicity and the ``latest`` pointer: :mod:`retention_lab.runner.folders`.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import glob
import json
import os
import platform
import shutil
import subprocess
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..io import CDNOW_SOURCES
from ..report import recording as reporting
from . import folders
from .html import export_html
from .index import build_index, run_summary
from .kernel import KERNEL_ARGUMENTS, kernel_for
from .params import ParameterError, check_parameters
from .privacy import check_no_identifiers
from .retention import RetentionPolicy, prune_runs

NOTEBOOK_FILE = "report.ipynb"
HTML_FILE = "report.html"
METRICS_FILE = "metrics.json"
RUN_FILE = "run.json"
RUN_DIR_ENV = reporting.RUN_DIR_ENV
RUN_ID_ENV = "RETENTION_LAB_RUN_ID"


@dataclass
class RunResult:
    name: str
    run_id: str
    status: str                      # "ok" or "failed"
    path: str                        # the run folder (final or failed-…)
    notebook: str
    parameters: dict = field(default_factory=dict)
    duration: float = 0.0            # seconds
    error: str | None = None
    metrics: dict = field(default_factory=dict)
    pruned: list = field(default_factory=list)   # old runs removed by the retention policy
    prune_error: str | None = None               # pruning failed (the run itself still succeeded)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def _environ(**values):
    """Set environment variables for the kernel (it inherits ours) and restore them after."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _git_commit(where: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=where, timeout=5,
                             capture_output=True, text=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _write_json(path: Path, data) -> None:
    folders.write_atomic(path, json.dumps(data, indent=2, default=str))


def _read_metrics(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _error_text(exc: BaseException) -> str:
    # PapermillExecutionError carries the cell's exception name and message.
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        cell = getattr(exc, "exec_count", None)
        return f"{ename}: {evalue} (cell In[{cell}])" if cell else f"{ename}: {evalue}"
    return f"{type(exc).__name__}: {exc}"


#: errno values of a full disk or an exhausted quota.
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded", "File too large")


def _disk_full(exc: BaseException) -> bool:
    """Whether a run failed because a disk (or quota) was full, here or in the kernel."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if any(t in str(getattr(exc, "evalue", "") or exc) for t in _DISK_FULL_TEXT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _valid_json(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


#: What a failed run folder may keep: the notebook as far as it ran, what it recorded, and why
#: it failed. Anything else a notebook wrote is kept too, unless the disk was full (then it may
#: be cut off and is removed).
_FAILED_KEEPS = {NOTEBOOK_FILE, METRICS_FILE, RUN_FILE, "error.txt"}


def _tidy_failed(tmp: Path, disk_full: bool) -> list[str]:
    """Remove what a failed run may have half-written; return the names removed.

    ``report.html`` goes always (a failed run has no report), ``*.part`` files always, the
    notebook and ``metrics.json`` when they are not whole JSON, and after a full disk every side
    output of the notebook (it may be cut off)."""
    removed = []
    for child in sorted(tmp.iterdir()):
        name = child.name
        if name == HTML_FILE or name.endswith(".part"):
            drop = True
        elif name in (NOTEBOOK_FILE, METRICS_FILE):
            drop = not _valid_json(child)
        elif name in _FAILED_KEEPS:
            drop = False
        else:
            drop = disk_full
        if drop:
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    child.unlink()
            if not os.path.lexists(child):
                removed.append(name)
    return removed


def _write_failure(tmp: Path, run: dict, exc: BaseException) -> bool:
    """Write ``error.txt`` (the traceback, else the one-line error) and ``run.json`` (status
    failed) into a failed run; each is written whole or not at all. When the disk is too full,
    the executed notebook is given up to make room; False if even then they cannot be written
    (the caller removes the folder rather than keep a run without its error)."""
    texts = ["".join(traceback.format_exception(exc)), str(run.get("error")) + "\n"]
    for attempt in range(2):
        try:
            for text in texts:
                try:
                    folders.write_atomic(tmp / "error.txt", text)
                    break
                except OSError:
                    if text is texts[-1]:
                        raise
            _write_json(tmp / RUN_FILE, run)
            return True
        except OSError:
            nb = tmp / NOTEBOOK_FILE
            if attempt or not nb.exists():
                return False
            with contextlib.suppress(OSError):
                nb.unlink()
            run.setdefault("removed_files", []).append(NOTEBOOK_FILE)
            run["note"] = ("the disk was too full to keep the failed notebook with its error; "
                           "it was removed")
    return False


def _keep_failed(tmp: Path, report_dir: Path, run_id: str, run: dict,
                 exc: BaseException) -> Path | None:
    """Make an unfinished run ``failed-<run-id>`` with its error text, or remove it: never leave
    a half-written report, an empty ``error.txt`` or a ``run.json`` saying "running"."""
    if not tmp.is_dir():
        return None
    removed = _tidy_failed(tmp, _disk_full(exc))
    if removed:
        run["removed_files"] = removed
    if not _write_failure(tmp, run, exc):
        folders.discard(tmp)
        return None
    try:
        return folders.mark_failed(tmp, report_dir, run_id)
    except OSError:
        folders.discard(tmp)
        return None


#: Parameters that name files: a relative path in them is the caller's, not the kernel's.
PATH_PARAMETER_SUFFIXES = ("_path", "_file", "_dir")
PATH_PARAMETERS = ("data_source",)


def _is_path_parameter(name: str) -> bool:
    return name in PATH_PARAMETERS or name.endswith(PATH_PARAMETER_SUFFIXES)


def resolve_path_parameters(parameters: dict, base=None) -> dict:
    """Relative paths in file parameters made absolute against ``base`` (the caller's working
    directory), so that ``retention-lab run -p data_source data/tx.csv`` reads the file the user
    sees, although the kernel runs in the notebook's folder. Named sources (``"simulated"``,
    ``"cdnow"``), URLs (``duckdb:///…``, ``spark:…``) and absolute paths are left alone."""
    base = Path.cwd() if base is None else Path(base)
    out = dict(parameters)
    for key, value in parameters.items():
        if not (_is_path_parameter(key) and isinstance(value, str) and value):
            continue
        if value in CDNOW_SOURCES or value == "simulated" or ":" in value.split("/")[0]:
            continue
        path = Path(value).expanduser()
        if path.is_absolute():
            continue
        if (base / path).exists() or "/" in value or path.suffix:
            out[key] = str((base / path).resolve())
    return out


#: Input parameters whose file must exist before a kernel is started (``*_dir`` may be an
#: output folder the notebook creates).
INPUT_PATH_SUFFIXES = ("_path", "_file")
_GLOB_CHARS = ("*", "?", "[")


def check_path_parameters(parameters: dict, base=None) -> None:
    """Refuse, before any kernel starts, an input file parameter (``data_source``, ``*_path``,
    ``*_file``) naming a file or folder that does not exist, or a glob that matches nothing.

    ``parameters`` are those :func:`resolve_path_parameters` returned: relative paths are
    already absolute against ``base`` (the caller's working directory), which the message names.
    Named sources and URLs are left to the notebook."""
    base = Path.cwd() if base is None else Path(base)
    problems = []
    for key, value in parameters.items():
        if not (key in PATH_PARAMETERS or key.endswith(INPUT_PATH_SUFFIXES)):
            continue
        if not isinstance(value, str) or not value:
            continue
        if value in CDNOW_SOURCES or value == "simulated" or ":" in value.split("/")[0]:
            continue
        path = Path(value).expanduser()
        if any(c in value for c in _GLOB_CHARS):
            if glob.glob(str(path if path.is_absolute() else base / path)):
                continue
            what = "matches no file"
        elif path.exists() if path.is_absolute() else (base / path).exists():
            continue
        else:
            what = "does not exist"
        hint = ""
        if key in PATH_PARAMETERS and "/" not in value and not path.suffix:
            names = ", ".join(["simulated", *CDNOW_SOURCES])
            hint = f"; it is not a named source either ({names})"
        problems.append(f"parameter {key!r}: {value if path.is_absolute() else base / path} "
                        f"{what}{hint}")
    if problems:
        raise ParameterError("; ".join(problems) + f" (relative paths are read from the folder "
                             f"retention-lab was started in, {base}, not from the notebook's)")


def run_notebook(notebook, parameters: dict | None = None, *, name: str | None = None,
                 output_dir="reports", kernel_name: str | None = None, cwd=None,
                 execution_timeout: int | None = None, update_index: bool = True,
                 run_id: str | None = None, allow_ids: bool = False, progress: bool = False,
                 retention=None, _before_promote=None) -> RunResult:
    """Execute ``notebook`` with ``parameters`` into a new run folder; never raises for a
    failing notebook (the result says ``status="failed"``), but raises
    :class:`~retention_lab.runner.params.ParameterError` before starting any kernel if the
    parameters do not match the notebook's ``parameters`` cell or an input file parameter names
    a file that does not exist (:func:`check_path_parameters`), and :class:`ValueError` if
    ``output_dir`` is a file.

    Faults, a full disk included: a failed run ends as ``failed-<run-id>/`` holding a whole
    ``run.json`` (status "failed", its error) and ``error.txt``, without ``report.html`` or any
    cut-off file (:func:`_tidy_failed`); when not even that can be written, its folder is removed
    and ``result.path`` is empty. If the run folder cannot be made at all, nothing is kept.

    ``cwd`` (default: the notebook's folder, as in JupyterLab) is the kernel's working directory;
    relative paths in file parameters (``data_source``, ``*_path``) are resolved against the
    caller's working directory first (:func:`resolve_path_parameters`). ``kernel_name`` (default:
    the notebook's own) falls back to a ``retention-lab`` kernel for this interpreter, registered
    on first use (:func:`retention_lab.runner.kernel.kernel_for`).
    Unless ``allow_ids``, a report that displays a table of customer ids fails
    (:mod:`retention_lab.runner.privacy`).
    ``retention`` (a :class:`~retention_lab.runner.retention.RetentionPolicy`) prunes this report's
    older runs after a *successful* run (a failed run prunes nothing, so the history it is
    compared against stays); what was removed is in ``result.pruned``. A pruning error does not
    fail the run: it is reported in ``result.prune_error``.
    ``_before_promote`` is a test hook called with the temporary folder just before the move.
    """
    if retention is not None:
        if not isinstance(retention, RetentionPolicy):
            raise ValueError(f"retention must be a RetentionPolicy, got {retention!r}")
    notebook = Path(notebook).resolve()
    parameters = resolve_path_parameters(check_parameters(notebook, parameters or {}))
    check_path_parameters(parameters)
    name = folders.check_name(name or notebook.stem)
    report_dir = folders.check_output_dir(output_dir) / name
    folders.check_output_dir(report_dir)
    kernel_name = kernel_for(notebook, kernel_name)
    # heavy (papermill → nbformat, 1-8 s to import): after every check, so that a usage error
    # is reported at once and commands that run no notebook never pay it
    import papermill
    run_id = run_id or folders.new_run_id()
    tmp = report_dir / f"{folders.TMP_PREFIX}{run_id}"
    run = {"name": name, "run_id": run_id, "notebook": str(notebook), "parameters": parameters,
           "status": "running", "started": _now(), "finished": None, "pid": os.getpid(),
           "host": platform.node(), "python": platform.python_version(),
           "git_commit": _git_commit(notebook.parent), "allow_ids": allow_ids}
    metrics_path = tmp / METRICS_FILE
    try:
        folders.make_tmp_dir(report_dir, run_id)
        _write_json(tmp / RUN_FILE, run)
        _write_json(metrics_path, {})
    except BaseException as exc:  # nothing ran yet: leave nothing behind
        folders.discard(tmp)
        if not isinstance(exc, OSError):
            raise
        error = (f"cannot write the run folder {tmp}: {exc.strerror or exc}; nothing was run "
                 "and nothing was kept")
        result = RunResult(name, run_id, "failed", "", str(notebook), parameters, 0.0, error)
        if update_index:
            _safe_index(output_dir)
        return result
    t0 = time.perf_counter()
    try:
        with _environ(**{reporting.ENV_VAR: metrics_path, RUN_DIR_ENV: tmp, RUN_ID_ENV: run_id}):
            papermill.execute_notebook(
                str(notebook), str(tmp / NOTEBOOK_FILE), parameters=parameters,
                kernel_name=kernel_name, cwd=str(cwd or notebook.parent), progress_bar=progress,
                log_output=False, execution_timeout=execution_timeout,
                extra_arguments=KERNEL_ARGUMENTS)
        if not allow_ids:
            check_no_identifiers(tmp / NOTEBOOK_FILE)
        metrics = _read_metrics(metrics_path)
        run.update(status="ok", finished=_now(), duration=round(time.perf_counter() - t0, 2))
        run["summary"] = run_summary(metrics)   # the verdict, when the notebook recorded one
        export_html(tmp / NOTEBOOK_FILE, tmp / HTML_FILE, title=name, run=run, metrics=metrics)
        _write_json(tmp / RUN_FILE, run)
        if _before_promote is not None:
            _before_promote(tmp)
        final = folders.promote(tmp, report_dir, run_id)
        result = RunResult(name, run_id, "ok", str(final), str(notebook), parameters,
                           run["duration"], None, metrics)
    except BaseException as exc:  # noqa: BLE001 — a KeyboardInterrupt must not leave a .tmp run
        run.update(status="failed", finished=_now(), duration=round(time.perf_counter() - t0, 2),
                   error=_error_text(exc))
        failed = _keep_failed(tmp, report_dir, run_id, run, exc)
        error = run["error"] if failed is not None else (
            f"{run['error']} (the failed run and its error could not be written, so its folder "
            "was removed)")
        result = RunResult(name, run_id, "failed", "" if failed is None else str(failed),
                           str(notebook), parameters, run["duration"], error,
                           {} if failed is None else _read_metrics(failed / METRICS_FILE))
        if not isinstance(exc, Exception):
            if update_index:
                _safe_index(output_dir)
            raise
    if retention is not None and result.ok:
        try:
            pruned = prune_runs(output_dir, retention, names=[name], update_index=False)
            result.pruned = [d.name for d in pruned.removed]
            if pruned.errors:
                result.prune_error = "; ".join(d.line() for d in pruned.errors)
        except OSError as exc:
            result.prune_error = f"{type(exc).__name__}: {exc}"
    if update_index:
        _safe_index(output_dir)
    return result


def _safe_index(output_dir) -> None:
    with contextlib.suppress(OSError):
        build_index(output_dir)
