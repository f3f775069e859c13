"""Report folders: ``reports/<name>/<run-id>/``, written atomically, and the ``latest`` pointer.

Life of a run (all folders are siblings under ``reports/<name>/``, so every move is a rename on
one filesystem, which POSIX makes atomic):

1. the runner writes everything into ``.tmp-<run-id>/`` (hidden, never listed as a report);
2. on success it renames ``.tmp-<run-id>`` → ``<run-id>`` and then repoints ``latest``;
3. on failure it renames ``.tmp-<run-id>`` → ``failed-<run-id>`` and leaves ``latest`` alone;
   the failed folder holds ``run.json`` (status "failed") and ``error.txt``, each written whole
   through a ``.part`` file and a rename (:func:`write_atomic`), or, when the disk is too full
   even for those, it is removed (:func:`discard`).

A runner killed in the middle (SIGKILL, power loss) leaves only a ``.tmp-*`` folder behind;
``latest`` still names the previous good run. ``latest`` is a relative symlink (so
``reports/<name>/latest/report.html`` opens in a browser), replaced atomically by renaming a new
symlink over it. Where symlinks are unavailable it is a one-line text file holding the run id.
:func:`latest_run` reads either form.

Run ids are UTC timestamps plus a random suffix, ``20260101T120000Z-3f9a``: they sort in time
order and never collide between parallel runs.

Promoting a run and pruning old ones (:mod:`retention_lab.runner.retention`) both hold the
report's lock, ``reports/<name>/.lock`` (an advisory ``flock``), so a pruner never sees a run that
has been moved into place but not yet made ``latest``.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import re
import secrets
import shutil
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; promotion and pruning then rely on re-reading latest
    fcntl = None

LATEST = "latest"
TMP_PREFIX = ".tmp-"
FAILED_PREFIX = "failed-"
LOCK_FILE = ".lock"
RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4,}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def new_run_id(now: _dt.datetime | None = None) -> str:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def check_name(name: str) -> str:
    """A report name becomes a folder name: letters, digits, ``_ . -``; no path separators."""
    if not NAME_RE.match(name or "") or name in (LATEST,):
        raise ValueError(f"invalid report name {name!r}: use letters, digits, '_', '.', '-'")
    return name


def run_started(run_id: str) -> _dt.datetime:
    """The UTC start time encoded in a run id (``20260101T120000Z-3f9a`` → 2026-01-01 12:00:00).

    Ages of runs are read from here rather than from folder mtimes, which change when a folder is
    copied, restored from a backup or touched by a file browser."""
    if not RUN_ID_RE.match(run_id):
        raise ValueError(f"not a run id: {run_id!r}")
    return _dt.datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)


@contextlib.contextmanager
def report_lock(report_dir):
    """Hold the report's advisory lock (``<report_dir>/.lock``) for the duration of the block.

    Taken by :func:`promote` (rename + repoint ``latest``) and by the pruner, so that pruning
    sees either both steps of a promotion or neither. Blocks until the lock is free."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    with open(report_dir / LOCK_FILE, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def check_output_dir(output_dir) -> Path:
    """``output_dir`` as an absolute path, refused (:class:`ValueError`, a usage error) when it,
    or the nearest part of it that exists, is not a folder: a report folder cannot be made
    inside a file."""
    path = Path(output_dir).expanduser().absolute()
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == path else f"cannot be created: {probe} is a file"
        raise ValueError(f"output folder {path} {where}, not a folder; pass --output-dir "
                         "a folder (it is created if missing)")
    return path


def make_tmp_dir(report_dir: Path, run_id: str) -> Path:
    tmp = Path(report_dir) / f"{TMP_PREFIX}{run_id}"
    tmp.mkdir(parents=True)
    return tmp


def write_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` through ``<path>.part`` and a rename: readers see the old file
    or the whole new one, never a truncated one. If the write fails (a full disk), the partial
    ``.part`` file is removed and the error raised; ``path`` is untouched."""
    path = Path(path)
    part = path.with_name(path.name + ".part")
    try:
        part.write_text(text, encoding="utf-8")
        os.replace(part, path)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
    return path


def discard(path) -> bool:
    """Remove a run folder (best effort); True if nothing is left of it."""
    path = Path(path)
    if path.is_symlink() or path.is_file():
        with contextlib.suppress(OSError):
            path.unlink()
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    return not os.path.lexists(path)


def promote(tmp: Path, report_dir: Path, run_id: str) -> Path:
    """Move a finished run into place and repoint ``latest`` at it (under the report's lock).

    If ``latest`` cannot be repointed (a full disk), the run is moved back to ``tmp`` before the
    error is raised, so the caller marks it failed and no run sits in place that ``latest``
    does not name."""
    final = Path(report_dir) / run_id
    with report_lock(report_dir):
        os.rename(tmp, final)
        try:
            set_latest(report_dir, run_id)
        except BaseException:
            os.rename(final, tmp)
            raise
    return final


def mark_failed(tmp: Path, report_dir: Path, run_id: str) -> Path | None:
    """Move an unfinished run aside as ``failed-<run-id>``; None if there is no folder to keep
    (it was never made, or was removed because not even its error could be written)."""
    failed = Path(report_dir) / f"{FAILED_PREFIX}{run_id}"
    if not tmp.is_dir():
        return None
    os.rename(tmp, failed)
    return failed


def set_latest(report_dir: Path, run_id: str) -> None:
    report_dir = Path(report_dir)
    link = report_dir / LATEST
    staging = report_dir / f"{TMP_PREFIX}{LATEST}-{secrets.token_hex(4)}"
    try:
        try:
            os.symlink(run_id, staging, target_is_directory=True)
        except (OSError, NotImplementedError):
            staging.write_text(run_id + "\n")
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)  # never created by us; os.replace cannot overwrite a directory
        os.replace(staging, link)
    except BaseException:
        with contextlib.suppress(OSError):
            if os.path.lexists(staging):
                staging.unlink()
        raise


def latest_run(report_dir) -> Path | None:
    """The folder ``latest`` names, or None if the report has never run successfully."""
    link = Path(report_dir) / LATEST
    if link.is_symlink():
        target = Path(report_dir) / os.readlink(link)
    elif link.is_file():
        target = Path(report_dir) / link.read_text().strip()
    else:
        return None
    return target if target.is_dir() else None


def list_runs(report_dir) -> list[tuple[str, str, Path]]:
    """``(run_id, status, path)`` for finished runs, newest first; status is "ok" or "failed"."""
    runs = []
    for child in Path(report_dir).iterdir():
        if not child.is_dir() or child.is_symlink():
            continue
        if RUN_ID_RE.match(child.name):
            runs.append((child.name, "ok", child))
        elif child.name.startswith(FAILED_PREFIX) and RUN_ID_RE.match(child.name[len(FAILED_PREFIX):]):
            runs.append((child.name[len(FAILED_PREFIX):], "failed", child))
    return sorted(runs, key=lambda r: r[0], reverse=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def unfinished_run_state(tmp: Path, max_age_hours: float = 24.0,
                         now: float | None = None) -> tuple[bool, str]:
    """Whether an unfinished run folder ``.tmp-<run-id>`` is stale, and why.

    Its ``run.json`` names the runner's host and pid. On this host the pid decides alone: dead →
    stale, alive → in progress however old (a long kernel cell writes nothing, so the folder's
    mtime says nothing about liveness; a pid reused by another process only delays the cleanup).
    A run on another host, or one killed before it wrote ``run.json``, is stale once the folder
    has not changed for more than ``max_age_hours``."""
    try:
        info = json.loads((Path(tmp) / "run.json").read_text())
    except (OSError, ValueError):
        info = {}
    pid, host = info.get("pid"), info.get("host")
    if host == platform.node() and isinstance(pid, int):
        if _pid_alive(pid):
            return False, f"in progress (pid {pid} alive on this host)"
        return True, f"runner pid {pid} is dead"
    try:
        age_h = ((now if now is not None else time.time()) - Path(tmp).stat().st_mtime) / 3600
    except FileNotFoundError:  # promoted or moved aside while we looked
        return False, "no longer there"
    if age_h > max_age_hours:
        return True, f"unchanged for {age_h:.1f} h > {max_age_hours:g} h"
    return False, f"maybe in progress (runner on {host or 'an unknown host'}, {age_h:.1f} h old)"


def unfinished_runs(output_dir) -> list[Path]:
    """Every ``.tmp-<run-id>`` folder under ``output_dir/<report>/`` (symlinks excluded)."""
    found = []
    for tmp in sorted(Path(output_dir).glob(f"*/{TMP_PREFIX}*")):
        if tmp.is_dir() and not tmp.is_symlink() and not tmp.parent.is_symlink() \
                and RUN_ID_RE.match(tmp.name[len(TMP_PREFIX):]):
            found.append(tmp)
    return found


def stale_tmp_dirs(output_dir, max_age_hours: float = 24.0) -> list[Path]:
    """Unfinished run folders (``.tmp-<run-id>``) whose runner is gone: on this host and its pid
    is dead, or (another host, no ``run.json``) unchanged for ``max_age_hours``
    (:func:`unfinished_run_state`)."""
    return [tmp for tmp in unfinished_runs(output_dir) if unfinished_run_state(tmp, max_age_hours)[0]]
