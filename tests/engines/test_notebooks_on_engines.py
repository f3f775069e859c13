"""Notebooks 01 (customer metrics) and 03 (CLV) run unchanged through the plain papermill CLI on
a hive-partitioned Parquet directory: DuckDB reads and checks it, the data summary names the
engine and the rows read, and the numbers are those of the in-memory run."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import retention_lab as rl

ROOT = Path(__file__).resolve().parents[2]
PAPERMILL = [sys.executable, "-m", "papermill", "--kernel", "retention-lab"]


@pytest.fixture(scope="module")
def cdnow_dir(tmp_path_factory, cdnow_sample):
    d = tmp_path_factory.mktemp("cdnow") / "tx"
    cdnow_sample.assign(year=cdnow_sample["date"].dt.year).to_parquet(
        d, partition_cols=["year"], coerce_timestamps="us", allow_truncated_timestamps=True)
    return d


def _run(tmp_path, notebook, *params):
    out = tmp_path / f"{notebook}.ipynb"
    args = [a for k, v in params for a in ("-p", k, str(v))]
    proc = subprocess.run([*PAPERMILL, str(ROOT / "notebooks" / f"{notebook}.ipynb"), str(out),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return nbformat.read(str(out), as_version=4)


def _checked_outputs(nb) -> list[str]:
    return ["".join(o.get("text", "") for o in c.get("outputs", []))
            for c in nb.cells if c.cell_type == "code" and c.source.startswith("# NBVAL_CHECK_OUTPUT")]


def _text(nb) -> str:
    return "\n".join(o.get("text", "") + "".join(str(v) for k, v in (o.get("data") or {}).items()
                                                   if k.startswith("text/"))
                     for c in nb.cells for o in c.get("outputs", []))


def test_clv_notebook_on_a_parquet_directory(tmp_path, cdnow_dir, cdnow_sample):
    nb = _run(tmp_path, "03_clv", ("data_source", cdnow_dir), ("n_draws", 50))
    text = _text(nb)
    assert f"duckdb ({len(cdnow_sample):,} rows read)" in text  # rl.report.tables.data_summary
    # every checked number equals the nbval snapshot's (the same notebook on the in-memory
    # CDNOW sample, n_draws=50): BG/NBD r 0.243 (Fader, Hardie & Lee 2005) among them
    snapshot = nbformat.read(str(ROOT / "tests" / "notebooks" / "03_clv.ipynb"), as_version=4)
    assert _checked_outputs(nb) == _checked_outputs(snapshot)
    assert "calibration     r: 0.243" in text


def test_metrics_notebook_on_a_parquet_directory(tmp_path, cdnow_dir, cdnow_sample):
    nb = _run(tmp_path, "01_customer_metrics", ("data_source", cdnow_dir))
    text = _text(nb)
    assert f"duckdb ({len(cdnow_sample):,} rows read)" in text  # rl.report.tables.data_summary
    overview = rl.overview.customer_metrics(rl.io.load_data("cdnow"))
    r = overview.results["retention_rate"]
    assert (f"retention_rate: {r.value:.3g}  (95% CI {r.ci[0]:.3g} to {r.ci[1]:.3g})"
            in "".join(_checked_outputs(nb)))
