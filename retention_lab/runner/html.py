"""The clean HTML of a report: outputs only, figures embedded, no external scripts.

nbconvert's ``HTMLExporter`` with ``exclude_input=True`` and the ``lab`` look, through the
package template ``templates/report.html.j2`` which drops every external script (the file must
open offline and without console errors) and adds an escaped header with the run's parameters
(its title once; the notebook's first output, e.g. a verdict card, comes next) and a folded
footer with the recorded metrics. Figures are PNG outputs, embedded as ``data:`` URIs by nbconvert.

Safety: every ``text/html`` output is passed through bleach with a table-friendly allow-list
(:func:`sanitize_output_html`), so HTML produced by a notebook (e.g. a data-derived segment name
inside ``display(HTML(...))``) cannot inject scripts or markup: disallowed tags are shown as
text. Plain-text outputs are escaped by nbconvert, DataFrames by pandas. Cells tagged ``remove-cell`` are dropped,
cells tagged ``remove-output`` keep nothing.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

import bleach
from bleach.css_sanitizer import CSSSanitizer

from .. import formatting as fmt
from ..report.tables import claim_label, unit_kind
from .folders import write_atomic

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "div",
         "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre",
         "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
         "tr", "u", "ul"}
_ATTRS = ["class", "title", "colspan", "rowspan", "border", "align", "valign"]
_CSS_PROPERTIES = frozenset({"text-align", "vertical-align", "color", "background-color",
                             "font-weight", "font-style", "font-size", "padding", "margin",
                             "border", "border-bottom", "border-top", "width", "white-space"})


_STYLE_BLOCK = re.compile(r"<style\b[^>]*>.*?</style\s*>", re.I | re.S)


def sanitize_output_html(text: str) -> str:
    """Allow tables and text markup; escape everything else (scripts, iframes, event handlers).

    ``<style>`` blocks (pandas adds one to every DataFrame) are dropped rather than shown as text.
    """
    css = CSSSanitizer(allowed_css_properties=_CSS_PROPERTIES)
    return bleach.clean(_STYLE_BLOCK.sub("", text), tags=_TAGS,
                        attributes={"*": _ATTRS + ["style"], "a": _ATTRS + ["style", "href"]},
                        css_sanitizer=css,
                        protocols={"http", "https", "mailto"}, strip=False, strip_comments=True)


def _sanitize_outputs(nb) -> None:
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            if "text/html" in data:
                raw = data["text/html"]
                data["text/html"] = sanitize_output_html("".join(raw) if isinstance(raw, list) else raw)


def metric_text(entry) -> tuple[str, str]:
    """``(estimate with its 95 % interval, unit)`` of one ``metrics.json`` entry, for people."""
    if not isinstance(entry, dict):
        return fmt.number(entry) if isinstance(entry, (int, float)) else str(entry), ""
    if entry.get("unit") == "claim":   # an impact verdict (reporting.record_verdict)
        return claim_label(str(entry.get("value")), str(entry.get("evidence") or "")), ""
    kind, currency, unit = unit_kind(entry.get("unit"))
    signed = "control" in entry and "treatment" in entry  # an effect: treatment − control
    text = fmt.estimate(entry.get("value"), entry.get("ci_low"), entry.get("ci_high"), kind,
                        currency=currency, signed=signed)
    if signed and kind == "nps":
        unit = ""   # a difference of scores is written in points ("+6.3 pts"): no second unit
    if entry.get("evalue_ci") is not None:
        # an E-value: the verdict quotes the interval's, so show both, each named
        text = (f"{text} for the estimate, {fmt.ratio(entry['evalue_ci'])} for its "
                "interval to reach no effect")
        unit = ""   # risk ratios both, as the key (…_evalue) says
    return text, unit


def _param_text(v) -> str:
    """A parameter as a person writes it: no quotes, no ``None``, lists without brackets."""
    if v is None:
        return "not set (default)"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return ", ".join(_param_text(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def header_html(title: str, run: dict, metrics: dict | None = None) -> str:
    """The report's header: its title (once), the run, and its parameters folded away. The
    notebook's own first output (a verdict card, a summary) comes first; the recorded metrics
    are in the footer (:func:`metrics_footer_html`)."""
    e = html.escape
    rows = "".join(f"<tr><th>{e(str(k))}</th><td>{e(_param_text(v))}</td></tr>"
                   for k, v in (run.get("parameters") or {}).items())
    finished = str(run.get("finished", ""))[:19].replace("T", " ")
    parts = [f"<header class='rl-header'><h1>{e(title)}</h1>",
             f"<div class='rl-meta'>report {e(str(run.get('name', '')))} · run "
             f"{e(str(run.get('run_id', '')))} · notebook "
             f"{e(Path(str(run.get('notebook', ''))).name)} · {e(finished)}</div>"]
    if rows:
        parts.append(f"<details><summary>Parameters of this run</summary><table>{rows}</table>"
                     "</details>")
    parts.append("</header>")
    return "".join(parts)


def metrics_footer_html(metrics: dict) -> str:
    """The recorded headline metrics (``metrics.json``), formatted, folded at the end."""
    if not metrics:
        return ""
    e = html.escape
    rows = []
    for k, v in metrics.items():
        text, unit = metric_text(v)
        method = str(v.get("method", "")) if isinstance(v, dict) else ""
        rows.append(f"<tr><th>{e(str(k))}</th><td class='rl-value'>{e(text)}</td>"
                    f"<td>{e(unit)}</td><td class='rl-meta'>{e(method)}</td></tr>")
    return ("<footer class='rl-footer'><details><summary>Headline metrics (95% intervals), as "
            "recorded in metrics.json</summary><table><tr><th>key</th><th>estimate [95 % CI]"
            f"</th><th>unit</th><th>method</th></tr>{''.join(rows)}</table></details></footer>")


def _first_heading(nb) -> str | None:
    """The notebook's first markdown ``# Title`` (author-written, escaped like all header text)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return None


def _drop_first_heading(nb) -> None:
    """Remove the ``# Title`` line that the header already shows (the title appears once)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = cell.source.splitlines()
            for i, line in enumerate(lines):
                if line.startswith("# "):
                    cell.source = "\n".join(lines[:i] + lines[i + 1:]).strip("\n")
                    return


def export_html(notebook_path, html_path, *, title: str | None = None, run: dict | None = None,
                metrics: dict | None = None) -> Path:
    """Write the report HTML of an executed notebook; return its path."""
    # heavy (nbconvert and nbformat, 1-10 s to import): only an export pays for them
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    nb = nbformat.read(str(notebook_path), as_version=4)
    c = Config()
    c.TagRemovePreprocessor.remove_cell_tags = {"remove-cell", "remove_cell"}
    c.TagRemovePreprocessor.remove_all_outputs_tags = {"remove-output", "remove_output"}
    c.TagRemovePreprocessor.enabled = True
    exporter = HTMLExporter(config=c, template_name="lab", template_file="report.html.j2",
                            extra_template_paths=[str(TEMPLATES)],
                            exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, sanitize_html=False, embed_images=True)
    exporter.register_preprocessor(TagRemovePreprocessor(config=c), enabled=True)
    _sanitize_outputs(nb)
    title = _first_heading(nb) or title or Path(notebook_path).stem
    _drop_first_heading(nb)
    nb.metadata["title"] = title
    resources = {"rl_header": header_html(title, run or {}),
                 "rl_footer": metrics_footer_html(metrics or {}),
                 "metadata": {"name": title}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return write_atomic(Path(html_path), body)  # whole or not at all (a full disk)
