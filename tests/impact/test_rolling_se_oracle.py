"""The rolling analysis' standard error against a brute-force oracle: each customer's row of
influence (the delete-one-customer jackknife of the doubly robust means plus the completion
model's term, :mod:`retention_lab.impact.rolling.inference`) against the change of the estimate
when that customer is deleted and the *whole* analysis is rerun — trial rows, propensity,
outcome model, completion model (BTYD refit) and price index all refitted.

Why: the jackknife holds the propensity weights, the completed outcomes and the price index
fixed and adds the completion model's parameter uncertainty by linearization (Kim & Rao 2009).
If a stage's variance were missing (issue 19: under the foreign drift null the SEs were 8 %
below the spread of the estimates), the brute-force change would differ from the analytic row
for the customers that stage moves. It does not: on the package's simulator (BG/NBD completion,
whose term is about a fifth of the variance of the purchases effect) and 3,000 customers, the
regression of the brute-force change on (jackknife row, completion row) over 24 customers gave
coefficients 1.001 and 1.006 (seed 20000, purchases); the refitted BG/NBD log-parameters moved
by minus the analytic ``V s_g`` to 2 %.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import retention_lab as rl
from retention_lab.impact.rolling import inference as I, rolling_effects

METRICS = {"purchases": "orders", "spend": "spend", "retention": "retained"}


def _analytic_rows(res):
    """Per customer: the effect's jackknife row and the completion model's row."""
    p = res._parts
    args = (p["member"], p["w"], p["X"], p["code"], p["n_cl"], p["ok"])
    m = I._dr_means(p["Y"], *args)
    m2 = I._with_model_uncertainty(m, p["unc"], *args)
    out = {}
    for metric, k in METRICS.items():
        jt, jc = m.names.index(f"{k}|t"), m.names.index(f"{k}|c")
        out[metric] = (m.psi[:, jt] - m.psi[:, jc], -(m2.psi[:, jc] - m.psi[:, jc]))
    return out


def test_influence_rows_match_deleting_the_customer_and_refitting_everything():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = rl.datasets.simulate_loyalty_experiment(n_customers=1500, design="rolling",
                                                       seed=20_000)
        h = data.truth["windows"]["horizon_days"]
        res = rolling_effects(data, horizon_days=h)
        rows = _analytic_rows(res)
        dr, comp = rows["purchases"]
        # customers chosen by rule, before any refit: the largest jackknife rows, the largest
        # completion rows, and a few at random
        rng = np.random.default_rng(0)
        pick = np.unique(np.r_[np.argsort(-np.abs(dr))[:4], np.argsort(-np.abs(comp))[:4],
                               rng.choice(len(dr), 4, replace=False)])
        est0 = res.effects.set_index("metric")["abs_diff"]
        ids = data.customers["customer_id"].to_numpy()
        actual = {m: [] for m in METRICS}
        for g in pick:
            keep_tx = data.transactions["customer_id"] != ids[g]
            keep_c = data.customers["customer_id"] != ids[g]
            d = dataclasses.replace(data, transactions=data.transactions[keep_tx],
                                    customers=data.customers[keep_c].reset_index(drop=True),
                                    surveys=None)
            e = rolling_effects(d, horizon_days=h).effects.set_index("metric")["abs_diff"]
            for m in METRICS:
                actual[m].append(est0[m] - e[m])
    assert res.info["completion_model"] == "BG/NBD"
    # the customers were picked on the purchases rows: there the completion row is a real share
    # of the change for some of them
    dr, comp = rows["purchases"]
    assert np.max(np.abs(comp[pick])) > 0.2 * np.max(np.abs(dr[pick] + comp[pick]))
    for m in METRICS:
        dr, comp = rows[m]
        pred = dr[pick] + comp[pick]
        a = np.array(actual[m])
        # second-order terms are O(1/n): each change within 10 % of the largest row
        assert np.max(np.abs(a - pred)) <= 0.10 * np.max(np.abs(pred)), (m, a, pred)
        assert np.sum(a ** 2) == pytest.approx(np.sum(pred ** 2), rel=0.10), m
