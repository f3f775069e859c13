"""Every survival figure returns a Figure with the expected content and opens no pyplot
window."""
import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

import retention_lab as rl


@pytest.fixture(scope="module")
def data():
    d = rl.survival.simulate_lifetimes(1500, hazard_ratio=0.7, seed=61)
    d.attrs["unit"] = "D"
    return d


def test_retention_by_group(data):
    rc = rl.survival.RetentionCurves().fit(data, "channel")
    par = rl.survival.ParametricRetention(models=("weibull",)).fit(data)
    fig = rl.report.figures.plot_retention_by_group(rc, horizons=[90, 180], parametric=par)
    assert isinstance(fig, Figure) and plt.get_fignums() == []
    ax = fig.axes[0]
    assert len(ax.collections) == 3                       # one band per channel
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"email", "search", "social"}
    assert isinstance(rc.plot(), Figure)


def test_hazard_ratio_forest_and_ph_diagnostics(data):
    m = rl.survival.ChurnCoxModel().fit(data, ["x", "channel"])
    fig = rl.report.figures.plot_hazard_ratios(m)
    assert isinstance(fig, Figure)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(m.summary.index)
    fig = rl.report.figures.plot_ph_diagnostics(m)
    assert isinstance(fig, Figure)
    assert sum(ax.get_visible() for ax in fig.axes) == len(m.summary)
    e = rl.survival.time_varying_enrolment(rl.survival.simulate_enrolment(2000, seed=1))
    assert len(rl.report.figures.plot_hazard_ratios(e).axes[0].get_yticklabels()) == 2


def test_calibration_plot(data):
    h = rl.survival.holdout_evaluation(data, ["x"], 120, n_bins=5)
    fig = rl.report.figures.plot_churn_calibration(h)
    assert isinstance(fig, Figure) and "Calibration at 120" in fig.axes[0].get_title()
    assert plt.get_fignums() == []
