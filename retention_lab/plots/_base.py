"""The one way every figure in :mod:`retention_lab.plots` is made."""
from __future__ import annotations


def new_figure(ax, figsize, ncols: int = 1):
    """``(figure, axes)``: ``ax``'s figure when an axes is given, else a new figure.

    Made by pyplot so that Jupyter's inline backend knows how to display it, then closed at
    once: a notebook shows the returned figure exactly once (no second copy from pyplot's
    auto-show), and scripts leak no open figures.
    """
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, ncols, figsize=figsize, layout="constrained", squeeze=ncols == 1)
    plt.close(fig)
    return fig, ax
