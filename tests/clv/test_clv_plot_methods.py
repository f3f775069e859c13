"""CLV validation tables and figures, the notebook's analysis (rl.clv.analyze_clv) and the
notebook's structure."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from matplotlib.figure import Figure

import retention_lab as rl
from retention_lab.clv import validation

ROOT = Path(__file__).resolve().parents[2]
CAL, OBS = "1997-09-30", "1998-06-30"


@pytest.fixture(scope="module")
def cal(cdnow_sample):
    return rl.features.calibration_holdout(cdnow_sample, CAL, OBS, freq="D", freq_multiplier=7)


@pytest.fixture(scope="module")
def bg(cal):
    return rl.clv.BetaGeoFitter().fit(cal)


def test_calibration_holdout_table(bg, cal):
    t = validation.calibration_holdout_table(bg, cal, max_frequency=7)
    assert list(t.index) == list(range(8)) and t["n_customers"].sum() == 2357
    # the holdout purchases of CDNOW (FHL 2005: 1,882 repeat purchases in weeks 40-78)
    assert (t["actual"] * t["n_customers"]).sum() == pytest.approx(1882)
    # the model orders the groups as the data do, within 35 % in every group
    assert np.all(np.diff(t["predicted"]) > 0)
    np.testing.assert_allclose(t["predicted"], t["actual"], rtol=0.35)


def test_tracking_table_counts_repeat_purchases(bg, cdnow_sample):
    t = validation.tracking_table(bg, cdnow_sample, CAL, OBS)
    assert len(t) == 78 and t.attrs["calibration_period"] == 39
    # actual = distinct repeat purchase days, counted independently
    days = cdnow_sample.assign(day=cdnow_sample["date"].dt.normalize())
    days = days[days["day"] <= OBS].drop_duplicates(["customer_id", "day"])
    n_repeat = len(days) - days["customer_id"].nunique()
    assert t["actual"].iloc[-1] == n_repeat == 4339
    assert np.all(np.diff(t["actual"]) >= 0) and np.all(np.diff(t["expected"]) >= 0)
    # the model tracks the calibration period closely (it was fitted to it)
    assert t["expected"].iloc[38] == pytest.approx(t["actual"].iloc[38], rel=0.03)


def test_matrices_and_period_transactions(bg, cal):
    pa = validation.probability_alive_matrix(bg)
    assert pa.iloc[0, 0] == 1.0 and np.isnan(pa.iloc[0, 1])
    assert np.nanmax(pa.to_numpy()) <= 1 and np.nanmin(pa.to_numpy()) >= 0
    fr = validation.frequency_recency_matrix(bg, t=10)
    assert fr.iloc[10, -1] > fr.iloc[10, 0]  # recent buyers buy more
    pt = validation.period_transactions_table(bg, cal)
    assert pt["actual"].sum() == pytest.approx(2357) and pt["expected"].sum() == pytest.approx(2357)
    np.testing.assert_allclose(pt["expected"].iloc[:3], [1411, 439, 214], rtol=0.12)


def test_every_figure_returns_a_figure(bg, cal, cdnow_sample):
    import retention_lab.report.figures as P
    sbg = rl.clv.ShiftedBetaGeoFitter().fit(survivors=[1000, 631, 468, 382, 326, 289, 262, 241])
    res = rl.clv.customer_lifetime_value(bg, 10.0, cal, method="delta")
    figs = [P.plot_calibration_purchases_vs_holdout_purchases(bg, cal),
            P.plot_cumulative_transactions(bg, cdnow_sample, CAL, OBS),
            P.plot_frequency_recency_matrix(bg), P.plot_probability_alive_matrix(bg),
            P.plot_period_transactions(bg, cal), P.plot_clv_distribution(res),
            P.plot_retention_projection(sbg, [1000, 631, 468, 382, 326, 289, 262, 241, 223],
                                        n_fitted=7)]
    assert all(isinstance(f, Figure) for f in figs)
    assert set(P.clv.__all__) <= set(dir(P))


def test_analyze_clv_on_cdnow(cdnow_sample):
    a = rl.clv.analyze_clv(cdnow_sample, CAL, OBS, margin=0.3, n_draws=50)
    assert round(a.validation_model.params_["r"], 3) == 0.243
    assert a.headline["holdout_actual"] == 1882
    assert a.headline["holdout_predicted"] == pytest.approx(1882, rel=0.15)
    assert a.clv.n == 2357 and a.clv.mean_ci[0] < a.clv.mean < a.clv.mean_ci[1]
    assert a.segments["customers"].sum() == 2357
    assert a.segments["share_of_clv"].sum() == pytest.approx(1.0)
    top = a.at_risk
    assert (top["clv"] >= a.headline["at_risk_clv_threshold"]).all()
    assert (top["p_alive"] < 0.5).all() and list(top["rank"]) == list(range(1, len(top) + 1))
    shown = a.at_risk_display(5)
    assert shown.index.name == "rank" and "customer_id" not in shown.reset_index().columns
    assert len(a.parameters) == 11
    with pytest.raises(ValueError, match="model must be"):
        rl.clv.analyze_clv(cdnow_sample, CAL, OBS, model="gamma")


def test_notebook_structure():
    nb = nbformat.read(ROOT / "notebooks" / "03_clv.ipynb", as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "retention-lab"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for name in ("data_source", "calibration_end", "observation_end", "model", "horizon_months",
                 "discount_rate", "margin"):
        assert re.search(rf"^{name} = ", code[0].source, re.M), name
    assert not any(re.search(r"^\s*(def|class) ", c.source, re.M) for c in code)
    assert all(not c.get("outputs") for c in code)
    assert any(c.source.startswith("# NBVAL_CHECK_OUTPUT") for c in code)
