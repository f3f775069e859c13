"""A report's HTML rendered by a real browser (headless Debian chromium): figures shown, no
console errors, nothing fetched from the network; reports 01-04 (04 randomized and
self-selected, run with small parameters) show the expected figures in each section and no raw
Python output (reprs, tuples, None/NaN, scientific notation) in their visible text, and no table
is wider than a 1,000 px page. Run with `make test-browser` (installs chromium with apt-get if
missing). Screenshots of the reports are left in the pytest temporary folder (path printed).

The report is served from a local HTTP server next to a probe page that loads it in an iframe
(same origin) and, once loaded, writes into its own DOM how many <img> the report has and how many
the browser actually decoded (naturalWidth > 0); `--dump-dom` then returns that verdict.
"""
from __future__ import annotations

import contextlib
import functools
import html
import http.server
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from retention_lab.runner import run_notebook

pytestmark = pytest.mark.browser

DEMO = Path(__file__).parents[1] / "runner_fixtures" / "demo.ipynb"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
PROBE = """<!DOCTYPE html><html><body><pre id="verdict">pending</pre>
<iframe id="r" src="report.html" width="1200" height="900"></iframe>
<script>
document.getElementById("r").addEventListener("load", () => {
  const doc = document.getElementById("r").contentDocument;
  const imgs = Array.from(doc.querySelectorAll("img"));
  const data = imgs.filter(i => i.src.startsWith("data:image/"));
  const shown = data.filter(i => i.complete && i.naturalWidth > 0);
  const code = doc.querySelectorAll(".jp-CodeCell .jp-InputArea, .jp-CodeMirrorEditor").length;
  const ext = Array.from(doc.querySelectorAll("script[src], link[href]"))
                   .filter(e => /^https?:/.test(e.src || e.href)).length;
  document.getElementById("verdict").textContent =
    `imgs=${imgs.length} data=${data.length} shown=${shown.length} code=${code} external=${ext} ` +
    `title=${doc.querySelector(".rl-header h1") ? doc.querySelector(".rl-header h1").textContent : ""}`;
});
</script></body></html>"""


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (make test-browser installs it)")
    return exe


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log on stderr
        pass


@contextlib.contextmanager
def _serve(directory):
    """A loopback HTTP server for ``directory``; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def served_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    res = run_notebook(DEMO, {"n": 60}, name="demo", output_dir=out)
    assert res.ok, res.error
    run = Path(res.path)
    (run / "probe.html").write_text(PROBE)
    with _serve(run) as url:
        yield url


def _render(url, tmp_path):
    proc = subprocess.run([_chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def test_report_shows_its_figures_without_console_errors(served_report, tmp_path):
    dom, log = _render(f"{served_report}/probe.html", tmp_path)
    verdict = re.search(r'<pre id="verdict">(.*?)</pre>', dom).group(1)
    assert verdict.startswith("imgs=1 data=1 shown=1 code=0 external=0 title=Fixture report"), verdict
    console = [ln for ln in log.splitlines() if ":CONSOLE" in ln and "/report.html" in ln]
    assert console == [], console


def test_report_alone_renders_escaped_data(served_report, tmp_path):
    dom, log = _render(f"{served_report}/report.html", tmp_path)
    assert "&lt;script&gt;alert(" in dom and "<script>alert(" not in dom
    assert "Headline metrics" in dom and "CUST-" not in dom
    assert [ln for ln in log.splitlines() if ":CONSOLE" in ln] == []


def test_probe_detects_a_broken_figure_and_console_error(served_report, tmp_path):
    """The checks above can fail: a report with a corrupt image and a script error is caught."""
    run_dir = Path(tmp_path / "broken")
    run_dir.mkdir()
    (run_dir / "report.html").write_text(
        '<html><body><header class="rl-header"><h1>x</h1></header>'
        '<img src="data:image/png;base64,AAAA"><script>undefinedFn()</script></body></html>')
    (run_dir / "probe.html").write_text(PROBE)
    with _serve(run_dir) as url:
        dom, log = _render(f"{url}/probe.html", tmp_path)
    assert "imgs=1 data=1 shown=0" in dom
    assert any(":CONSOLE" in ln and "undefinedFn" in ln for ln in log.splitlines())


REAL_REPORTS = sorted((Path(__file__).parents[2] / "reports").glob("*/latest/report.html"))


@pytest.mark.parametrize("report", REAL_REPORTS, ids=[p.parts[-3] for p in REAL_REPORTS])
def test_real_reports_render(report, tmp_path):
    """Every report already run in reports/ (e.g. after `make report-all`) renders the same way."""
    run = report.parent.resolve()
    (tmp_path / "probe.html").write_text(PROBE)
    (tmp_path / "report.html").symlink_to(run / "report.html")
    with _serve(tmp_path) as url:
        dom, log = _render(f"{url}/probe.html", tmp_path)
    m = re.search(r"imgs=(\d+) data=(\d+) shown=(\d+) code=(\d+) external=(\d+)", dom)
    imgs, data, shown, code, external = map(int, m.groups())
    assert imgs >= 1 and imgs == data == shown and code == 0 and external == 0, m.group(0)
    assert [ln for ln in log.splitlines() if ":CONSOLE" in ln and "/report.html" in ln] == []



# ------------------------------------------------------------------ reports 01-04 as a reader sees them
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
#: name -> (notebook, small parameters, {section heading: figures in it})
REPORTS = {
    "01_customer_metrics": ("01_customer_metrics.ipynb", {"n_customers": 3000},
                            {"The business metrics": 1, "Cohort retention": 1, "RFM segments": 1,
                             "Data quality": 0, "Notes on method": 0}),
    "02_churn_survival": ("02_churn_survival.ipynb", {"n_customers": 3000},
                          {"Retention curves": 1, "Who lapses sooner: Cox proportional hazards": 2,
                           "Loyalty membership as a time-varying exposure": 1,
                           "Effect sizes between groups": 0,
                           "Beyond the observed window: parametric lifetimes": 1,
                           "Churn risk and the at-risk list": 1, "Headline numbers": 0}),
    "03_clv": ("03_clv.ipynb", {"n_draws": 30},
               {"Holdout validation": 2, "Who is still active?": 1, "Customer lifetime value": 1,
                "CLV by RFM segment": 0, "High-value customers at risk": 0}),
    "04_randomized": ("04_loyalty_impact.ipynb", {"n_customers": 4000, "design": "randomized"},
                      {"Verdict": 1, "Executive summary": 0, "Purchase frequency": 1,
                       "Spend and average order value": 1, "Retention": 1,
                       "Customer lifetime value": 0, "Satisfaction: NPS and CSAT": 0,
                       "Did it pay? Incremental revenue and ROI": 0,
                       "Who responds? Effects by segment": 1, "Power": 0, "Checks": 1,
                       "Method notes": 0}),
    "04_self_selected": ("04_loyalty_impact.ipynb", {"n_customers": 4000,
                                                     "design": "self_selected"},
                         {"Verdict": 1, "Purchase frequency": 1,
                          "Spend and average order value": 1, "Retention": 1,
                          "Who responds? Effects by segment": 1, "Checks": 1,
                          "Sensitivity to unmeasured confounding": 0, "Method notes": 0}),
    "06_holdout_monitor": ("06_holdout_monitor.ipynb", {"n_customers": 5000,
                                                        "holdout_share": 0.2},
                           {"Decision": 0, "Confidence sequences over calendar time": 1,
                            "Plan against actuals": 1, "Sample ratio": 0, "Method notes": 0}),
    "05_targeting": ("05_targeting.ipynb", {"n_customers": 3000, "n_folds": 3, "n_boot": 50},
                     {"The answer": 1, "Which ranking finds the customers who gain?": 1,
                      "Who gains most": 0, "The offer's average effects": 0, "Method notes": 0}),
}
#: Raw output a reader must never see: (what, pattern on the visible text).
RAW = [("a Python repr", r"\b[A-Z]\w+\(\w+=|<[\w.]+ object at 0x|<(?:Report)?Figure size"),
       ("an IPython object", r"<IPython\.core"), ("a tuple of floats", r"\(-?\d+\.\d+, -?\d+\.\d+\)"),
       ("a Python list", r"\['[^']*'(?:, '[^']*')*\]"), ("None", r"\bNone\b"),
       ("NaN", r"\b(?:NaN|nan)\b"), ("n/a", r"\bn/a\b"),
       ("scientific notation", r"\b\d+(?:\.\d+)?[eE][+-]?\d+\b"),
       ("a pandas dump", r"\bdtype:|Empty DataFrame|\bName: \w+, dtype"),
       ("an unformatted float", r"\b\d+\.\d{7,}\b"),
       ("a warning", r"\b\w+Warning: ")]
READER = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><pre id="verdict">pending</pre>
<iframe id="r" src="report.html" width="1000" height="1200"></iframe>
<script>
document.getElementById("r").addEventListener("load", () => {
  const doc = document.getElementById("r").contentDocument;
  const sections = [];
  let current = {title: "(top)", imgs: 0, shown: 0};
  sections.push(current);
  for (const el of doc.querySelectorAll("h2, img")) {
    if (el.tagName === "H2") {
      current = {title: el.textContent.replace(/\u00b6/g, "").trim(), imgs: 0, shown: 0};
      sections.push(current);
    } else {
      current.imgs += 1;
      if (el.complete && el.naturalWidth > 0) current.shown += 1;
    }
  }
  const page = doc.documentElement.clientWidth;
  const wide = Array.from(doc.querySelectorAll("table"))
    .filter(t => t.getBoundingClientRect().right > page + 1 || t.scrollWidth > t.parentElement.clientWidth + 1)
    .map(t => t.innerText.slice(0, 80))
    .concat(Array.from(doc.querySelectorAll("pre, img"))
      .filter(x => x.getBoundingClientRect().right > page + 1 || x.scrollWidth > x.clientWidth + 1)
      .map(x => x.tagName + ": " + (x.innerText || x.src).slice(0, 80)));
  const card = doc.querySelector(".rl-verdict");
  document.getElementById("verdict").textContent = JSON.stringify(
    {sections: sections, wide: wide, text: doc.body.innerText,
     card: card ? card.innerText : null,
     claim: card ? (Array.from(card.classList).find(c => c.startsWith("rl-claim-")) || "")
                     .replace("rl-claim-", "").replace(/-/g, " ") : null});
});
</script></body></html>"""


@pytest.fixture(scope="module")
def real_reports(tmp_path_factory):
    """The five reports, run through the runner with small parameters, each served over HTTP."""
    out = tmp_path_factory.mktemp("real-reports")
    runs = {}
    for name, (nb, params, _) in REPORTS.items():
        res = run_notebook(NOTEBOOKS / nb, params, name=name, output_dir=out, update_index=False)
        assert res.ok, (name, res.error)
        runs[name] = Path(res.path)
    print(f"\nreports and screenshots in {out}")
    return runs


def _read(run: Path, tmp_path) -> dict:
    (run / "reader.html").write_text(READER)
    with _serve(run) as url:
        dom, log = _render(f"{url}/reader.html", tmp_path)
    raw = re.search(r'<pre id="verdict">(.*?)</pre>', dom, re.S).group(1)
    got = json.loads(html.unescape(raw))
    got["console"] = [ln for ln in log.splitlines() if ":CONSOLE" in ln and "report.html" in ln]
    return got


def _screenshot(run: Path, tmp_path) -> None:
    subprocess.run([_chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'shot-profile'}",
                    f"--screenshot={run / 'screenshot.png'}", "--window-size=1000,3000",
                    "--hide-scrollbars", (run / "report.html").as_uri()],
                   capture_output=True, timeout=120)


@pytest.mark.parametrize("name", list(REPORTS))
def test_report_reads_like_a_report(real_reports, name, tmp_path):
    run = real_reports[name]
    got = _read(run, tmp_path)
    _screenshot(run, tmp_path)
    sections = {s["title"]: s for s in got["sections"]}
    expected = REPORTS[name][2]
    counts = {t: sections[t]["imgs"] if t in sections else None for t in expected}
    assert counts == expected, f"figures per section: {counts}"
    if name == "04_randomized":  # the sensitivity section applies to self-selected studies only
        assert not any("Sensitivity" in t for t in sections), list(sections)
    for s in got["sections"]:  # every figure, in any section, is decoded and shown
        assert s["imgs"] == s["shown"], s
    # the run id's random hex suffix ("…Z-9e64") can look like scientific notation: not output
    text = re.sub(r"\b\d{8}T\d{6}Z-[0-9a-f]{4}\b", "<run id>", got["text"])
    found = {what: sorted(set(m.group(0) for m in re.finditer(pat, text)))[:5]
             for what, pat in RAW if re.search(pat, text)}
    assert found == {}, f"raw output in the visible text: {found}"
    assert got["wide"] == [], f"tables, text or figures wider than a 1,000 px page: {got['wide']}"
    assert got["console"] == []
    title = text.strip().splitlines()[0]
    assert text.count(title) == 1, f"the title {title!r} appears more than once"


def test_verdict_card_of_observational_runs_claims_no_effect_it_cannot_show(real_reports,
                                                                            tmp_path):
    """Issue 19: the self-selected run (members chose to join) is graded 'suggestive' or 'not
    identified' unless it survives the strongest measured covariate; its verdict card then says
    what was measured — no unqualified "raised" — how fragile it is and which holdout would
    settle it. The randomized run keeps its Holm-adjusted claim."""
    got = _read(real_reports["04_self_selected"], tmp_path)
    card = got["card"] or ""
    assert got["claim"] in ("suggestive", "not identified", "effect", "no effect detected")
    if got["claim"] in ("suggestive", "not identified"):
        assert not re.search(r"\braised\b", card), card
    if got["claim"] == "suggestive":
        assert "Suggestive, not proven" in card and "than comparable non-members" in card
        assert "randomized holdout" in card and "weeks of sign-ups" in card
        assert "Fragile:" in card or "could not be assessed" in card
    (tmp_path / "r").mkdir()
    randomized = _read(real_reports["04_randomized"], tmp_path / "r")
    assert randomized["claim"] in ("effect", "no effect detected")
    assert "randomized experiment" in randomized["card"]


def test_reader_catches_raw_output(tmp_path):
    """The checks above can fail: a page with a repr, a tuple, NaN and 1e-08 is caught."""
    run = tmp_path / "raw"
    run.mkdir()
    (run / "report.html").write_text(
        "<html><body><h1>t</h1><h2>A</h2><p>ExperimentData(design='x') (55450.77, 186903.48) "
        "NaN p = 1.1e-08</p><table><tr><td style='white-space:nowrap'>" + "wide " * 400 +
        "</td></tr></table></body></html>")
    got = _read(run, tmp_path)
    hits = {what for what, pat in RAW if re.search(pat, got["text"])}
    assert {"a Python repr", "a tuple of floats", "NaN", "scientific notation"} <= hits
    assert [s["title"] for s in got["sections"]] == ["(top)", "A"]
    assert len(got["wide"]) == 1


def test_holdout_monitor_shows_the_decision_and_the_figure(real_reports, tmp_path):
    """Report 06: the decision sentence comes first under "Decision" and the confidence-sequence
    figure is decoded and shown."""
    got = _read(real_reports["06_holdout_monitor"], tmp_path)
    sections = {s["title"]: s for s in got["sections"]}
    text = got["text"]
    after = text[text.index("Decision"):]
    assert re.search(r"Decision\s+(Keep running|Stop for efficacy|Stop for futility|Stop:|"
                     r"Stop and fix the assignment)", after), after[:300]
    fig = sections["Confidence sequences over calendar time"]
    assert fig["imgs"] == fig["shown"] == 1


FIRST_SCREEN = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><pre id="verdict">pending</pre>
<iframe id="r" src="report.html" width="1000" height="900"></iframe>
<script>
document.getElementById("r").addEventListener("load", () => {
  const doc = document.getElementById("r").contentDocument;
  const seen = Array.from(doc.querySelectorAll("h1, h2, p, li, th, td"))
    .filter(e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= 900; })
    .map(e => e.innerText);
  document.getElementById("verdict").textContent = JSON.stringify(seen);
});
</script></body></html>"""


def test_targeting_answer_interval_and_comparison_on_the_first_screen(real_reports, tmp_path):
    """Report 05 as a new user opens it: without scrolling (1000 x 900 px) they read whom to
    contact (or that no ranking is warranted), the expected gain in money with its interval and
    the comparison with the churn-risk ranking."""
    run = real_reports["05_targeting"]
    (run / "first.html").write_text(FIRST_SCREEN)
    with _serve(run) as url:
        dom, _ = _render(f"{url}/first.html", tmp_path)
    raw = re.search(r'<pre id="verdict">(.*?)</pre>', dom, re.S).group(1)
    text = " ".join(json.loads(html.unescape(raw)))
    assert re.search(r"\bContact \d[\d,]* of \d|Target everyone or no one|Contact everyone|"
                     r"Contact no one", text), text[:600]
    money = r"[−+-]?\$[\d,.]+"
    assert re.search(rf"{money} \[{money}, {money}\] per customer", text), text[:600]
    assert "churn risk" in text, text[:600]
