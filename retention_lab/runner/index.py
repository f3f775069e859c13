"""``reports/index.html``: every report, its runs (newest first) and their headline metrics.

Rebuilt from what is on disk after every run (so it is never out of step with the folders) and
written atomically. All text that comes from notebooks or data (names, metric names, errors) is
HTML-escaped.
"""
from __future__ import annotations

import html
import json
import os
import secrets
from pathlib import Path

from . import folders
from .html import metric_text

MAX_RUNS = 20  # runs listed per report

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}
table{border-collapse:collapse;margin-bottom:2em}td,th{border-bottom:1px solid #ddd;
padding:4px 10px;text-align:left;vertical-align:top}.failed{color:#b00}.latest{font-weight:bold}
.suggestive{color:#8a5a00}
.m{font-size:90%}"""


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


VERDICT_KEY = "verdict"
#: CSS class of a run's verdict line by claim id
CLAIM_CLASSES = {"not identified": "failed", "suggestive": "suggestive"}


def run_summary(metrics: dict) -> dict:
    """What ``run.json``'s ``summary`` says about a run: its verdict (``claim``, ``evidence``,
    ``robustness``, ``reasons``) when the notebook recorded one
    (:func:`retention_lab.report.recording.record_verdict`), and how many numbers it recorded."""
    out = {"n_metrics": len(metrics)}
    v = metrics.get(VERDICT_KEY)
    if isinstance(v, dict):
        out[VERDICT_KEY] = {k: v.get(k) for k in ("claim", "evidence", "robustness", "reasons")}
    return out


def _is_effect(entry) -> bool:
    """An effect estimate (treatment − control, or a ratio that carries the verdict's claim)."""
    return isinstance(entry, dict) and (("control" in entry and "treatment" in entry) or
                                        "claim" in entry and entry.get("unit") != "claim")


def metrics_html(metrics: dict) -> str:
    """A run's headline metrics for the index: the verdict first; a run whose effect is not
    identified lists no effect estimate (only the verdict and the failed checks' ids); the
    estimates of a suggestive run are marked as measured differences."""
    e = html.escape
    v = metrics.get(VERDICT_KEY)
    claim = v.get("claim") if isinstance(v, dict) else None
    lines = []
    if claim:
        text, _ = metric_text(v)
        cls = CLAIM_CLASSES.get(claim, "ok")
        reasons = ", ".join(str(r) for r in v.get("reasons") or [])
        lines.append(f"<span class='{cls}'>verdict: {e(text)}"
                     + (f" (reasons: {e(reasons)})" if reasons else "") + "</span>")
    for k, entry in metrics.items():
        if k == VERDICT_KEY:
            continue
        if claim == "not identified" and (_is_effect(entry) or str(k).endswith("_evalue")):
            continue   # no bare estimate (nor its E-value) of an effect not identified
        note = " (difference, not a proven effect)" if _is_effect(entry) and \
            claim == "suggestive" else ""
        lines.append(f"{e(str(k))}{e(note)}: {e(' '.join(filter(None, metric_text(entry))))}")
    if claim == "not identified":
        lines.append("<span class='failed'>no effect estimate: the data cannot separate who "
                     "chose to join from what joining did</span>")
    return "<br>".join(lines)


def build_index(output_dir="reports") -> Path:
    """Write ``<output_dir>/index.html`` and return its path."""
    e = html.escape
    root = Path(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    sections = []
    for report_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        runs = folders.list_runs(report_dir)
        if not runs:
            continue
        latest = folders.latest_run(report_dir)
        rows = []
        for run_id, status, path in runs[:MAX_RUNS]:
            info = _load(path / "run.json")
            metrics = _load(path / "metrics.json")
            rel = path.relative_to(root).as_posix()
            if status == "ok":
                link = f"<a href='{e(rel)}/report.html'>report</a> · <a href='{e(rel)}/report.ipynb'>ipynb</a>"
            else:
                link = f"<a href='{e(rel)}/report.ipynb'>failed notebook</a>"
            mtext = metrics_html(metrics)
            if status == "failed" and info.get("error"):
                mtext = f"<span class='failed'>{e(str(info['error']))}</span>" + (
                    "<br>" + mtext if mtext else "")
            cls = " class='latest'" if latest is not None and latest.name == path.name else ""
            rows.append(f"<tr><td{cls}>{e(run_id)}{' (latest)' if cls else ''}</td>"
                        f"<td class='{'failed' if status == 'failed' else 'ok'}'>{e(status)}</td>"
                        f"<td>{e(str(info.get('duration', '')))}</td><td>{link}</td>"
                        f"<td class='m'>{mtext}</td></tr>")
        more = f"<p>{len(runs) - MAX_RUNS} older runs not listed.</p>" if len(runs) > MAX_RUNS else ""
        sections.append(f"<h2 id='{e(report_dir.name)}'>{e(report_dir.name)}</h2><table>"
                        "<tr><th>run</th><th>status</th><th>seconds</th><th>files</th>"
                        f"<th>headline metrics [95% interval]</th></tr>{''.join(rows)}</table>{more}")
    body = "".join(sections) or "<p>No report has run yet.</p>"
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>retention_lab reports"
            f"</title><style>{_CSS}</style></head><body><h1>retention_lab reports</h1>{body}</body></html>")
    out = root / "index.html"
    tmp = root / f".index-{secrets.token_hex(4)}.html"
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out)
    except BaseException:  # a full disk: no partial .index-*.html left behind
        tmp.unlink(missing_ok=True)
        raise
    return out
