"""Notebooks 01 and 02 on a user's own files, as `retention-lab run` executes them: a semicolon
CSV with decimal commas, a customers table with covariates only (no arm, no enrolled_at), a
follow-up too short for the last retention horizon, and no covariates at all.

The data are the simulator's, written to files here; the oracle for the reading is the same
tables analysed in memory (the files must be read back exactly, whatever their notation).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from retention_lab.runner import run_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _visible_text(html_path: Path, warnings: bool = True) -> str:
    """The report's text; without ``warnings``, minus the library warnings a cell printed to
    stderr (they explain themselves, e.g. "standard errors are undefined (reported as NaN)")."""
    page = html_path.read_text()
    if not warnings:
        page = re.sub(r'<div[^>]*data-mime-type="application/vnd.jupyter.stderr".*?</div>', "",
                      page, flags=re.S)
    page = re.sub(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", "", page)   # figures
    page = re.sub(r"<style.*?</style>", "", page, flags=re.S)
    return re.sub(r"<[^>]+>", " ", page)


@pytest.fixture(scope="module")
def own_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    exp = rl.datasets.simulate_loyalty_experiment(n_customers=1200, seed=7)
    tx = exp.transactions[["customer_id", "date", "amount"]].copy()
    cust = exp.customers[["customer_id", "acquisition_channel", "region"]]   # covariates only
    tx.to_csv(root / "tx_semicolon.csv", sep=";", decimal=",", index=False)
    cust.to_csv(root / "customers.csv", sep=";", index=False)   # one notation for all files
    start = tx["date"].min()
    short = tx[tx["date"] < start + pd.Timedelta(days=300)]
    short.to_csv(root / "tx_short.csv", index=False)
    cust[cust["customer_id"].isin(short["customer_id"])].to_csv(root / "customers_short.csv",
                                                                 index=False)
    return root, exp, tx


def test_notebook_01_reads_a_semicolon_decimal_comma_file_with_covariate_only_customers(own_files):
    root, exp, tx = own_files
    assert "," in (root / "tx_semicolon.csv").read_text().splitlines()[1]   # decimal commas
    res = run_notebook(NOTEBOOKS / "01_customer_metrics.ipynb",
                       {"data_source": str(root / "tx_semicolon.csv"),
                        "customers_path": str(root / "customers.csv"),
                        "sep": ";", "decimal": ","},
                       name="own01", output_dir=root / "reports")
    assert res.ok, res.error
    # the same tables in memory give the same numbers: the file was read exactly
    data = rl.io.load_data(tx, customers=exp.customers[["customer_id", "acquisition_channel",
                                                        "region"]])
    assert data.design is None
    expected = rl.overview.customer_metrics(data).results
    metrics = json.loads((Path(res.path) / "metrics.json").read_text())
    for name, result in expected.items():
        assert metrics[name]["value"] == pytest.approx(result.value, rel=1e-12), name
    text = _visible_text(Path(res.path) / "report.html")
    assert "1,200" in text and "randomized" not in text


def test_notebook_02_short_follow_up_and_no_covariates_says_why_instead_of_nan(own_files):
    root, _, _ = own_files
    res = run_notebook(NOTEBOOKS / "02_churn_survival.ipynb",
                       {"data_source": str(root / "tx_short.csv"),
                        "customers_path": str(root / "customers_short.csv"),
                        "covariates": [], "horizons_days": [90, 180, 365]},
                       name="own02", output_dir=root / "reports")
    assert res.ok, res.error
    text = _visible_text(Path(res.path) / "report.html", warnings=False)
    assert not re.search(r"\bnan\b", text, flags=re.I), re.findall(r".{80}\bnan\b.{20}", text)
    assert "retention at 365 days cannot be estimated for" in text
    assert "No covariates given (covariates = []): no Cox model" in text
    metrics = json.loads((Path(res.path) / "metrics.json").read_text())
    assert "retention_365d" not in metrics and "retention_180d" in metrics
    # RMST only up to an age every group is followed to, not "up to 365 days" on a flat extension
    assert "RMST up to 365 days cannot be estimated" in text and "shown up to 180 days" in text
    assert "rmst_difference_365d" not in metrics and "rmst_difference_180d" in metrics
    for name, entry in metrics.items():
        for key in ("value", "ci_low", "ci_high"):
            value = entry.get(key)
            assert value is None or np.isfinite(value), (name, key, value)
    nb = json.loads((Path(res.path) / "report.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                      for o in c.get("outputs", []))
    assert not re.search(r"\bnan\b", printed)


@pytest.mark.slow   # ~30 s: CDNOW's master file; the exclusion itself: tests/features/test_features_spend.py
def test_notebook_03_runs_on_cdnow_full_and_counts_the_zero_spend_customer(tmp_path):
    res = run_notebook(NOTEBOOKS / "03_clv.ipynb", {"data_source": "cdnow_full", "n_draws": 20},
                       name="full03", output_dir=tmp_path)
    assert res.ok, res.error
    text = _visible_text(Path(res.path) / "report.html")
    assert "23,569 customers" in text
    assert re.search(r"monetary_value &gt; 0 when frequency &gt; 0\s+1\s+excluded", text)
