"""The runner wherever the package is installed: kernel fallback, the caller's relative paths,
and a run's console output free of ipykernel's own notices."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from retention_lab.runner import execute, kernel

ROOT = Path(__file__).resolve().parents[2]
DEMO = Path(__file__).parents[1] / "runner_fixtures" / "demo.ipynb"


def test_missing_kernel_is_registered_once_for_this_interpreter(monkeypatch, capsys):
    """After a plain `pip install`, the notebooks' kernel `retention-lab` does not exist."""
    registered = []
    monkeypatch.setattr(kernel, "_exists", lambda name: name in registered)
    monkeypatch.setattr(kernel, "register_kernel",
                        lambda name: registered.append(name) or f"/prefix/kernels/{name}")
    monkeypatch.setattr(kernel, "_notified", set())
    assert kernel.kernel_for(DEMO) == "retention-lab"
    assert kernel.kernel_for(DEMO) == "retention-lab"
    assert registered == ["retention-lab"]
    assert capsys.readouterr().err == (
        f"retention-lab: registered the Jupyter kernel 'retention-lab' for {sys.executable} "
        "(first use; spec in /prefix/kernels/retention-lab)\n")
    # a notebook naming a kernel that is not there runs in ours, and says so
    assert kernel.kernel_for(DEMO, "python-elsewhere") == "retention-lab"
    assert capsys.readouterr().err == (
        "retention-lab: kernel 'python-elsewhere' does not exist; running in 'retention-lab' "
        f"({sys.executable})\n")


def test_existing_kernel_is_used_as_is(monkeypatch):
    monkeypatch.setattr(kernel, "_exists", lambda name: True)
    monkeypatch.setattr(kernel, "register_kernel", lambda name: (_ for _ in ()).throw(AssertionError))
    assert kernel.kernel_for(DEMO) == kernel.notebook_kernel(DEMO)
    assert kernel.kernel_for(DEMO, "python3") == "python3"


def test_relative_path_parameters_resolve_against_the_callers_directory(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tx.csv").write_text("x")
    out = execute.resolve_path_parameters(
        {"data_source": "data/tx.csv", "customers_path": "missing/customers.parquet",
         "surveys_path": None, "label": "data/tx.csv", "n": 3},
        base=tmp_path)
    assert out["data_source"] == str(tmp_path / "data" / "tx.csv")
    # a file that is not there still becomes absolute, so the error names what was tried
    assert out["customers_path"] == str(tmp_path / "missing" / "customers.parquet")
    assert out["label"] == "data/tx.csv" and out["surveys_path"] is None and out["n"] == 3
    for named in ("simulated", "cdnow", "cdnow_full", "duckdb:///wh.duckdb::tx", "spark:db.tx",
                  "/abs/tx.csv"):
        assert execute.resolve_path_parameters({"data_source": named}, base=tmp_path) == \
            {"data_source": named}


def test_cli_run_with_a_relative_csv_is_quiet_and_reads_the_callers_file(tmp_path):
    """`retention-lab run` from the user's folder with `-p data_source tx.csv`: the kernel runs in
    notebooks/, but the file read is the user's; stderr carries no kernel notices."""
    from retention_lab.datasets import load_cdnow
    load_cdnow(sample=True).head(2000).to_csv(tmp_path / "tx.csv", index=False)
    nb = ROOT / "notebooks" / "01_customer_metrics.ipynb"
    exe = Path(sys.executable).parent / "retention-lab"
    res = subprocess.run([str(exe), "run", str(nb), "-p", "data_source", "tx.csv",
                          "--output-dir", "reports", "--no-progress"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stderr == "", res.stderr       # no TCP warning, no KeyboardInterrupt log
    run = next((tmp_path / "reports" / "01_customer_metrics").glob("2*"))
    params = pd.read_json(run / "run.json", typ="series")["parameters"]
    assert params["data_source"] == str(tmp_path / "tx.csv")
