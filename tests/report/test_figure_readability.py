"""Figures a newcomer can read: error bars on effect charts, legends clear of the data, plain
tick labels on log axes, units in titles and axes."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402

import retention_lab as rl  # noqa: E402
from retention_lab.report import figures as plots  # noqa: E402


def _effects():
    return pd.DataFrame([
        dict(metric="spend", estimand="ITT", control=118.98, treatment=139.24, abs_diff=20.257,
             rel_lift=0.17, ci_low=5.72, ci_high=34.79, rel_ci_low=0.05, rel_ci_high=0.31),
        dict(metric="spend", estimand="effect on members", control=175.6, treatment=242.3,
             abs_diff=66.7, rel_lift=0.38, ci_low=19.5, ci_high=113.9, rel_ci_low=0.08,
             rel_ci_high=0.77)])


def _overlaps(fig, legend, ax) -> bool:
    fig.draw_without_rendering()
    return legend.get_window_extent().overlaps(ax.get_window_extent())


def test_metric_levels_have_the_effects_interval_and_a_legend_off_the_bars():
    fig = plots.plot_metric_levels(_effects(), "spend", currency="USD")
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 1
    segments = bars[0].lines[2][0].get_segments()
    # the treatment bar's error bar spans control + [ci_low, ci_high]
    assert np.allclose([s[:, 1] for s in segments], [[118.98 + 5.72, 118.98 + 34.79],
                                                      [175.6 + 19.5, 175.6 + 113.9]])
    assert not _overlaps(fig, ax.get_legend(), ax)
    assert ax.get_ylabel() == "spend / customer (USD)"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "ITT\nΔ +$20.26\n[+$5.72, +$34.79]"
    # two dollar signs on one line are mathtext to matplotlib: "[+5.72, +34.79]" in italics
    assert not any(t.get_parse_math() for t in ax.get_xticklabels())


def test_metric_levels_of_one_estimand_warn_nothing():
    """One row per metric (a self-selected study's effect on members): matplotlib's errorbar
    called float() on one-element Series and pandas' FutureWarning landed in the report."""
    import warnings
    one = _effects().iloc[[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plots.plot_metric_levels(one, one["metric"].iloc[0])
    assert len(fig.axes[0].patches) == 2


def test_metric_levels_side_by_side_on_the_callers_figure_keep_their_legends_apart():
    """Notebook 04 draws spend and AOV on ``plt.subplots(1, 2)`` (no layout engine): the left
    axes' legend lay over the right axes in the rendered report."""
    import matplotlib.pyplot as plt
    e = pd.concat([_effects(), _effects().assign(metric="aov")], ignore_index=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
    plots.plot_metric_levels(e, "spend", ax=axes[0], currency="USD")
    plots.plot_metric_levels(e, "aov", ax=axes[1], currency="USD")
    assert not _overlaps(fig, axes[0].get_legend(), axes[1])
    assert not _overlaps(fig, axes[0].get_legend(), axes[0])
    # the two estimands' tick labels (difference, interval) do not run into each other
    a, b = (t.get_window_extent() for t in axes[0].get_xticklabels())
    assert not a.overlaps(b)
    plt.close(fig)


def test_impact_legends_are_outside_the_axes():
    rng = np.random.default_rng(0)
    balance = pd.DataFrame({"covariate": list("abcde"), "smd": rng.normal(0, .3, 5),
                            "smd_weighted": rng.normal(0, .03, 5)})
    fig = plots.plot_balance(balance)
    assert not _overlaps(fig, fig.axes[0].get_legend(), fig.axes[0])
    t = np.arange(0, 365.0)
    curves = {g: dict(timeline=t, survival=np.exp(-t / k), lower=np.exp(-t / k) - .02,
                      upper=np.exp(-t / k) + .02) for g, k in (("invited", 400), ("control", 300))}
    fig = plots.plot_retention_curves(curves, horizon=365)
    assert not _overlaps(fig, fig.axes[0].get_legend(), fig.axes[0])


def test_log_axis_ticks_are_plain_numbers():
    summary = pd.DataFrame({"hazard_ratio": [0.9, 1.12, 0.499], "hr_lower": [0.82, 1.01, 0.44],
                            "hr_upper": [0.99, 1.24, 0.56]}, index=["a", "b", "c"])
    fig = plots.plot_hazard_ratios(summary)
    fig.draw_without_rendering()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels(which="both") if t.get_text()]
    assert labels and all(not any(ch in lab for ch in "×^⁻") for lab in labels), labels
    assert "1" in labels and "0.5" in labels


def test_calibration_and_clv_titles_carry_units():
    class Holdout:
        horizon = 90
        c_index = 0.61
        calibration = pd.DataFrame({"predicted": [.1, .3], "observed": [.12, .28],
                                    "observed_lower": [.08, .22], "observed_upper": [.16, .33]})
    fig = plots.plot_churn_calibration(Holdout())
    assert fig.axes[0].get_title() == "Calibration at 90 days (C = 0.610)"
    rl.report.recording.set_currency("EUR")
    try:
        fig = plots.plot_clv_distribution(pd.Series([1.0, 5.0, 20.0, 300.0]))
    finally:
        rl.report.recording.set_currency(None)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "expected CLV (EUR per customer)"
    assert ax.get_legend().get_texts()[0].get_text() == "mean €81.50"
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert ticks and all("10^" not in t and "$" not in t for t in ticks)


def test_clv_matrix_names_its_time_unit():
    tx = rl.datasets.load_cdnow(sample=True)
    summary = rl.features.rfm_summary(tx, observation_end="1997-09-30", freq="W")
    model = rl.clv.BetaGeoFitter().fit(summary)
    fig = plots.plot_probability_alive_matrix(model)
    label = fig.axes[0].get_xlabel()
    assert label.startswith("recency: age at the last purchase, weeks (customer age T = ")
    import re
    assert re.search(r"T = \d+(\.\d)? weeks\)$", label), label
