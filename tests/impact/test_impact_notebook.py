"""notebooks/04_loyalty_impact.ipynb runs unchanged with the plain papermill CLI, on simulated
data and on CSV files written from it, and shows no raw customer ids."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import retention_lab as rl

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "04_loyalty_impact.ipynb"
PAPERMILL = [sys.executable, "-m", "papermill", "--kernel", "retention-lab"]


def _run(tmp_path, *params):
    out = tmp_path / "out.ipynb"
    args = [a for k, v in params for a in ("-p", k, str(v))]
    proc = subprocess.run([*PAPERMILL, str(NOTEBOOK), str(out), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return nbformat.read(str(out), as_version=4)


def _text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(o.get("text", ""))
            parts.extend(str(v) for k, v in (o.get("data") or {}).items()
                         if k.startswith("text/"))
    return "\n".join(parts)


def test_notebook_structure():
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    assert nb.metadata.kernelspec.name == "retention-lab"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]
    assert not any(c.get("outputs") for c in code)
    assert not any(line.lstrip().startswith(("def ", "class ")) for c in code
                   for line in c.source.splitlines())
    assert any(c.source.startswith("# NBVAL_CHECK_OUTPUT") for c in code)


def test_parameter_cell_lists_every_design_and_text_takes_the_currency():
    """The ``design`` comment names every value rl.impact.analyze accepts (before: only
    "randomized" or "self_selected"), and the report's sentences get the ``currency``."""
    from retention_lab.impact.analyze import DESIGNS
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    params = nb.cells[[c.cell_type for c in nb.cells].index("code")].source
    start = params.index("design = ")
    comment = params[start:params.index("n_customers", start)]
    assert all(f'"{d}"' in comment for d in DESIGNS), comment
    assert "auto-picks launch or rolling" in comment
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for call in ("summary_html(", "context_text(", "sensitivity_text(", "roi_sentence(",
                 "verdict_card(", "sensitivity_table("):
        at = code.index(call)
        assert "currency=currency" in code[at:code.index(")", at) + 1], call


def test_notebook_on_csv_files(tmp_path):
    exp = rl.datasets.simulate_loyalty_experiment(n_customers=2000, design="self_selected",
                                                  seed=3)
    exp.transactions.to_csv(tmp_path / "tx.csv", index=False)
    exp.customers.to_csv(tmp_path / "customers.csv", index=False)
    exp.surveys.to_csv(tmp_path / "surveys.csv", index=False)
    nb = _run(tmp_path, ("data_source", tmp_path / "tx.csv"),
              ("customers_path", tmp_path / "customers.csv"),
              ("surveys_path", tmp_path / "surveys.csv"),
              ("observation_end", str(exp.observation_end.date())),
              ("launch_date", str(exp.launch_date.date())), ("design", "self_selected"),
              ("cost_per_member", 2.0), ("reward_rate", 0.03))
    text = _text(nb)
    assert "For members, the programme" in text and "ROI" in text
    assert "customer_id" not in text
    # the same numbers as the in-memory analysis
    rep = rl.impact.analyze(exp, design="self_selected", cost_per_member=2.0, reward_rate=0.03,
                            fixed_cost=0.0)
    assert rep.headline_table(3).to_string(index=False).splitlines()[1] in text


@pytest.mark.slow
def test_notebook_on_simulated_data_both_designs(tmp_path):
    for design in ("randomized", "self_selected"):
        nb = _run(tmp_path, ("n_customers", 4000), ("design", design))
        assert "customer_id" not in _text(nb)


def test_notebook_on_rolling_csv_files(tmp_path):
    """Issue 12: the plain papermill CLI on rolling-enrolment data written to CSV files; the
    self-selected design picks the rolling analysis and says so, with the event study."""
    exp = rl.datasets.simulate_loyalty_experiment(n_customers=3000, design="rolling", seed=6)
    exp.transactions.to_csv(tmp_path / "tx.csv", index=False)
    exp.customers.to_csv(tmp_path / "customers.csv", index=False)
    exp.surveys.to_csv(tmp_path / "surveys.csv", index=False)
    nb = _run(tmp_path, ("data_source", tmp_path / "tx.csv"),
              ("customers_path", tmp_path / "customers.csv"),
              ("surveys_path", tmp_path / "surveys.csv"),
              ("observation_end", str(exp.observation_end.date())),
              ("launch_date", str(exp.launch_date.date())), ("design", "self_selected"),
              ("cost_per_member", 2.0), ("reward_rate", 0.03))
    text = _text(nb)
    assert "rolling enrolment" in text and "monthly trials" in text
    assert "customer_id" not in text
    figures = sum("image/png" in (o.get("data") or {}) for c in nb.cells
                  for o in c.get("outputs", []))
    assert figures >= 3
