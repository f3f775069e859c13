"""Acceptance: a programme with no effect, whose members joined at a purchase chosen on a trait
the data do not record, never gets the claim "effect" (issue 19).

The simulator is written here, not taken from ``retention_lab.datasets``, and owes nothing to
the package's own: each customer has a latent buying rate ``λ_i`` (gamma, mean 10 purchases a
year, shape 1.5), is acquired at a uniform date before the launch, buys as a Poisson process at
that rate (no dropout, lognormal order values) and — after the launch — enrols at a purchase
with a probability that rises with ``λ_i`` (``0.10 (λ_i / 10)^2.5``, capped at 0.9, tried at
every purchase). Membership changes nothing: the true effect on members is 0 for every metric.
The data show only the purchases, so the history (purchases so far, gaps) is a noisy proxy of
``λ_i``: adjusting for it leaves selection on the rest of ``λ_i``, and the adjusted difference
is positive and usually significant. Tables go through CSV files, ``rl.io.read_experiment`` and
``rl.impact.analyze(design="self_selected", clv=False, survival=False, event_study=False)``.

Measured: see the slow study's docstring
(``test_null_with_unobserved_selection_is_never_an_effect_200_seeds``). Seed 3 (the fast test):
purchases +17.6 %, spend +17.8 %, retention +5.3 pts, all Holm-significant; verdict
"suggestive" (fragile to mean inter-purchase time).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from retention_lab import ids

START, LAUNCH, END = pd.Timestamp("2022-01-01"), pd.Timestamp("2023-07-01"), \
    pd.Timestamp("2025-06-30")


#: the study's size and selection: 1,200 customers, joining probability per purchase
#: 0.10 (λ / 10)^2.5 — strong selection on the latent rate (a null programme then shows
#: +15 to +20 % purchases, Holm-significant)
N, STRENGTH, BASE = 1200, 2.5, 0.10


def simulate(seed: int, n: int = N, strength: float = STRENGTH, base: float = BASE):
    """(transactions, customers) of a null programme with selection on the latent rate."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(1.5, 10 / 1.5, n) / 365.0            # purchases per day
    first = START + pd.to_timedelta(rng.integers(0, (LAUNCH - START).days, n), "D")
    p_join = np.minimum(0.9, base * (rate * 365 / 10) ** strength)
    rows, enrolled = [], [pd.NaT] * n
    for i in range(n):
        t = first[i]
        days = [t]
        span = (END - t).days
        k = rng.poisson(rate[i] * span)
        days += list(t + pd.to_timedelta(np.sort(rng.uniform(0, span, k)).astype(int), "D"))
        for d in days:
            if d >= LAUNCH and pd.isna(enrolled[i]) and rng.uniform() < p_join[i]:
                enrolled[i] = d
        amounts = rng.lognormal(3.5, 0.6, len(days))
        rows.append(pd.DataFrame({"customer_id": f"C{i:05d}", "date": days, "amount": amounts}))
    tx = pd.concat(rows, ignore_index=True)
    tx["amount"] = tx["amount"].round(2)
    cust = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(n)],
                         "enrolled_at": enrolled})
    return tx, cust


def run(seed: int, tmp_path, **kw):
    tx, cust = simulate(seed, **kw)
    tp, cp = tmp_path / f"tx{seed}.csv", tmp_path / f"cust{seed}.csv"
    tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d")).to_csv(tp, index=False)
    cust.assign(enrolled_at=cust["enrolled_at"].dt.strftime("%Y-%m-%d")).to_csv(cp, index=False)
    data = rl.io.read_experiment(tp, cp, observation_end=END, launch_date=LAUNCH,
                                 design="self_selected")
    return rl.impact.analyze(data, design="self_selected", clv=False, survival=False,
                             event_study=False, segment_column=None)


@pytest.mark.parametrize("seed", [3])
def test_null_with_unobserved_selection_is_never_an_effect(seed, tmp_path):
    rep = run(seed, tmp_path)
    v = rep.verdict
    assert v["evidence"] == ids.EVIDENCE_OBSERVATIONAL
    assert v["claim"] != ids.CLAIM_EFFECT, (v, rep.headline_family()[["metric", "rel_lift",
                                                                      "p_holm"]])
    assert set(v) == {"claim", "evidence", "robustness", "reasons"}
    if v["claim"] == ids.CLAIM_SUGGESTIVE:   # the card says what was measured, nothing more
        card = str(rl.report.tables.verdict_card(rep))
        assert "raised" not in card
        assert "members bought" in card or "members spent" in card or "retention" in card
        assert rep.holdout and rep.holdout["weeks"] > 0


@pytest.mark.slow
def test_null_with_unobserved_selection_is_never_an_effect_200_seeds(tmp_path):
    """200 seeds (1-200) of the null programme above (n = 1,200, selection 0.10 (λ/10)^2.5).

    Record (run 2026-12-06, all 200 seeds, about 44 CPU-minutes under load): the adjusted
    difference is far from the truth 0 — purchases +16.8 % on average (smallest +7.1 %), spend
    +16.8 %, retention +4.2 % relative — and Holm-significant in 200 / 199 / 181 seeds
    (purchases / spend / retention): the estimator cannot see the selection on the latent rate.
    Verdicts: "suggestive" in 196 seeds (every one fragile to the crude history benchmark — mean
    inter-purchase time or purchases so far), "not identified" in 4 (propensity overlap of the
    rolling design failed), "effect" in none."""
    claims, lifts = [], []
    for seed in range(1, 201):
        rep = run(seed, tmp_path)
        claims.append(rep.verdict["claim"])
        lifts.append(float(rep.effect("purchases")["rel_lift"]))
    counts = pd.Series(claims).value_counts().to_dict()
    print(counts, np.mean(lifts))
    assert ids.CLAIM_EFFECT not in counts, counts
