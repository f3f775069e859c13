"""Notebook regression snapshots for nbval.

A snapshot ``tests/notebooks/<stem>.ipynb`` is the notebook ``notebooks/<stem>.ipynb`` executed by
Papermill with small, fast test parameters (``tests/notebooks/params.yaml``), committed with
outputs. nbval re-runs the snapshot (its ``injected-parameters`` cell carries the test
parameters) with ``--nbval-lax``: every cell must run without error, and the cells whose first
line is ``# NBVAL_CHECK_OUTPUT`` must reproduce their stored output after the sanitize patterns of
``tests/notebooks/sanitize.cfg`` (timestamps, paths, addresses) are applied. So a change that
moves a headline number fails the test. To keep the snapshots small and their diffs readable,
only the checked cells keep their outputs.

A test compares each snapshot's code cells with its source notebook's, so a notebook edited
without regenerating its snapshot fails loudly. Regenerate with ``make notebook-snapshots`` (all)
or ``python -m retention_lab.runner.snapshots notebooks/02_churn_survival.ipynb`` (one).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat
import papermill
import yaml

from .kernel import KERNEL_ARGUMENTS
from .params import check_parameters

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
INJECTED_TAG = "injected-parameters"


def is_checked(cell) -> bool:
    return cell.get("cell_type") == "code" and cell.get("source", "").lstrip().startswith(CHECK_MARK)


def code_cells(nb) -> list[str]:
    """Sources of the code cells, without Papermill's injected-parameters cell."""
    return [c.source for c in nb.cells if c.cell_type == "code"
            and INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]


def injected_source(nb) -> str | None:
    for c in nb.cells:
        if INJECTED_TAG in c.get("metadata", {}).get("tags", []):
            return c.source
    return None


def clean(nb):
    """Drop volatile metadata and the outputs of unchecked cells (nbval --nbval-lax ignores them)."""
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if INJECTED_TAG in cell.metadata.get("tags", []):
            cell["id"] = INJECTED_TAG  # papermill draws a random id: keep diffs quiet
        if cell.cell_type == "code" and not is_checked(cell):
            cell.outputs = []
            cell.execution_count = None
    return nb


def make_snapshot(source, dest, parameters: dict | None = None, kernel_name: str | None = None):
    """Execute ``source`` with ``parameters`` and write the cleaned snapshot to ``dest``."""
    source, dest = Path(source).resolve(), Path(dest)
    parameters = check_parameters(source, parameters or {})
    with tempfile.TemporaryDirectory(prefix="rl-snapshot-") as tmp:
        env_old = os.environ.get("RETENTION_LAB_RUN_DIR")
        os.environ["RETENTION_LAB_RUN_DIR"] = tmp  # side outputs (CSV) go to a scratch folder
        try:
            # cwd = the snapshot's folder: that is where nbval runs it
            nb = papermill.execute_notebook(str(source), str(Path(tmp) / "out.ipynb"),
                                            parameters=parameters, kernel_name=kernel_name,
                                            cwd=str(dest.parent.resolve()), progress_bar=False,
                                            extra_arguments=KERNEL_ARGUMENTS)
        finally:
            if env_old is None:
                os.environ.pop("RETENTION_LAB_RUN_DIR", None)
            else:
                os.environ["RETENTION_LAB_RUN_DIR"] = env_old
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(clean(nb), str(dest))
    return dest


def load_test_parameters(path) -> dict:
    path = Path(path)
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Regenerate nbval snapshots of the notebooks.")
    p.add_argument("notebooks", nargs="*", help="default: every notebooks/*.ipynb")
    p.add_argument("--source-dir", default="notebooks")
    p.add_argument("--snapshot-dir", default="tests/notebooks")
    args = p.parse_args(argv)
    snap_dir = Path(args.snapshot_dir)
    params = load_test_parameters(snap_dir / "params.yaml")
    sources = [Path(n) for n in args.notebooks] or sorted(Path(args.source_dir).glob("*.ipynb"))
    status = 0
    for src in sources:
        print(f"snapshot {src} with {params.get(src.stem, {})}", flush=True)
        try:
            make_snapshot(src, snap_dir / src.name, params.get(src.stem, {}))
        except Exception as exc:  # report every notebook, then fail
            print(f"  FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
