"""A report's HTML rendered by a real browser (headless Debian chromium): figures shown, no
console errors, nothing fetched from the network. Run with `make test-browser` (installs
chromium with apt-get if missing).

The report is served from a local HTTP server next to a probe page that loads it in an iframe
(same origin) and, once loaded, writes into its own DOM how many <img> the report has and how many
the browser actually decoded (naturalWidth > 0); `--dump-dom` then returns that verdict.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from retention_lab.runner import run_notebook

pytestmark = pytest.mark.browser

DEMO = Path(__file__).parent / "runner_fixtures" / "demo.ipynb"
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


@contextlib.contextmanager
def _serve(directory):
    """A loopback HTTP server for ``directory``; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a, **k: None
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


REAL_REPORTS = sorted((Path(__file__).parents[1] / "reports").glob("*/latest/report.html"))


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
