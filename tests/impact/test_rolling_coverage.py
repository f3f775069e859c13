"""Coverage, false-positive rate and bias of the rolling-enrolment analysis over 200 studies of
the package's rolling simulator (slow; issue 12 acceptance).

Each study: 3,000 customers, a fresh seed, enrolment on observed history only
(``latent_selection=0``). The truth of each study is the effect on the members the analysis
uses (enrolled early enough for a complete window, not trimmed), from both potential outcomes:
spend from ``truth["members"]``; purchases (purchase days, the analysis' unit since issue 19 —
the simulator's ``purchases_*`` count orders, and about 1 % of its orders share a day) and
retention (a purchase in the 90 days after the window) from the observed and the untreated
transactions.

Measured before issue 19 (200 seeds, 3,000 customers each, ~10 min): coverage purchases
97.5 %, spend 98.0 %, retention 97.0 % (pooled 97.5 %, and the pooled bound had been raised to
0.98 so that it passed); bias −1.8 % (purchases), +0.2 % (spend), −5.8 % (retention) of the
effect; null false-positive rates 4.5 % (purchases), 5.5 % (spend), 2.5 % (retention). The
completion noise was then counted twice (a conditional-variance row per completed outcome plus
the BG/NBD parameter term).

After issue 19 (purchases as purchase days; the conditional-variance rows removed; the BG/NBD
term as a per-customer sandwich) — measured on the FIRST 40 SEEDS ONLY (the machine was shared;
the 200-seed run and the null study were not rerun): coverage purchases 97.5 %, spend 100 %,
retention 95.0 % (pooled 97.5 %, Monte Carlo SE ≈ 2.5 points at 40 seeds); mean SE / SD of the
estimates: purchases 0.308 / 0.291 (1.06), spend 20.5 / 20.1 (1.02), retention 0.0289 / 0.0294
(0.98); bias −1.9 % (purchases), −1.0 % (spend), −5.9 % (retention) of the effect. The pooled
bound is back at 0.97; whether the 200 seeds meet it is not yet measured. Null study, FIRST 40
SEEDS ONLY: false-positive rates 5.0 % (purchases), 7.5 % (spend), 10.0 % (retention) (Monte
Carlo SE ≈ 3.5 points), mean SE / SD of the estimates 0.284 / 0.306 (0.93), 20.7 / 26.2 (0.79),
0.0288 / 0.0334 (0.86): under the null the SEs look too small for spend and retention, and the
≤ 6 % bound may fail at 200 seeds — open (issue 19); the conditional-variance rows that were
removed had hidden this (their false-positive rates were 4.5 / 5.5 / 2.5 %)."""
from __future__ import annotations

import warnings

import pandas as pd
import pytest

import retention_lab as rl
from retention_lab.impact.rolling import rolling_effects

N_SEEDS, N_CUSTOMERS = 200, 3000
NULL = dict(freq_lift=0.0, dropout_reduction=0.0, spend_lift=0.0, nps_lift=0.0, csat_lift=0.0)
PRIMARY = ("purchases", "spend", "retention")


def _truth(data, res) -> dict:
    tr = res.trials
    mem = tr.loc[(tr["member"] == 1) & tr["kept"], ["customer_id", "index_date"]]
    M = data.truth["members"].set_index("customer_id").loc[mem["customer_id"]]
    h, R = res.info["horizon_days"], res.info["retention_days"]

    def retained(tx):
        t = tx.merge(mem, on="customer_id")
        d = (t["date"] - t["index_date"]).dt.days
        return mem["customer_id"].isin(t.loc[(d > h) & (d <= h + R), "customer_id"]).mean()

    def purchase_days(tx):
        t = tx.merge(mem, on="customer_id")
        d = (t["date"] - t["index_date"]).dt.days
        w = t.loc[(d > 0) & (d <= h)].drop_duplicates(["customer_id", "date"])
        return len(w) / len(mem)
    return {"purchases": float(purchase_days(data.transactions) -
                               purchase_days(data.truth["untreated_transactions"])),
            "spend": float((M["spend_1"] - M["spend_0"]).mean()),
            "retention": float(retained(data.transactions) -
                               retained(data.truth["untreated_transactions"]))}


def _study(null: bool) -> pd.DataFrame:
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in range(N_SEEDS):
            data = rl.datasets.simulate_loyalty_experiment(
                n_customers=N_CUSTOMERS, design="rolling", seed=20_000 + s,
                **(NULL if null else {}))
            res = rolling_effects(data, horizon_days=data.truth["windows"]["horizon_days"])
            truth = _truth(data, res)
            e = res.effects.set_index("metric")
            for m in PRIMARY:
                r = e.loc[m]
                rows.append(dict(seed=s, metric=m, est=r["abs_diff"], se=r["se"],
                                 truth=truth[m], cover=r["ci_low"] <= truth[m] <= r["ci_high"],
                                 signif=r["p_value"] < 0.05))
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_rolling_coverage_and_bias():
    df = _study(null=False)
    g = df.groupby("metric")
    print(g[["cover", "est", "truth", "se"]].mean().to_string())
    cov = g["cover"].mean()
    # as tests/impact/test_impact_coverage.py: each metric within Monte Carlo error of 95 % (2 SE ≈ 3
    # points at 200 seeds; more room above); pooled within the 93–97 %.
    assert 0.93 <= df["cover"].mean() <= 0.97, df["cover"].mean()
    assert ((cov >= 0.92) & (cov <= 0.99)).all(), cov
    bias = (g["est"].mean() - g["truth"].mean()).abs() / g["truth"].mean().abs()
    assert (bias <= 0.10).all(), bias


@pytest.mark.slow
def test_rolling_null_false_positive_rate():
    df = _study(null=True)
    fpr = df.groupby("metric")["signif"].mean()
    print(df.groupby("metric")[["signif", "est", "se"]].mean().to_string())
    assert (fpr <= 0.06).all(), fpr
