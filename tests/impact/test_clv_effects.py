"""The programme's CLV effect from the time-varying-covariate Pareto/NBD
(retention_lab.impact.core.clv_effects.membership_clv_effect).

Oracle: data from tests/clv_covariates_sim.py (a dynamic-covariate world written for the tests,
membership switched on at random weeks, late enrolment, customers acquired over a year) whose
latent purchase rates, dropout rates, death times and mean order values are known: the true
expected discounted spend of each member in the 12 months after the observation end, given
their true state at the enrolment, with membership on and off, in closed form.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clv_covariates_sim import ORIGIN, simulate_dynamic
from retention_lab.experiment_data import ExperimentData
from retention_lab.impact.core.clv_effects import membership_clv_effect
from retention_lab.units import days_per

G_T, G_L = 0.4, -0.6


def _true_effect(truth, members_week, weeks, months=12, rate=0.01):
    """Mean over members of E[discounted spend in the window | λ, μ, alive at the index] with
    membership on minus off (exponential lifetime, Poisson purchases from the index on)."""
    lam, mu, m = truth["lam"].to_numpy(), truth["mu"].to_numpy(), truth["spend_mean"].to_numpy()
    e = members_week.astype(float)
    alive = truth["death"].to_numpy() > e
    bounds = weeks + days_per("M") / 7 * np.arange(months + 1)
    disc = (1 + rate) ** -np.arange(1, months + 1)

    def value(ga, gl):
        a, c = np.exp(ga), np.exp(gl)
        surv = np.exp(-mu[:, None] * c * (bounds[None, :] - e[:, None]))
        per_month = lam[:, None] * a / (mu[:, None] * c) * -np.diff(surv, axis=1)
        return alive * m * (per_month @ disc)
    on, off = value(G_T, G_L), value(0.0, 0.0)
    return float(np.mean(on - off)), float(np.mean(on)), float(np.mean(off))


def test_membership_clv_effect_recovers_the_true_effect():
    weeks = 104
    tx, panel, end, truth = simulate_dynamic(4000, (0.8, 8.0, 0.7, 30.0), {"member": G_T},
                                             {"member": G_L}, weeks=weeks, seed=21,
                                             return_truth=True)
    ke = truth["enrol_week"].to_numpy()
    # enrolled in week ke - 1 (a Sunday): member from week ke, as the simulator has it
    enrolled = pd.Series(pd.NaT, index=np.arange(len(truth)), dtype="datetime64[ns]")
    ok = (ke > 0) & (ke < weeks)
    enrolled[ok] = ORIGIN + pd.to_timedelta(7 * ke[ok] - 1, unit="D")
    customers = pd.DataFrame({"customer_id": np.arange(len(truth)),
                              "enrolled_at": enrolled.to_numpy()})
    data = ExperimentData(transactions=tx, customers=customers, observation_end=end)
    buyers = set(tx.loc[tx["date"] < enrolled.reindex(tx["customer_id"]).to_numpy(),
                        "customer_id"])
    members = enrolled.loc[ok & enrolled.index.isin(list(buyers))]
    res = membership_clv_effect(data, members, n_draws=100, seed=0, model="pnbd", freq="W")
    assert res["n"] == len(members)
    want, want_on, want_off = _true_effect(truth.loc[members.index], ke[members.index], weeks)
    assert res["ci_low"] < want < res["ci_high"], (res["abs_diff"], want)
    assert res["control"] == pytest.approx(want_off, rel=0.15)
    assert res["treatment"] == pytest.approx(want_on, rel=0.15)
    m = res["model"].summary
    assert m.loc["trans.member", "lower 95%"] < G_T < m.loc["trans.member", "upper 95%"]
    assert 0.8 < res["aov_ratio"] < 1.2


def test_rolling_clv_rows_on_the_rolling_simulator():
    """The rolling report's CLV row from the package's rolling simulator (BG/NBD world,
    enrolment at a purchase chosen on the history): a labelled effects row within 4 standard
    errors of the simulated truth (both potential outcomes) of the same members, and a check."""
    import retention_lab as rl
    from retention_lab.impact.core.clv_effects import ROW_KEYS, rolling_clv_rows
    from retention_lab.impact.rolling import rolling_effects
    exp = rl.datasets.simulate_loyalty_experiment(n_customers=3000, design="rolling", seed=2)
    res = rolling_effects(exp, horizon_days=365)
    rows, check = rolling_clv_rows(exp, res, n_draws=60)
    assert list(rows.columns) == list(ROW_KEYS) and len(rows) == 1
    row = rows.iloc[0]
    assert row["metric"] == "clv" and row["estimand"] == "effect on members"
    assert check["status"] == "pass" and "purchase rate" in check["detail"]
    tr = res.trials
    ids = tr.loc[(tr["member"] == 1) & tr["kept"], "customer_id"].unique()
    m = exp.truth["members"].set_index("customer_id").loc[ids]
    want = float((m["clv_1"] - m["clv_0"]).mean())
    assert abs(row["abs_diff"] - want) < 4 * row["se"]     # coverage: the slow suite
    broken = type(res)(**{**res.__dict__, "trials": res.trials.drop(columns="index_date")})
    rows, check = rolling_clv_rows(exp, broken)
    assert rows.empty and check["status"] == "warn"


def test_sorted_factorize_is_pandas_sorted_factorize():
    """The presence-table codes of order_value_ratio equal pd.factorize(sort=True): dense and
    negative integer ids (the table), sparse ones and strings (pandas)."""
    from retention_lab.impact.core.clv_effects import _sorted_factorize
    rng = np.random.default_rng(5)
    for v in (rng.integers(1, 500, 3000), rng.integers(-40, 40, 900),
              rng.integers(0, 10 ** 12, 300), rng.integers(0, 99, 50).astype(str).astype(object)):
        codes, uniq = _sorted_factorize(v)
        want_c, want_u = pd.factorize(v, sort=True, use_na_sentinel=False)
        np.testing.assert_array_equal(codes, want_c)
        np.testing.assert_array_equal(uniq, want_u)
