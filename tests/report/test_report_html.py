"""The runner's HTML around a notebook's outputs: the title once, no raw metrics dump at the
top, the recorded metrics formatted in a folded footer; and the notebooks' presentation
contract (a currency parameter where money is shown; the sensitivity section only in
self-selected reports)."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from retention_lab.runner.html import export_html, metric_text

ROOT = Path(__file__).resolve().parents[2]
METRICS = {
    "lapse_hazard_ratio_itt": {"value": 0.8975, "ci_low": 0.8316, "ci_high": 0.9686,
                               "unit": "hazard ratio", "method": "Cox"},
    "spend_itt": {"value": 20.256978, "ci_low": 5.724868, "ci_high": 34.789089,
                  "unit": "USD per customer", "method": "CUPED", "control": 119.0,
                  "treatment": 139.2},
    "retention_itt": {"value": 0.038116, "ci_low": 0.00947, "ci_high": 0.066762,
                      "unit": "proportion", "control": 0.319, "treatment": 0.357},
    "logrank_p_value": {"value": 5.853e-299, "unit": "probability"},
}


def _notebook(tmp_path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Did the loyalty programme work?\n\nIntro."),
                nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.v4.new_output(
                    "display_data", data={"text/html": "<p>the verdict card</p>",
                                          "text/plain": "card"})])]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_header_shows_the_title_once_and_no_metrics(tmp_path):
    page = export_html(_notebook(tmp_path), tmp_path / "r.html",
                       run={"name": "impact", "run_id": "20260101T000000Z-abcd",
                            "parameters": {"design": "randomized", "launch_date": None,
                                           "horizons_days": [90, 180]}},
                       metrics=METRICS).read_text()
    visible = re.sub(r"<[^>]+>", " ", re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S))
    assert visible.count("Did the loyalty programme work?") == 1 + page.count(
        "<title>Did the loyalty programme work?</title>")
    header = page[page.index("<header"):page.index("</header>")]
    assert "lapse" not in header and "Headline" not in header
    assert "not set (default)" in header and "90, 180" in header and "None" not in header
    assert page.index("</header>") < page.index("the verdict card") < page.index('<footer class="rl-footer">')
    footer = page[page.index('<footer class="rl-footer">'):]
    assert "<details>" in footer
    assert "0.897 [0.832, 0.969]" in footer and "-0.04858" not in footer
    assert "+$20.26 [+$5.72, +$34.79]" in footer and "per customer" in footer
    assert "+3.8 pts [+0.9 pts, +6.7 pts]".replace(" pts", "\u00a0pts") in footer.replace(
        "&nbsp;", "\u00a0")
    assert "&lt; 0.001" in footer and "e-299" not in page


def test_metric_text_units():
    assert metric_text(METRICS["spend_itt"]) == ("+$20.26 [+$5.72, +$34.79]", "per customer")
    assert metric_text({"value": 0.41, "ci_low": 0.38, "ci_high": 0.44, "unit": "proportion"}) \
        == ("41.0% [38.0%, 44.0%]", "")
    assert metric_text({"value": 7.49, "unit": "NPS points"}) == ("7.5", "NPS points")
    # an NPS difference is written in points once ("+6.3 pts"), not "+6.3 pts … NPS points"
    diff = {"value": 6.3, "ci_low": 2.4, "ci_high": 10.2, "unit": "NPS points",
            "control": 30.0, "treatment": 36.3}
    assert metric_text(diff) == ("+6.3 pts [+2.4 pts, +10.2 pts]".replace(" pts", "\u00a0pts"), "")
    # an E-value names both numbers: the verdict's fragility sentence quotes the interval's
    ev = {"value": 1.846, "unit": "risk ratio", "evalue_ci": 1.733}
    assert metric_text(ev) == ("1.85 for the estimate, 1.73 for its interval to reach no effect",
                               "")


def _cells(name):
    return nbformat.read(str(ROOT / "notebooks" / name), as_version=4).cells


def test_notebooks_that_show_money_take_a_currency_parameter():
    for name in ("01_customer_metrics.ipynb", "03_clv.ipynb", "04_loyalty_impact.ipynb"):
        params = next(c for c in _cells(name) if "parameters" in c.metadata.get("tags", []))
        assert re.search(r'^currency = "USD"', params.source, re.M), name
        assert any("rl.report.recording.set_currency(currency)" in c.source for c in _cells(name)), name


def test_sensitivity_section_only_in_self_selected_reports():
    cells = _cells("04_loyalty_impact.ipynb")
    assert not any(c.cell_type == "markdown" and "Sensitivity to unmeasured" in c.source
                   for c in cells)
    code = [c.source for c in cells if "## Sensitivity to unmeasured confounding" in c.source]
    assert len(code) == 1 and code[0].startswith("if report.sensitivity is not None")


def test_verdict_card_comes_first_in_notebook_04():
    cells = _cells("04_loyalty_impact.ipynb")
    shows = [c.source for c in cells if c.cell_type == "code" and
             "parameters" not in c.metadata.get("tags", []) and
             "remove-cell" not in c.metadata.get("tags", [])]
    first_shown = next(s for s in shows if not s.rstrip().endswith("report.record()"))
    assert first_shown.startswith("rl.report.tables.verdict_card(report")
