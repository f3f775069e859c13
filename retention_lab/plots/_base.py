"""The one way every figure in :mod:`retention_lab.plots` is made.

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

from matplotlib.figure import Figure

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
_MIMES = ("image/png", "image/jpeg", "image/svg+xml", "application/pdf", "text/plain")


class ReportFigure(Figure):
    """A matplotlib Figure that Jupyter displays once, wherever it is displayed."""

    def _ipython_display_(self):
        try:
            from IPython import get_ipython
            from IPython.display import publish_display_data
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
    import matplotlib.pyplot as plt
    if plt.fignum_exists(getattr(fig, "number", -1)):
        plt.close(fig)


def new_figure(ax, figsize, ncols: int = 1, nrows: int = 1, squeeze: bool | None = None):
    """``(figure, axes)``: ``ax``'s figure when an axes is given, else a new
    :class:`ReportFigure` (``nrows`` × ``ncols`` axes; a single axes unless ``squeeze=False``
    or several are asked for)."""
    if ax is not None:
        return ax.figure, ax
    import matplotlib
    import matplotlib.pyplot as plt
    squeeze = (nrows == 1 and ncols == 1) if squeeze is None else squeeze
    fig, ax = plt.subplots(nrows, ncols, figsize=figsize, layout="constrained", squeeze=squeeze,
                           FigureClass=ReportFigure)
    if matplotlib.get_backend() != INLINE_BACKEND:
        plt.close(fig)
    return fig, ax
