"""The complete-outcome oracle of the foreign price-drift null (issue 19 item 6).

Under ``lift=0`` the observed world *is* the untreated one, so every trial row's complete
untreated outcome is known: the simulator's own untreated purchases (``untreated=True`` in
:func:`test_rolling_foreign.simulate_gap_enrolment`, days from the launch, amounts before the
same-day split and the rounding to cents). The diagnosis of
:func:`test_rolling_foreign.test_price_drift_null_coverage` puts these outcomes in place of the
completion; this test checks that they are what the analysis sees wherever nothing is completed,
and that completion touches only comparison rows whose customer enrolled during their follow-up.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from test_rolling_foreign import LAUNCH, simulate_gap_enrolment, to_experiment

from retention_lab.impact.rolling import rolling_effects


def _untreated_outcomes(u: pd.DataFrame, trials: pd.DataFrame, h: int, r: int) -> pd.DataFrame:
    """Purchase days in ``(index, index + h]``, their spend and number of purchases ``n``, and
    any purchase day in ``(index + h, index + h + r]``, per trial row, from the untreated
    purchases ``u``."""
    idx = (trials["index_date"] - LAUNCH).dt.days.to_numpy()
    days = u.groupby(["customer_id", "day"], as_index=False).agg(
        amount=("amount", "sum"), n=("amount", "size"))
    m = pd.DataFrame({"row": np.arange(len(trials)), "customer_id": trials["customer_id"],
                      "index": idx}).merge(days, on="customer_id")
    rel = m["day"] - m["index"]
    win, after = m[(rel > 0) & (rel <= h)], m[(rel > h) & (rel <= h + r)]
    rows = np.arange(len(trials))
    return pd.DataFrame({
        "orders": win.groupby("row").size().reindex(rows, fill_value=0).to_numpy(float),
        "n": win.groupby("row")["n"].sum().reindex(rows, fill_value=0).to_numpy(float),
        "spend": win.groupby("row")["amount"].sum().reindex(rows, fill_value=0.0).to_numpy(),
        "retained": after.groupby("row").size().reindex(rows, fill_value=0).gt(0).to_numpy(
            float)})


def test_drift_null_untreated_outcomes_are_the_analysis_outcomes():
    tx, cust, _truth, u = simulate_gap_enrolment(1500, seed=5, lift=0.0, drift=0.08,
                                                 untreated=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = rolling_effects(to_experiment(tx, cust), horizon_days=180)
    tr = res.trials.reset_index(drop=True)
    o = _untreated_outcomes(u, tr, res.info["horizon_days"], res.info["retention_days"])
    done = tr["completed"].to_numpy(bool)
    assert 0 < done.sum() < len(tr)
    np.testing.assert_array_equal(tr["orders"].to_numpy(float)[~done], o["orders"][~done])
    np.testing.assert_array_equal(tr["retained"].to_numpy(float)[~done], o["retained"][~done])
    # the observed amounts are split into two lines or not, each rounded to cents: at most
    # 1 cent a purchase
    err = np.abs(tr["spend"].to_numpy() - o["spend"].to_numpy())[~done]
    assert np.all(err <= 0.01 * o["n"].to_numpy()[~done] + 1e-9), err.max()
    # completed: comparison rows whose customer enrolled during their follow-up only
    enrolled = pd.to_datetime(tr["customer_id"].map(cust.set_index("customer_id")["enrolled_at"]))
    follow = (enrolled - tr["index_date"]).dt.days.to_numpy()
    end = res.info["horizon_days"] + res.info["retention_days"]
    assert np.all(tr["member"].to_numpy()[done] == 0)
    assert np.all((follow[done] >= 0) & (follow[done] <= end)), follow[done]
