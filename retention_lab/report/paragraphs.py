"""Plain sentences shown as wrapped paragraphs in Jupyter and in the runner's HTML."""
from __future__ import annotations

import html
from dataclasses import dataclass


@dataclass
class Paragraphs:
    """Plain sentences shown as wrapped paragraphs (never as preformatted text that overflows or
    breaks mid-word); ``text/plain`` keeps the lines as they are."""

    lines: list

    def _repr_html_(self) -> str:
        return "".join(f"<p>{html.escape(ln)}</p>" for ln in self.lines if ln.strip())

    def _ipython_display_(self):
        if self.lines:  # nothing to say shows nothing (no empty output area)
            # IPython (~0.3 s) is imported when Jupyter displays the paragraphs, where it is
            # already loaded: scripts and the runner's workers that only build tables skip it.
            from IPython.display import publish_display_data
            publish_display_data({"text/html": self._repr_html_(), "text/plain": str(self)})

    def __str__(self) -> str:
        return "\n".join(self.lines)

    __repr__ = __str__


def paragraphs(*texts) -> Paragraphs:
    """``display(rl.report.tables.paragraphs(model.interpretation, *notes))``: one paragraph per line
    of each text (``None`` and empty texts are skipped)."""
    lines = []
    for t in texts:
        if t is None:
            continue
        if isinstance(t, (list, tuple)):
            lines.extend(str(x) for x in t)
        else:
            lines.extend(str(t).splitlines())
    return Paragraphs([ln for ln in lines if ln.strip()])
