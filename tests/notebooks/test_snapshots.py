"""The nbval snapshots cannot drift from the notebooks they stand for.

Each notebooks/<stem>.ipynb must have tests/notebooks/<stem>.ipynb with the same code cells, the
test parameters of params.yaml injected, and at least one `# NBVAL_CHECK_OUTPUT` cell with a
stored output (otherwise nbval would check no number). Fix any failure with
`make notebook-snapshots` (see retention_lab/runner/snapshots.py).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from retention_lab.runner import snapshots

ROOT = Path(__file__).resolve().parents[2]
SNAP_DIR = ROOT / "tests" / "notebooks"
SOURCES = sorted((ROOT / "notebooks").glob("*.ipynb"))
PARAMS = snapshots.load_test_parameters(SNAP_DIR / "params.yaml")
HINT = "regenerate with `make notebook-snapshots` and commit tests/notebooks/"


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_snapshot_matches_notebook(source):
    snap = SNAP_DIR / source.name
    assert snap.exists(), f"no nbval snapshot for {source.name}; {HINT}"
    nb_src = nbformat.read(source, as_version=4)
    nb_snap = nbformat.read(snap, as_version=4)
    assert snapshots.code_cells(nb_snap) == snapshots.code_cells(nb_src), \
        f"{source.name} changed since its snapshot; {HINT}"
    injected = snapshots.injected_source(nb_snap) or ""
    for name in PARAMS.get(source.stem, {}):
        assert f"{name} = " in injected, f"test parameter {name} not injected in the snapshot; {HINT}"
    checked = [c for c in nb_snap.cells if snapshots.is_checked(c)]
    assert checked, f"{source.name} has no `{snapshots.CHECK_MARK}` cell: nbval would check no number"
    assert all(c.outputs for c in checked), f"a checked cell of {snap.name} has no stored output; {HINT}"


def test_no_orphan_snapshots():
    orphans = {p.name for p in SNAP_DIR.glob("*.ipynb")} - {s.name for s in SOURCES}
    assert not orphans, f"snapshots without a notebook in notebooks/: {sorted(orphans)}"


def test_test_parameters_name_existing_notebooks():
    unknown = set(PARAMS) - {s.stem for s in SOURCES}
    assert not unknown, f"params.yaml names notebooks that do not exist: {sorted(unknown)}"
