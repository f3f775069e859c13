"""Coverage of the survival intervals over many simulated data sets (``-m slow``): each 95 %
interval should cover the known truth about 95 % of the time (binomial 99 % band for 200
seeds ≈ 91–98.5 %)."""
import numpy as np
import pytest

import retention_lab as rl

N_SEEDS = 200
LOW, HIGH = 0.91, 0.985


@pytest.mark.slow
def test_cox_hazard_ratio_coverage():
    hits = []
    for seed in range(N_SEEDS):
        d = rl.survival.simulate_lifetimes(800, hazard_ratio=0.7, seed=1000 + seed)
        r = rl.survival.ChurnCoxModel().fit(d, ["x"], check_ph=False).summary.loc["x"]
        hits.append(r["hr_lower"] < 0.7 < r["hr_upper"])
    assert LOW <= np.mean(hits) <= HIGH, np.mean(hits)


@pytest.mark.slow
def test_time_varying_member_hazard_ratio_coverage_and_naive_bias():
    hits, naive_hits = [], []
    for seed in range(N_SEEDS):
        d = rl.survival.simulate_enrolment(1500, hazard_ratio=0.8, seed=2000 + seed)
        r = rl.survival.time_varying_enrolment(d)
        hits.append(r.ci[0] < 0.8 < r.ci[1])
        naive_hits.append(r.naive_ci[0] < 0.8 < r.naive_ci[1])
    assert LOW <= np.mean(hits) <= HIGH, np.mean(hits)
    assert np.mean(naive_hits) < 0.2          # the immortal-time-biased interval rarely covers


@pytest.mark.slow
def test_rmst_and_retention_difference_coverage():
    scale, hr, tau, h = 200.0, 0.7, 365.0, 180.0
    rmst_truth = scale / hr * (1 - np.exp(-tau * hr / scale)) - scale * (1 - np.exp(-tau / scale))
    ret_truth = np.exp(-h * hr / scale) - np.exp(-h / scale)
    rm, rt = [], []
    for seed in range(N_SEEDS):
        # continuous ages (no flooring) so the truth is exact
        rng = np.random.default_rng(3000 + seed)
        n = 1000
        x = rng.random(n) < 0.5
        t = rng.exponential(scale, n) / np.where(x, hr, 1.0)
        c = rng.uniform(200, 700, n)
        import pandas as pd
        d = pd.DataFrame({"duration": np.minimum(t, c), "churned": (t <= c).astype(int),
                          "group": np.where(x, "member", "guest")})
        r = rl.survival.rmst_difference(d, "group", tau, reference="guest")
        rm.append(r.ci[0] < rmst_truth < r.ci[1])
        q = rl.survival.retention_difference(d, "group", h, reference="guest")
        rt.append(q.ci[0] < ret_truth < q.ci[1])
    assert LOW <= np.mean(rm) <= HIGH, np.mean(rm)
    assert LOW <= np.mean(rt) <= HIGH, np.mean(rt)
