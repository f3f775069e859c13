"""Privacy check of a report: no table of raw customer identifiers in the HTML.

The rule (DESIGN, Reports): HTML reports show counts and aggregates, never raw customer ids;
id-level lists (at-risk customers, scores) go to a CSV beside the report through
:func:`retention_lab.report.recording.output_path`. The runner enforces the common way a report leaks
ids — a displayed DataFrame whose column or index is ``customer_id`` — by scanning the executed
notebook's HTML outputs for such a table header before the report is published. A run that
breaks the rule fails (its notebook is kept in ``failed-<run-id>/`` and ``latest`` is not
touched) unless it is run with ``allow_ids=True`` (CLI ``--allow-ids``).
"""
from __future__ import annotations

import re

ID_COLUMNS = ("customer_id",)


class PrivacyError(RuntimeError):
    """A report would show raw customer identifiers."""


def identifier_tables(nb, columns=ID_COLUMNS) -> list[tuple[int, str]]:
    """``(code cell number, column)`` for each HTML output with a table header named like an id."""
    pattern = re.compile(r"<th[^>]*>\s*(%s)\s*</th>" % "|".join(map(re.escape, columns)))
    hits, k = [], -1
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        k += 1
        for out in cell.get("outputs", []):
            html = (out.get("data") or {}).get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            hits += [(k, m.group(1)) for m in pattern.finditer(html)]
    return sorted(set(hits))


def check_no_identifiers(notebook_path, columns=ID_COLUMNS) -> None:
    import nbformat  # heavy (1-8 s): loaded by the run that calls this, not by `import runner`
    nb = nbformat.read(str(notebook_path), as_version=4)
    hits = identifier_tables(nb, columns)
    if hits:
        where = ", ".join(f"code cell {k} shows a {col!r} column" for k, col in hits)
        raise PrivacyError(
            f"the report would show raw customer identifiers ({where}); write id-level tables to "
            "a CSV beside the report with rl.report.recording.output_path('at_risk.csv'), or pass "
            "--allow-ids (schedule: allow_ids: true) if the report is meant to show them")
