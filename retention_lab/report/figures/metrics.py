"""Figures for the business metrics: the cohort heat map, RFM segment sizes and the NPS split.

Each function returns a matplotlib ``Figure`` (drawn on ``ax`` when one is given) and never
calls ``plt.show()``; a notebook displays each figure once (:mod:`._base`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._base import new_figure as _figure

__all__ = ["cohort_heatmap", "segment_bar", "nps_bar"]


def cohort_heatmap(cohort_matrix: pd.DataFrame, *, ax=None, annotate: bool | None = None,
                   max_periods: int | None = None, cmap: str = "Blues",
                   title: str = "Cohort retention") -> Figure:
    """Heat map of :func:`retention_lab.features.cohort_retention`: one row per acquisition
    cohort, one column per period since acquisition; unobserved cells stay blank.

    ``annotate`` writes the percentage in each cell (default: when the matrix has at most
    20 columns); ``max_periods`` keeps the first columns only.
    """
    matrix = cohort_matrix if max_periods is None else cohort_matrix.iloc[:, :max_periods + 1]
    values = matrix.to_numpy(dtype=float)
    shares = np.nanmax(values) <= 1.0 + 1e-12 if np.isfinite(values).any() else True
    n_rows, n_cols = values.shape
    fig, ax = _figure(ax, (min(2 + 0.55 * n_cols, 16), min(1.5 + 0.35 * n_rows, 12)))
    masked = np.ma.masked_invalid(values)
    image = ax.imshow(masked, aspect="auto", cmap=cmap, vmin=0,
                      vmax=1 if shares else np.nanmax(values), interpolation="nearest")
    sizes = cohort_matrix.attrs.get("cohort_size")
    sizes = pd.Series(sizes) if sizes is not None else None
    labels = [str(c) if sizes is None or str(c) not in sizes.index else f"{c} (n={sizes[str(c)]:,})"
              for c in matrix.index]  # attrs keys are cohort labels (JSON: str(period))
    ax.set_yticks(range(n_rows), labels)
    step = max(1, int(np.ceil(n_cols / 24)))
    ax.set_xticks(range(0, n_cols, step), [str(c) for c in matrix.columns[::step]])
    ax.set_xlabel(str(matrix.columns.name or "periods since acquisition").replace("_", " "))
    ax.set_ylabel(str(matrix.index.name or "cohort"))
    ax.set_title(title)
    if annotate is None:
        annotate = n_cols <= 20 and n_rows <= 30
    if annotate:
        top = 1.0 if shares else np.nanmax(values)
        for i, j in zip(*np.nonzero(np.isfinite(values))):
            v = values[i, j]
            text = f"{100 * v:.0f}%" if shares else f"{v:,.0f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if v > 0.6 * top else "black")
    fig.colorbar(image, ax=ax, label="share of cohort purchasing" if shares else "customers")
    return fig


def segment_bar(rfm_scores_frame: pd.DataFrame, *, ax=None, value: str = "customers",
                title: str = "Customers by RFM segment") -> Figure:
    """Horizontal bars of the RFM segments of :func:`retention_lab.features.rfm_scores`:
    ``value="customers"`` (count) or ``"spend"`` (total spend), largest first, with the share
    of the total written on each bar."""
    if "segment" not in rfm_scores_frame.columns:
        raise ValueError("segment_bar needs the 'segment' column of features.rfm_scores")
    if value == "customers":
        sizes = rfm_scores_frame["segment"].value_counts()
    elif value == "spend":
        sizes = rfm_scores_frame.groupby("segment")["total_spend"].sum()
    else:
        raise ValueError(f"value must be 'customers' or 'spend', not {value!r}")
    sizes = sizes.sort_values()
    fig, ax = _figure(ax, (7, 0.45 * len(sizes) + 1.2))
    bars = ax.barh(sizes.index.astype(str), sizes.to_numpy(), color="tab:blue")
    total = sizes.sum()
    for bar, v in zip(bars, sizes.to_numpy()):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {100 * v / total:.0f}%",
                va="center", fontsize=8)
    ax.set_xlabel("customers" if value == "customers" else "total spend")
    ax.set_title(title)
    ax.margins(x=0.12)
    return fig


def nps_bar(result, *, ax=None, title: str | None = None) -> Figure:
    """One stacked bar of detractors / passives / promoters from :func:`retention_lab.metrics.nps`,
    titled with the score and its interval."""
    d = result.details
    parts = [("detractors (0–6)", d["share_detractors"], "tab:red"),
             ("passives (7–8)", d["share_passives"], "tab:gray"),
             ("promoters (9–10)", d["share_promoters"], "tab:green")]
    own = ax is None
    fig, ax = _figure(ax, (7, 2.2))
    left = 0.0
    for label, share, color in parts:
        ax.barh([0], [share], left=left, color=color, label=label)
        if share >= 0.04:
            ax.text(left + share / 2, 0, f"{100 * share:.0f}%", ha="center", va="center",
                    color="white", fontsize=9)
        left += share
    ax.set_xlim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel("share of respondents")
    lo, hi = result.ci
    ax.set_title(title or f"NPS {result.value:.0f} (95% CI {lo:.0f} to {hi:.0f}), "
                          f"n = {result.n:,}")
    if own:
        fig.legend(loc="outside lower center", ncol=3, frameon=False, fontsize=8)
    else:
        ax.legend(ncol=3, frameon=False, fontsize=8)
    return fig
