"""The nbval regression mechanism catches a moved headline number and ignores volatile output.

A snapshot of the fixture notebook is made exactly as `make notebook-snapshots` makes them
(retention_lab.runner.snapshots), then nbval runs, in one pytest session with the project's
sanitize file: the untouched snapshot (must pass: its checked cell prints a timestamp, an object
address and a path, which only pass thanks to the sanitize patterns) and a copy whose stored
headline number was moved (must fail).
"""
from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from retention_lab.runner import snapshots

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "tests" / "runner_fixtures" / "demo.ipynb"
SANITIZE = ROOT / "tests" / "notebooks" / "sanitize.cfg"


def _checked(nb):
    return next(c for c in nb.cells if snapshots.is_checked(c))


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    return snapshots.make_snapshot(DEMO, tmp_path_factory.mktemp("snap") / "good.ipynb", {"n": 50})


def test_snapshot_keeps_checked_outputs_and_test_parameters(snapshot):
    nb = nbformat.read(snapshot, as_version=4)
    assert _checked(nb).outputs[0].text.startswith("mean = 15 [14.7, 15.2]\nas of ")
    assert all(not c.outputs for c in nb.cells if c.cell_type == "code" and not snapshots.is_checked(c))
    assert snapshots.injected_source(nb).strip().endswith("n = 50")
    assert snapshots.code_cells(nb) == snapshots.code_cells(nbformat.read(DEMO, as_version=4))
    assert "papermill" not in nb.metadata   # no absolute paths / timings: stable diffs


def test_nbval_fails_when_a_headline_number_moves(snapshot):
    work = snapshot.parent
    nb = nbformat.read(snapshot, as_version=4)
    moved = copy.deepcopy(nb)
    stored = _checked(nb).outputs[0].text
    _checked(moved).outputs[0].text = stored.replace("mean = 15 [", "mean = 15.1 [")
    nbformat.write(moved, work / "moved.ipynb")

    env = dict(os.environ, RETENTION_LAB_RUN_DIR=str(work))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-sanitize-with", str(SANITIZE), "--rootdir", str(work), "-o", "addopts=",
         "good.ipynb", "moved.ipynb"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout
    code = [c for c in nb.cells if c.cell_type == "code"]   # nbval numbers the code cells
    k = [i for i, c in enumerate(code) if snapshots.is_checked(c)][0]
    verdicts = {m.group(1, 2): m.group(3) for m in
                re.finditer(r"^(good|moved)\S*::Cell (\d+) (PASSED|FAILED)", out, re.M)}
    assert proc.returncode == 1, out[-3000:]
    assert len(verdicts) == 2 * len(code), out[-3000:]
    assert [key for key, v in verdicts.items() if v == "FAILED"] == [("moved", str(k))], out[-3000:]
    assert "mean = 15.1 [" in out   # nbval shows the stored vs the new number


def test_without_sanitizing_the_volatile_line_would_fail(snapshot):
    """The sanitize file is what makes the timestamp / address / path line pass."""
    import configparser
    import re

    text = _checked(nbformat.read(snapshot, as_version=4)).outputs[0].text
    assert re.search(r"\d{4}-\d\d-\d\dT", text) and "0x" in text
    cfg = configparser.ConfigParser()
    cfg.read(SANITIZE)
    for section in cfg.sections():
        text = re.sub(cfg[section]["regex"], cfg[section]["replace"], text)
    assert text == "mean = 15 [14.7, 15.2]\nas of TIMESTAMP by <object object at 0xADDRESS> in PATH/\n"
