"""The one way every figure in :mod:`retention_lab.report.figures` is made.

A report cell may end in ``;``, in a DataFrame, or in the figure itself, and may ``display()`` the
figure explicitly: the figure must appear exactly once in each case, in JupyterLab and in the
HTML that the runner exports. Under Jupyter's inline backend the figure is therefore left
registered with pyplot, so the backend shows it at the end of the cell and then closes it (no
figure outlives its cell: batch runs leak nothing). When the figure is shown earlier — as the
cell's value or through ``display()`` — :meth:`ReportFigure._ipython_display_` publishes it at
that point and closes it, so the end-of-cell flush does not show it a second time. Under any other
backend (scripts, tests, Agg) the figure is closed at once, as pyplot never shows it anyway.
"""
from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

from ..recording import resolve_currency

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
_MIMES = ("image/png", "image/jpeg", "image/svg+xml", "application/pdf", "text/plain")


class ReportFigure(Figure):
    """A matplotlib Figure that Jupyter displays once, wherever it is displayed."""

    def _ipython_display_(self):
        # IPython is imported when Jupyter displays the figure, where it is already loaded
        # (scripts, tests and the runner's workers never import it for a figure).
        try:
            from IPython import get_ipython  # optional: only inside a Jupyter kernel
            from IPython.display import publish_display_data  # optional: Jupyter
        except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
            return
        ip = get_ipython()
        if ip is None:
            return
        data, metadata = {}, {}
        for mime in _MIMES:
            formatter = ip.display_formatter.formatters.get(mime)
            if formatter is None or not formatter.enabled:
                continue
            out = formatter(self)
            if isinstance(out, tuple):  # e.g. a retina PNG with its width/height metadata
                out, md = out
                metadata[mime] = md
            if out is not None:
                data[mime] = out
        publish_display_data(data, metadata)
        _close(self)


def _close(fig) -> None:
    if plt.fignum_exists(getattr(fig, "number", -1)):
        plt.close(fig)


def new_figure(ax, figsize, ncols: int = 1, nrows: int = 1, squeeze: bool | None = None):
    """``(figure, axes)``: ``ax``'s figure when an axes is given, else a new
    :class:`ReportFigure` (``nrows`` × ``ncols`` axes; a single axes unless ``squeeze=False``
    or several are asked for)."""
    if ax is not None:
        return ax.figure, ax
    squeeze = (nrows == 1 and ncols == 1) if squeeze is None else squeeze
    fig, ax = plt.subplots(nrows, ncols, figsize=figsize, layout="constrained", squeeze=squeeze,
                           FigureClass=ReportFigure)
    if matplotlib.get_backend() != INLINE_BACKEND:
        plt.close(fig)
    return fig, ax


def legend_outside(ax, **kwargs):
    """A legend to the right of the axes, clear of the data (constrained layout and the
    notebooks' tight bounding box make room for it). On a caller's figure with no layout
    engine (``plt.subplots(1, 2)`` then ``ax=axes[0]``) constrained layout is switched on:
    without it the legend of the left axes lay over the right one."""
    fig = ax.figure
    if hasattr(fig, "get_layout_engine") and fig.get_layout_engine() is None:
        fig.set_layout_engine("constrained")
    opts = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False,
                fontsize=8)
    opts.update(kwargs)
    return ax.legend(**opts)


RATIO_TICKS = (0.1, 0.2, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2, 1.3, 1.5, 2, 3, 5, 7, 10)


def _plain(v: float) -> str:
    return f"{v:,.0f}" if v >= 10 and v == int(v) else f"{v:g}"


def plain_log_ticks(axis, values=RATIO_TICKS, max_ticks: int = 8) -> None:
    """Tick labels on a log ``axis`` written as plain numbers (``0.7``, ``1``, ``1.5``,
    ``1,000``), never as ``7×10⁻¹``; the ``values`` inside the axis' range are labelled (thinned
    to at most ``max_ticks``, always keeping 1)."""
    lo, hi = sorted(axis.get_view_interval())
    ticks = [v for v in values if lo <= v <= hi] or [lo, hi]
    while len(ticks) > max_ticks:
        keep = ticks[::2]
        if 1 in ticks and 1 not in keep:
            keep = sorted(set(keep) | {1})
        if len(keep) == len(ticks):
            break
        ticks = keep
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: _plain(v)))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def money_unit(currency=None) -> str:
    """The currency for axis labels: ``currency``, else the run's default
    (:func:`retention_lab.report.recording.resolve_currency`)."""
    currency = resolve_currency(currency)
    return str(currency) if currency else "money"
