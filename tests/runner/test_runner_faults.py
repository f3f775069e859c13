"""The runner on faults: a full disk, an output folder that is a file, a missing input file.

The full disk is a fake: every file opened for writing under the test's output folder counts its
bytes against a fixed capacity (the bytes of every file under that folder, so removing a file
frees its space, as on a real disk); the write that would exceed it writes what still fits and
raises ``OSError(ENOSPC)``. It reaches every write of the runner's own process (run.json, the
executed notebook that papermill saves, report.html, error.txt, index.html); the kernel's own
writes are not throttled. For each capacity the invariant of a report run must hold: the run
succeeded, or it ends as ``failed-<run-id>`` with a whole ``run.json`` saying "failed" and a
non-empty ``error.txt``, or nothing is left of it — never a truncated ``report.html``, an empty
``error.txt``, a ``run.json`` still "running", a ``.part`` file, a ``.tmp-*`` folder or a
temporary ``.index-*.html``.
"""
from __future__ import annotations

import builtins
import errno
import io
import json
import os
from pathlib import Path

import pytest

from retention_lab import cli
from retention_lab.runner import ParameterError, folders, latest_run, run_notebook

DEMO = Path(__file__).parents[1] / "runner_fixtures" / "demo.ipynb"
_REAL_OPEN = builtins.open


class SmallDisk:
    """A fake disk of ``capacity`` bytes for every file under ``root``."""

    def __init__(self, root: Path, capacity: int):
        self.root, self.capacity = Path(root).resolve(), capacity
        self.refused = 0

    def used(self) -> int:
        total = 0
        for dirpath, _, files in os.walk(self.root):
            for f in files:
                p = os.path.join(dirpath, f)
                if not os.path.islink(p):
                    total += os.path.getsize(p)
        return total

    def open(self, file, mode="r", *args, **kwargs):
        fh = _REAL_OPEN(file, mode, *args, **kwargs)
        writing = any(c in mode for c in "wax+")
        if writing and isinstance(file, (str, os.PathLike)) \
                and Path(os.path.abspath(file)).is_relative_to(self.root):
            return _Throttled(fh, self)
        return fh


class _Throttled:
    def __init__(self, fh, disk: SmallDisk):
        self._fh, self._disk = fh, disk

    def write(self, data):
        self._fh.flush()
        free = max(self._disk.capacity - self._disk.used(), 0)
        size = len(data.encode("utf-8") if isinstance(data, str) else data)
        if size > free:
            self._fh.write(data[:free])       # what fits (ASCII: one byte a character)
            self._fh.flush()
            self._disk.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), getattr(self._fh, "name", ""))
        n = self._fh.write(data)
        self._fh.flush()
        return n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()

    def __iter__(self):
        return iter(self._fh)

    def __getattr__(self, name):
        return getattr(self._fh, name)


@pytest.fixture
def small_disk(monkeypatch):
    def install(root, capacity):
        disk = SmallDisk(root, capacity)
        monkeypatch.setattr(builtins, "open", disk.open)
        monkeypatch.setattr(io, "open", disk.open)
        return disk
    return install


def _assert_never_half_written(out: Path, res) -> None:
    report_dir = out / "demo"
    leftovers = [p.name for p in out.rglob("*") if p.name.startswith((".tmp-", ".index-"))
                 or p.name.endswith(".part")]
    assert leftovers == [], leftovers
    runs = [p for p in report_dir.iterdir() if p.is_dir()] if report_dir.is_dir() else []
    if res.ok:
        assert [p.name for p in runs] == [res.run_id] and latest_run(report_dir) == runs[0]
        assert json.loads((runs[0] / "run.json").read_text())["status"] == "ok"
        return
    assert [p.name for p in runs if p.name == res.run_id] == []   # never in place as a success
    if res.path:
        failed = Path(res.path)
        assert failed.name == f"failed-{res.run_id}" and [p.name for p in runs] == [failed.name]
        assert json.loads((failed / "run.json").read_text())["status"] == "failed"
        assert (failed / "error.txt").read_text().strip()
        assert "No space left on device" in res.error
        assert not (failed / "report.html").exists()
        nb = failed / "report.ipynb"
        if nb.exists():
            json.loads(nb.read_text())                        # whole, not cut off
    else:
        assert runs == [] and "No space left on device" in res.error
        assert "nothing was kept" in res.error or "its folder was removed" in res.error


@pytest.mark.parametrize("capacity", [0, 300, 1_500, 3_000])
def test_full_disk_before_the_kernel_starts(tmp_path, small_disk, capacity):
    """run.json or the first save of the notebook does not fit: no kernel is needed to see it."""
    out = tmp_path / "reports"
    disk = small_disk(tmp_path, capacity)
    res = run_notebook(DEMO, {"n": 20}, name="demo", output_dir=out)
    assert disk.refused and not res.ok
    _assert_never_half_written(out, res)


def test_full_disk_while_writing_the_report(tmp_path, small_disk):
    """The notebook ran and was saved; report.html does not fit. Removing the cut-off HTML
    makes room for the error, so the run is kept as failed, with the notebook."""
    out = tmp_path / "reports"
    probe = run_notebook(DEMO, {"n": 20}, name="probe", output_dir=tmp_path / "probe")
    run_dir = Path(probe.path)
    sizes = {p.name: p.stat().st_size for p in run_dir.iterdir()}
    capacity = sizes["report.ipynb"] + sizes["at_risk.csv"] + 8_000   # far below report.html
    assert sizes["report.html"] > capacity
    small_disk(tmp_path / "reports", capacity)
    res = run_notebook(DEMO, {"n": 20}, name="demo", output_dir=out)
    assert not res.ok and res.path, res.error
    _assert_never_half_written(out, res)
    failed = Path(res.path)
    assert (failed / "report.ipynb").exists()
    assert "OSError: [Errno 28] No space left on device" in res.error
    # the index lists the failed run with its error (or was not written at all)
    index = out / "index.html"
    assert not index.exists() or "No space left on device" in index.read_text()


def test_full_disk_at_the_very_end_keeps_the_previous_report(tmp_path, small_disk, monkeypatch):
    """``latest`` cannot be repointed: the finished run is moved back and kept as failed, and
    ``latest`` still names the previous good run."""
    report_dir = tmp_path / "demo"
    old = report_dir / "20200101T000000Z-0000"
    old.mkdir(parents=True)
    (old / "run.json").write_text(json.dumps({"status": "ok"}))
    folders.set_latest(report_dir, old.name)

    def no_room(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(folders.os, "symlink", no_room)
    monkeypatch.setattr(folders.Path, "write_text", no_room)    # the text-file fallback
    tmp = folders.make_tmp_dir(report_dir, "20260101T000000Z-abcd")
    with pytest.raises(OSError):
        folders.promote(tmp, report_dir, "20260101T000000Z-abcd")
    assert tmp.is_dir() and not (report_dir / "20260101T000000Z-abcd").exists()
    assert latest_run(report_dir) == old
    assert [p.name for p in report_dir.iterdir() if p.name.startswith(".tmp-latest")] == []


def test_cli_when_run_json_cannot_be_written(tmp_path, small_disk, capsys):
    out = tmp_path / "reports"
    small_disk(tmp_path, 100)
    code = cli.main(["run", str(DEMO), "--name", "demo", "--output-dir", str(out),
                     "--no-progress"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_FAILED
    assert "Traceback" not in err and "No space left on device" in err and "nothing kept" in err
    assert [p.name for p in out.rglob("*") if p.name.startswith((".tmp-", ".index-"))] == []


def test_index_on_a_full_disk_leaves_no_temporary_file(tmp_path, small_disk):
    from retention_lab.runner import build_index
    (tmp_path / "demo" / "20200101T000000Z-0000").mkdir(parents=True)
    small_disk(tmp_path, 10)
    with pytest.raises(OSError):
        build_index(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".index-")] == []


def test_output_dir_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    afile = tmp_path / "reports.txt"
    afile.write_text("not a folder")
    for target in (afile, afile / "sub"):
        code = cli.main(["run", str(DEMO), "--output-dir", str(target), "--no-progress"])
        err = capsys.readouterr().err
        assert code == cli.EXIT_USAGE, err
        assert "Traceback" not in err and f"{afile} is a file" in err
    assert afile.read_text() == "not a folder"


def test_missing_input_file_is_refused_before_the_kernel_with_the_callers_folder(
        tmp_path, monkeypatch, capsys):
    """The message names the folder relative paths are read from (the caller's, not the
    notebook's) and no kernel is started for it."""
    import papermill
    monkeypatch.setattr(papermill, "execute_notebook",
                        lambda *a, **k: pytest.fail("a kernel was started"))
    monkeypatch.chdir(tmp_path)
    nb = Path(__file__).resolve().parents[2] / "notebooks" / "01_customer_metrics.ipynb"
    code = cli.main(["run", str(nb), "-p", "data_source", "data/tx.csv", "-p", "customers_path",
                     "cust.csv", "--output-dir", "reports", "--no-progress"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert f"parameter 'data_source': {tmp_path / 'data' / 'tx.csv'} does not exist" in err
    assert f"parameter 'customers_path': {tmp_path / 'cust.csv'} does not exist" in err
    assert f"read from the folder retention-lab was started in, {tmp_path}" in err
    assert "notebooks" not in err.replace(str(nb), "")
    assert not (tmp_path / "reports").exists()
    # a typo of a named source says so; a glob that matches nothing is refused too
    with pytest.raises(ParameterError, match="not a named source either .*cdnow_full"):
        run_notebook(nb, {"data_source": "cdnow_ful"}, output_dir=tmp_path / "r")
    with pytest.raises(ParameterError, match=r"parquet/\*\.parquet matches no file"):
        run_notebook(nb, {"data_source": "parquet/*.parquet"}, output_dir=tmp_path / "r")


def test_missing_parameter_file_is_a_usage_error(tmp_path, capsys):
    code = cli.main(["run", str(DEMO), "-f", str(tmp_path / "nope.yaml"),
                     "--output-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and "Traceback" not in err and "nope.yaml" in err


def test_cli_index_on_a_full_disk_is_a_message(tmp_path, small_disk, capsys):
    run = tmp_path / "demo" / "20200101T000000Z-0000"
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    small_disk(tmp_path, 10)
    assert cli.main(["index", "--output-dir", str(tmp_path)]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert "Traceback" not in err and "No space left on device" in err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".index-")] == []


def test_a_dead_schedule_worker_leaves_no_running_run(tmp_path):
    """A worker killed mid-run leaves .tmp-<run-id> with run.json "running"; the schedule's
    parent, which drew the run id, closes it as failed-<run-id> with the worker's error."""
    from retention_lab.runner.schedule import close_abandoned_run
    run_id = folders.new_run_id()
    tmp = folders.make_tmp_dir(tmp_path / "demo", run_id)
    (tmp / "run.json").write_text(json.dumps({"name": "demo", "run_id": run_id,
                                              "status": "running", "pid": 1}))
    (tmp / "report.ipynb").write_text('{"cells": [')                 # cut off mid-write
    error = "BrokenProcessPool: A process in the process pool was terminated abruptly"
    path = close_abandoned_run(tmp_path, "demo", run_id, error)
    assert path == tmp_path / "demo" / f"failed-{run_id}" and not tmp.exists()
    info = json.loads((path / "run.json").read_text())
    assert info["status"] == "failed" and info["error"] == error
    assert (path / "error.txt").read_text().strip() and not (path / "report.ipynb").exists()
    assert close_abandoned_run(tmp_path, "demo", "20200101T000000Z-beef", error) is None
