"""The verdict travels with the numbers (issue 19): ``metrics.json`` carries it (key
``verdict``), ``run.json``'s summary repeats it, and ``reports/index.html`` lists a
not-identified run as such with no bare estimate and marks a suggestive run's estimates."""
from __future__ import annotations

import json

import retention_lab as rl
from retention_lab.runner import index

VERDICTS = {
    "not identified": {"claim": "not identified", "evidence": "observational",
                       "robustness": None, "reasons": ["history_before_enrolment"]},
    "suggestive": {"claim": "suggestive", "evidence": "observational",
                   "robustness": {"purchases": {"bound": 1.02, "evalue_bound": 1.16,
                                                "benchmark": "purchases so far",
                                                "benchmark_bias": 1.8,
                                                "benchmark_strength": 3.0, "survives": False}},
                   "reasons": ["holm_significant", "fragile_to_benchmark"]},
}


def _metrics(tmp_path, monkeypatch, verdict):
    path = tmp_path / "metrics.json"
    monkeypatch.setenv(rl.report.recording.ENV_VAR, str(path))
    rl.report.recording.clear()
    rl.report.recording.record_verdict(verdict)
    rl.report.recording.record("purchases_members", 2.08, (1.84, 2.32), unit="purchases per customer",
                        control=3.0, treatment=5.08, p_value=1e-62, claim=verdict["claim"])
    rl.report.recording.record("take_up", 0.4, (0.38, 0.42), unit="proportion")
    saved = json.loads(path.read_text())
    rl.report.recording.clear()
    return saved


def test_metrics_json_and_run_summary_carry_the_verdict(tmp_path, monkeypatch):
    saved = _metrics(tmp_path, monkeypatch, VERDICTS["suggestive"])
    v = saved["verdict"]
    assert {k: v[k] for k in ("claim", "evidence", "robustness", "reasons")} == \
        VERDICTS["suggestive"]
    assert v["value"] == "suggestive" and v["unit"] == "claim"
    assert saved["purchases_members"]["claim"] == "suggestive"
    summary = index.run_summary(saved)
    assert summary == {"n_metrics": 3, "verdict": VERDICTS["suggestive"]}
    assert index.run_summary({"x": {"value": 1}}) == {"n_metrics": 1}


def test_index_lists_a_not_identified_run_without_a_bare_estimate(tmp_path, monkeypatch):
    saved = _metrics(tmp_path, monkeypatch, VERDICTS["not identified"])
    html = index.metrics_html(saved)
    assert "verdict: Not identified" in html and "class='failed'" in html
    assert "2.08" not in html and "purchases_members" not in html
    assert "take_up" in html   # not an effect: still listed
    assert "no effect estimate" in html


def test_index_marks_a_suggestive_run(tmp_path, monkeypatch):
    saved = _metrics(tmp_path, monkeypatch, VERDICTS["suggestive"])
    html = index.metrics_html(saved)
    assert html.startswith("<span class='suggestive'>verdict: Suggestive, not proven")
    assert "purchases_members (difference, not a proven effect): +2.08" in html


def test_index_page_from_run_folders(tmp_path, monkeypatch):
    """build_index reads each run's metrics.json: the verdict line appears on the page."""
    saved = _metrics(tmp_path, monkeypatch, VERDICTS["not identified"])
    from retention_lab.runner import folders
    run = tmp_path / "reports" / "impact" / folders.new_run_id()
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps(saved))
    (run / "run.json").write_text(json.dumps({"status": "ok", "duration": 1.0,
                                              "summary": index.run_summary(saved)}))
    (run / "report.html").write_text("<html></html>")
    page = index.build_index(tmp_path / "reports").read_text()
    assert run.name in page
    assert "verdict: Not identified" in page and "+2.08" not in page
